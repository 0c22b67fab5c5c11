"""Poll digests: each store's polls of a closed UTC day packed in one row (docs/architecture.md).

A report reads 14 days of polls, about 250 per store, and the server's work for
that is per poll (docs/performance.md). Closed days do not change, so each is
packed once: per store and day, the timestamps and the inactive ones, in the
byte form PostgreSQL sends an array in. A report then reads about 13 rows per
store and joins their bytes, and reads polls only for the days not digested:
the open day, the window's cut first day, any day changed since.

When a digest counts: every statement that changes polls records the UTC days
it touched in PollChange (migration 0016's trigger; the loader itself for the
day tables it attaches, which no trigger sees). A day is digested under the
day's advisory lock, which each change takes before it is numbered, so a change
is either in the digest or numbered after the DigestedDay's `seen`. A reader
uses a day's digests only if, in its own snapshot, its DigestedDay exists and
no change of the day has a higher id (`current_days`): whatever commits
around a report, its digests match the polls it would read.

Digests are built after every round (sources.IngestRound.after), for the days
before the latest poll's day, under the load lock (so retention never drops a
day being digested); retention drops them with their partitions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

import numpy as np
from django.db import connection, transaction

from monitoring.ingest import partitions
from monitoring.ingest.locks import LOAD_LOCK_KEY, session_lock

# Migration 0016's class of two-key advisory locks: (DAY_LOCK_CLASS, days since 1970-01-01).
DAY_LOCK_CLASS = 7305
# array_send of a one-dimensional array is a 20-byte header, then each element's 4-byte
# length and 8-byte value: without the header, a day's bytes and the next day's join into
# one run of (length, value) pairs, which the reader decodes in place.
PACKED_STAMPS = "substring(array_send(array_agg(timestamp)) FROM 21)"
PACKED_INACTIVE = "substring(array_send(array_agg(timestamp) FILTER (WHERE NOT active)) FROM 21)"
PACKED_PAIR_BYTES = 12
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class DigestOutcome:
    days: int = 0
    polls: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """What was digested, for the round's line; "" when nothing was (most rounds)."""
        if not self.days:
            return ""
        return f"digests: {self.days} day{'s' if self.days != 1 else ''} ({self.polls:,} polls) in {self.seconds:.2f} s"


def digests_refresh() -> DigestOutcome:
    """Digest every closed day whose digests are missing or out of date, one transaction per day."""
    started = time.perf_counter()
    days = polls = 0
    with session_lock(key=LOAD_LOCK_KEY, wait=True):
        for part in _days_to_digest():
            polls += _digest_day(part)
            days += 1
    return DigestOutcome(days=days, polls=polls, seconds=time.perf_counter() - started)


def record_changed_days(cursor, *, days: np.ndarray) -> None:
    """Record that the polls of these days (counted from 1970-01-01) change in this transaction.

    For writes no trigger sees: the loader's day tables, filled and attached directly.
    """
    if len(days):
        cursor.execute(
            "SELECT monitoring_poll_days_record(%s::date[])",
            [[(_EPOCH + timedelta(days=int(day))).isoformat() for day in np.unique(days)]],
        )


def forget_days_before(cursor, *, day: date) -> None:
    """Drop the digests and change records of the days before `day` (retention, with their partitions)."""
    old = [part.name for part in partitions.day_partitions(cursor, parent=partitions.DIGESTS) if part.day < day]
    if old:
        cursor.execute(f"DROP TABLE {', '.join(old)}")
    cursor.execute(
        "DELETE FROM monitoring_digestedday WHERE day < %(day)s; DELETE FROM monitoring_pollchange WHERE day < %(day)s",
        {"day": day},
    )


def current_days(cursor, *, first_day: date, last_day: date) -> list[date]:
    """The digested days in [first_day, last_day] whose digests are current in this snapshot, in order."""
    cursor.execute(
        """
        SELECT d.day FROM monitoring_digestedday d
        WHERE d.day >= %(first_day)s AND d.day <= %(last_day)s AND NOT EXISTS (
            SELECT 1 FROM monitoring_pollchange c WHERE c.day = d.day AND c.id > d.seen
        )
        ORDER BY d.day
        """,
        {"first_day": first_day, "last_day": last_day},
    )
    return [day for (day,) in cursor.fetchall()]


def _days_to_digest() -> list[partitions.DayPartition]:
    """Day partitions before the latest poll's UTC day with no current digests, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(timestamp) FROM monitoring_statuspoll")
        latest: datetime | None = cursor.fetchone()[0]
        if latest is None:
            return []
        closed = [part for part in partitions.day_partitions(cursor) if part.day < latest.astimezone(dt_timezone.utc).date()]
        if not closed:
            return []
        current = set(current_days(cursor, first_day=closed[0].day, last_day=closed[-1].day))
    return [part for part in closed if part.day not in current]


def _digest_day(polls: partitions.DayPartition) -> int:
    """Build one day's digests from its poll partition into its digest partition; how many polls they hold.

    READ COMMITTED, with the day's lock taken first: every statement after it sees
    every change of the day committed before it, and no other can commit until this does.
    A day digested before (and changed since) is emptied and refilled in place, so a
    report reading its old digests is never blocked; a new day's table is filled, indexed
    and attached, as the loader does with polls.
    """
    day_number = (polls.day - _EPOCH).days
    table = partitions.partition_of(day_number, parent=partitions.DIGESTS).name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [DAY_LOCK_CLASS, day_number])
        cursor.execute("SELECT coalesce(max(id), 0) FROM monitoring_pollchange")
        seen = cursor.fetchone()[0]
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        attached = cursor.fetchone()[0]
        cursor.execute(f"DELETE FROM {table}" if attached else f"CREATE TABLE {table} (LIKE {partitions.DIGESTS})")
        # The partition's (store, timestamp) index gives each store's polls in order: no sort,
        # and the digests go in store order, the order a report's read walks them.
        cursor.execute(
            f"""
            WITH written AS (
                INSERT INTO {table} (store_id, day, stamps, inactive)
                SELECT store_id, %(day)s, {PACKED_STAMPS}, {PACKED_INACTIVE}
                FROM (SELECT store_id, timestamp, active FROM {polls.name} ORDER BY store_id, timestamp) polls
                GROUP BY store_id ORDER BY store_id
                RETURNING length(stamps) AS bytes
            )
            SELECT count(*), coalesce(sum(bytes), 0) / {PACKED_PAIR_BYTES} FROM written
            """,
            {"day": polls.day},
        )
        stores, polled = cursor.fetchone()
        if not attached:
            cursor.execute(
                f"ALTER TABLE {table} ADD PRIMARY KEY (store_id, day); "
                f"ALTER TABLE {partitions.DIGESTS} ATTACH PARTITION {table} {polls.bounds_sql()}"  # (cast to dates)
            )
        cursor.execute(f"ANALYZE {table}")  # the reads' plans rely on it
        cursor.execute(
            """
            INSERT INTO monitoring_digestedday (day, seen, stores, polls, digested_at) VALUES (%s, %s, %s, %s, now())
            ON CONFLICT (day) DO UPDATE SET seen = EXCLUDED.seen, stores = EXCLUDED.stores, polls = EXCLUDED.polls,
                digested_at = EXCLUDED.digested_at
            """,
            [polls.day, seen, stores, polled],
        )
        # The changes now in the digest are no longer needed to tell it is current.
        cursor.execute("DELETE FROM monitoring_pollchange WHERE day = %s AND id <= %s", [polls.day, seen])
    return int(polled)
