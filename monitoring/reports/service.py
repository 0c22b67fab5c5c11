"""The report service: ask for a report (admitted under the client's rate limit), find reports.

A new report is a Pending row, handed to the configured runner (runners.py)
once it commits. The row's life after that is state.py and build.py.
"""
from __future__ import annotations

import uuid
from contextlib import nullcontext

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from monitoring.access import STAFF, StoreScope, trigger_allowed
from monitoring.models import Report
from monitoring.reports import runners
from monitoring.reports.requests import ReportRequest
from monitoring.reports.state import runner_id


class TriggerLimitReached(Exception):
    """The client has asked for TRIGGER_RATE_LIMIT reports within the window already."""

    def __init__(self) -> None:
        window = settings.TRIGGER_RATE_WINDOW_SECONDS
        self.retry_after_seconds = window
        super().__init__(f"too many reports: at most {settings.TRIGGER_RATE_LIMIT} reports per {window} s per client")


def report_create(
    *, request: ReportRequest = ReportRequest(), requested_by: str = "", scope: StoreScope = STAFF, build_here: bool = False
) -> Report:
    """A new Pending report of the kind asked for, handed to the configured runner once committed.

    The report is the scope's: an owner's holds that owner's stores only, as they are
    when it is built, and is seen by that owner's clients and staff (SPEC 11).

    A named client (`requested_by`) is held to the trigger rate limit: raises
    TriggerLimitReached. With build_here the row is created already claimed by the
    calling thread, which then builds it with report_build (no other runner can take it).
    """
    # Only a named client needs the transaction: it holds the client's lock until the row commits.
    with transaction.atomic() if requested_by else nullcontext():
        if requested_by:
            _admit(client=requested_by)
        asked = {**_fields_of(request), "owner": scope.recorded_owner}
        if build_here:
            moment = timezone.now()
            return Report.objects.create(
                **asked, requested_by=requested_by, state=Report.State.RUNNING,
                runner=runner_id(), started_at=moment, heartbeat_at=moment, attempts=1,
            )
        report = Report.objects.create(**asked, requested_by=requested_by)
        # A runner in another thread or process sees the row only once committed.
        # Robust: should the hand-over raise, the error is logged, the request still
        # succeeds, and the janitor hands the Pending row over on its next round.
        transaction.on_commit(runners.report_submitted, robust=True)
        return report


def _fields_of(request: ReportRequest) -> dict:
    """The row's record of what was asked (its kind and parameters)."""
    if request.interval is not None:
        return {"kind": Report.Kind.INTERVAL, "start": request.interval.start, "end": request.interval.end}
    if request.period is not None:
        return {"kind": Report.Kind.PERIOD, "period": request.period.kind, "period_date": request.period.day}
    return {"kind": Report.Kind.ROLLING, "as_of": request.as_of}


def _admit(*, client: str) -> None:
    """Raise TriggerLimitReached when the client is over its limit.

    A lock per client, held until the new row commits, makes a burst of requests
    count one after the other instead of all passing the same check. It is a
    transaction-level lock, not ingest/locks.py's session lock: it must outlive this
    function until the commit, and the commit releases it, so there is no block to scope.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"trigger:{client}"])
    if not trigger_allowed(client=client):
        raise TriggerLimitReached


def report_get(*, report_id: object, scope: StoreScope, with_csv: bool = True) -> Report | None:
    """The report, or None for an unknown or malformed id or one out of scope (never raises for junk):
    another owner's report is not found, exactly as an id that does not exist.

    with_csv=False leaves the CSV (up to megabytes) in the database until read.
    """
    try:
        key = uuid.UUID(str(report_id))
    except (ValueError, TypeError):
        return None
    found = scope.reports().filter(pk=key)
    return (found if with_csv else found.defer(*Report.BULKY_FIELDS)).first()


def report_list(*, scope: StoreScope, limit: int = 20) -> list[Report]:
    """The newest reports in scope first, without their CSV (loaded only when read)."""
    return list(scope.reports().defer(*Report.BULKY_FIELDS).order_by("-requested_at")[: max(limit, 0)])
