"""Nearest-observation status, and active / open time in any window (SPEC 4).

Between two consecutive observations of a store the status switches at their
midpoint; before the first one the first status holds, after the last one the
last status holds. So each observation owns one *segment*: from the midpoint
with its predecessor (or the start of its store's lane) to the midpoint with
its successor (or the end of the lane). Whatever part of a segment is open time
counts as up or down according to the observation's status.
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
    lanes: np.ndarray  # int64 rank of the store of each segment
    open_before: np.ndarray  # OpenTime.open_before_keys(starts)
    # Active open ticks before each start, counted from the first segment.
    # Like open_before it is a running total across stores: only differences
    # within one store mean anything.
    active_before: np.ndarray

    def active_before_keys(self, keys: np.ndarray, open_time: OpenTime) -> np.ndarray:
        """Active open ticks before each key; every key's store must have a segment."""
        segment = np.searchsorted(self.starts, keys, side="right") - 1
        since_start = open_time.open_before_keys(keys) - self.open_before[segment]
        return self.active_before[segment] + np.where(self.active[segment], since_start, 0)


def status_segments(*, observations: Observations, open_time: OpenTime, span: Span) -> StatusSegments:
    keys = observations.keys
    lanes = keys // span.lane
    first_in_lane = np.ones(keys.size, dtype=bool)
    first_in_lane[1:] = lanes[1:] != lanes[:-1]
    midpoints = np.empty_like(keys)
    # Keys of polls are even (whole microseconds), so their midpoint is a whole tick.
    midpoints[1:] = (keys[:-1] + keys[1:]) // 2
    starts = np.where(first_in_lane, lanes * span.lane, midpoints)
    open_before = open_time.open_before_keys(starts)
    # Each segment's open time is the open time up to the next segment's start;
    # a store's last segment thereby also counts the open time of the stores
    # without observations up to the next segment, which cancels in differences.
    after_last = open_time.open_before_keys(np.array([(lanes[-1] + 1) * span.lane])) if keys.size else []
    open_after = np.concatenate([open_before[1:], after_last]).astype(np.int64)
    active_open = np.where(observations.active, open_after - open_before, 0)
    active_before = np.concatenate([[0], np.cumsum(active_open)[:-1]]).astype(np.int64)
    return StatusSegments(
        starts=starts,
        active=observations.active,
        lanes=lanes,
        open_before=open_before,
        active_before=active_before,
    )


@dataclass(frozen=True)
class WindowTime:
    """Up and down ticks of each observed store in one window [first, now)."""

    lanes: np.ndarray  # ranks of the stores with at least one observation
    up: np.ndarray
    down: np.ndarray


def window_time(
    *, segments: StatusSegments, open_time: OpenTime, span: Span, first_us: int, last_us: int
) -> WindowTime:
    """Up and down ticks in [first_us, last_us) of every store with an observation."""
    lanes = np.unique(segments.lanes)
    first = lanes * span.lane + span.tick_of(first_us)
    last = lanes * span.lane + span.tick_of(last_us)
    open_ticks = open_time.open_before_keys(last) - open_time.open_before_keys(first)
    up = segments.active_before_keys(last, open_time) - segments.active_before_keys(first, open_time)
    return WindowTime(lanes=lanes, up=up, down=open_ticks - up)
