"""Status now (SPEC 9): each store closed, up, down or unknown at `now`, and since when it is down."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from .report import store_status
from .stores import store_table
from .timebase import Span

CLOSED, UP, DOWN, UNKNOWN = "closed", "up", "down", "unknown"
STATES = (CLOSED, UP, DOWN, UNKNOWN)
STATUS_COLUMNS = ["store_id", "state", "down_since_ns"]
LOOKBACK_OUTAGE_COLUMNS = ["store", "store_id", "start_ns", "end_ns", "ongoing"]


def status_now(*, stores: pd.DataFrame, hours: pd.DataFrame, polls: pd.DataFrame, now: datetime | pd.Timestamp) -> pd.DataFrame:
    """One row per store, sorted by store_id (code points): its state at `now`, and for a
    down store the start of its ongoing outage (UTC ns; -1 otherwise).

    The outage may reach back to the lookback's start (14 days): an older start is not seen.
    """
    table = store_table(stores)
    span = Span.ending_at(now)
    status = store_status(stores=table, hours=hours, polls=polls, span=span)
    lanes = np.arange(len(table), dtype=np.int64)
    keys = lanes * span.lane + span.now_tick
    open_now = status.open_time.contains(keys)
    observed = np.zeros(len(table), dtype=bool)
    observed[status.segments.observed_lanes] = True
    # The status at now: the segment reaching it (only observed lanes have one).
    segment = np.searchsorted(status.segments.starts, keys, side="right") - 1
    active = np.append(status.segments.active, True)[np.where(observed, segment, -1)]
    down = open_now & observed & ~active
    # A store down since before now has an ongoing outage part; one that opened exactly at
    # now, down, has an empty part: it is down since now.
    ongoing = status.outages(first_us=span.origin_us, last_us=span.now_us)
    ongoing = ongoing.take(ongoing.ongoing)
    since = np.where(down, span.instants_ns(np.array([span.now_tick]))[0], -1)
    since[ongoing.lanes] = span.instants_ns(ongoing.starts)
    state = np.select([~open_now, ~observed, down], [CLOSED, UNKNOWN, DOWN], default=UP)
    order = table.report_order()
    return pd.DataFrame({"store_id": table.ids[order], "state": state[order], "down_since_ns": since[order]})


@dataclass(frozen=True)
class Lookback:
    """The lookback's outage parts, and each observed store's first observation."""

    parts: pd.DataFrame  # LOOKBACK_OUTAGE_COLUMNS
    first_observed: pd.DataFrame  # store, first_ns: the earliest observation of each store with one


def lookback(*, stores: pd.DataFrame, hours: pd.DataFrame, polls: pd.DataFrame, now: datetime | pd.Timestamp) -> Lookback:
    """Every store's outage parts in [now - 14 days, now) (LOOKBACK_OUTAGE_COLUMNS, by store key
    then start), with each store's first observation among `polls`.

    What alerts compare round after round: an ongoing part is the outage going on at
    `now`; a part that starts at the lookback's origin may have begun earlier.

    The status from a store's first observation on depends only on that observation and
    later ones (SPEC 4: the nearest observation), so a part starting after it is the same
    whatever older polls there are: what lets the alert decision read a short stretch first.
    """
    table = store_table(stores)
    span = Span.ending_at(now)
    status = store_status(stores=table, hours=hours, polls=polls, span=span)
    parts = status.outages(first_us=span.origin_us, last_us=span.now_us)
    keys = status.observations.keys  # lane keys, ascending: each lane's first is its earliest
    lanes = keys // span.lane
    firsts = np.flatnonzero(np.r_[True, lanes[1:] != lanes[:-1]]) if keys.size else np.empty(0, np.int64)
    return Lookback(
        parts=pd.DataFrame({
            "store": table.keys[parts.lanes],
            "store_id": table.ids[parts.lanes] if len(parts) else np.array([], dtype=object),
            "start_ns": span.instants_ns(parts.starts),
            "end_ns": span.instants_ns(parts.ends),
            "ongoing": parts.ongoing.astype(bool),
        }),
        first_observed=pd.DataFrame({
            "store": table.keys[lanes[firsts]],
            "first_ns": span.instants_ns(keys[firsts] - lanes[firsts] * span.lane),
        }),
    )
