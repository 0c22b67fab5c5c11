"""A report row's state: the queue, claiming, finishing, failing, recovering, expiring.

The Report row is the whole job: its state (Pending -> Running -> Complete or
Failed), who runs it and when that runner last showed life, its progress, its
timings, its error and its CSV. Claiming a report is a conditional UPDATE, so
exactly one runner builds it whichever process or worker asks. Nothing here
starts work: runners (runners.py) take Pending rows, builders (build.py) fill them.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from monitoring.engine import OUTAGE_COLUMNS, OUTAGE_COUNT_COLUMNS, PERIOD_COLUMNS, REPORT_COLUMNS
from monitoring.models import Report

logger = logging.getLogger(__name__)

# A runner that died this many times on one report (its heartbeat stopped)
# is not given another chance: the report fails with a clear error instead.
MAX_ATTEMPTS = 2
DIED_TWICE = "runner died twice; gave up"
CSV_HEADER = ",".join(REPORT_COLUMNS) + "\n"
PERIOD_CSV_HEADER = ",".join(PERIOD_COLUMNS) + "\n"
OUTAGES_HEADER = ",".join(OUTAGE_COLUMNS) + "\n"
OUTAGE_COUNTS_HEADER = ",".join(OUTAGE_COUNT_COLUMNS) + "\n"
FINISHED = (Report.State.COMPLETE, Report.State.FAILED)


class ReportLost(Exception):
    """The report is no longer ours (recovered by another process, or deleted)."""


@dataclass(frozen=True)
class ShardResult:
    csv_rows: str  # the shard's CSV lines, without the header
    outage_rows: str  # its outage list's lines, without the header
    outage_count_rows: str
    store_count: int
    poll_count: int
    read_seconds: float
    compute_seconds: float
    # A period report's fleet figures of the shard: hours up and down in the period and the one
    # before, whether a store's period was cut, and where the latest one ended (ISO 8601).
    period_totals: dict = field(default_factory=dict)
    generation: int = 0  # the load generation the shard read (reading.report_basis)


def runner_id() -> str:
    """Who is building: host, process and thread, as shown on the report."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


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


def report_fail(*, report_id: uuid.UUID, error: str) -> None:
    Report.objects.filter(pk=report_id, state__in=[Report.State.PENDING, Report.State.RUNNING]).update(
        state=Report.State.FAILED, error=error, finished_at=timezone.now(), heartbeat_at=None
    )


def report_retry_or_fail(*, report_id: uuid.UUID, error: str) -> None:
    """Back to the queue for another run, or Failed once it has had MAX_ATTEMPTS runs.

    A requeued report is taken by the next free runner thread, or handed over by
    the janitor's next round.
    """
    running = Report.objects.filter(pk=report_id, state=Report.State.RUNNING)
    if running.filter(attempts__lt=MAX_ATTEMPTS).update(state=Report.State.PENDING, heartbeat_at=None, runner=""):
        return
    report_fail(report_id=report_id, error=error)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def csv_header(kind: str) -> str:
    """The header of a report's CSV: SPEC 5 for rolling reports, SPEC 8 for periods and intervals."""
    return CSV_HEADER if kind == Report.Kind.ROLLING else PERIOD_CSV_HEADER


def report_complete(
    *, report_id: uuid.UUID, now: datetime, results: list[ShardResult], runner: str = "", kind: str = Report.Kind.ROLLING
) -> bool:
    """Join the shards' rows in shard order under one header and finish the report.

    False when the report was no longer Running (or no longer this runner's).
    """
    held = Report.objects.filter(pk=report_id, state=Report.State.RUNNING)
    if runner:
        held = held.filter(runner=runner)
    totals = merged_period_totals([r.period_totals for r in results]) if kind != Report.Kind.ROLLING else {}
    return bool(
        held.update(
            state=Report.State.COMPLETE, now=now, csv=csv_header(kind) + "".join(r.csv_rows for r in results),
            outages_csv=OUTAGES_HEADER + "".join(r.outage_rows for r in results),
            outage_counts_csv=OUTAGE_COUNTS_HEADER + "".join(r.outage_count_rows for r in results),
            period_totals=totals, periods_cut=bool(totals.get("cut")),
            effective_end=datetime.fromisoformat(totals["end"]) if totals.get("end") else None,
            store_count=sum(r.store_count for r in results), poll_count=sum(r.poll_count for r in results),
            read_seconds=sum(r.read_seconds for r in results),
            compute_seconds=sum(r.compute_seconds for r in results),
            shards_done=len(results), finished_at=timezone.now(), heartbeat_at=None, error="",
        )
    )


_SUMMED = ("up_hours", "down_hours", "previous_up_hours", "previous_down_hours")


def merged_period_totals(parts: list[dict]) -> dict:
    """The shards' fleet figures as one: hours summed, cut if any was, the latest end."""
    ends = [part["end"] for part in parts if part.get("end")]
    return {
        **{name: sum(part.get(name, 0.0) for part in parts) for name in _SUMMED},
        "cut": any(part.get("cut") for part in parts),
        "end": max(ends, key=datetime.fromisoformat) if ends else None,
    }


def fleet_figures(totals: dict) -> dict[str, Any]:
    """A period report's fleet (its period_totals): hours up and down and the uptime percent,
    this period and the previous one."""
    up, down = totals.get("up_hours", 0.0), totals.get("down_hours", 0.0)
    before_up, before_down = totals.get("previous_up_hours", 0.0), totals.get("previous_down_hours", 0.0)
    return {
        "uptime_hours": round(up, 2), "downtime_hours": round(down, 2), "uptime_percent": uptime_percent(up, down),
        "previous_uptime_hours": round(before_up, 2), "previous_downtime_hours": round(before_down, 2),
        "previous_uptime_percent": uptime_percent(before_up, before_down),
    }


def uptime_percent(up: float, down: float) -> float | None:
    """100 x up / (up + down) to 2 decimals (as SPEC 8 per store); None without open time."""
    return round(100 * up / (up + down), 2) if up + down > 0 else None



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
