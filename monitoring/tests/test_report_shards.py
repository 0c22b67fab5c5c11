"""reports/shards.py without a broker: a `send` that collects the shards stands in
for Celery, and each collected shard is run by hand, as a worker would.

Data: monitoring/tests/report_cases.py (3 hand-worked stores and 5 generated ones).
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.models import Report, ReportShard
from monitoring.reports import build, service, shards, state
from monitoring.tests.report_cases import EXPECTED_CSV, make_small_data, make_stores

pytestmark = pytest.mark.django_db

# 8 stores in shards of 3: a b c | s0000 s0001 s0002 | s0003 s0004.
SHARD_STORES = 3
SHARDS = 3


@pytest.fixture
def data(settings) -> None:
    settings.REPORT_SHARD_STORES = SHARD_STORES
    make_small_data()
    make_stores(5)


def dispatched() -> tuple[Report, list[tuple[str, int]]]:
    """A Pending report dispatched to a `send` that keeps what a broker would carry.

    The row is made directly, not with report_create, so no runner is handed it.
    """
    report = Report.objects.create()
    sent: list[tuple[str, int]] = []
    shards.report_dispatch(report=report, send=lambda report_id, index: sent.append((report_id, index)))
    return report, sent


def thread_runner_report() -> Report:
    return build.report_build(report=service.report_create(build_here=True))


def thread_runner_csv() -> str:
    return thread_runner_report().csv


def test_dispatched_shards_run_by_hand_complete_the_report_as_the_thread_runner_does(data):
    report, sent = dispatched()
    assert sent == [(str(report.pk), index) for index in range(SHARDS)]
    for report_id, index in sent:
        shards.shard_run(report_id=report_id, index=index)
    report.refresh_from_db()
    assert (report.state, report.shards_done, report.shards_total, report.store_count) == (
        Report.State.COMPLETE, SHARDS, SHARDS, 8,
    )
    built_here = thread_runner_report()
    assert report.csv == built_here.csv
    assert (report.outages_csv, report.outage_counts_csv) == (built_here.outages_csv, built_here.outage_counts_csv)
    assert report.csv.startswith(EXPECTED_CSV)


def test_a_shard_delivered_twice_is_counted_once(data):
    report, sent = dispatched()
    first_id, first_index = sent[0]
    shards.shard_run(report_id=first_id, index=first_index)
    shards.shard_run(report_id=first_id, index=first_index)
    report.refresh_from_db()
    assert (report.state, report.shards_done) == (Report.State.RUNNING, 1)
    for report_id, index in sent[1:]:
        shards.shard_run(report_id=report_id, index=index)
    report.refresh_from_db()
    assert (report.state, report.store_count) == (Report.State.COMPLETE, 8)
    assert report.csv == thread_runner_csv()


def test_two_workers_finishing_the_same_shard_count_it_once(data):
    # Both deliveries passed shard_run's "already done?" check before either
    # finished: the second finisher must see the row done under its lock.
    report, sent = dispatched()
    shard = ReportShard.objects.select_related("report").get(report=report, index=0)
    result = build.shard_compute(bounds=shards._bounds(shard=shard), now=shard.report.now)
    shards._shard_finish(shard=shard, result=result)
    shards._shard_finish(shard=shard, result=result)
    report.refresh_from_db()
    assert (report.state, report.shards_done) == (Report.State.RUNNING, 1)


def test_a_report_dispatched_again_sends_only_its_undone_shards(data):
    report, sent = dispatched()
    shards.shard_run(report_id=sent[0][0], index=sent[0][1])
    # Its workers stopped beating (older_than=0: any heartbeat is stale): the
    # janitor puts the report back to Pending for another dispatch.
    assert state.reports_recover_stale(older_than=timedelta(0)) == 1
    report.refresh_from_db()
    again: list[tuple[str, int]] = []
    shards.report_dispatch(report=report, send=lambda report_id, index: again.append((report_id, index)))
    assert again == sent[1:]
