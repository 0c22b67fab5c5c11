"""REPORT_RUNNER=celery end to end: real worker processes on the Redis broker,
pointed at the test database, build the same CSV as the thread runner, even
when a worker process is killed mid-shard."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from monitoring.models import Report, ReportShard
from monitoring.reports import build, runners, service
from monitoring.reports.requests import ReportRequest
from monitoring.tests.celery_pausing_app import PAUSE_REQUESTER
from monitoring.tests.processes import env_for_test_database, wait_until
from monitoring.tests.report_cases import EXPECTED_CSV, make_small_data, make_stores

pytestmark = [
    pytest.mark.celery,
    # Workers are other processes: the test data must be committed.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("CELERY_BROKER_URL"),
        reason="CELERY_BROKER_URL is not set: these tests need a Redis broker (CI sets redis://127.0.0.1:6379/15)",
    ),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL"),
        reason="DATABASE_URL is not set: worker processes need a PostgreSQL server they can reach by URL",
    ),
]

WORKERS = 2


@pytest.fixture(scope="module")
def workers(django_db_setup, django_db_blocker, tmp_path_factory):
    """Two `celery worker` processes (prefork, one child each) on the test database."""
    from monitoring.reports.celery_app import app

    logs = tmp_path_factory.mktemp("celery")
    env = env_for_test_database(TEST_PAUSE_DIR=str(logs))
    app.control.purge()  # tasks left by an interrupted run would be taken first
    started = []
    for n in range(WORKERS):
        log = (logs / f"worker{n}.log").open("w")
        command = [
            sys.executable, "-m", "celery", "-A", "monitoring.tests.celery_pausing_app", "worker",
            "--concurrency", "1", "-P", "prefork", "-n", f"test{n}@%h", "--without-mingle", "--without-gossip",
            "--loglevel", "INFO",
        ]
        process = subprocess.Popen(command, cwd=django_settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((process, logs / f"worker{n}.log"))
    try:
        for process, log in started:
            wait_until(lambda: " ready." in log.read_text() or process.poll() is not None, what="a worker to start")
            assert process.poll() is None, log.read_text()
        yield logs
    finally:
        for process, _ in started:
            process.send_signal(signal.SIGQUIT)  # cold shutdown: nothing is running by now
        for process, _ in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def celery_runner(settings):
    settings.REPORT_RUNNER = "celery"
    settings.REPORT_SHARD_STORES = 10
    runners.shutdown()
    yield
    runners.shutdown()


def finished(report: Report) -> Report:
    def done() -> bool:
        report.refresh_from_db()
        return report.state in (Report.State.COMPLETE, Report.State.FAILED)

    wait_until(done, what=f"report {report.id} to finish")
    return report


def thread_runner_csv(report: Report) -> str:
    """The same report built in this process, the thread runner's way."""
    return build.report_build(report=service.report_create(build_here=True, request=ReportRequest(as_of=report.now))).csv


def test_celery_workers_build_the_same_csv_as_the_thread_runner(workers, celery_runner):
    make_small_data()
    make_stores(37)
    report = finished(service.report_create(requested_by="celery test"))
    assert report.state == Report.State.COMPLETE, report.error
    # 40 stores in shards of 10.
    assert (report.shards_total, report.shards_done, report.store_count) == (4, 4, 40)
    assert report.csv.startswith(EXPECTED_CSV)
    assert report.csv == thread_runner_csv(report)
    assert report.runner.startswith("celery")
    assert set(ReportShard.objects.filter(report=report).values_list("done", "attempts")) == {(True, 1)}


def test_a_shard_whose_worker_is_killed_runs_again_and_the_report_completes(workers, celery_runner):
    make_small_data()
    make_stores(17)
    report = service.report_create(requested_by=PAUSE_REQUESTER)
    marker = workers / str(report.id)
    wait_until(marker.exists, what="shard 0 to start and pause")
    os.kill(int(marker.read_text()), signal.SIGKILL)  # the pool process computing shard 0
    report = finished(report)
    assert report.state == Report.State.COMPLETE, report.error
    assert report.csv == thread_runner_csv(report)
    shard = ReportShard.objects.get(report=report, index=0)
    assert (shard.done, shard.attempts) == (True, 2)  # killed once, then run again
