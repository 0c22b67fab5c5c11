"""Polls -> observations: the polls a report may use, sorted by store and time (SPEC 4).

An observation is a poll of a reported store with timestamp in [now - 14 days, now]
(both ends included) that lies inside one of the store's open intervals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .opentime import OpenTime
from .stores import StoreTable
from .timebase import TICKS_PER_MICROSECOND, Span, column_microseconds


@dataclass(frozen=True)
class Observations:
    keys: np.ndarray  # lane keys, strictly increasing
    active: np.ndarray  # bool


def observations(*, stores: StoreTable, polls: pd.DataFrame, span: Span, open_time: OpenTime) -> Observations:
    packed = _packed_polls(stores=stores, polls=polls, span=span)
    # Sorted input (say, ORDER BY store, timestamp) skips the sort's cost.
    if packed.size > 1 and np.any(packed[1:] < packed[:-1]):
        packed.sort()
    active = (packed & 1).astype(bool)
    keys = packed - active
    del packed
    # Two polls of one store at one instant cannot come from the database; if
    # they come anyway, the sort put the inactive one first and only the last,
    # active, one is kept, whatever the input's row order.
    keep = np.ones(keys.size, dtype=bool)
    keep[:-1] = keys[1:] != keys[:-1]
    keep &= open_time.contains(keys)
    return Observations(keys=keys[keep], active=active[keep])


def _packed_polls(*, stores: StoreTable, polls: pd.DataFrame, span: Span) -> np.ndarray:
    """Lane key of each poll in the span, with its status in the lowest bit.

    Keys of polls are whole microseconds, i.e. even tick counts, so the lowest
    bit is free: packing the status there lets one plain int64 sort order the
    polls by store, time and status, which is several times cheaper than an
    argsort that carries the status along.
    """
    instants = column_microseconds(polls["ts"])
    ranks = stores.ranks_of(polls["store"].to_numpy())
    wanted = (ranks >= 0) & (instants >= span.origin_us) & (instants <= span.now_us)
    packed = ranks[wanted]
    del ranks
    packed *= span.lane
    ticks = instants[wanted]
    del instants
    ticks -= span.origin_us
    ticks *= TICKS_PER_MICROSECOND
    packed += ticks
    del ticks
    packed |= polls["active"].to_numpy(dtype=bool)[wanted]
    return packed
