"""reports/shards.py without a broker: a `send` that collects the shards stands in
for Celery, and each collected shard is run by hand, as a worker would.

Data: monitoring/tests/report_cases.py (3 hand-worked stores and 5 generated ones).
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.ingest.load import ingest_paths
from monitoring.models import Report, ReportShard
from monitoring.reports import build, reading, service, shards, state
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


def unexpected_send(report_id: str, index: int) -> None:
    raise AssertionError(f"shard {index} of report {report_id} sent again, with no load committed")


def thread_runner_report() -> Report:
    return build.report_build(report=service.report_create(build_here=True))


def thread_runner_csv() -> str:
    return thread_runner_report().csv


def test_dispatched_shards_run_by_hand_complete_the_report_as_the_thread_runner_does(data):
    report, sent = dispatched()
    assert sent == [(str(report.pk), index) for index in range(SHARDS)]
    for report_id, index in sent:
        shards.shard_run(report_id=report_id, index=index, send=unexpected_send)
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
    shards.shard_run(report_id=first_id, index=first_index, send=unexpected_send)
    shards.shard_run(report_id=first_id, index=first_index, send=unexpected_send)
    report.refresh_from_db()
    assert (report.state, report.shards_done) == (Report.State.RUNNING, 1)
    for report_id, index in sent[1:]:
        shards.shard_run(report_id=report_id, index=index, send=unexpected_send)
    report.refresh_from_db()
    assert (report.state, report.store_count) == (Report.State.COMPLETE, 8)
    assert report.csv == thread_runner_csv()


def test_two_workers_finishing_the_same_shard_count_it_once(data):
    # Both deliveries passed shard_run's "already done?" check before either
    # finished: the second finisher must see the row done under its lock.
    report, sent = dispatched()
    shard = ReportShard.objects.select_related("report").get(report=report, index=0)
    result = build.shard_compute(bounds=shards._bounds(shard=shard), now=shard.report.now)
    shards._shard_finish(shard=shard, result=result, read_for=shard.report, send=unexpected_send)
    shards._shard_finish(shard=shard, result=result, read_for=shard.report, send=unexpected_send)
    report.refresh_from_db()
    assert (report.state, report.shards_done) == (Report.State.RUNNING, 1)


def test_a_report_dispatched_again_sends_only_its_undone_shards(data):
    report, sent = dispatched()
    shards.shard_run(report_id=sent[0][0], index=sent[0][1], send=unexpected_send)
    # Its workers stopped beating (older_than=0: any heartbeat is stale): the
    # janitor puts the report back to Pending for another dispatch.
    assert state.reports_recover_stale(older_than=timedelta(0)) == 1
    report.refresh_from_db()
    again: list[tuple[str, int]] = []
    shards.report_dispatch(report=report, send=lambda report_id, index: again.append((report_id, index)))
    assert again == sent[1:]


# --- A load committed while a report runs --------------------------------------------------

POLLS = "store_id,status,timestamp_utc\n"


def write_polls(folder, name: str, *, flipped: bool, hours: range) -> None:
    """Six stores polled every hour of `hours` on 2023-01-25; `flipped` swaps every status."""
    lines = [
        f"s{store},{'inactive' if ((store + hour) % 3 == 0) != flipped else 'active'},2023-01-25 {hour:02d}:00:00\n"
        for store in range(6) for hour in hours
    ]
    (folder / name).write_text(POLLS + "".join(lines))


@pytest.fixture
def loaded_twice(settings, tmp_path):
    """Report CSVs of the state before and after a second load, and a hook loading it mid-report.

    The second load flips every status and adds a later hour (a later `now`): every shard's figures change.
    """
    settings.REPORT_SHARD_STORES = 2  # three shards: s0 s1 | s2 s3 | s4 s5
    write_polls(tmp_path, "before.csv", flipped=False, hours=range(0, 12))
    write_polls(tmp_path, "after.csv", flipped=True, hours=range(0, 13))
    ingest_paths(paths=[tmp_path / "before.csv"])
    before = thread_runner_csv()

    def load_after_first_read(original, reads: list[int]):
        def read_shard(**arguments):
            data = original(**arguments)
            reads.append(data.generation)
            if len(reads) == 1:
                ingest_paths(paths=[tmp_path / "after.csv"])
            return data
        return read_shard

    return tmp_path, before, load_after_first_read


def after_state_csv(tmp_path) -> str:
    ingest_paths(paths=[tmp_path / "after.csv"])  # already loaded: unchanged, so the same state
    return thread_runner_csv()


def test_a_load_between_two_shards_makes_the_thread_runner_read_every_shard_again(loaded_twice, monkeypatch):
    tmp_path, before, hook = loaded_twice
    reads: list[int] = []
    monkeypatch.setattr(reading, "read_shard", hook(reading.read_shard, reads))
    report = thread_runner_report()
    monkeypatch.undo()
    after = after_state_csv(tmp_path)
    assert before != after
    assert report.csv == after  # entirely the after state, never two shards of each
    # Shard 1 read the new generation, so all three were read again: 2 + 3 reads.
    assert len(reads) == 5 and reads[0] < reads[1] == reads[4] == report.data_generation


def test_a_load_between_two_celery_shards_starts_the_report_over_at_the_new_state(
    loaded_twice, monkeypatch, django_capture_on_commit_callbacks,
):
    tmp_path, before, hook = loaded_twice
    reads: list[int] = []
    monkeypatch.setattr(reading, "read_shard", hook(reading.read_shard, reads))
    report, queue = dispatched()
    while queue:  # a broker delivering every task sent, the re-sent ones too
        report_id, index = queue.pop(0)
        with django_capture_on_commit_callbacks(execute=True):
            shards.shard_run(report_id=report_id, index=index, send=lambda *task: queue.append(task))
    monkeypatch.undo()
    report.refresh_from_db()
    assert report.state == Report.State.COMPLETE, report.error
    assert report.csv == after_state_csv(tmp_path) != before


def test_celery_shards_give_up_when_a_load_commits_during_every_start(
    loaded_twice, tmp_path, monkeypatch, django_capture_on_commit_callbacks,
):
    """As the thread runner does after SNAPSHOT_ATTEMPTS (3) reads that each met a load: a load
    commits after every shard read here, so starts 1, 2 and 3 each see a newer generation."""
    reads: list[int] = []
    original = reading.read_shard

    def read_then_load(**arguments):
        data = original(**arguments)
        reads.append(data.generation)
        assert len(reads) < 20, "the shards kept starting over"
        write_polls(tmp_path, f"later-{len(reads)}.csv", flipped=len(reads) % 2 == 1, hours=range(0, 13 + len(reads)))
        ingest_paths(paths=[tmp_path / f"later-{len(reads)}.csv"])
        return data

    monkeypatch.setattr(reading, "read_shard", read_then_load)
    report, queue = dispatched()
    while queue:
        report_id, index = queue.pop(0)
        with django_capture_on_commit_callbacks(execute=True):
            shards.shard_run(report_id=report_id, index=index, send=lambda *task: queue.append(task))
    report.refresh_from_db()
    assert (report.state, report.error, report.data_restarts) == (Report.State.FAILED, build.DATA_KEPT_CHANGING, 2)
