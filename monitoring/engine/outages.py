"""Outages: every stretch of open time a store was down, for all stores at once (SPEC 7).

An outage is a maximal stretch of open time whose interpolated status is
inactive. The status segments (interpolate.py) already alternate active and
inactive, so each inactive segment is one run of down time; closed time cuts it
into one outage per merged open interval it meets. Seen through a window
[a, b), an outage counts by its part inside the window, and the part is
*ongoing* when the outage goes on at b.

Everything is a handful of searchsorted calls on the lane keys of timebase.py:
no loop over stores or outages.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .interpolate import StatusSegments
from .opentime import OpenTime
from .timebase import Span


@dataclass(frozen=True)
class OutageParts:
    """Outage parts sorted by lane, then start; ticks are within the lane (0 = the span's origin)."""

    lanes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    ongoing: np.ndarray  # bool: the outage goes on at the window's end

    def __len__(self) -> int:
        return int(self.lanes.size)

    @property
    def lengths(self) -> np.ndarray:
        return self.ends - self.starts

    def take(self, rows: np.ndarray) -> OutageParts:
        return OutageParts(self.lanes[rows], self.starts[rows], self.ends[rows], self.ongoing[rows])

    def meeting(self, *, first: np.ndarray) -> OutageParts:
        """The parts that reach past `first` (ticks, one per lane), cut to start there.

        A narrower window ending at the same instant (the last day inside the
        week) sees exactly these parts: cutting never changes where they end.
        """
        lane_first = first[self.lanes]
        keep = self.ends > lane_first
        cut = self.take(keep)
        return OutageParts(cut.lanes, np.maximum(cut.starts, lane_first[keep]), cut.ends, cut.ongoing)


def outage_parts(
    *, segments: StatusSegments, open_time: OpenTime, span: Span, first: np.ndarray, last: np.ndarray
) -> OutageParts:
    """Every outage part inside [first[lane], last[lane]) (ticks, one pair per lane).

    Lanes without an observation have no segment, hence no outage (SPEC 7).
    """
    lane_starts = segments.starts // span.lane
    down = np.flatnonzero(~segments.active)
    lanes = lane_starts[down]
    # A segment runs to the next segment's start, or to its lane's end.
    following = np.append(segments.starts[1:], np.iinfo(np.int64).max)[down]
    seg_start, seg_end = segments.starts[down], np.minimum(following, (lanes + 1) * span.lane)
    window_first, window_last = lanes * span.lane + first[lanes], lanes * span.lane + last[lanes]
    cut_start, cut_end = np.maximum(seg_start, window_first), np.minimum(seg_end, window_last)
    inside = cut_end > cut_start
    parts = _split_by_open_time(
        open_time=open_time, lanes=lanes[inside], starts=cut_start[inside], ends=cut_end[inside],
        down_until=seg_end[inside], window_end=window_last[inside],
    )
    base = parts.lanes * span.lane
    return OutageParts(parts.lanes, parts.starts - base, parts.ends - base, parts.ongoing)


def _split_by_open_time(
    *, open_time: OpenTime, lanes: np.ndarray, starts: np.ndarray, ends: np.ndarray,
    down_until: np.ndarray, window_end: np.ndarray,
) -> OutageParts:
    """Cut each down stretch [start, end) (keys) by the merged open intervals it meets."""
    # Interval rows are sorted and disjoint, so their ends are sorted too: the
    # first row ending after a stretch's start and the rows starting before
    # its end bound the intervals it meets (row 0 is an empty sentinel).
    first_row = np.searchsorted(open_time.ends, starts, side="right")
    stop_row = np.searchsorted(open_time.starts, ends, side="left")
    counts = np.maximum(stop_row - first_row, 0)
    stretch = np.repeat(np.arange(starts.size), counts)
    offsets = np.arange(stretch.size) - np.repeat(np.cumsum(counts) - counts, counts)
    row = first_row[stretch] + offsets
    part_start = np.maximum(open_time.starts[row], starts[stretch])
    part_end = np.minimum(open_time.ends[row], ends[stretch])
    # Going on at the window's end: cut there, still down and still open just after.
    ongoing = (part_end == window_end[stretch]) & (down_until[stretch] > part_end) & (open_time.ends[row] > part_end)
    return OutageParts(lanes[stretch], part_start, part_end, ongoing)
