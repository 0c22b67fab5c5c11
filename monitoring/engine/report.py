"""The report: uptime and downtime of every store in the last hour, day and week (SPEC 4-5),
and every store's outages in the week (SPEC 7)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from .constants import MICROSECONDS_PER_HOUR, OUTAGE_COUNT_COLUMNS, REPORT_COLUMNS
from .hours import open_time
from .interpolate import StatusSegments, status_segments, window_time
from .observations import Observations, observations
from .opentime import OpenTime
from .outages import OutageParts, outage_parts
from .stores import StoreTable, store_table
from .timebase import TICKS_PER_MICROSECOND, Span

_TICKS_PER_MINUTE = 60_000_000 * TICKS_PER_MICROSECOND
_TICKS_PER_HOUR = MICROSECONDS_PER_HOUR * TICKS_PER_MICROSECOND
# (window length, unit of its figures), in REPORT_COLUMNS order.
_WINDOWS = (
    (MICROSECONDS_PER_HOUR, _TICKS_PER_MINUTE),
    (24 * MICROSECONDS_PER_HOUR, _TICKS_PER_HOUR),
    (7 * 24 * MICROSECONDS_PER_HOUR, _TICKS_PER_HOUR),
)
# Stores per pass: keeps lane keys far from int64's limit (see Span.max_stores).
_STORES_PER_PASS = 1_000_000


@dataclass(frozen=True)
class StoreStatus:
    """Everything the engine knows about a set of stores' open time and status."""

    stores: StoreTable
    span: Span
    open_time: OpenTime
    observations: Observations
    segments: StatusSegments

    def outages(self, *, first_us: int, last_us: int) -> OutageParts:
        """Every store's outage parts in [first_us, last_us)."""
        lanes = len(self.stores)
        first = np.full(lanes, self.span.tick_of(first_us), dtype=np.int64)
        last = np.full(lanes, self.span.tick_of(last_us), dtype=np.int64)
        return outage_parts(segments=self.segments, open_time=self.open_time, span=self.span, first=first, last=last)


@dataclass(frozen=True)
class RollingReport:
    """A rolling report's frames, each sorted by store_id (code points)."""

    figures: pd.DataFrame  # REPORT_COLUMNS
    outages: pd.DataFrame  # store_id, start_ns, end_ns (exact UTC ns), minutes, ongoing: the week's parts
    outage_counts: pd.DataFrame  # OUTAGE_COUNT_COLUMNS, one row per store with an outage in the week


def store_status(*, stores: StoreTable, hours: pd.DataFrame, polls: pd.DataFrame, span: Span) -> StoreStatus:
    """The building blocks shared by the report and the store timeline."""
    if len(stores) > span.max_stores:
        raise ValueError(f"at most {span.max_stores} stores fit in one pass")
    opened = open_time(stores=stores, hours=hours, span=span)
    observed = observations(stores=stores, polls=polls, span=span, open_time=opened)
    segments = status_segments(observations=observed, open_time=opened, span=span, lane_count=len(stores))
    return StoreStatus(stores=stores, span=span, open_time=opened, observations=observed, segments=segments)


def compute_report(
    *, stores: pd.DataFrame, hours: pd.DataFrame, polls: pd.DataFrame, now: datetime | pd.Timestamp
) -> pd.DataFrame:
    """One row per row of `stores`, columns REPORT_COLUMNS, sorted by store_id (code points).

    Hour figures are minutes, day and week figures hours, rounded half up to 2 decimals.
    """
    return compute_rolling_report(stores=stores, hours=hours, polls=polls, now=now).figures


def compute_rolling_report(
    *, stores: pd.DataFrame, hours: pd.DataFrame, polls: pd.DataFrame, now: datetime | pd.Timestamp
) -> RollingReport:
    """The figures of every store, its outages in the last week and their counts."""
    table = store_table(stores)
    span = Span.ending_at(now)
    hundredths = np.zeros((len(table), 6), dtype=np.int64)
    parts = []
    for first in range(0, len(table), _STORES_PER_PASS):
        part = table.slice(first, first + _STORES_PER_PASS)
        status = store_status(stores=part, hours=hours, polls=polls, span=span)
        hundredths[first : first + len(part)] = _figures(status)
        week = status.outages(first_us=span.now_us - _WINDOWS[-1][0], last_us=span.now_us)
        parts.append(OutageParts(week.lanes + first, week.starts, week.ends, week.ongoing))
    order = table.report_order()
    figures = pd.DataFrame(hundredths[order] / 100, columns=REPORT_COLUMNS[1:])
    figures.insert(0, "store_id", table.ids[order])
    week = _concatenated(parts)
    return RollingReport(
        figures=figures,
        outages=outage_frame(week, table=table, span=span, order=order),
        outage_counts=_outage_counts(week, table=table, span=span, order=order),
    )


def _concatenated(parts: list[OutageParts]) -> OutageParts:
    return OutageParts(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("lanes", "starts", "ends", "ongoing")))


def outage_frame(parts: OutageParts, *, table: StoreTable, span: Span, order: np.ndarray) -> pd.DataFrame:
    """The parts as rows sorted by store_id (code points), then start: exact instants and minutes."""
    rank = np.empty(len(table), dtype=np.int64)
    rank[order] = np.arange(len(table))
    # Parts are sorted by lane, then start: a stable sort by rank keeps the starts in order.
    rows = np.argsort(rank[parts.lanes], kind="stable")
    parts = parts.take(rows)
    return pd.DataFrame({
        "store_id": table.ids[parts.lanes] if len(parts) else np.array([], dtype=object),
        "start_ns": span.instants_ns(parts.starts),
        "end_ns": span.instants_ns(parts.ends),
        "minutes": hundredths_half_up(parts.lengths, unit=_TICKS_PER_MINUTE) / 100,
        "ongoing": parts.ongoing.astype(bool),
    })


def _outage_counts(week: OutageParts, *, table: StoreTable, span: Span, order: np.ndarray) -> pd.DataFrame:
    """Per store with an outage in the week: outages in the last day and week, and the longest (minutes)."""
    day_first = np.full(len(table), span.tick_of(span.now_us - _WINDOWS[1][0]), dtype=np.int64)
    day = week.meeting(first=day_first)
    in_week = np.bincount(week.lanes, minlength=len(table))
    in_day = np.bincount(day.lanes, minlength=len(table))
    longest = np.zeros(len(table), dtype=np.int64)
    np.maximum.at(longest, week.lanes, week.lengths)
    shown = order[in_week[order] > 0]
    return pd.DataFrame({
        OUTAGE_COUNT_COLUMNS[0]: table.ids[shown],
        OUTAGE_COUNT_COLUMNS[1]: in_day[shown],
        OUTAGE_COUNT_COLUMNS[2]: in_week[shown],
        OUTAGE_COUNT_COLUMNS[3]: hundredths_half_up(longest[shown], unit=_TICKS_PER_MINUTE) / 100,
    })


def _figures(status: StoreStatus) -> np.ndarray:
    """Hundredths of each figure, columns in REPORT_COLUMNS order; zeros without observations."""
    span = status.span
    figures = np.zeros((len(status.stores), 6), dtype=np.int64)
    for column, (length_us, unit) in enumerate(_WINDOWS):
        window = window_time(
            segments=status.segments,
            open_time=status.open_time,
            span=span,
            first_us=span.now_us - length_us,
            last_us=span.now_us,
        )
        figures[window.lanes, column] = hundredths_half_up(window.up, unit=unit)
        figures[window.lanes, column + 3] = hundredths_half_up(window.down, unit=unit)
    return figures


def hundredths_half_up(ticks: np.ndarray, *, unit: int) -> np.ndarray:
    """Round ticks / unit to hundredths, halves up, in exact integer arithmetic."""
    return (ticks * 100 + unit // 2) // unit
