"""Reports built by Celery workers, one task per shard (REPORT_RUNNER=celery).

The web process claims the report, fixes its `now`, cuts its stores into
shards saved as ReportShard rows, and sends one task per shard. A worker reads
and computes its shard and writes the shard's row; the worker that finishes
the last shard (counted atomically on the report row) joins the rows in shard
order and completes the report, in that same transaction. The rows are the
results: no Celery result backend is involved.

A worker killed mid-shard leaves its task unacknowledged, so the broker hands
it to another worker (acks_late, reject_on_worker_lost). A shard that is
already done is not counted twice, and a shard whose workers died
MAX_ATTEMPTS times fails its report rather than killing workers forever.

Every shard is read at the report's load generation (reading.py): a shard that
read a newer one (a load committed meanwhile) starts the report over at the new
state, every shard sent again; a result read for an older start is dropped.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from monitoring.access import owner_scope
from monitoring.models import Report, ReportShard
from monitoring.reports import build, reading, state

logger = logging.getLogger(__name__)

SendShard = Callable[[str, int], None]


def report_dispatch(*, report: Report, send: SendShard) -> None:
    """Claim a Pending report and send its shards that are not done yet to the workers."""
    if not state.report_claim(report=report, runner=f"celery, sent by {state.runner_id()}"):
        return
    try:
        indexes = _prepare(report_id=report.pk)
        for index in indexes:
            send(str(report.pk), index)
    except Exception as error:
        logger.exception("report %s could not be handed to the Celery workers", report.pk)
        state.report_fail(
            report_id=report.pk, error=f"could not hand the report to the Celery workers: {state.describe(error)}"
        )


@transaction.atomic
def _prepare(*, report_id: uuid.UUID) -> list[int]:
    """Fix `now` and the shards on first dispatch; the indexes still to compute.

    A report dispatched again (its dispatcher died) keeps its `now`, its
    shards and the shards already done.
    """
    report = Report.objects.select_for_update().get(pk=report_id)
    if not report.shards.exists():
        basis = reading.report_basis(as_of=report.as_of)
        report.now, report.data_generation = basis.now, basis.generation
        ranges = reading.shard_ranges(size=settings.REPORT_SHARD_STORES, scope=owner_scope(report.owner))
        ReportShard.objects.bulk_create(
            ReportShard(report=report, index=r.index, first_store_id=r.first_store_id, last_store_id=r.last_store_id)
            for r in ranges
        )
        report.shards_total = len(ranges)
    undone = list(report.shards.filter(done=False).order_by("index").values_list("index", flat=True))
    report.shards_done = report.shards_total - len(undone)
    report.heartbeat_at = timezone.now()
    report.save(update_fields=["now", "data_generation", "shards_total", "shards_done", "heartbeat_at"])
    if not undone:
        _assemble(report_id=report_id)
    return undone


def shard_run(*, report_id: str, index: int, send: SendShard) -> None:
    """Compute one shard of a Running report (the body of the Celery task); `send` re-sends shards."""
    shard = ReportShard.objects.select_related("report").filter(report_id=report_id, index=index).first()
    if shard is None or shard.report.state != Report.State.RUNNING or shard.done:
        logger.info("shard %s of report %s: nothing to do", index, report_id)
        return
    if _shard_started(shard=shard) > state.MAX_ATTEMPTS:
        state.report_fail(report_id=shard.report_id, error=f"workers died twice on shard {index}; gave up")
        return
    try:
        period = build.report_period(shard.report)
        result = build.shard_compute(
            bounds=_bounds(shard=shard), now=shard.report.now, period=period, scope=owner_scope(shard.report.owner)
        )
        _shard_finish(shard=shard, result=result, read_for=shard.report, send=send)
    except Exception as error:
        logger.exception("shard %s of report %s failed", index, report_id)
        state.report_fail(report_id=shard.report_id, error=f"shard {index}: {state.describe(error)}")


def _shard_started(*, shard: ReportShard) -> int:
    """Count this start of the shard (and beat for the report); returns its attempts."""
    ReportShard.objects.filter(pk=shard.pk).update(attempts=shard.attempts + 1)
    Report.objects.filter(pk=shard.report_id, state=Report.State.RUNNING).update(heartbeat_at=timezone.now())
    return shard.attempts + 1


def _bounds(*, shard: ReportShard) -> reading.ShardBounds:
    following = ReportShard.objects.filter(report_id=shard.report_id, index=shard.index + 1)
    upper = following.values_list("first_store_id", flat=True).first()
    return reading.ShardBounds(lower=shard.first_store_id if shard.index > 0 else None, upper=upper)


@transaction.atomic
def _shard_finish(*, shard: ReportShard, result: state.ShardResult, read_for: Report, send: SendShard) -> None:
    """Write the shard's row; count it once; the last shard completes the report.

    `read_for` is the report row as the shard found it: its `now` and generation are
    what the shard was computed for, compared under the row's lock with the row now.
    """
    now, generation = Report.objects.select_for_update().values_list("now", "data_generation").get(pk=shard.report_id)
    if result.generation > generation:
        _start_over(report_id=shard.report_id, send=send)
        return
    if (result.generation, read_for.now) != (generation, now):
        return  # read for a start the report has since left: its shards were sent again
    was_done = ReportShard.objects.select_for_update().values_list("done", flat=True).get(pk=shard.pk)
    ReportShard.objects.filter(pk=shard.pk).update(
        done=True, csv_rows=result.csv_rows, outage_rows=result.outage_rows,
        outage_count_rows=result.outage_count_rows, period_totals=result.period_totals, store_count=result.store_count, poll_count=result.poll_count,
        read_seconds=result.read_seconds, compute_seconds=result.compute_seconds, finished_at=timezone.now(),
    )
    if was_done:
        return  # a duplicate delivery: the row is rewritten with the same figures
    # The row lock makes concurrent finishers count one after the other, so
    # exactly one of them sees the last shard counted.
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE monitoring_report SET shards_done = shards_done + 1, heartbeat_at = now()
               WHERE id = %s AND state = %s RETURNING shards_done, shards_total""",
            [shard.report_id, Report.State.RUNNING],
        )
        counted = cursor.fetchone()
    if counted is not None and counted[0] >= counted[1]:
        _assemble(report_id=shard.report_id)


def _start_over(*, report_id: uuid.UUID, send: SendShard) -> None:
    """A load committed while the report ran: every shard again, at the new state.

    The shard ranges stay: they only balance the work (the outer shards are open-ended, so a new
    store still falls in exactly one). Attempts restart too: no worker died. As on the thread
    runner, the report fails after SNAPSHOT_ATTEMPTS starts that each met a load, rather than
    chase data that never stops changing.
    """
    report = Report.objects.get(pk=report_id)
    if report.data_restarts + 1 >= build.SNAPSHOT_ATTEMPTS:
        state.report_fail(report_id=report_id, error=build.DATA_KEPT_CHANGING)
        return
    basis = reading.report_basis(as_of=report.as_of)
    logger.info("report %s: a load committed while it ran; every shard again at generation %s", report_id, basis.generation)
    Report.objects.filter(pk=report_id).update(
        now=basis.now, data_generation=basis.generation, shards_done=0, heartbeat_at=timezone.now(),
        data_restarts=report.data_restarts + 1,
    )
    report.shards.update(done=False, attempts=0, csv_rows="", outage_rows="", outage_count_rows="", period_totals={})
    indexes = list(report.shards.order_by("index").values_list("index", flat=True))
    transaction.on_commit(lambda: [send(str(report_id), index) for index in indexes])


def _assemble(*, report_id: uuid.UUID) -> None:
    shards = ReportShard.objects.filter(report_id=report_id).order_by("index")
    results = [
        state.ShardResult(
            csv_rows=s.csv_rows, outage_rows=s.outage_rows, outage_count_rows=s.outage_count_rows,
            period_totals=s.period_totals, store_count=s.store_count, poll_count=s.poll_count,
            read_seconds=s.read_seconds, compute_seconds=s.compute_seconds,
        )
        for s in shards
    ]
    now, kind = Report.objects.values_list("now", "kind").get(pk=report_id)
    state.report_complete(report_id=report_id, now=now, results=results, kind=kind)
