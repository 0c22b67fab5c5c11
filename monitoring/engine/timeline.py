"""One store's day-by-day picture, for the UI: what the report counted, drawable.

Built from the very blocks of compute_report (open_time, observations,
status_segments) on a one-store table, so the bars the UI draws add up to the
report's figures: only the final cutting into pieces is particular to this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from .report import StoreStatus, store_status
from .stores import StoreTable
from .timebase import TICKS_PER_MICROSECOND, Span, instant_microseconds
from .zones import resolve_zone_name

_ONLY_STORE = 0


@dataclass(frozen=True)
class StoreTimeline:
    """One store over [start, end), in UTC. The frames are sorted by time.

    open_intervals: start, end (merged business hours)
    observations: ts, active (the polls the report used)
    segments: start, end, active (interpolated status on open time; touching
        pieces of equal status are joined)
    outages: start, end, duration, ongoing (SPEC 7's outage parts in [start, end),
        from the same function as a report's outage list)
    """

    store_id: str
    timezone: str
    start: pd.Timestamp
    end: pd.Timestamp
    open_intervals: pd.DataFrame
    observations: pd.DataFrame
    segments: pd.DataFrame
    outages: pd.DataFrame

    @property
    def uptime(self) -> pd.Timedelta:
        up = self.segments[self.segments["active"]]
        return pd.Timedelta((up["end"] - up["start"]).sum())

    @property
    def downtime(self) -> pd.Timedelta:
        return pd.Timedelta(self.outages["duration"].sum())


def store_timeline(
    *,
    store_id: str,
    timezone: str | None,
    hours: pd.DataFrame,
    polls: pd.DataFrame,
    now: datetime | pd.Timestamp,
    start: datetime | pd.Timestamp,
    end: datetime | pd.Timestamp,
) -> StoreTimeline:
    """The timeline of one store; `hours` and `polls` are that store's rows (any `store` column is ignored).

    [start, end) is clamped to [now - 14 days, now], the only time a report sees.
    """
    span = Span.ending_at(now)
    zone = resolve_zone_name(timezone)
    table = StoreTable(
        keys=np.array([_ONLY_STORE], dtype=np.int64),
        ids=np.array([store_id], dtype=object),
        zone_codes=np.zeros(1, dtype=np.int64),
        zone_names=(zone,),
    )
    status = store_status(
        stores=table, hours=hours.assign(store=_ONLY_STORE), polls=polls.assign(store=_ONLY_STORE), span=span
    )
    first = int(np.clip(span.tick_of(instant_microseconds(start)), 0, span.now_tick))
    last = int(np.clip(span.tick_of(instant_microseconds(end)), first, span.now_tick))
    segments = _segments(status, first, last)
    parts = status.outages(first_us=span.origin_us + first // TICKS_PER_MICROSECOND, last_us=span.origin_us + last // TICKS_PER_MICROSECOND)
    outages = pd.DataFrame({
        "start": _timestamps(span, parts.starts), "end": _timestamps(span, parts.ends), "ongoing": parts.ongoing,
    })
    return StoreTimeline(
        store_id=store_id,
        timezone=zone,
        start=_timestamps(span, [first])[0],
        end=_timestamps(span, [last])[0],
        open_intervals=_open_intervals(status, first, last),
        observations=_observations(status, first, last),
        segments=segments,
        outages=outages.assign(duration=outages["end"] - outages["start"]),
    )


def _timestamps(span: Span, ticks: np.ndarray | list[int]) -> pd.DatetimeIndex:
    return pd.to_datetime(span.instants_ns(np.asarray(ticks, dtype=np.int64)), unit="ns", utc=True)


def _open_intervals(status: StoreStatus, first: int, last: int) -> pd.DataFrame:
    starts, ends = status.open_time.store_intervals(0, status.span.lane)
    starts, ends = np.maximum(starts, first), np.minimum(ends, last)
    keep = ends > starts
    return pd.DataFrame(
        {"start": _timestamps(status.span, starts[keep]), "end": _timestamps(status.span, ends[keep])}
    )


def _observations(status: StoreStatus, first: int, last: int) -> pd.DataFrame:
    keys = status.observations.keys
    # Inclusive at `last`: a poll at exactly now is an observation (SPEC 4).
    keep = (keys >= first) & (keys <= last)
    return pd.DataFrame(
        {"ts": _timestamps(status.span, keys[keep]), "active": status.observations.active[keep]}
    )


def _segments(status: StoreStatus, first: int, last: int) -> pd.DataFrame:
    """Status on open time in [first, last), cut wherever open time or status changes."""
    segments = status.segments
    starts, ends = status.open_time.store_intervals(0, status.span.lane)
    cuts = np.unique(np.concatenate([starts, ends, segments.starts, [first, last]]))
    cuts = cuts[(cuts >= first) & (cuts <= last)]
    piece_start, piece_end = cuts[:-1], cuts[1:]
    keep = status.open_time.contains(piece_start) if segments.starts.size else np.zeros(piece_start.size, bool)
    piece_start, piece_end = piece_start[keep], piece_end[keep]
    owner = np.searchsorted(segments.starts, piece_start, side="right") - 1
    active = segments.active[owner] if owner.size else np.zeros(0, dtype=bool)
    # Join a piece to the one before it when they touch and share a status.
    joins = np.zeros(piece_start.size, dtype=bool)
    joins[1:] = (piece_start[1:] == piece_end[:-1]) & (active[1:] == active[:-1])
    heads = np.flatnonzero(~joins)
    tails = np.append(heads[1:], piece_start.size)[: heads.size] - 1
    return pd.DataFrame(
        {
            "start": _timestamps(status.span, piece_start[heads]),
            "end": _timestamps(status.span, piece_end[tails]),
            "active": active[heads].astype(bool),
        }
    )
