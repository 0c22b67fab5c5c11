"""The engine's integer clock: instants as int64 counts, never floats or strings.

Every instant is first brought to whole microseconds since the Unix epoch (UTC),
the precision of PostgreSQL and of Python's datetime. Inside one report the
engine then counts *ticks* of half a microsecond after the report's origin
(now - 14 days): the midpoint of two microsecond timestamps is a whole number of
ticks, so the nearest-observation rule is computed exactly, with no rounding
until the final hundredths.

To handle all stores at once, each store gets its own *lane* of ticks: the key
of an instant of the store in lane r is ``r * lane + tick``. One sorted int64
array of keys then holds every store's intervals in order, and a single
``np.searchsorted`` answers a question for all stores together.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from .constants import LOOKBACK

TICKS_PER_MICROSECOND = 2
NANOSECONDS_PER_MICROSECOND = 1_000
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Span:
    """The stretch [now - LOOKBACK, now] one report reads, and its tick arithmetic."""

    origin_us: int
    now_us: int

    @classmethod
    def ending_at(cls, now: datetime | pd.Timestamp) -> Span:
        now_us = instant_microseconds(now)
        return cls(origin_us=now_us - LOOKBACK // pd.Timedelta(microseconds=1), now_us=now_us)

    @property
    def now_tick(self) -> int:
        return (self.now_us - self.origin_us) * TICKS_PER_MICROSECOND

    @property
    def end_tick(self) -> int:
        # Open time is kept up to one microsecond past now, so that a poll at
        # exactly `now` (which counts, SPEC 4) lies inside an open interval.
        return self.now_tick + TICKS_PER_MICROSECOND

    @property
    def lane(self) -> int:
        # Wider than any key of the store (so lanes never touch) and even, so
        # that a poll's key stays even: its lowest bit is free to carry the
        # status while sorting, and two keys of a store have an exact midpoint.
        return self.end_tick + TICKS_PER_MICROSECOND

    @property
    def max_stores(self) -> int:
        """How many store lanes fit in int64 (about 3.8 million for 14 days)."""
        return _INT64_MAX // self.lane - 1

    def tick_of(self, instant_us: int) -> int:
        return (instant_us - self.origin_us) * TICKS_PER_MICROSECOND

    def ticks(self, instants_us: np.ndarray) -> np.ndarray:
        return (instants_us - self.origin_us) * TICKS_PER_MICROSECOND

    def instants_ns(self, ticks: np.ndarray) -> np.ndarray:
        """Ticks back to UTC nanoseconds since the epoch (exact: a tick is 500 ns)."""
        per_tick = NANOSECONDS_PER_MICROSECOND // TICKS_PER_MICROSECOND
        return self.origin_us * NANOSECONDS_PER_MICROSECOND + np.asarray(ticks, dtype=np.int64) * per_tick


def instant_microseconds(value: datetime | pd.Timestamp) -> int:
    """One instant as UTC microseconds since the epoch; a naive value is taken as UTC."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    # Floor, not round: finer digits than a microsecond are simply dropped.
    return stamp.value // NANOSECONDS_PER_MICROSECOND


def column_microseconds(values: pd.Series) -> np.ndarray:
    """A column of UTC instants as a new int64 array of microseconds since the epoch.

    Accepts datetime64 of any unit, naive (taken as UTC) or tz-aware, int64
    nanoseconds since the epoch, and Python datetimes. Finer digits than a
    microsecond are floored; NaT becomes int64 min (older than any origin).
    """
    if pd.api.types.is_integer_dtype(values.dtype):
        return np.floor_divide(values.to_numpy(dtype=np.int64), NANOSECONDS_PER_MICROSECOND)
    if not (isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype)):
        values = pd.to_datetime(values, utc=True)
    # Epoch counts in the column's own unit (UTC for tz-aware columns), as a
    # fresh array that is then rescaled in place: no second copy of a big column.
    counts = values.astype("int64").to_numpy()
    per_microsecond = np.timedelta64(1, "us") / np.timedelta64(1, values.dt.unit)
    if per_microsecond > 1:
        np.floor_divide(counts, int(per_microsecond), out=counts)
    elif per_microsecond < 1:
        np.multiply(counts, round(1 / per_microsecond), out=counts)
    if values.hasnans:
        counts[values.isna().to_numpy()] = np.iinfo(np.int64).min
    return counts
