"""Writing status polls, the big table (2 million rows a week), block by block in one transaction per file.

Polls travel as fixed-width tuples in PostgreSQL's binary COPY format, built and
read with numpy. The poll table is partitioned by UTC day (partitions.py), and each
day a file touches goes one of two ways, settled when the file first reaches it:

- a day with no partition yet, or an empty one (a fresh database, a new day): every
  block's polls of the day are copied into a plain table with no index or foreign key,
  which gets its indexes by sorting and joins the poll table once, when the file ends.
  A day loaded into a year of history costs what it costs into an empty table, and a
  day whose polls lie in every block of a shuffled file is still built once.
- a day with rows: each block's polls of it are joined with that day's partition, and
  only new polls and changed statuses are written, at once, so a later block compares
  with them. A re-load of an unchanged file writes nothing,
  and an hour of new polls writes only that hour.

Either way the last line of a (store, timestamp) wins, whichever block it is in.
"""
from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
from django.db import IntegrityError, transaction

from monitoring.ingest import digests, partitions
from monitoring.ingest.writes import (
    StoreKeys,
    WriteCounts,
    copy_bytes,
    copy_errors_wrapped,
    stage_table,
)

_PG_EPOCH_MICROS = 946_684_800_000_000
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_FIELD_TYPES = {"n": ">i8", "store": ">i8", "ts": ">i8", "active": "u1", "is_new": "u1"}


class PollWriter:
    """One file's polls, block by block, inside the caller's transaction (module docstring)."""

    def __init__(self, cursor) -> None:
        self.cursor, self.counts, self.stores = cursor, WriteCounts(), StoreKeys(cursor)
        self.building = np.zeros(0, np.int64)  # days filled as plain tables, attached by finish()
        self.stored = np.zeros(0, np.int64)  # days compared with their partition's rows
        self.copied = 0

    def add(self, rows: pa.Table) -> None:
        if not len(rows):
            return
        store_keys = self.stores.keys_of(rows.column("store_id"))
        micros = rows.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
        active = rows.column("active").combine_chunks().to_numpy(zero_copy_only=False)
        keep = sorted_last_of_each(store_keys, micros)
        store_keys, micros, active = store_keys[keep], micros[keep], active[keep]
        self.counts.duplicates += len(rows) - len(keep)
        days = micros // partitions.DAY_MICROS
        self._settle(days=days)
        new_day = np.isin(days, self.building)
        if new_day.any():
            columns = {"store": store_keys[new_day], "ts": micros[new_day], "active": active[new_day]}
            _bulk_insert(self.cursor, columns=columns, days=days[new_day])
            self.copied += int(new_day.sum())
        if not new_day.all():
            self._merge(store_keys=store_keys[~new_day], micros=micros[~new_day], active=active[~new_day])

    def finish(self) -> WriteCounts:
        self.counts.stores_created = self.stores.created
        if len(self.building):
            repeated = _attach_days(self.cursor, days=self.building)
            self.counts.inserted += self.copied - repeated
            self.counts.duplicates += repeated
        return self.counts

    def _settle(self, *, days: np.ndarray) -> None:
        """Decide the way of the days this file had not reached before (one query for them all)."""
        unknown = np.setdiff1d(np.unique(days), np.union1d(self.building, self.stored))
        if not len(unknown):
            return
        fresh, adopted = partitions.days_to_create(self.cursor, micros=unknown * partitions.DAY_MICROS)
        # These days' tables are written directly, out of the poll table's trigger's sight.
        digests.record_changed_days(self.cursor, days=np.union1d(fresh, adopted))
        partitions.adopt_default_rows(self.cursor, days=adopted)
        if len(fresh):
            # DROP: a day's empty partition is replaced; a missing one is a no-op.
            self.cursor.execute("; ".join(
                f"DROP TABLE IF EXISTS {p.name}; CREATE TABLE {p.name} (LIKE {partitions.PARENT} INCLUDING DEFAULTS)"
                for p in map(partitions.partition_of, fresh)
            ))
        self.building = np.union1d(self.building, fresh)
        self.stored = np.union1d(self.stored, np.setdiff1d(unknown, fresh))

    def _merge(self, *, store_keys: np.ndarray, micros: np.ndarray, active: np.ndarray) -> None:
        found, stored_active = _stored_statuses(self.cursor, store_keys=store_keys, micros=micros)
        is_new = ~found
        write = is_new | (stored_active != active)
        columns = {"store": store_keys[write], "ts": micros[write], "active": active[write], "is_new": is_new[write]}
        inserted, updated = _write_changes(self.cursor, columns=columns)
        self.counts.inserted += inserted
        self.counts.updated += updated
        self.counts.unchanged += len(micros) - inserted - updated


def sorted_last_of_each(store_keys: np.ndarray, micros: np.ndarray) -> np.ndarray:
    """Row indices in (store, timestamp) order, keeping only the last line of each pair.

    Sorted rows fill the indexes in order and keep a store's polls together on disk.
    """
    if not len(micros):
        return np.zeros(0, np.int64)
    combined = _combined_keys(store_keys, micros)
    if combined is not None:
        order = np.argsort(combined[0], kind="stable")  # stable: equal pairs stay in line order
        ordered = combined[0][order]
        last = np.append(ordered[1:] != ordered[:-1], True)
    else:
        order = np.lexsort((micros, store_keys))
        keys, stamps = store_keys[order], micros[order]
        last = np.append((keys[1:] != keys[:-1]) | (stamps[1:] != stamps[:-1]), True)
    return order[last]


def _combined_keys(store_keys: np.ndarray, micros: np.ndarray) -> tuple[np.ndarray] | None:
    """One int64 per (store, time) pair when the ranges allow: it sorts and compares far faster."""
    low, span = int(micros.min()), int(micros.max()) - int(micros.min()) + 1
    if (int(store_keys.max()) + 1) * span >= 2**62:
        return None
    return (store_keys * span + (micros - low),)


def _bulk_insert(cursor, *, columns: dict[str, np.ndarray], days: np.ndarray) -> None:
    """A block's polls of days being built, one COPY FREEZE per day into that day's plain
    table (created in this transaction: no later pass over every page). The columns come
    sorted by (store, timestamp), so a stable sort by day keeps that order within a day;
    ids come from the table's sequence in copy order, so a later block's rows have higher ids."""
    order = np.argsort(days, kind="stable")
    present, starts = np.unique(days[order], return_index=True)
    for day, low, high in zip(present.tolist(), starts.tolist(), [*starts[1:].tolist(), len(order)], strict=True):
        rows = order[low:high]
        payload = binary_copy({name: values[rows] for name, values in columns.items()})
        name = partitions.partition_of(day).name
        copy_bytes(cursor, f"COPY {name} (store_id, timestamp, active) FROM STDIN WITH (FORMAT binary, FREEZE)", payload)


def _attach_days(cursor, *, days: np.ndarray) -> int:
    """Give the built days' tables their indexes and attach them; how many repeated pairs were removed.

    The indexes are those the parent's partitioned indexes expect, so that ATTACH adopts
    them instead of building its own; ATTACH then checks the foreign key in one join, and
    the bounds in one scan. A (store, timestamp) is copied twice only from two blocks (a
    block keeps the last line of each of its pairs): the unique index then fails, and the
    row with the higher id, from the later line, is kept.
    """
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    removed, statements = 0, []
    for part in map(partitions.partition_of, days):
        removed += _unique_index(cursor, name=part.name)
        statements += [
            f"ALTER TABLE {part.name} ADD PRIMARY KEY (id, timestamp)",
            f"CREATE INDEX ON {part.name} (timestamp)",
            f"ALTER TABLE {partitions.PARENT} ATTACH PARTITION {part.name} {part.bounds_sql()}",
            # Fresh statistics for the new rows: the reports' query plans rely on them.
            f"ANALYZE {part.name}",
        ]
    cursor.execute("; ".join(statements))
    return removed


def _unique_index(cursor, *, name: str) -> int:
    """Build the day table's unique (store, timestamp) index, first removing repeated pairs if
    it fails (rare: a pair in two blocks); how many rows were removed."""
    index = f"CREATE UNIQUE INDEX ON {name} (store_id, timestamp) INCLUDE (active)"
    try:
        with transaction.atomic(using=cursor.db.alias):
            cursor.execute(index)
        return 0
    except IntegrityError:
        cursor.execute(
            f"""
            DELETE FROM {name} poll USING (
                SELECT store_id, timestamp, max(id) AS kept FROM {name}
                GROUP BY store_id, timestamp HAVING count(*) > 1
            ) repeated
            WHERE poll.store_id = repeated.store_id AND poll.timestamp = repeated.timestamp AND poll.id <> repeated.kept
            """
        )
        removed = cursor.rowcount
        cursor.execute(index)
        return removed


def _stored_statuses(cursor, *, store_keys: np.ndarray, micros: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each poll, whether it is stored and its stored status: (found, active).

    The block is staged and joined with each of its days' partitions by name, so no
    statement reads more than the block's days, and the planner, knowing both sizes
    (ANALYZE), probes the unique index (store, timestamp) INCLUDE (active) for a few
    polls or hashes the day for many. Copying out every stored poll of the block's time
    span instead costs the whole file's span in every block of a shuffled file.
    """
    stage_table(cursor, "ingest_probe (n bigint, store_id bigint, ts timestamptz)")
    numbers = np.arange(len(micros), dtype=np.int64)
    copy_bytes(cursor, "COPY ingest_probe FROM STDIN WITH (FORMAT binary)", binary_copy({"n": numbers, "store": store_keys, "ts": micros}))
    cursor.execute("ANALYZE ingest_probe")
    joins = [
        f"SELECT probe.n, poll.active FROM ingest_probe probe JOIN {part.name} poll "
        f"ON poll.store_id = probe.store_id AND poll.timestamp = probe.ts "
        f"WHERE probe.ts >= '{part.start.isoformat()}' AND probe.ts < '{part.end.isoformat()}'"
        for part in map(partitions.partition_of, np.unique(micros // partitions.DAY_MICROS))
    ]
    sink = _Sink()
    with copy_errors_wrapped(cursor):
        cursor.copy_expert(f"COPY ({' UNION ALL '.join(joins)}) TO STDOUT WITH (FORMAT binary)", sink)
    rows = read_binary(b"".join(sink.chunks), names=("n", "active"))
    found, active = np.zeros(len(micros), bool), np.zeros(len(micros), bool)
    found[rows["n"]] = True
    active[rows["n"]] = rows["active"].astype(bool)
    return found, active


def _write_changes(cursor, *, columns: dict[str, np.ndarray]) -> tuple[int, int]:
    """Insert the new polls and update the changed ones; (inserted, updated)."""
    stage_table(cursor, "ingest_poll (store_id bigint, ts timestamptz, active boolean, is_new boolean)")
    copy_bytes(cursor, "COPY ingest_poll FROM STDIN WITH (FORMAT binary)", binary_copy(columns))
    cursor.execute("ANALYZE ingest_poll")  # an hour of changes probes the index; a week's joins by hash
    cursor.execute(
        """
        WITH updated AS (
            UPDATE monitoring_statuspoll poll SET active = new.active FROM ingest_poll new
            WHERE NOT new.is_new AND poll.store_id = new.store_id AND poll.timestamp = new.ts
            RETURNING 1
        ), inserted AS (
            INSERT INTO monitoring_statuspoll (store_id, timestamp, active)
            SELECT store_id, ts, active FROM ingest_poll WHERE is_new
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM updated)
        """
    )
    return cursor.fetchone()


def binary_copy(columns: dict[str, np.ndarray]) -> bytes:
    """Rows for COPY ... (FORMAT binary): per row a field count, then (length, value) per field."""
    count = len(next(iter(columns.values())))
    tuples = np.empty(count, _tuple_type(columns))
    tuples["fields"] = len(columns)
    for name, values in columns.items():
        tuples[f"{name}_len"] = np.dtype(_FIELD_TYPES[name]).itemsize
        tuples[name] = values - _PG_EPOCH_MICROS if name == "ts" else values
    return _HEADER + tuples.tobytes() + _TRAILER


def read_binary(payload: bytes, *, names: tuple[str, ...]) -> np.ndarray:
    """The rows of a binary COPY TO of non-null fixed-width columns, as a numpy record array."""
    dtype = _tuple_type(dict.fromkeys(names))
    body = payload[len(_HEADER) : len(payload) - len(_TRAILER)] if payload else b""
    return np.frombuffer(body, dtype) if body else np.zeros(0, dtype)


def _tuple_type(columns: dict) -> np.dtype:
    fields = [("fields", ">i2")]
    for name in columns:
        fields += [(f"{name}_len", ">i4"), (name, _FIELD_TYPES[name])]
    return np.dtype(fields)


class _Sink:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
