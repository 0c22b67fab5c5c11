"""Faults, with real processes: a web server killed mid-report, the database cutting
every connection mid-report, a load killed mid-file."""
from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from monitoring.models import IngestRun, Report, StatusPoll, Store
from monitoring.tests.processes import WebServer, env_for_test_database, wait_until
from monitoring.tests.report_cases import make_stores

# Other processes must see the test data: it is committed, not rolled back.
pytestmark = pytest.mark.django_db(transaction=True)

FINISHED = (Report.State.COMPLETE, Report.State.FAILED)


@pytest.fixture
def slow_report_env():
    """300 stores in shards of one store: a report takes long enough to be caught half-way."""
    make_stores(300)
    return env_for_test_database(REPORT_SHARD_STORES="1", REPORT_CONCURRENCY="1")


def report_state(report_id: str) -> Report:
    return Report.objects.get(pk=report_id)


def half_way(report_id: str) -> bool:
    report = report_state(report_id)
    assert report.state not in FINISHED, "the report finished before the fault could be injected"
    return report.state == Report.State.RUNNING and report.shards_done >= 3


def test_a_report_caught_by_a_kill_9_of_the_web_process_is_rerun_after_the_restart(slow_report_env, tmp_path):
    server = WebServer(slow_report_env, tmp_path / "web.log")
    try:
        report_id = server.trigger()
        wait_until(lambda: half_way(report_id), what="the report to be half-way")
        server.kill_hard()
    finally:
        server.stop()
    assert report_state(report_id).state == Report.State.RUNNING  # nobody left to finish it

    restarted = WebServer(slow_report_env, tmp_path / "web.log")
    try:
        # The restarted server's janitor sees the dead runner at once and runs the report again.
        wait_until(lambda: report_state(report_id).state in FINISHED, what="the recovered report to finish")
        fresh_id = restarted.trigger()
        wait_until(lambda: report_state(fresh_id).state in FINISHED, what="a new report to finish")
    finally:
        restarted.stop()
    recovered, fresh = report_state(report_id), report_state(fresh_id)
    assert (recovered.state, recovered.attempts, recovered.store_count) == (Report.State.COMPLETE, 2, 300)
    assert fresh.state == Report.State.COMPLETE
    assert recovered.csv == fresh.csv  # same data, same `now`: the same figures


def test_a_report_whose_database_connections_are_cut_is_retried_and_the_app_recovers_by_itself(
    slow_report_env, tmp_path
):
    server = WebServer(slow_report_env, tmp_path / "web.log")
    try:
        report_id = server.trigger()
        wait_until(lambda: half_way(report_id), what="the report to be half-way")
        # What a database restart does to the app: every one of its connections dies.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        wait_until(lambda: report_state(report_id).state in FINISHED, what="the cut report to finish")
        assert server.call("GET", "/api/v1/health")[0] == 200  # no restart needed
        fresh_id = server.trigger()
        wait_until(lambda: report_state(fresh_id).state in FINISHED, what="a new report to finish")
    finally:
        server.stop()
    cut, fresh = report_state(report_id), report_state(fresh_id)
    assert (cut.state, cut.attempts) == (Report.State.COMPLETE, 2), cut.error
    assert fresh.state == Report.State.COMPLETE and cut.csv == fresh.csv


def write_polls(path, *, stores: int, hours: int) -> int:
    lines = ["store_id,status,timestamp_utc"]
    for hour in range(hours):
        stamp = f"2023-01-{18 + hour // 24:02d} {hour % 24:02d}:05:00.000000 UTC"
        lines.extend(f"store-{n},{'active' if (n + hour) % 7 else 'inactive'},{stamp}" for n in range(stores))
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def loader_is_inside_its_transaction() -> bool:
    """The loader's session has an open transaction that has written (it holds a transaction id)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
        )
        return cursor.fetchone()[0] > 0


def test_a_load_killed_mid_file_leaves_no_partial_rows_and_a_rerun_completes_it(tmp_path):
    polls_file = tmp_path / "store_status.csv"
    rows = write_polls(polls_file, stores=2000, hours=168)  # 336,000 polls: seconds of work
    command = [sys.executable, "manage.py", "runscript", "load", "-v", "0", "--script-args", str(polls_file)]
    env = env_for_test_database(MONITORING_LOG_DIR=str(tmp_path / "log"))
    loader = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env)
    try:
        wait_until(lambda: loader_is_inside_its_transaction() or loader.poll() is not None, what="the load to start writing")
        assert loader.poll() is None, "the load finished before it could be killed"
        loader.kill()
    finally:
        loader.wait(timeout=30)
    wait_until(lambda: not loader_is_inside_its_transaction(), what="PostgreSQL to roll the dead load back")
    assert (StatusPoll.objects.count(), Store.objects.count()) == (0, 0)

    subprocess.run(command, cwd=settings.BASE_DIR, env=env, check=True, timeout=300)
    assert (StatusPoll.objects.count(), Store.objects.count()) == (rows, 2000)
    assert IngestRun.objects.filter(succeeded=True).count() == 1
