"""The report service: lifecycle, figures, as_of, shards, reads, recovery, expiry."""
from __future__ import annotations

import os
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.access import STAFF
from monitoring.engine import compute_report, report_to_csv
from monitoring.ingest import overview
from monitoring.models import Report, StatusPoll, Store
from monitoring.reports import build, reading, service, state
from monitoring.reports.requests import ReportRequest
from monitoring.tests.report_cases import (
    EXPECTED_CSV,
    LATEST_POLL,
    at,
    make_small_data,
    make_stores,
)

pytestmark = pytest.mark.django_db


def build_here(**fields) -> Report:
    return build.report_build(report=service.report_create(build_here=True, **fields))


def engine_csv_of_the_whole_database(now) -> str:
    """The engine run once on every row, read without the report's shards or COPY."""
    import pandas as pd

    from monitoring.models import BusinessHours, StatusPoll

    stores = pd.DataFrame(list(Store.objects.values_list("id", "store_id", "timezone")), columns=["store", "store_id", "timezone"])
    hours = pd.DataFrame(
        [
            (h.store_id, h.weekday, _us(h.start_local), _us(h.end_local))
            for h in BusinessHours.objects.all()
        ],
        columns=["store", "weekday", "start_us", "end_us"],
    )
    polls = pd.DataFrame(list(StatusPoll.objects.values_list("store_id", "timestamp", "active")), columns=["store", "ts", "active"])
    polls["ts"] = pd.to_datetime(polls["ts"], utc=True)
    return report_to_csv(compute_report(stores=stores, hours=hours, polls=polls, now=now))


def _us(value) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond


def test_a_built_report_is_complete_with_the_hand_computed_csv():
    make_small_data()
    report = build_here(requested_by="test")
    assert report.state == Report.State.COMPLETE, report.error
    assert report.csv == EXPECTED_CSV
    assert report.now == LATEST_POLL
    # 3 stores; 4 polls in [now - 14 days, now].
    assert (report.store_count, report.poll_count) == (3, 4)
    assert report.progress == 1.0 and report.shards_done == report.shards_total == 1
    assert report.finished_at >= report.started_at and report.duration_seconds >= 0
    assert report.read_seconds > 0 and report.compute_seconds > 0
    assert report.attempts == 1 and report.error == ""


def test_a_built_report_keeps_its_hand_computed_outage_list():
    make_small_data()
    report = build_here()
    # now 17:30. a: down from the midpoint 15:44:30 to closing at 17:00 = 75.5 min, over.
    # b (open 24/7): down from the midpoint 17:15 to now = 15 min, still going on.
    assert report.outages_csv == (
        "store_id,start_utc,end_utc,minutes,ongoing\n"
        "a,2023-01-23T15:44:30Z,2023-01-23T17:00:00Z,75.50,false\n"
        "b,2023-01-23T17:15:00Z,2023-01-23T17:30:00Z,15.00,true\n"
    )
    # Both outages lie in the last day [Sun 17:30, Mon 17:30); c has none, so no row.
    assert report.outage_counts_csv == (
        "store_id,outages_last_day,outages_last_week,longest_outage_minutes\n"
        "a,1,1,75.50\n"
        "b,1,1,15.00\n"
    )


def test_the_report_csv_is_the_engines_csv_on_the_same_data():
    make_small_data()
    make_stores(30)
    report = build_here()
    assert report.csv == engine_csv_of_the_whole_database(report.now)


def test_a_new_report_is_pending_until_a_runner_claims_it(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as handed_over:
        report = service.report_create(requested_by="alice")
    assert report.state == Report.State.PENDING and report.requested_by == "alice"
    assert len(handed_over) == 1  # handed to the runner once committed


def test_a_report_is_claimed_by_exactly_one_runner():
    report = Report.objects.create()
    assert state.report_claim(report=report, runner="first") is True
    assert state.report_claim(report=report, runner="second") is False
    report.refresh_from_db()
    assert (report.state, report.runner, report.attempts) == (Report.State.RUNNING, "first", 1)


def test_building_a_report_another_runner_holds_leaves_it_alone():
    report = Report.objects.create(state=Report.State.RUNNING, runner="elsewhere", heartbeat_at=timezone.now())
    assert build.report_build(report=report).state == Report.State.RUNNING
    report.refresh_from_db()
    assert report.runner == "elsewhere" and report.csv == ""


def test_a_report_fails_with_the_engines_error_and_is_not_left_running(monkeypatch):
    make_small_data()

    def broken_engine(**frames):
        raise ValueError("hours: weekday 9 is not 0-6")

    monkeypatch.setattr(build, "compute_rolling_report", broken_engine)
    report = build_here()
    assert report.state == Report.State.FAILED
    assert report.error == "ValueError: hours: weekday 9 is not 0-6"
    assert report.finished_at is not None and report.csv == ""


def test_a_report_that_loses_its_database_connection_is_queued_again_and_then_completes(monkeypatch):
    make_small_data()
    real_read = reading.read_shard
    calls = []

    def read_once_cut(**arguments):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_read(**arguments)

    monkeypatch.setattr(reading, "read_shard", read_once_cut)
    report = build.report_build(report=service.report_create())
    assert (report.state, report.attempts) == (Report.State.PENDING, 1)
    report = build.report_build(report=report)
    assert (report.state, report.attempts) == (Report.State.COMPLETE, 2)
    assert report.csv == EXPECTED_CSV


def test_a_report_that_loses_its_database_connection_on_every_run_fails_saying_so(monkeypatch):
    make_small_data()

    def always_cut(**arguments):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(reading, "read_shard", always_cut)
    report = build.report_build(report=build.report_build(report=service.report_create()))
    assert report.state == Report.State.FAILED
    assert report.error == "database connection lost: OperationalError: server closed the connection unexpectedly"


def test_a_report_as_of_an_earlier_instant_ignores_later_polls():
    make_small_data()
    report = build_here(request=ReportRequest(as_of=at(17, 10)))
    # now = 17:10 itself (SPEC 4); b's 17:30 poll does not exist.
    # a, hour [16:10, 17:10): open 16:10-17:00 UTC = 50 min, after the 15:44:30 midpoint: 50 min down.
    #    Day and week: Monday's 14:00-17:00 as before, 1.74 up and 1.26 down.
    # b: one observation (17:00, active) covers everything: 60 min, 24 h and 168 h up.
    assert report.now == at(17, 10)
    assert report.csv.splitlines()[1:] == [
        "a,0.00,1.74,1.74,50.00,1.26,1.26",
        "b,60.00,24.00,168.00,0.00,0.00,0.00",
        "c,0.00,0.00,0.00,0.00,0.00,0.00",
    ]
    assert report.poll_count == 3


def test_a_report_with_no_polls_at_all_is_all_zeros_at_its_as_of():
    Store.objects.create(store_id="lonely")
    report = build_here(request=ReportRequest(as_of=at(12, 0)))
    assert report.now == at(12, 0)
    assert report.csv.splitlines()[1:] == ["lonely,0.00,0.00,0.00,0.00,0.00,0.00"]


def test_a_report_of_an_empty_database_is_the_header_alone():
    report = build_here()
    assert report.state == Report.State.COMPLETE
    assert report.csv == EXPECTED_CSV.splitlines(keepends=True)[0]
    assert (report.store_count, report.poll_count, report.shards_total) == (0, 0, 0)


@pytest.mark.parametrize("shard_stores", [1, 2, 20000])
def test_the_csv_is_the_same_whatever_the_shard_size(settings, shard_stores):
    make_small_data()
    make_stores(5)
    settings.REPORT_SHARD_STORES = shard_stores
    report = build_here()
    # 8 stores: 8 shards of 1, 4 of 2, or 1.
    assert report.shards_total == {1: 8, 2: 4, 20000: 1}[shard_stores]
    assert report.csv == engine_csv_of_the_whole_database(report.now)
    assert report.csv.startswith(EXPECTED_CSV)  # a, b, c sort before s0000...


@pytest.mark.django_db(transaction=True)
def test_with_committed_data_the_next_shard_is_read_on_a_thread_of_its_own_and_the_csv_is_the_same(
    settings, monkeypatch,
):
    # Committed rows (no test transaction), so the builder may read ahead on another
    # connection; inside a transaction it reads every shard itself (the test above).
    make_small_data()
    make_stores(5)
    settings.REPORT_SHARD_STORES = 20000
    whole = build_here().csv
    readers, connections = [], []
    real_read = reading.read_shard

    def read_shard(**arguments):
        data = real_read(**arguments)
        readers.append(threading.current_thread().name)
        connections.append(connection.connection)  # this thread's psycopg2 connection
        return data

    monkeypatch.setattr(reading, "read_shard", read_shard)
    settings.REPORT_SHARD_STORES = 3
    report = build_here()
    assert report.shards_total == 3 and report.csv == whole
    # The first shard on the builder's own thread, the next two on the reader thread.
    assert readers[0] == threading.current_thread().name
    assert [name.startswith("shard-read") for name in readers[1:]] == [True, True]
    # The reader's connection is closed at the end; the builder's stays open for its next query.
    assert [bool(raw.closed) for raw in connections] == [False, True, True]


def test_shards_cut_the_stores_in_code_point_order():
    for store_id in ["b", "B", "a", "10", "9", "é"]:
        Store.objects.create(store_id=store_id)
    ranges = reading.shard_ranges(size=4)
    # Code points: "10" < "9" < "B" < "a" < "b" < "é".
    assert [(r.first_store_id, r.last_store_id) for r in ranges] == [("10", "a"), ("b", "é")]


def count_report_queries() -> int:
    with CaptureQueriesContext(connection) as queries:
        assert build_here().state == Report.State.COMPLETE
    return len(queries)


def test_a_report_reads_with_as_many_queries_for_50_stores_as_for_1():
    make_stores(1)
    one = count_report_queries()
    Store.objects.all().delete()
    make_stores(50)
    fifty = count_report_queries()
    assert one == fifty
    # Create (claimed), as_of, now and load generation, shard cuts, start; stores, the current
    # digested days, hours, polls, the shard's generation; progress, finish, refresh: 13, and
    # none per store.
    assert one == 13


def test_report_get_finds_a_report_by_its_id_in_any_spelling():
    report = Report.objects.create()
    assert service.report_get(report_id=str(report.id), scope=STAFF) == report
    assert service.report_get(report_id=str(report.id).upper(), scope=STAFF) == report
    assert service.report_get(report_id=report.id.hex, scope=STAFF) == report


@pytest.mark.parametrize("junk", ["", "nope", "123", None, 42, "x" * 10_000, str(uuid.uuid4()), {"report_id": 1}])
def test_report_get_answers_none_for_unknown_or_malformed_ids(junk):
    Report.objects.create()
    assert service.report_get(report_id=junk, scope=STAFF) is None


def test_report_list_shows_the_newest_first_and_honours_the_limit():
    start = timezone.now()
    made = [Report.objects.create(requested_at=start + timedelta(seconds=n)) for n in range(3)]
    assert service.report_list(scope=STAFF, limit=2) == [made[2], made[1]]
    assert service.report_list(scope=STAFF) == made[::-1]


def stale_running(*, attempts: int) -> Report:
    return Report.objects.create(
        state=Report.State.RUNNING, runner="dead", attempts=attempts,
        heartbeat_at=timezone.now() - timedelta(minutes=10),
    )


def test_a_report_whose_runner_stopped_beating_goes_back_to_the_queue():
    report = stale_running(attempts=1)
    alive = Report.objects.create(state=Report.State.RUNNING, runner="alive", attempts=1, heartbeat_at=timezone.now())
    assert state.reports_recover_stale(older_than=timedelta(minutes=2)) == 1
    report.refresh_from_db()
    alive.refresh_from_db()
    assert report.state == Report.State.PENDING
    assert alive.state == Report.State.RUNNING


def test_a_report_whose_runner_process_on_this_host_is_gone_is_requeued_without_waiting():
    import socket
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)  # a process that has exited
    host = socket.gethostname()
    gone = Report.objects.create(
        state=Report.State.RUNNING, runner=f"{host}:{dead_pid}:report-1", attempts=1, heartbeat_at=timezone.now()
    )
    here = Report.objects.create(
        state=Report.State.RUNNING, runner=f"{host}:{os.getpid()}:report-1", attempts=1, heartbeat_at=timezone.now()
    )
    assert state.reports_recover_stale(older_than=timedelta(minutes=2)) == 1
    gone.refresh_from_db()
    here.refresh_from_db()
    assert (gone.state, here.state) == (Report.State.PENDING, Report.State.RUNNING)


def test_a_report_whose_runner_died_on_its_second_run_fails():
    report = stale_running(attempts=2)
    assert state.reports_recover_stale(older_than=timedelta(minutes=2)) == 1
    report.refresh_from_db()
    assert report.state == Report.State.FAILED
    assert report.error == "runner died twice; gave up"


def test_a_requeued_report_is_rebuilt_with_the_now_it_was_given():
    make_small_data()
    report = stale_running(attempts=1)
    Report.objects.filter(pk=report.pk).update(now=at(17, 0))
    state.reports_recover_stale(older_than=timedelta(minutes=2))
    rebuilt = build.report_build(report=Report.objects.get(pk=report.pk))
    assert rebuilt.state == Report.State.COMPLETE and rebuilt.attempts == 2
    assert rebuilt.now == at(17, 0)


def test_expiry_keeps_the_newest_finished_reports_and_every_unfinished_one():
    start = timezone.now()
    finished = [
        Report.objects.create(state=Report.State.COMPLETE, requested_at=start + timedelta(seconds=n)) for n in range(4)
    ]
    pending = Report.objects.create(state=Report.State.PENDING, requested_at=start - timedelta(days=1))
    assert state.reports_expire(keep=2) == 2
    assert set(Report.objects.values_list("pk", flat=True)) == {finished[3].pk, finished[2].pk, pending.pk}


def test_the_data_overview_counts_stores_and_polls_and_dates_the_latest():
    make_small_data()
    seen = overview.data_overview()
    assert (seen.store_count, seen.poll_count) == (3, 4)
    assert (seen.oldest_poll_at, seen.latest_poll_at) == (at(15, 14), LATEST_POLL)
    assert seen.database_ok is True
    assert seen.data_age_seconds == pytest.approx((timezone.now() - LATEST_POLL).total_seconds(), abs=60)


def test_the_data_overview_counts_polls_exactly_until_the_table_is_large(monkeypatch):
    make_small_data()
    exact = StatusPoll.objects.count()
    with connection.cursor() as cursor:
        # A day partition besides the DEFAULT one, where the ORM's polls are.
        cursor.execute(
            "CREATE TABLE monitoring_statuspoll_20200101 PARTITION OF monitoring_statuspoll "
            "FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-01-02 00:00+00')"
        )
        cursor.execute("ANALYZE monitoring_statuspoll")
        # The parent's own estimate stays stale (0 here); the partitions' are summed.
        cursor.execute("UPDATE pg_class SET reltuples = 0 WHERE oid = 'monitoring_statuspoll'::regclass")
        cursor.execute("UPDATE pg_class SET reltuples = 1500000 WHERE oid = 'monitoring_statuspoll_default'::regclass")
        cursor.execute("UPDATE pg_class SET reltuples = 700000 WHERE oid = 'monitoring_statuspoll_20200101'::regclass")
    assert overview.data_overview().poll_count == 2_200_000  # 1,500,000 + 700,000: the estimate, no count(*)
    monkeypatch.setattr(overview, "POLL_COUNT_ESTIMATE_ABOVE", 10**12)
    assert overview.data_overview().poll_count == exact  # small: counted


def test_the_data_overview_says_so_when_the_database_does_not_answer(monkeypatch):
    from django.db import OperationalError

    def unreachable(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(Store.objects, "count", unreachable)
    seen = overview.data_overview()
    assert seen.database_ok is False
    assert (seen.store_count, seen.poll_count, seen.latest_poll_at) == (0, 0, None)


def test_a_client_over_the_trigger_limit_is_refused_by_the_service(settings):
    settings.TRIGGER_RATE_LIMIT = 1
    service.report_create(requested_by="ip:10.0.0.1")
    with pytest.raises(service.TriggerLimitReached, match="at most 1 reports per"):
        service.report_create(requested_by="ip:10.0.0.1")
    service.report_create()  # an unnamed caller (manage.py report) is not limited


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_triggers_from_one_client_admits_exactly_the_limit(settings):
    import threading

    from monitoring.reports import runners

    settings.TRIGGER_RATE_LIMIT = 2
    settings.REPORT_RUNNER = "worker"  # only queue: nothing to build here
    runners.shutdown()
    outcomes, start = [], threading.Barrier(6)

    def trigger() -> None:
        start.wait()
        try:
            service.report_create(requested_by="ip:10.0.0.9")
            outcomes.append("created")
        except service.TriggerLimitReached:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    runners.shutdown()
    assert sorted(outcomes) == ["created"] * 2 + ["refused"] * 4
    assert Report.objects.filter(requested_by="ip:10.0.0.9").count() == 2
