"""The poll table's partitions: one per UTC day of timestamp (docs/architecture.md).

A day's partition is named monitoring_statuspoll_YYYYMMDD and holds
[day 00:00 UTC, next day 00:00 UTC). The loader creates the partitions a file needs
before it writes them (poll_writes.py); rows written any other way (admin, shell,
tests) land in the DEFAULT partition, whose rows for a day move into that day's
partition when the loader first writes the day. Retention drops whole partitions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np

PARENT = "monitoring_statuspoll"
DEFAULT = f"{PARENT}_default"
# The poll digests (digests.py) are partitioned by the same days, named the same way.
DIGESTS = "monitoring_polldigest"
DAY_MICROS = 86_400_000_000
_EPOCH = date(1970, 1, 1)
_DAY_NAME = re.compile(r"^(\w+)_(\d{8})$")


@dataclass(frozen=True)
class DayPartition:
    name: str
    day: date

    @property
    def start(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=timezone.utc)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)

    def bounds_sql(self) -> str:
        return f"FOR VALUES FROM ('{self.start.isoformat()}') TO ('{self.end.isoformat()}')"


def utc_midnight(instant: datetime) -> datetime:
    """The start of the UTC day `instant` falls on: where its day partition begins."""
    utc = instant.astimezone(timezone.utc)
    return datetime(utc.year, utc.month, utc.day, tzinfo=timezone.utc)


def partition_of(day_number: int, *, parent: str = PARENT) -> DayPartition:
    """The partition of a day counted from 1970-01-01 (micros // DAY_MICROS)."""
    return _named(_EPOCH + timedelta(days=int(day_number)), parent=parent)


def day_partitions(cursor, *, parent: str = PARENT) -> list[DayPartition]:
    """The day partitions there are, oldest first (the DEFAULT one is not a day's)."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        [parent],
    )
    found = [_DAY_NAME.match(name) for (name,) in cursor.fetchall()]
    days = sorted(datetime.strptime(match[2], "%Y%m%d").date() for match in found if match and match[1] == parent)
    return [_named(day, parent=parent) for day in days]


def _named(day: date, *, parent: str) -> DayPartition:
    return DayPartition(name=f"{parent}_{day:%Y%m%d}", day=day)


def days_to_create(cursor, *, micros: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of the days the polls fall on, those to (re)create a partition for: (fresh, adopted).

    Fresh days have no rows: no partition yet, or an empty one (after a TRUNCATE or a
    delete), which the new one replaces. Their polls are all new and go straight into a
    new partition. Adopted days have rows in the DEFAULT partition: those move into the
    day's new partition first (adopt_default_rows), and the file's polls are then
    compared with them.
    """
    days = np.unique(micros // DAY_MICROS)
    known = np.array(sorted((p.day - _EPOCH).days for p in day_partitions(cursor)), np.int64)
    touched, missing = days[np.isin(days, known)], days[~np.isin(days, known)]
    # One statement whatever the days: each partition probe reads at most one row, and
    # the DEFAULT partition is empty unless rows came in another way than the loader.
    probes = [f"SELECT {day}, true WHERE NOT EXISTS (SELECT 1 FROM {partition_of(day).name})" for day in touched.tolist()]
    low, high = (partition_of(missing[0]).start, partition_of(missing[-1]).end) if len(missing) else (None, None)
    probes.append(
        f"SELECT DISTINCT floor(extract(epoch FROM timestamp) / 86400)::bigint, false FROM {DEFAULT} "
        "WHERE timestamp >= %s AND timestamp < %s"
    )
    cursor.execute(" UNION ALL ".join(probes), [low, high])
    found = cursor.fetchall()
    emptied = np.array([day for day, empty in found if empty], np.int64)
    adopted = missing[np.isin(missing, np.array([day for day, empty in found if not empty], np.int64))]
    return np.union1d(emptied, np.setdiff1d(missing, adopted)), adopted


def adopt_default_rows(cursor, *, days: np.ndarray) -> None:
    """Create the partitions of `days`, moving the DEFAULT partition's rows of each into it."""
    statements = []
    for day in days:
        part = partition_of(day)
        statements += [
            f"CREATE TABLE {part.name} (LIKE {PARENT} INCLUDING DEFAULTS)",
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE timestamp >= '{part.start.isoformat()}' "
            f"AND timestamp < '{part.end.isoformat()}' RETURNING id, timestamp, active, store_id) "
            f"INSERT INTO {part.name} (id, timestamp, active, store_id) SELECT * FROM moved",
            f"ALTER TABLE {PARENT} ATTACH PARTITION {part.name} {part.bounds_sql()}",
        ]
    if statements:
        cursor.execute("; ".join(statements))
