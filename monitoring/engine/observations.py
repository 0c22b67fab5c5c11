"""Polls -> observations: the polls a report may use, sorted by store and time (SPEC 4).

An observation is a poll of a reported store with timestamp in [now - 14 days, now]
(both ends included) that lies inside one of the store's open intervals.

Polls are the one big input (millions of rows), so this module works on a
single int64 array in place wherever it can.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .opentime import OpenTime
from .stores import StoreTable
from .timebase import TICKS_PER_MICROSECOND, Span, column_microseconds


@dataclass(frozen=True)
class LaneBounds:
    """Per store (lane order), the UTC microseconds [first_us, last_us] its polls may lie in (SPEC 8)."""

    first_us: np.ndarray
    last_us: np.ndarray


@dataclass(frozen=True)
class Observations:
    keys: np.ndarray  # lane keys, strictly increasing
    active: np.ndarray  # bool


def observations(
    *, stores: StoreTable, polls: pd.DataFrame, span: Span, open_time: OpenTime, lane_bounds: LaneBounds | None = None
) -> Observations:
    """The observations of every store; with `lane_bounds`, only polls inside each store's own bounds."""
    keys = _packed_polls(stores=stores, polls=polls, span=span, lane_bounds=lane_bounds)
    # Polls read in (store, timestamp) order arrive sorted: skip the sort's cost.
    if keys.size > 1 and np.any(keys[1:] < keys[:-1]):
        keys.sort()
    active = np.empty(keys.size, dtype=bool)
    np.bitwise_and(keys, 1, out=active, casting="unsafe")
    np.bitwise_and(keys, ~1, out=keys)
    keep = open_time.contains_sorted(keys)
    # Two polls of one store at one instant cannot come from the database; if
    # they come anyway, the sort put the inactive one first and only the last,
    # active, one is kept, whatever the input's row order.
    keep[:-1] &= keys[1:] != keys[:-1]
    if keep.all():
        return Observations(keys=keys, active=active)
    return Observations(keys=keys[keep], active=active[keep])


def _packed_polls(*, stores: StoreTable, polls: pd.DataFrame, span: Span, lane_bounds: LaneBounds | None) -> np.ndarray:
    """Lane key of each poll in the span, with its status in the lowest bit.

    Lanes are even and so are the ticks of whole microseconds, so a poll's key
    is even and its lowest bit is free: packing the status there lets one plain
    int64 sort order the polls by store, time and status, several times cheaper
    than an argsort that carries the status along.
    """
    # Lanes first: their lookup briefly needs two arrays of the polls' length.
    lanes = stores.lanes_of(polls["store"].to_numpy())
    ticks = column_microseconds(polls["ts"])
    wanted = lanes >= 0
    wanted &= ticks >= span.origin_us
    wanted &= ticks <= span.now_us
    if lane_bounds is not None:
        known = np.maximum(lanes, 0)
        wanted &= ticks >= lane_bounds.first_us[known]
        wanted &= ticks <= lane_bounds.last_us[known]
    active = polls["active"].to_numpy(dtype=bool)
    if not wanted.all():
        ticks, lanes, active = ticks[wanted], lanes[wanted], active[wanted]
    del wanted
    ticks -= span.origin_us
    ticks *= TICKS_PER_MICROSECOND
    lanes *= span.lane
    ticks += lanes
    del lanes
    ticks |= active
    return ticks
