"""Nearest-observation status, and active / open time in any window (SPEC 4).

Between two consecutive observations of a store the status switches at their
midpoint; before the first one the first status holds, after the last one the
last status holds. So the status of a store is a step function whose steps are
*segments*: a segment starts at the store's first observation (reaching back
to the start of its lane) or at the midpoint where the status changes, and
runs to the next segment's start (or the end of the lane). Consecutive
observations with the same status share a segment, which keeps the segments
few: mostly one per outage and one per recovery.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .observations import Observations
from .opentime import OpenTime
from .timebase import Span


@dataclass(frozen=True)
class StatusSegments:
    """Segment i runs from starts[i] to starts[i + 1] (or its lane's end) with status active[i]."""

    starts: np.ndarray  # lane keys, strictly increasing
    active: np.ndarray  # bool
    open_before: np.ndarray  # OpenTime.open_before_keys(starts)
    # Active open ticks before each start, counted from the first segment.
    # Like open_before it is a running total across stores: only differences
    # within one store mean anything.
    active_before: np.ndarray
    observed_lanes: np.ndarray  # lanes with at least one observation, ascending

    def active_before_keys(self, keys: np.ndarray, open_time: OpenTime) -> np.ndarray:
        """Active open ticks before each key; every key's lane must be observed."""
        segment = np.searchsorted(self.starts, keys, side="right") - 1
        since_start = open_time.open_before_keys(keys) - self.open_before[segment]
        return self.active_before[segment] + np.where(self.active[segment], since_start, 0)


def status_segments(
    *, observations: Observations, open_time: OpenTime, span: Span, lane_count: int
) -> StatusSegments:
    keys, active = observations.keys, observations.active
    # Index of each lane's first observation (keys are sorted by lane).
    lane_heads = np.searchsorted(keys, np.arange(lane_count + 1, dtype=np.int64) * span.lane)
    observed_lanes = np.flatnonzero(lane_heads[1:] > lane_heads[:-1])
    first_in_lane = np.zeros(keys.size, dtype=bool)
    first_in_lane[lane_heads[observed_lanes]] = True
    begins = first_in_lane.copy()
    begins[1:] |= active[1:] != active[:-1]
    at = np.flatnonzero(begins)
    # A status change takes effect at the midpoint of the two observations;
    # their keys are even (whole microseconds), so the midpoint is a whole tick.
    midpoints = (keys[at - 1] + keys[at]) // 2
    starts = np.where(first_in_lane[at], keys[at] // span.lane * span.lane, midpoints)
    return _with_running_totals(
        starts=starts, active=active[at], open_time=open_time, span=span, observed_lanes=observed_lanes
    )


def _with_running_totals(
    *, starts: np.ndarray, active: np.ndarray, open_time: OpenTime, span: Span, observed_lanes: np.ndarray
) -> StatusSegments:
    open_before = open_time.open_before_keys(starts)
    # Each segment's open time is the open time up to the next segment's start;
    # a store's last segment thereby also counts the open time of the stores
    # without observations up to the next segment, which cancels in differences.
    lane_end = (observed_lanes[-1:] + 1) * span.lane
    open_after = np.concatenate([open_before[1:], open_time.open_before_keys(lane_end)])
    active_open = np.where(active, open_after - open_before, 0)
    active_before = np.concatenate([[0], np.cumsum(active_open)[:-1]]).astype(np.int64)
    return StatusSegments(
        starts=starts,
        active=active,
        open_before=open_before,
        active_before=active_before,
        observed_lanes=observed_lanes,
    )


@dataclass(frozen=True)
class WindowTime:
    """Up and down ticks of each observed store in one window."""

    lanes: np.ndarray  # the stores with at least one observation
    up: np.ndarray
    down: np.ndarray


def window_time(
    *, segments: StatusSegments, open_time: OpenTime, span: Span, first_us: int, last_us: int
) -> WindowTime:
    """Up and down ticks in [first_us, last_us) of every store with an observation."""
    lanes = segments.observed_lanes
    count = int(lanes[-1]) + 1 if lanes.size else 0
    first = np.full(count, span.tick_of(first_us), dtype=np.int64)
    last = np.full(count, span.tick_of(last_us), dtype=np.int64)
    return lane_window_time(segments=segments, open_time=open_time, span=span, first=first, last=last)


def lane_window_time(
    *, segments: StatusSegments, open_time: OpenTime, span: Span, first: np.ndarray, last: np.ndarray
) -> WindowTime:
    """Up and down ticks in each store's own window [first[lane], last[lane]) (ticks, one per lane)."""
    lanes = segments.observed_lanes
    first = lanes * span.lane + first[lanes]
    last = lanes * span.lane + last[lanes]
    open_ticks = open_time.open_before_keys(last) - open_time.open_before_keys(first)
    up = segments.active_before_keys(last, open_time) - segments.active_before_keys(first, open_time)
    return WindowTime(lanes=lanes, up=up, down=open_ticks - up)
