"""Local wall time -> UTC, for many timezones at once, with zoneinfo's fold=0 rules.

SPEC 3 asks for exactly what ``datetime(..., tzinfo=ZoneInfo(name)).astimezone(UTC)``
gives: a wall time that occurs twice takes its first occurrence, one that does not
exist moves forward by the length of the gap. Calling zoneinfo once per interval
would cost a Python call per row, so instead each zone's offset changes inside the
report's range are found once (a few hundred zoneinfo calls per zone), and every
wall time is then converted with one ``np.searchsorted``.

The rule that makes this work: when the UTC offset changes from o1 to o2 at the
UTC instant T, zoneinfo (fold=0) gives a wall time L the offset o1 if
L < T + max(o1, o2), and o2 otherwise. So each change becomes a *wall-time
threshold* T + max(o1, o2), and a wall time takes the offset of the last
threshold at or before it.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from .constants import DEFAULT_TIMEZONE, MICROSECONDS_PER_DAY, MICROSECONDS_PER_SECOND

# Offsets are sampled every 6 hours and each change is then pinned to the second
# by bisection. Since 1970 no zone in tzdata has two changes less than about
# 7 days apart (measured over every zone), so a 6-hour step cannot step over a
# change and back.
_SAMPLE_SECONDS = 6 * 3_600
# Real UTC offsets stay well within one day either way.
_OFFSET_MARGIN_US = MICROSECONDS_PER_DAY
_ONE_MICROSECOND = timedelta(microseconds=1)
_SECONDS_PER_DAY = 86_400


def resolve_zone_name(name: object) -> str:
    """The zone a store is reported in: its own if zoneinfo knows it, else the default."""
    return name if is_timezone_name(name) else DEFAULT_TIMEZONE


def is_timezone_name(name: object) -> bool:
    """Whether zoneinfo knows the zone: what ingestion accepts is what reports use (SPEC 3)."""
    return isinstance(name, str) and bool(name) and _zone(name) is not None


# Bounded: ingestion asks about every distinct name of a file, junk included, and
# tzdata has about 600 real names.
@functools.lru_cache(maxsize=4096)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # Ingestion rejects unknown names; anything that still slips through
        # (a malformed key, a zone missing on this machine) gets the default.
        return None


def _offset_us(zone: ZoneInfo, utc_second: int) -> int:
    return datetime.fromtimestamp(utc_second, zone).utcoffset() // _ONE_MICROSECOND


def _change_instant(zone: ZoneInfo, after: int, until: int) -> int:
    """The first UTC second in (after, until] whose offset differs from the one at `after`."""
    before = _offset_us(zone, after)
    low, high = after, until
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_us(zone, middle) == before:
            low = middle
        else:
            high = middle
    return high


@functools.lru_cache(maxsize=4_096)
def wall_time_table(name: str, first_day: int, last_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds (local wall-time microseconds) and the offset (us) that holds from each one.

    Covers the UTC days first_day..last_day (days since the epoch); whole days
    make the table reusable by every report and shard with the same span.
    The first row holds from the start of the range (threshold int64 min).
    """
    zone = _zone(name)
    first_s = first_day * _SECONDS_PER_DAY
    samples = range(first_s, (last_day + 1) * _SECONDS_PER_DAY + _SAMPLE_SECONDS, _SAMPLE_SECONDS)
    offsets = [_offset_us(zone, second) for second in samples]
    thresholds = [np.iinfo(np.int64).min]
    held = [offsets[0]]
    for index in range(1, len(offsets)):
        if offsets[index] == offsets[index - 1]:
            continue
        change_s = _change_instant(zone, samples[index - 1], samples[index])
        thresholds.append(change_s * MICROSECONDS_PER_SECOND + max(offsets[index - 1], offsets[index]))
        held.append(offsets[index])
    table = np.array(thresholds, dtype=np.int64), np.array(held, dtype=np.int64)
    for column in table:
        column.flags.writeable = False  # shared through the cache
    return table


def local_to_utc(*, local_us: np.ndarray, zone_codes: np.ndarray, zone_names: Sequence[str]) -> np.ndarray:
    """UTC microseconds of wall times `local_us`, each in zone ``zone_names[zone_codes[i]]``.

    Wall times are microseconds since 1970-01-01 00:00 on the local clock.
    Every name must resolve (see `resolve_zone_name`).
    """
    if local_us.size == 0:
        return local_us.copy()
    first_local, last_local = int(local_us.min()), int(local_us.max())
    # Every zone's table is laid in its own lane so one sorted array holds them all.
    lane = last_local - first_local + 3
    table_keys, table_offsets = [], []
    first_day = (first_local - _OFFSET_MARGIN_US) // MICROSECONDS_PER_DAY
    last_day = (last_local + _OFFSET_MARGIN_US) // MICROSECONDS_PER_DAY
    for code in np.unique(zone_codes):
        thresholds, held = wall_time_table(zone_names[code], first_day, last_day)
        lane_position = np.clip(thresholds, first_local - 1, last_local + 1) - (first_local - 1)
        table_keys.append(code * lane + lane_position)
        table_offsets.append(held)
    keys = np.concatenate(table_keys)
    offsets = np.concatenate(table_offsets)
    wall_keys = zone_codes.astype(np.int64) * lane + (local_us - (first_local - 1))
    row = np.searchsorted(keys, wall_keys, side="right") - 1
    return local_us - offsets[row]
