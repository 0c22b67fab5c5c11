"""The report: uptime and downtime of every store in the last hour, day and week (SPEC 4-5)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from .constants import MICROSECONDS_PER_HOUR, REPORT_COLUMNS
from .hours import open_time
from .interpolate import StatusSegments, status_segments, window_time
from .observations import Observations, observations
from .opentime import OpenTime
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
    table = store_table(stores)
    span = Span.ending_at(now)
    hundredths = np.zeros((len(table), 6), dtype=np.int64)
    for first in range(0, len(table), _STORES_PER_PASS):
        part = table.slice(first, first + _STORES_PER_PASS)
        status = store_status(stores=part, hours=hours, polls=polls, span=span)
        hundredths[first : first + len(part)] = _figures(status)
    order = table.report_order()
    report = pd.DataFrame(hundredths[order] / 100, columns=REPORT_COLUMNS[1:])
    report.insert(0, "store_id", table.ids[order])
    return report


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
