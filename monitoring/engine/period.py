"""Period reports (SPEC 8): one interval for every store, or each store's own local day, week or month.

Each store gets its own window [first, last) in UTC: the same instants for an
interval, or its calendar period's local boundaries converted with SPEC 3's rules
(zones.local_to_utc) for a day, week or month. Every window ends at the latest
poll at the latest (the store's period is then *cut*). A store's observations are
its polls in [first - 7 days, last] inside its open intervals, so its figures never
depend on another store's zone; everything else is the rolling report's machinery
with one window per lane instead of one for all.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from .constants import MICROSECONDS_PER_DAY, MICROSECONDS_PER_HOUR, PERIOD_COLUMNS
from .hours import open_time
from .interpolate import lane_window_time, status_segments
from .observations import LaneBounds, observations
from .outages import OutageParts, outage_parts
from .report import _TICKS_PER_HOUR, _TICKS_PER_MINUTE, hundredths_half_up, outage_frame
from .stores import StoreTable, store_table
from .timebase import TICKS_PER_MICROSECOND, Span, instant_microseconds
from .zones import local_to_utc

# SPEC 8: observations reach one week before a store's period.
PERIOD_LOOKBACK_US = 7 * MICROSECONDS_PER_DAY
PERIOD_KINDS = ("day", "week", "month")
_EPOCH_DATE = date(1970, 1, 1)
# The widest real UTC offsets: local midnight happens this much before or after UTC's.
_WIDEST_OFFSET_AHEAD = timedelta(hours=14)
_WIDEST_OFFSET_BEHIND = timedelta(hours=12)


@dataclass(frozen=True)
class Interval:
    """[start, end): the same instants for every store."""

    start: datetime
    end: datetime

    def previous(self) -> Interval:
        """The interval of the same length just before this one."""
        return Interval(start=self.start - (self.end - self.start), end=self.start)


@dataclass(frozen=True)
class CalendarPeriod:
    """The local day, ISO week (Monday first) or calendar month containing `day`, per store."""

    kind: str
    day: date

    def __post_init__(self) -> None:
        if self.kind not in PERIOD_KINDS:
            raise ValueError(f"period must be one of {', '.join(PERIOD_KINDS)}, not {self.kind!r}")

    @property
    def first_day(self) -> date:
        if self.kind == "week":
            return self.day - timedelta(days=self.day.weekday())
        if self.kind == "month":
            return self.day.replace(day=1)
        return self.day

    @property
    def next_first_day(self) -> date:
        first = self.first_day
        if self.kind == "week":
            return first + timedelta(days=7)
        if self.kind == "month":
            return (first + timedelta(days=32)).replace(day=1)
        return first + timedelta(days=1)

    def previous(self) -> CalendarPeriod:
        """The period of the same kind just before: the day, week or month before."""
        return CalendarPeriod(kind=self.kind, day=self.first_day - timedelta(days=1))


Period = Interval | CalendarPeriod


@dataclass(frozen=True)
class PeriodReport:
    figures: pd.DataFrame  # PERIOD_COLUMNS, sorted by store_id (code points)
    outages: pd.DataFrame  # the outage parts meeting each store's period (as RollingReport.outages)
    up_hours: float  # the fleet's open time up and down in the period, exact, for the page's percent
    down_hours: float
    cut: bool  # some store's period ended at the latest poll instead of its own end
    end: datetime | None  # the latest end of any store's (cut) period: the report's effective end


def period_reading_range(*, periods: list[Period], latest: datetime) -> tuple[datetime, datetime]:
    """The polls that can matter to these periods, for any store: [since, until] in UTC.

    A local period starts at most 14 hours before its date's midnight in UTC (UTC+14)
    and ends at most 12 hours after (UTC-12); its observations reach 7 days before.
    """
    lookback = timedelta(microseconds=PERIOD_LOOKBACK_US)
    starts, ends = [], []
    for period in periods:
        if isinstance(period, Interval):
            starts.append(period.start)
            ends.append(period.end)
        else:
            starts.append(datetime.combine(period.first_day, datetime.min.time(), tzinfo=UTC) - _WIDEST_OFFSET_AHEAD)
            ends.append(datetime.combine(period.next_first_day, datetime.min.time(), tzinfo=UTC) + _WIDEST_OFFSET_BEHIND)
    return min(starts) - lookback, min(max(ends), latest)


def period_windows(*, table: StoreTable, period: Period, latest_us: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each store's [first_us, last_us) in lane order, cut at the latest poll, and whether any was cut."""
    lanes = len(table)
    if isinstance(period, Interval):
        first = np.full(lanes, instant_microseconds(period.start), dtype=np.int64)
        last = np.full(lanes, instant_microseconds(period.end), dtype=np.int64)
    else:
        first = _local_midnight_utc(table, period.first_day)
        last = _local_midnight_utc(table, period.next_first_day)
    cut = bool(np.any(last > latest_us))
    last = np.maximum(np.minimum(last, latest_us), first)  # a period after the latest poll is empty
    return first, last, cut


def _local_midnight_utc(table: StoreTable, day: date) -> np.ndarray:
    """00:00 of `day` on each store's wall clock, in UTC microseconds (fold 0, a gap moves forward)."""
    wall = np.full(len(table), (day - _EPOCH_DATE).days * MICROSECONDS_PER_DAY, dtype=np.int64)
    return local_to_utc(local_us=wall, zone_codes=table.zone_codes, zone_names=table.zone_names)


def compute_period_report(
    *, stores: pd.DataFrame, hours: pd.DataFrame, polls: pd.DataFrame, period: Period, latest: datetime | pd.Timestamp
) -> PeriodReport:
    """The SPEC 8 figures of every store of `stores`, with its outages in its period."""
    table = store_table(stores)
    first_us, last_us, cut = period_windows(table=table, period=period, latest_us=instant_microseconds(latest))
    if not len(table):
        return _report(table, np.zeros((0, 4), dtype=np.int64), _no_parts(), None, cut=cut, end=None)
    span = Span(origin_us=int(first_us.min()) - PERIOD_LOOKBACK_US, now_us=int(last_us.max()))
    if len(table) > span.max_stores:
        raise ValueError(f"at most {span.max_stores} stores fit in one pass of a period this long")
    opened = open_time(stores=table, hours=hours, span=span)
    bounds = LaneBounds(first_us=first_us - PERIOD_LOOKBACK_US, last_us=last_us)
    observed = observations(stores=table, polls=polls, span=span, open_time=opened, lane_bounds=bounds)
    segments = status_segments(observations=observed, open_time=opened, span=span, lane_count=len(table))
    first, last = span.ticks(first_us), span.ticks(last_us)
    window = lane_window_time(segments=segments, open_time=opened, span=span, first=first, last=last)
    parts = outage_parts(segments=segments, open_time=opened, span=span, first=first, last=last)
    ticks = np.zeros((len(table), 4), dtype=np.int64)  # up, down, outages, longest
    ticks[window.lanes, 0], ticks[window.lanes, 1] = window.up, window.down
    ticks[:, 2] = np.bincount(parts.lanes, minlength=len(table))
    np.maximum.at(ticks[:, 3], parts.lanes, parts.lengths)
    end = pd.Timestamp(int(last_us.max()) * 1_000, tz="UTC").to_pydatetime()
    return _report(table, ticks, parts, span, cut=cut, end=end)


def _report(table: StoreTable, ticks: np.ndarray, parts: OutageParts, span: Span | None, *, cut: bool, end) -> PeriodReport:
    order = table.report_order()
    up, down, count, longest = (ticks[order, column] for column in range(4))
    total = up + down
    # 100 x up / (up + down), rounded half up to hundredths of a percent, exactly.
    percent = np.where(total > 0, (up * 20_000 + total) // np.maximum(2 * total, 1), -1)
    figures = pd.DataFrame({
        PERIOD_COLUMNS[0]: table.ids[order],
        PERIOD_COLUMNS[1]: hundredths_half_up(up, unit=_TICKS_PER_HOUR) / 100,
        PERIOD_COLUMNS[2]: hundredths_half_up(down, unit=_TICKS_PER_HOUR) / 100,
        PERIOD_COLUMNS[3]: np.where(percent >= 0, percent / 100, np.nan),
        PERIOD_COLUMNS[4]: count,
        PERIOD_COLUMNS[5]: hundredths_half_up(longest, unit=_TICKS_PER_MINUTE) / 100,
    })
    outages = outage_frame(parts, table=table, span=span, order=order) if span is not None else _empty_outages()
    hour = MICROSECONDS_PER_HOUR * TICKS_PER_MICROSECOND
    return PeriodReport(
        figures=figures, outages=outages, up_hours=float(up.sum()) / hour, down_hours=float(down.sum()) / hour,
        cut=cut, end=end,
    )


def _no_parts() -> OutageParts:
    empty = np.zeros(0, dtype=np.int64)
    return OutageParts(empty, empty, empty, np.zeros(0, dtype=bool))


def _empty_outages() -> pd.DataFrame:
    return pd.DataFrame({
        "store_id": pd.Series(dtype=object), "start_ns": pd.Series(dtype="int64"), "end_ns": pd.Series(dtype="int64"),
        "minutes": pd.Series(dtype="float64"), "ongoing": pd.Series(dtype=bool),
    })
