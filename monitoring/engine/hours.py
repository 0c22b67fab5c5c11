"""Business hours -> every store's open intervals in UTC ticks (SPEC 2 and 3).

Each hours row is repeated for every local date of its weekday that can reach
the report's span, turned into a local interval (same day, past midnight, or
24 hours), converted to UTC endpoint by endpoint, clipped to the span, and merged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .constants import MICROSECONDS_PER_DAY
from .opentime import OpenTime
from .stores import StoreTable
from .timebase import Span
from .zones import local_to_utc

_THURSDAY = 3  # 1970-01-01, local day number 0, was a Thursday.
# An interval of local date D lies within [D, D + 2 days) on the local clock,
# and UTC offsets stay within a day either way, so dates from 3 days before the
# origin's UTC date to 1 day after now's cover everything that can touch the span.
_DAYS_BEFORE_ORIGIN = 3
_DAYS_AFTER_NOW = 1


def open_time(*, stores: StoreTable, hours: pd.DataFrame, span: Span) -> OpenTime:
    """Every store's merged open intervals inside [origin, now + 1 us), as lane keys."""
    lanes = stores.lanes_of(hours["store"].to_numpy())
    known = lanes >= 0
    weekday, start_us, end_us = _checked_hours(hours, known)
    lane, local_start, local_end = _local_intervals(
        lanes=lanes[known], weekday=weekday, start_us=start_us, end_us=end_us, span=span
    )
    zone_codes = stores.zone_codes[lane]
    utc_start = local_to_utc(local_us=local_start, zone_codes=zone_codes, zone_names=stores.zone_names)
    utc_end = local_to_utc(local_us=local_end, zone_codes=zone_codes, zone_names=stores.zone_names)
    # A local interval can come out reversed in UTC: [02:30, 03:10) on a day
    # clocks spring forward at 02:00 maps to [03:30, 03:10) local daylight time.
    # Such an interval is empty; from_intervals drops it.
    starts = _lane_keys(lane, utc_start, span)
    ends = _lane_keys(lane, utc_end, span)
    always_open = np.flatnonzero(np.bincount(lane, minlength=len(stores)) == 0)
    starts = np.concatenate([starts, always_open * span.lane])
    ends = np.concatenate([ends, always_open * span.lane + span.end_tick])
    return OpenTime.from_intervals(starts, ends)


def _checked_hours(hours: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    weekday = hours["weekday"].to_numpy(dtype=np.int64)[rows]
    start_us = hours["start_us"].to_numpy(dtype=np.int64)[rows]
    end_us = hours["end_us"].to_numpy(dtype=np.int64)[rows]
    if np.any((weekday < 0) | (weekday > 6)):
        raise ValueError("hours: weekday must be 0 (Monday) to 6 (Sunday)")
    for name, values in (("start_us", start_us), ("end_us", end_us)):
        if np.any((values < 0) | (values >= MICROSECONDS_PER_DAY)):
            raise ValueError(f"hours: {name} must be within one day (0 to 86_399_999_999)")
    return weekday, start_us, end_us


def _local_intervals(
    *, lanes: np.ndarray, weekday: np.ndarray, start_us: np.ndarray, end_us: np.ndarray, span: Span
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lane, local start, local end) for each hours row on each matching local date.

    Local times are microseconds since 1970-01-01 00:00 on the store's wall clock.
    """
    first_day = span.origin_us // MICROSECONDS_PER_DAY - _DAYS_BEFORE_ORIGIN
    last_day = span.now_us // MICROSECONDS_PER_DAY + _DAYS_AFTER_NOW
    # The first date of each row's weekday, then every 7th date after it.
    row_first_day = first_day + (weekday - (first_day + _THURSDAY)) % 7
    dates = np.maximum((last_day - row_first_day) // 7 + 1, 0)
    row = np.repeat(np.arange(lanes.size), dates)
    week = np.arange(row.size) - np.repeat(np.cumsum(dates) - dates, dates)
    midnight = (row_first_day[row] + 7 * week) * MICROSECONDS_PER_DAY
    start, end = start_us[row], end_us[row]
    # end < start runs past midnight; end == start is a full 24 hours (SPEC 3).
    next_day = np.where(end <= start, MICROSECONDS_PER_DAY, 0)
    return lanes[row], midnight + start, midnight + next_day + end


def _lane_keys(lane: np.ndarray, utc_us: np.ndarray, span: Span) -> np.ndarray:
    ticks = np.clip(span.ticks(utc_us), 0, span.end_tick)
    return lane * span.lane + ticks
