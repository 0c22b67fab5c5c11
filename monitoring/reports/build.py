"""Building a report: read each shard, run the engine, save progress, finish the row.

A builder works on a report its runner has claimed (state.py); a heartbeat
thread shows its life while it works, so a builder killed mid-report is noticed
and its report run again.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from functools import partial

import psycopg2
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.utils import timezone

from monitoring.access import STAFF, StoreScope, owner_scope
from monitoring.engine import (
    CalendarPeriod,
    Interval,
    Period,
    compute_period_report,
    compute_rolling_report,
    outage_counts_to_csv,
    outages_to_csv,
    period_reading_range,
    period_to_csv,
    report_to_csv,
)
from monitoring.models import Report
from monitoring.reports import reading
from monitoring.reports.state import (
    CSV_HEADER,
    OUTAGE_COUNTS_HEADER,
    OUTAGES_HEADER,
    PERIOD_CSV_HEADER,
    ReportLost,
    ShardResult,
    describe,
    report_claim,
    report_complete,
    report_fail,
    report_retry_or_fail,
    runner_id,
)

logger = logging.getLogger(__name__)

# The database went away. The shard reads COPY through psycopg2 directly, so its own
# classes come too, besides Django's wrappers.
CONNECTION_LOST = (OperationalError, InterfaceError, psycopg2.OperationalError, psycopg2.InterfaceError)
# Seconds between two signs of life of a report being built.
HEARTBEAT_SECONDS = 5.0
# Times a report is read again from the start because a load committed while it ran; hourly
# loads meet a report once at most, so a third means the data never stops changing.
SNAPSHOT_ATTEMPTS = 3
DATA_KEPT_CHANGING = f"a load committed during each of {SNAPSHOT_ATTEMPTS} attempts; trigger the report again"


class DataKeptChanging(Exception):
    """Every attempt at the report met a load committing between two of its shards."""


def report_build(*, report: Report) -> Report:
    """Claim the report and build it here, to Complete or Failed; returns it fresh.

    A report another runner claimed first is returned as it is, untouched.
    """
    runner = runner_id()
    if report_claim(report=report, runner=runner):
        try:
            with _heartbeat(report_id=report.pk, runner=runner):
                _build(report_id=report.pk, runner=runner)
        except ReportLost:
            logger.warning("report %s was taken from runner %s; its result is dropped", report.pk, runner)
        except CONNECTION_LOST as error:
            # The database went away mid-report (a restart, a network cut): the work
            # is lost, not wrong. Reconnect and queue it again, within MAX_ATTEMPTS.
            logger.warning("report %s lost its database connection: %s", report.pk, error)
            if connection.connection is not None and not connection.is_usable():
                connection.close()  # the next query opens a fresh one
            report_retry_or_fail(report_id=report.pk, error=f"database connection lost: {describe(error)}")
        except Exception as error:
            logger.exception("report %s failed", report.pk)
            report_fail(report_id=report.pk, error=describe(error))
    report.refresh_from_db()
    return report


def _build(*, report_id: uuid.UUID, runner: str) -> None:
    """Every shard read at one load generation: a shard that read another starts the report over."""
    report = Report.objects.only(
        "as_of", "now", "data_generation", "kind", "start", "end", "period", "period_date", "owner"
    ).get(pk=report_id)
    period, scope = report_period(report), owner_scope(report.owner)
    for _attempt in range(SNAPSHOT_ATTEMPTS):
        basis = reading.report_basis(as_of=report.as_of)
        if report.now is not None and basis.generation == report.data_generation:
            # A re-run (its runner died) over the same data keeps the `now` of its first run.
            basis = reading.ReportBasis(now=report.now, generation=basis.generation)
        results = _shards_at(basis, report_id=report_id, runner=runner, period=period, scope=scope)
        if results is not None:
            if not report_complete(report_id=report_id, now=basis.now, results=results, runner=runner, kind=report.kind):
                raise ReportLost(report_id)
            return
        logger.info("report %s: a load committed while it ran; reading every shard again", report_id)
    raise DataKeptChanging(DATA_KEPT_CHANGING)


def _shards_at(
    basis: reading.ReportBasis, *, report_id: uuid.UUID, runner: str, period: Period | None, scope: StoreScope
) -> list[ShardResult] | None:
    """The shards' results, all read at `basis`'s generation; None as soon as one read another.

    The next shard is read while this one is computed (_reads_ahead): reading is
    mostly the server's work, computing the engine's, so on two cores the two overlap.
    The first shard is read here, as before: a report of one shard has nothing to
    overlap, so it needs no reader thread.
    """
    ranges = reading.shard_ranges(size=settings.REPORT_SHARD_STORES, scope=scope)
    _touch(report_id=report_id, runner=runner, now=basis.now, data_generation=basis.generation,
           shards_total=len(ranges), shards_done=0)
    results = []
    with _reads_ahead(shards=len(ranges)) as read_ahead:

        def read(index: int, *, start: Callable = read_ahead) -> Future:
            bounds = reading.bounds_of(ranges, index)
            return start(partial(shard_read, bounds=bounds, now=basis.now, period=period, scope=scope))

        upcoming = read(0, start=_read_here) if ranges else None
        for index in range(len(ranges)):
            data = upcoming.result()
            if data.generation != basis.generation:
                return None
            if index + 1 < len(ranges):
                upcoming = read(index + 1)
            results.append(shard_results(data, now=basis.now, period=period))
            _touch(report_id=report_id, runner=runner, shards_done=index + 1)
    return results


@contextmanager
def _reads_ahead(*, shards: int) -> Iterator[Callable[[Callable[[], reading.ShardInput]], Future]]:
    """A function that starts a shard's read on a thread of its own and returns its Future.

    The thread has its own database connection, closed at the end. Inside a
    transaction (a test case) another connection would not see its uncommitted
    rows, so the reads are then made here, one after the other; with one shard
    there is nothing to read ahead.
    """
    if connection.in_atomic_block or shards < 2:
        yield _read_here
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-read") as reader:
        try:
            yield reader.submit
        finally:
            reader.submit(_close_this_threads_connection)


def _close_this_threads_connection() -> None:
    # Django's `connection` is the calling thread's: named here, it is the reader's.
    # (`reader.submit(connection.close)` would pass the submitting thread's method.)
    connection.close()


def _read_here(read: Callable[[], reading.ShardInput]) -> Future:
    done: Future = Future()
    done.set_result(read())
    return done


def report_period(report: Report) -> Period | None:
    """The period a report row asks for (SPEC 8), or None for a rolling report."""
    if report.kind == Report.Kind.INTERVAL:
        return Interval(start=report.start, end=report.end)
    if report.kind == Report.Kind.PERIOD:
        return CalendarPeriod(kind=report.period, day=report.period_date)
    return None


def _touch(*, report_id: uuid.UUID, runner: str, **fields) -> None:
    """Save progress (and a heartbeat) on a report this runner still holds."""
    held = Report.objects.filter(pk=report_id, state=Report.State.RUNNING, runner=runner)
    if not held.update(heartbeat_at=timezone.now(), **fields):
        raise ReportLost(report_id)


def shard_compute(
    *, bounds: reading.ShardBounds, now: datetime, period: Period | None = None, scope: StoreScope = STAFF
) -> ShardResult:
    """Read one shard's stores in scope and run the engine on them: its CSV lines, outage lines and counts."""
    return shard_results(shard_read(bounds=bounds, now=now, period=period, scope=scope), now=now, period=period)


def shard_read(
    *, bounds: reading.ShardBounds, now: datetime, period: Period | None = None, scope: StoreScope = STAFF
) -> reading.ShardInput:
    """A shard's inputs: the 14 days to `now`, or for a period report both periods' range, cut at `now`."""
    if period is None:
        return reading.read_shard(bounds=bounds, now=now, scope=scope)
    since, until = period_reading_range(periods=[period.previous(), period], latest=now)
    return reading.read_shard(bounds=bounds, now=until, since=since, scope=scope)


def shard_results(data: reading.ShardInput, *, now: datetime, period: Period | None = None) -> ShardResult:
    """The engine's figures for a shard's inputs: its CSV lines, outage lines and counts.

    A period report is cut at `now` (the latest poll when it started) and computes the
    previous period of the same kind too, from the same read, for the page's comparison.
    """
    if period is not None:
        return _period_results(data, now=now, period=period)
    started = time.perf_counter()
    rolling = compute_rolling_report(stores=data.stores, hours=data.hours, polls=data.polls, now=now)
    return ShardResult(
        csv_rows=_rows_under(CSV_HEADER, report_to_csv(rolling.figures)),
        outage_rows=_rows_under(OUTAGES_HEADER, outages_to_csv(rolling.outages)),
        outage_count_rows=_rows_under(OUTAGE_COUNTS_HEADER, outage_counts_to_csv(rolling.outage_counts)),
        store_count=len(rolling.figures), poll_count=len(data.polls),
        read_seconds=data.read_seconds, compute_seconds=time.perf_counter() - started, generation=data.generation,
    )


def _period_results(data: reading.ShardInput, *, now: datetime, period: Period) -> ShardResult:
    previous = period.previous()
    started = time.perf_counter()
    frames = {"stores": data.stores, "hours": data.hours, "polls": data.polls}
    current = compute_period_report(**frames, period=period, latest=now)
    before = compute_period_report(**frames, period=previous, latest=now)
    return ShardResult(
        csv_rows=_rows_under(PERIOD_CSV_HEADER, period_to_csv(current.figures)),
        outage_rows=_rows_under(OUTAGES_HEADER, outages_to_csv(current.outages)),
        outage_count_rows="",
        period_totals={
            "up_hours": current.up_hours, "down_hours": current.down_hours,
            "previous_up_hours": before.up_hours, "previous_down_hours": before.down_hours,
            "cut": current.cut, "end": current.end.isoformat() if current.end else None,
        },
        store_count=len(current.figures), poll_count=len(data.polls),
        read_seconds=data.read_seconds, compute_seconds=time.perf_counter() - started, generation=data.generation,
    )


def _rows_under(header: str, text: str) -> str:
    """The CSV's lines without its header, which the shards' joined rows get once."""
    if not text.startswith(header):
        raise ValueError(f"the engine's CSV starts with {text[:80]!r}, not {header.strip()!r}")
    return text[len(header):]


@contextmanager
def _heartbeat(*, report_id: uuid.UUID, runner: str) -> Iterator[None]:
    """Refresh heartbeat_at every few seconds while the report is built.

    A Running report whose heartbeat stops (its process was killed) is found
    by reports_recover_stale and run again.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(HEARTBEAT_SECONDS):
                Report.objects.filter(pk=report_id, state=Report.State.RUNNING, runner=runner).update(
                    heartbeat_at=timezone.now()
                )
        except DatabaseError:
            logger.warning("heartbeat of report %s stopped: database error", report_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{report_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
