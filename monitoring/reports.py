"""The report service: create, build, finish or fail a report.

The Report row is the whole job: its state (Pending -> Running -> Complete or
Failed), who runs it and when that runner last showed life, its progress, its
timings, its error and its CSV. Claiming a report is a conditional UPDATE, so
exactly one runner builds it whichever process or worker asks. How reports
get to a runner (threads of the web process, Celery workers) is jobs.py.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg2
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from monitoring import report_data
from monitoring.access import trigger_allowed
from monitoring.engine import REPORT_COLUMNS, compute_report, report_to_csv
from monitoring.models import Report, StatusPoll, Store

logger = logging.getLogger(__name__)

# A runner that died this many times on one report (its heartbeat stopped)
# is not given another chance: the report fails with a clear error instead.
MAX_ATTEMPTS = 2
POLL_COUNT_ESTIMATE_ABOVE = 1_000_000
# The database went away. The shard reads COPY through psycopg2 directly, so its own
# classes come too, besides Django's wrappers.
CONNECTION_LOST = (OperationalError, InterfaceError, psycopg2.OperationalError, psycopg2.InterfaceError)
DIED_TWICE = "runner died twice; gave up"
# Seconds between two signs of life of a report being built.
HEARTBEAT_SECONDS = 5.0
CSV_HEADER = ",".join(REPORT_COLUMNS) + "\n"
FINISHED = (Report.State.COMPLETE, Report.State.FAILED)


class ReportLost(Exception):
    """The report is no longer ours (recovered by another process, or deleted)."""


@dataclass(frozen=True)
class ShardResult:
    csv_rows: str  # the shard's CSV lines, without the header
    store_count: int
    poll_count: int
    read_seconds: float
    compute_seconds: float


@dataclass(frozen=True)
class DataOverview:
    store_count: int
    poll_count: int
    latest_poll_at: datetime | None
    oldest_poll_at: datetime | None
    database_ok: bool
    # Seconds from the latest poll to now: how stale a default report would be.
    data_age_seconds: float | None


def runner_id() -> str:
    """Who is building: host, process and thread, as shown on the report."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


class TriggerLimitReached(Exception):
    """The client has asked for TRIGGER_RATE_LIMIT reports within the window already."""

    def __init__(self) -> None:
        window = settings.TRIGGER_RATE_WINDOW_SECONDS
        self.retry_after_seconds = window
        super().__init__(f"too many reports: at most {settings.TRIGGER_RATE_LIMIT} reports per {window} s per client")


def report_create(*, as_of: datetime | None = None, requested_by: str = "", build_here: bool = False) -> Report:
    """A new Pending report, handed to the configured runner once committed.

    A named client (`requested_by`) is held to the trigger rate limit: raises
    TriggerLimitReached. With build_here the row is created already claimed by the
    calling thread, which then builds it with report_build (no other runner can take it).
    """
    # Only a named client needs the transaction: it holds the client's lock until the row commits.
    with transaction.atomic() if requested_by else nullcontext():
        if requested_by:
            _admit(client=requested_by)
        if build_here:
            moment = timezone.now()
            return Report.objects.create(
                as_of=as_of, requested_by=requested_by, state=Report.State.RUNNING,
                runner=runner_id(), started_at=moment, heartbeat_at=moment, attempts=1,
            )
        report = Report.objects.create(as_of=as_of, requested_by=requested_by)
        # A runner in another thread or process sees the row only once committed.
        # Robust: should the hand-over raise, the error is logged, the request still
        # succeeds, and the janitor hands the Pending row over on its next round.
        transaction.on_commit(_hand_to_runner, robust=True)
        return report


def _admit(*, client: str) -> None:
    """Raise TriggerLimitReached when the client is over its limit.

    A lock per client, held until the new row commits, makes a burst of requests
    count one after the other instead of all passing the same check.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"trigger:{client}"])
    if not trigger_allowed(client=client):
        raise TriggerLimitReached


def report_get(*, report_id: object, with_csv: bool = True) -> Report | None:
    """The report, or None for an unknown or malformed id (never raises for junk).

    with_csv=False leaves the CSV (up to megabytes) in the database until read.
    """
    try:
        key = uuid.UUID(str(report_id))
    except (ValueError, TypeError):
        return None
    found = Report.objects.filter(pk=key)
    return (found if with_csv else found.defer("csv")).first()


def report_list(*, limit: int = 20) -> list[Report]:
    """The newest reports first, without their CSV (loaded only when read)."""
    return list(Report.objects.defer("csv").order_by("-requested_at")[: max(limit, 0)])


def report_next_pending() -> Report | None:
    """The oldest Pending report: the head of the queue every process shares."""
    return Report.objects.filter(state=Report.State.PENDING).order_by("requested_at").first()


def report_claim(*, report: Report, runner: str) -> bool:
    """Take a Pending report for `runner`; False when another runner has it."""
    if report.state == Report.State.RUNNING and report.runner == runner:
        return True  # created claimed (build_here)
    moment = timezone.now()
    return bool(
        Report.objects.filter(pk=report.pk, state=Report.State.PENDING).update(
            state=Report.State.RUNNING, runner=runner, started_at=moment, heartbeat_at=moment,
            attempts=F("attempts") + 1, error="",
        )
    )


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


def report_fail(*, report_id: uuid.UUID, error: str) -> None:
    Report.objects.filter(pk=report_id, state__in=[Report.State.PENDING, Report.State.RUNNING]).update(
        state=Report.State.FAILED, error=error, finished_at=timezone.now(), heartbeat_at=None
    )


def report_retry_or_fail(*, report_id: uuid.UUID, error: str) -> None:
    """Back to the queue for another run, or Failed once it has had MAX_ATTEMPTS runs."""
    running = Report.objects.filter(pk=report_id, state=Report.State.RUNNING)
    if running.filter(attempts__lt=MAX_ATTEMPTS).update(state=Report.State.PENDING, heartbeat_at=None, runner=""):
        transaction.on_commit(_hand_to_runner, robust=True)
        return
    report_fail(report_id=report_id, error=error)


def _hand_to_runner() -> None:
    # jobs runs reports through this module, so it is imported here, not above.
    from monitoring import jobs

    jobs.report_submitted()


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _build(*, report_id: uuid.UUID, runner: str) -> None:
    report = Report.objects.only("as_of", "now").get(pk=report_id)
    # A report re-run after its runner died keeps the `now` it was given.
    now = report.now or report_data.report_now(as_of=report.as_of)
    ranges = report_data.shard_ranges(size=settings.REPORT_SHARD_STORES)
    _touch(report_id=report_id, runner=runner, now=now, shards_total=len(ranges), shards_done=0)
    results = []
    for index in range(len(ranges)):
        results.append(shard_compute(bounds=report_data.bounds_of(ranges, index), now=now))
        _touch(report_id=report_id, runner=runner, shards_done=index + 1)
    if not report_complete(report_id=report_id, now=now, results=results, runner=runner):
        raise ReportLost(report_id)


def _touch(*, report_id: uuid.UUID, runner: str, **fields) -> None:
    """Save progress (and a heartbeat) on a report this runner still holds."""
    held = Report.objects.filter(pk=report_id, state=Report.State.RUNNING, runner=runner)
    if not held.update(heartbeat_at=timezone.now(), **fields):
        raise ReportLost(report_id)


def shard_compute(*, bounds: report_data.ShardBounds, now: datetime) -> ShardResult:
    """Read one shard and run the engine on it: its CSV lines and counts."""
    data = report_data.read_shard(bounds=bounds, now=now)
    started = time.perf_counter()
    frame = compute_report(stores=data.stores, hours=data.hours, polls=data.polls, now=now)
    text = report_to_csv(frame)
    if not text.startswith(CSV_HEADER):
        raise ValueError(f"the engine's CSV starts with {text[:80]!r}, not the report header")
    return ShardResult(
        csv_rows=text[len(CSV_HEADER):], store_count=len(frame), poll_count=len(data.polls),
        read_seconds=data.read_seconds, compute_seconds=time.perf_counter() - started,
    )


def report_complete(*, report_id: uuid.UUID, now: datetime, results: list[ShardResult], runner: str = "") -> bool:
    """Join the shards' rows in shard order under one header and finish the report.

    False when the report was no longer Running (or no longer this runner's).
    """
    held = Report.objects.filter(pk=report_id, state=Report.State.RUNNING)
    if runner:
        held = held.filter(runner=runner)
    return bool(
        held.update(
            state=Report.State.COMPLETE, now=now, csv=CSV_HEADER + "".join(r.csv_rows for r in results),
            store_count=sum(r.store_count for r in results), poll_count=sum(r.poll_count for r in results),
            read_seconds=sum(r.read_seconds for r in results),
            compute_seconds=sum(r.compute_seconds for r in results),
            shards_done=len(results), finished_at=timezone.now(), heartbeat_at=None, error="",
        )
    )


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


def reports_recover_stale(*, older_than: timedelta) -> int:
    """Running reports whose runner stopped beating: back to Pending, or Failed.

    `attempts` counts the runs started (claims); a report whose runner died
    on its MAX_ATTEMPTS-th run fails instead of being tried again.
    """
    running = Report.objects.filter(state=Report.State.RUNNING)
    stale = running.filter(
        Q(heartbeat_at__lt=timezone.now() - older_than)
        | Q(heartbeat_at__isnull=True)
        | Q(runner__in=_runners_gone_from_this_host(running.values_list("runner", flat=True)))
    )
    failed = stale.filter(attempts__gte=MAX_ATTEMPTS).update(
        state=Report.State.FAILED, error=DIED_TWICE, finished_at=timezone.now(), heartbeat_at=None
    )
    requeued = stale.filter(attempts__lt=MAX_ATTEMPTS).update(state=Report.State.PENDING, heartbeat_at=None)
    if failed or requeued:
        logger.warning("stale reports: %d requeued, %d failed (%s)", requeued, failed, DIED_TWICE)
    return failed + requeued


def _runners_gone_from_this_host(runners: Iterable[str]) -> list[str]:
    """Runners on this host whose process no longer exists (killed, restarted).

    Their reports need not wait for the heartbeat to go stale: after a restart
    the janitor's first round re-runs them at once.
    """
    host = socket.gethostname()
    gone = []
    for runner in set(runners):
        runner_host, _, rest = runner.partition(":")
        pid = rest.partition(":")[0]
        if runner_host == host and pid.isdigit() and not _process_exists(int(pid)):
            gone.append(runner)
    return gone


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def reports_expire(*, keep: int) -> int:
    """Delete finished reports beyond the newest `keep`; returns how many went."""
    finished = Report.objects.filter(state__in=FINISHED)
    newest = finished.order_by("-requested_at").values("pk")[: max(keep, 0)]
    deleted = finished.exclude(pk__in=newest).delete()[1].get(Report._meta.label, 0)
    if deleted:
        logger.info("expired %d old reports (keeping the newest %d)", deleted, keep)
    return deleted


def _poll_count() -> int:
    """Exact below POLL_COUNT_ESTIMATE_ABOVE polls; above, PostgreSQL's own row estimate.

    Counting 20 million rows takes a second, on every home page view and health check;
    the estimate (kept current by autovacuum and the ANALYZE after each bulk load) is
    free and, for a table that size, off by a fraction of a percent at most.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [StatusPoll._meta.db_table])
        estimate = cursor.fetchone()[0]
    return estimate if estimate >= POLL_COUNT_ESTIMATE_ABOVE else StatusPoll.objects.count()


def data_overview() -> DataOverview:
    """What the database holds, for the home page and health checks; never raises."""
    try:
        store_count = Store.objects.count()
        polls = StatusPoll.objects.order_by()
        poll_count = _poll_count()
        latest = polls.order_by("-timestamp").values_list("timestamp", flat=True).first()
        oldest = polls.order_by("timestamp").values_list("timestamp", flat=True).first()
    except DatabaseError:
        logger.warning("data overview: the database did not answer", exc_info=True)
        return DataOverview(0, 0, None, None, database_ok=False, data_age_seconds=None)
    age = (timezone.now() - latest).total_seconds() if latest else None
    return DataOverview(store_count, poll_count, latest, oldest, database_ok=True, data_age_seconds=age)
