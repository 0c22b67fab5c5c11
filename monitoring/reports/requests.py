"""What a client may ask a report for, read from text and checked in one place.

The API, the web page's form and `manage.py report` all send their raw fields
through `report_request`: a rolling report (optionally `as_of` an instant), an
interval (`start`, `end`) or a local calendar period (`period`, `date`), SPEC 4
and 8. A bad field raises RequestError whose message says what to send; the
interfaces answer it as a 422 (or a command error).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from monitoring.engine import PERIOD_KINDS, CalendarPeriod, Interval
from monitoring.reports import reading

EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INTERVAL = timedelta(days=93)
# Real UTC offsets lie within -12:00 and +14:00: a local period can start at most
# 14 hours before its date's midnight in UTC.
_EARLIEST_OFFSET = timedelta(hours=14)
_SHOWN_CHARS = 64


class RequestError(ValueError):
    """A report request that cannot be built; `field` names what to fix.

    `status` is what the API answers: 422 for a field that is wrong, 409 for an
    instant that is well formed but not reached by the data yet (the same request
    succeeds once it has passed).
    """

    def __init__(self, field: str, message: str, *, status: int = 422) -> None:
        self.field, self.status = field, status
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class ReportRequest:
    """Exactly one kind: rolling (as_of or latest), an interval, or a calendar period."""

    as_of: datetime | None = None
    interval: Interval | None = None
    period: CalendarPeriod | None = None

    @property
    def kind(self) -> str:
        return "interval" if self.interval else "period" if self.period else "rolling"


def report_request(
    *, as_of: str | None = None, start: str | None = None, end: str | None = None,
    period: str | None = None, day: str | None = None,
) -> ReportRequest:
    """Read and check the fields (None or blank: not sent)."""
    as_of, start, end, period, day = (_given(value) for value in (as_of, start, end, period, day))
    asked_interval, asked_period = start is not None or end is not None, period is not None or day is not None
    if asked_interval and asked_period:
        raise RequestError("period", "send either start and end, or period and date, not both")
    if as_of is not None and (asked_interval or asked_period):
        raise RequestError("as_of", "as_of is for rolling reports; a period or an interval has its own end")
    if asked_interval:
        return ReportRequest(interval=_interval(start, end))
    if asked_period:
        return ReportRequest(period=_calendar_period(period, day))
    return ReportRequest(as_of=parse_instant(as_of, field="as_of") if as_of is not None else None)


def parse_instant(text: str, *, field: str, future_ok: bool = False) -> datetime:
    """An ISO 8601 instant from 1970 on (the year as written), not after now unless `future_ok`;
    naive means UTC; the polls' own `… UTC` form is accepted."""
    shown = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"
    try:
        moment = datetime.fromisoformat(text.removesuffix(" UTC"))
    except ValueError:
        raise RequestError(field, f"{shown!r} is not an ISO 8601 instant such as 2023-01-25T18:00:00Z") from None
    # The year as written: with an offset of at most a day, an instant from 1970 cannot reach
    # year 0, which PostgreSQL stores (as BC) and Python cannot read back.
    if moment.year < EARLIEST_INSTANT.year:
        raise RequestError(field, f"{shown!r} is before {EARLIEST_INSTANT.year}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if abs(moment.utcoffset()) >= timedelta(hours=16):
        # PostgreSQL cannot store such an offset; no real zone has one.
        raise RequestError(field, f"{shown!r} has a UTC offset beyond ±15:59")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is in year 10000 in UTC
        raise RequestError(field, f"{shown!r} is in the future; a report can only look back", status=409) from None
    if moment > timezone.now() and not future_ok:
        raise RequestError(field, f"{shown!r} is in the future; a report can only look back", status=409)
    return moment


def _interval(start: str | None, end: str | None) -> Interval:
    if start is None or end is None:
        raise RequestError("start" if start is None else "end", "an interval needs both start and end (ISO 8601 instants)")
    # The end may lie ahead: like every period, the interval is cut at the latest poll.
    first, last = parse_instant(start, field="start"), parse_instant(end, field="end", future_ok=True)
    if first >= last:
        raise RequestError("end", "end must be after start")
    if last - first > MAX_INTERVAL:
        raise RequestError("end", f"an interval may span at most {MAX_INTERVAL.days} days")
    interval = Interval(start=first, end=last)
    _check_not_after_latest_poll(earliest_start=first)
    return interval


def _calendar_period(kind: str | None, day: str | None) -> CalendarPeriod:
    if kind is None:
        raise RequestError("period", f"a date needs a period: one of {', '.join(PERIOD_KINDS)}")
    if kind not in PERIOD_KINDS:
        raise RequestError("period", f"{kind[:_SHOWN_CHARS]!r} is not a period; send one of {', '.join(PERIOD_KINDS)}")
    if day is None:
        raise RequestError("date", f"a {kind} period needs a date (YYYY-MM-DD) inside it")
    try:
        moment = date.fromisoformat(day)
    except ValueError:
        raise RequestError("date", f"{day[:_SHOWN_CHARS]!r} is not a date such as 2023-01-24 (YYYY-MM-DD)") from None
    if moment.year < EARLIEST_INSTANT.year:
        raise RequestError("date", "the date must be in 1970 or later")
    period = CalendarPeriod(kind=kind, day=moment)
    start_utc = datetime.combine(period.first_day, datetime.min.time(), tzinfo=UTC) - _EARLIEST_OFFSET
    _check_not_after_latest_poll(earliest_start=start_utc)
    return period


def _check_not_after_latest_poll(*, earliest_start: datetime) -> None:
    latest = reading.latest_poll()
    if latest is not None and earliest_start >= latest:
        raise RequestError("start", f"the period starts after the latest poll ({latest.isoformat()}): there is no data for it yet")


def _given(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None
