"""A second, deliberately plain implementation of SPEC sections 2-5, for the tests only.

One store at a time, Python datetimes and zoneinfo, interval by interval, with
exact Fractions for midpoints: slow, but each step can be checked against the
SPEC by reading. The property tests require monitoring.engine to agree with it.
"""
from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_TIMEZONE = "America/Chicago"
LOOKBACK = timedelta(days=14)
WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=7))
MINUTE_US = 60 * 10**6
HOUR_US = 60 * MINUTE_US


def reference_report(*, stores: pd.DataFrame, hours: pd.DataFrame, polls: pd.DataFrame, now: datetime) -> list[tuple]:
    """Rows (store_id, up hour, up day, up week, down hour, down day, down week), sorted by store_id."""
    now = as_utc(now)
    rows = []
    for store in stores.itertuples():
        store_hours = [row for row in hours.itertuples() if row.store == store.store]
        store_polls = [(as_utc(row.ts), bool(row.active)) for row in polls.itertuples() if row.store == store.store]
        zone = zone_or_default(store.timezone)
        rows.append((str(store.store_id), *store_figures(zone, store_hours, store_polls, now)))
    return sorted(rows, key=lambda row: row[0])


def as_utc(value) -> datetime:
    if isinstance(value, int):  # nanoseconds since the epoch
        value = pd.Timestamp(value, tz="UTC")
    value = pd.Timestamp(value).floor("us").to_pydatetime()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def zone_or_default(name) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def microseconds(instant: datetime) -> int:
    return (instant - EPOCH) // timedelta(microseconds=1)


def store_figures(zone: ZoneInfo, store_hours: list, store_polls: list, now: datetime) -> list[float]:
    intervals = open_intervals(zone, store_hours, now)
    observations = observations_in(intervals, store_polls, now)
    if not observations:
        return [0.0] * 6
    ups, downs = [], []
    for length in WINDOWS:
        window = (microseconds(now - length), microseconds(now))
        up, down = up_and_down(intervals, observations, window)
        unit = MINUTE_US if length == timedelta(hours=1) else HOUR_US
        ups.append(hundredths_half_up(up, unit))
        downs.append(hundredths_half_up(down, unit))
    return ups + downs


def open_intervals(zone: ZoneInfo, store_hours: list, now: datetime) -> list[tuple[int, int]]:
    """Merged open intervals [start, end) in UTC microseconds around [now - 14 days, now]."""
    if not store_hours:  # SPEC 2: open all the time
        return [(microseconds(now - LOOKBACK - timedelta(days=2)), microseconds(now + timedelta(days=2)))]
    intervals = []
    day = (now - LOOKBACK).astimezone(zone).date() - timedelta(days=3)
    while day <= now.astimezone(zone).date() + timedelta(days=2):
        for row in store_hours:
            if row.weekday == day.weekday():
                intervals.append(local_interval_in_utc(zone, day, row.start_us, row.end_us))
        day += timedelta(days=1)
    return merge(intervals)


def local_interval_in_utc(zone: ZoneInfo, day: date, start_us: int, end_us: int) -> tuple[int, int]:
    # Adding a timedelta to an aware datetime is wall-clock arithmetic with
    # fold=0, and astimezone then applies zoneinfo's rules: exactly SPEC 3.
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    start = midnight + timedelta(microseconds=start_us)
    if end_us > start_us:
        end = midnight + timedelta(microseconds=end_us)
    elif end_us < start_us:
        end = midnight + timedelta(days=1, microseconds=end_us)
    else:
        end = midnight + timedelta(days=1, microseconds=start_us)
    return microseconds(start.astimezone(UTC)), microseconds(end.astimezone(UTC))


def merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    # An interval whose end is not after its start (possible across a DST
    # gap) holds no time at all.
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def observations_in(intervals: list, store_polls: list, now: datetime) -> list[tuple[int, bool]]:
    first, last = microseconds(now - LOOKBACK), microseconds(now)
    kept = {}
    for instant, active in store_polls:
        at = microseconds(instant)
        if first <= at <= last and any(start <= at < end for start, end in intervals):
            # Two polls at one instant: the active one wins (the engine's rule).
            kept[at] = kept.get(at, False) or active
    return sorted(kept.items())


def up_and_down(intervals: list, observations: list, window: tuple[int, int]) -> tuple[Fraction, Fraction]:
    up = down = Fraction(0)
    for index, (at, active) in enumerate(observations):
        # This observation is the nearest one from the midpoint with the
        # previous observation to the midpoint with the next one.
        begin = Fraction(observations[index - 1][0] + at, 2) if index > 0 else Fraction(window[0])
        finish = Fraction(at + observations[index + 1][0], 2) if index + 1 < len(observations) else Fraction(window[1])
        begin, finish = max(begin, window[0]), min(finish, window[1])
        for start, end in intervals:
            overlap = max(Fraction(0), min(finish, end) - max(begin, start))
            if active:
                up += overlap
            else:
                down += overlap
    return up, down


def hundredths_half_up(amount_us: Fraction, unit_us: int) -> float:
    return math.floor(amount_us * 100 / unit_us + Fraction(1, 2)) / 100


def reference_outages(*, stores: pd.DataFrame, hours: pd.DataFrame, polls: pd.DataFrame, now: datetime) -> list[tuple]:
    """SPEC 7's outage list of the last week: (store_id, start, end, ongoing) in exact microseconds
    (Fractions: a midpoint may fall on half a microsecond), sorted by store_id, then start."""
    now = as_utc(now)
    rows = []
    for store in stores.itertuples():
        store_hours = [row for row in hours.itertuples() if row.store == store.store]
        store_polls = [(as_utc(row.ts), bool(row.active)) for row in polls.itertuples() if row.store == store.store]
        intervals = open_intervals(zone_or_default(store.timezone), store_hours, now)
        observations = observations_in(intervals, store_polls, now)
        window = (microseconds(now - timedelta(days=7)), microseconds(now))
        rows += [(str(store.store_id), *part) for part in outage_parts(intervals, observations, window)]
    return sorted(rows, key=lambda row: (row[0], row[1]))


def outage_parts(intervals: list, observations: list, window: tuple[int, int]) -> list[tuple]:
    """Down stretches (runs of inactive observations' reach) cut by closed time and the window."""
    first, last = window
    parts = []
    for begin, finish in down_stretches(observations):
        for start, end in intervals:
            part_start, part_end = max(begin, start, first), min(finish, end, last)
            if part_end > part_start:
                # Ongoing: cut by the window's end while still down and open just after it.
                ongoing = part_end == last and finish > last and end > last
                parts.append((part_start, part_end, ongoing))
    return parts


def down_stretches(observations: list) -> list[tuple[Fraction, Fraction]]:
    """Where the nearest observation is inactive: from the midpoint before a run of inactive
    observations to the midpoint after it (unbounded at either end of the observations)."""
    stretches = []
    for index, (at, active) in enumerate(observations):
        if active:
            continue
        begin = Fraction(observations[index - 1][0] + at, 2) if index > 0 else Fraction(-(10**20))
        finish = Fraction(at + observations[index + 1][0], 2) if index + 1 < len(observations) else Fraction(10**20)
        if stretches and stretches[-1][1] == begin:
            stretches[-1] = (stretches[-1][0], finish)
        else:
            stretches.append((begin, finish))
    return stretches


def reference_period(*, stores: pd.DataFrame, hours: pd.DataFrame, polls: pd.DataFrame, period, latest: datetime) -> list[tuple]:
    """SPEC 8 rows (store_id, up hours, down hours, percent or None, outages, longest minutes),
    one store at a time with zoneinfo, sorted by store_id. `period` is the engine's Interval
    or CalendarPeriod (only its plain fields are read)."""
    latest = as_utc(latest)
    rows = []
    for store in stores.itertuples():
        zone = zone_or_default(store.timezone)
        first, last = period_bounds(period, zone)
        last = max(first, min(last, latest))
        store_hours = [row for row in hours.itertuples() if row.store == store.store]
        intervals = open_intervals_between(zone, store_hours, first - timedelta(days=7), last)
        store_polls = [(as_utc(row.ts), bool(row.active)) for row in polls.itertuples() if row.store == store.store]
        kept = {}
        for instant, active in store_polls:
            at = microseconds(instant)
            if microseconds(first - timedelta(days=7)) <= at <= microseconds(last) and any(s <= at < e for s, e in intervals):
                kept[at] = kept.get(at, False) or active
        observations = sorted(kept.items())
        window = (microseconds(first), microseconds(last))
        if not observations:
            rows.append((str(store.store_id), 0.0, 0.0, None, 0, 0.0))
            continue
        up, down = up_and_down(intervals, observations, window)
        parts = outage_parts(intervals, observations, window)
        percent = math.floor(up * 10_000 / (up + down) + Fraction(1, 2)) / 100 if up + down else None
        longest = max((end - start for start, end, _ in parts), default=Fraction(0))
        rows.append((
            str(store.store_id), hundredths_half_up(up, HOUR_US), hundredths_half_up(down, HOUR_US), percent,
            len(parts), hundredths_half_up(longest, MINUTE_US),
        ))
    return sorted(rows, key=lambda row: row[0])


def period_bounds(period, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The period's [start, end) for a store in `zone`: local midnights through zoneinfo (fold 0)."""
    if hasattr(period, "start"):
        return as_utc(period.start), as_utc(period.end)
    day = period.day
    if period.kind == "day":
        first, following = day, day + timedelta(days=1)
    elif period.kind == "week":
        first = day - timedelta(days=day.weekday())
        following = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
    def midnight(d: date) -> datetime:
        return datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC)
    return midnight(first), midnight(following)


def open_intervals_between(zone: ZoneInfo, store_hours: list, first: datetime, last: datetime) -> list[tuple[int, int]]:
    """Merged open intervals in UTC microseconds covering [first, last] (and a margin)."""
    if not store_hours:
        return [(microseconds(first - timedelta(days=2)), microseconds(last + timedelta(days=2)))]
    intervals = []
    day = first.astimezone(zone).date() - timedelta(days=3)
    while day <= last.astimezone(zone).date() + timedelta(days=2):
        for row in store_hours:
            if row.weekday == day.weekday():
                intervals.append(local_interval_in_utc(zone, day, row.start_us, row.end_us))
        day += timedelta(days=1)
    return merge(intervals)
