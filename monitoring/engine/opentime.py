"""Merged open intervals of every store, and the running total of open time.

Intervals are held as keys (see timebase): sorted, disjoint, and never crossing
from one store's lane into the next. With the open time accumulated before each
interval, the open time before any key is one searchsorted away, so the open
time of any store in any window is a difference of two lookups.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OpenTime:
    # Index 0 is a sentinel empty interval at key -1, so that every lookup
    # lands on a real row and lookups before the first interval read 0.
    starts: np.ndarray
    ends: np.ndarray
    open_before: np.ndarray  # open ticks of all intervals before this one

    @classmethod
    def from_intervals(cls, starts: np.ndarray, ends: np.ndarray) -> OpenTime:
        """Merge intervals [start, end) of keys; overlapping or touching ones become one."""
        keep = ends > starts
        starts, ends = starts[keep], ends[keep]
        order = np.argsort(starts, kind="stable")
        starts, ends = starts[order], ends[order]
        reach = np.maximum.accumulate(ends) if ends.size else ends
        # A new merged interval begins where an interval starts after everything
        # before it has ended. Lanes never touch (a lane is wider than the keys
        # of its store), so merging never joins two stores.
        begins = np.ones(starts.size, dtype=bool)
        begins[1:] = starts[1:] > reach[:-1]
        first = np.flatnonzero(begins)
        last = np.append(first[1:], starts.size)[: first.size] - 1
        return cls.from_disjoint(starts[first], reach[last])

    @classmethod
    def from_disjoint(cls, starts: np.ndarray, ends: np.ndarray) -> OpenTime:
        starts = np.concatenate([[-1], starts]).astype(np.int64)
        ends = np.concatenate([[-1], ends]).astype(np.int64)
        open_before = np.concatenate([[0], np.cumsum(ends - starts)[:-1]]).astype(np.int64)
        return cls(starts=starts, ends=ends, open_before=open_before)

    def _row(self, keys: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, keys, side="right") - 1

    def contains(self, keys: np.ndarray) -> np.ndarray:
        return keys < self.ends[self._row(keys)]

    def contains_sorted(self, keys: np.ndarray) -> np.ndarray:
        """`contains` for sorted keys, in memory of one bool per key.

        Looks the few intervals up among the many keys rather than the other way
        round: each interval covers a run of keys, and the runs in and out of
        open time are laid down with one np.repeat.
        """
        bounds = np.empty(2 * (self.starts.size - 1), dtype=np.int64)
        bounds[0::2] = np.searchsorted(keys, self.starts[1:], side="left")
        bounds[1::2] = np.searchsorted(keys, self.ends[1:], side="left")
        runs = np.diff(bounds, prepend=0, append=keys.size)
        outside_inside = np.arange(runs.size) % 2 == 1
        return np.repeat(outside_inside, runs)

    def open_before_keys(self, keys: np.ndarray) -> np.ndarray:
        """Open ticks before each key, counted from the first store's lane.

        Only differences of two keys of the same store mean anything: that
        difference is the store's open time between them.
        """
        row = self._row(keys)
        inside = np.clip(keys - self.starts[row], 0, self.ends[row] - self.starts[row])
        return self.open_before[row] + inside

    def store_intervals(self, lane_first: int, lane_stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The merged intervals whose keys lie in [lane_first, lane_stop)."""
        first, stop = np.searchsorted(self.starts, [lane_first, lane_stop], side="left")
        return self.starts[first:stop], self.ends[first:stop]
