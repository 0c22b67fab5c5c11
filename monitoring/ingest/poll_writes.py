"""Writing status polls, the big table (2 million rows a week), block by block in one transaction per file.

Polls travel as fixed-width tuples in PostgreSQL's binary COPY format, built and
read with numpy. The stored polls of a block's time span are copied out once and
compared with the block in numpy, so only new polls and changed statuses are
written: a re-load of an unchanged file writes nothing, and an hour of new polls
writes only that hour. Many new polls (a fresh database; a new week in one block)
are copied in with the table's indexes and foreign key dropped and rebuilt afterwards.
"""
from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pyarrow as pa
from django.db import IntegrityError, transaction

from monitoring.ingest.writes import (
    WriteCounts,
    copy_bytes,
    copy_errors_wrapped,
    ensure_stores,
    stage_table,
)

# PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC.
_PG_EPOCH_MICROS = 946_684_800_000_000
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_FIELD_TYPES = {"id": ">i8", "store": ">i8", "ts": ">i8", "active": "u1", "is_new": "u1"}
_STORED = ("store", "ts", "active")
# From this many new polls on, dropping and rebuilding the indexes beats maintaining them.
BULK_INSERT_ROWS = 200_000


class PollWriter:
    """A known (store, timestamp) takes the file's status; within a file the last line wins.

    Into an empty table (a fresh load, however many blocks) every block is copied with
    no index or foreign key, which are rebuilt once at the end. Into a filled table each
    block is compared with the stored polls of its time span and only its changes are
    written, at once, so the next block compares with them: a (store, timestamp) repeated
    in a later block takes that block's status, as the later line.
    """

    def __init__(self, cursor) -> None:
        self.cursor, self.counts = cursor, WriteCounts()
        cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM monitoring_statuspoll)")
        self.fresh = cursor.fetchone()[0]
        self.rebuild: list[str] | None = None  # the fresh path's dropped keys and indexes
        self.next_id = 1

    def add(self, rows: pa.Table, *, only_block: bool) -> None:
        if not len(rows):
            return
        store_keys, created = ensure_stores(self.cursor, store_ids=rows.column("store_id"))
        micros = rows.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
        active = rows.column("active").combine_chunks().to_numpy(zero_copy_only=False)
        keep = sorted_last_of_each(store_keys, micros)
        columns = {"store": store_keys[keep], "ts": micros[keep], "active": active[keep]}
        self.counts.duplicates += len(rows) - len(keep)
        self.counts.stores_created += created
        if self.fresh:
            self._append(columns)
        else:
            self._merge(columns, bulk_allowed=only_block)

    def finish(self) -> WriteCounts:
        if self.rebuild is not None:
            cursor = self.cursor
            cursor.execute(f"ALTER TABLE monitoring_statuspoll ALTER COLUMN id RESTART WITH {self.next_id}")
            repeated = _rebuild_keys(cursor, statements=self.rebuild)
            self.counts.inserted -= repeated
            self.counts.duplicates += repeated
        return self.counts

    def _append(self, columns: dict[str, np.ndarray]) -> None:
        """Copy a block into the empty table, ids given explicitly: COPY FREEZE spares a later
        pass over every page. The DDL locks the table until commit, so a report waits for the
        load instead of reading half of it."""
        if self.rebuild is None:
            drops, self.rebuild = _keys_and_indexes(self.cursor)
            self.cursor.execute("; ".join([*drops, "TRUNCATE monitoring_statuspoll"]))
        count = len(columns["ts"])
        _bulk_insert(self.cursor, columns={"id": np.arange(self.next_id, self.next_id + count, dtype=np.int64), **columns})
        self.next_id += count
        self.counts.inserted += count

    def _merge(self, columns: dict[str, np.ndarray], *, bulk_allowed: bool) -> None:
        cursor, counts = self.cursor, self.counts
        store_keys, micros, active = columns["store"], columns["ts"], columns["active"]
        stored = _stored_polls(cursor, micros=micros)
        position = pair_positions(store_keys, micros, stored["store"], stored["ts"] + _PG_EPOCH_MICROS)
        is_new = position < 0
        stored_active = np.zeros(len(position), bool)
        stored_active[~is_new] = stored["active"][position[~is_new]]
        changed = is_new | (stored_active != active)
        # Rebuilding every index of the table pays off once per file, not once per block:
        # a file of many blocks keeps its indexes, which the next block's compare needs.
        bulk = bulk_allowed and int(is_new.sum()) >= BULK_INSERT_ROWS
        if bulk:  # before any other write to the table in this transaction: ALTER TABLE needs that
            drops, creates = _keys_and_indexes(cursor)
            cursor.execute("; ".join(drops))
            _bulk_insert(cursor, columns={"store": store_keys[is_new], "ts": micros[is_new], "active": active[is_new]})
            _rebuild_keys(cursor, statements=creates)
        write = changed & ~is_new if bulk else changed
        columns = {"store": store_keys[write], "ts": micros[write], "active": active[write], "is_new": is_new[write]}
        inserted, updated = _write_changes(cursor, columns=columns)
        inserted = int(is_new.sum()) if bulk else inserted
        counts.inserted += inserted
        counts.updated += updated
        counts.unchanged += len(micros) - inserted - updated


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


def pair_positions(keys: np.ndarray, micros: np.ndarray, known_keys: np.ndarray, known_micros: np.ndarray) -> np.ndarray:
    """For each (key, micros) pair, its index among the known (unique) pairs, or -1."""
    if not len(keys) or not len(known_keys):
        return np.full(len(keys), -1, np.int64)
    combined = _combined_keys(np.concatenate([keys, known_keys]), np.concatenate([micros, known_micros]))
    if combined is None:
        known = pd.MultiIndex.from_arrays([known_keys, known_micros])
        return known.get_indexer(pd.MultiIndex.from_arrays([keys, micros])).astype(np.int64)
    wanted, known = combined[0][: len(keys)], combined[0][len(keys) :]
    order = np.argsort(known)
    slot = np.minimum(np.searchsorted(known[order], wanted), len(known) - 1)
    return np.where(known[order][slot] == wanted, order[slot], -1)


def _combined_keys(store_keys: np.ndarray, micros: np.ndarray) -> tuple[np.ndarray] | None:
    """One int64 per (store, time) pair when the ranges allow: it sorts and compares far faster."""
    low, span = int(micros.min()), int(micros.max()) - int(micros.min()) + 1
    if (int(store_keys.max()) + 1) * span >= 2**62:
        return None
    return (store_keys * span + (micros - low),)


def _keys_and_indexes(cursor) -> tuple[list[str], list[str]]:
    """The statements that drop the poll table's keys and indexes, and those that rebuild them.

    Inserting many new polls is cheapest with no index or foreign key, rebuilt afterwards by
    sorting: row-by-row index upkeep and a deferred foreign-key check per row cost several
    times more for millions of rows.
    """
    cursor.execute(
        """
        SELECT 'ALTER TABLE monitoring_statuspoll DROP CONSTRAINT ' || quote_ident(conname),
               'ALTER TABLE monitoring_statuspoll ADD CONSTRAINT ' || quote_ident(conname) || ' '
               || pg_get_constraintdef(oid)
        FROM pg_constraint WHERE conrelid = 'monitoring_statuspoll'::regclass AND contype IN ('p', 'u', 'f')
        UNION ALL
        SELECT 'DROP INDEX ' || quote_ident(schemaname) || '.' || quote_ident(indexname), indexdef
        FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = 'monitoring_statuspoll' AND indexname NOT IN (
            SELECT conname FROM pg_constraint WHERE conrelid = 'monitoring_statuspoll'::regclass)
        """
    )
    statements = cursor.fetchall()
    # Keys and indexes first: the foreign key check then runs as one join over them.
    creates = sorted((create for _, create in statements), key=lambda sql: "FOREIGN KEY" in sql)
    return [drop for drop, _ in statements], creates


def _bulk_insert(cursor, *, columns: dict[str, np.ndarray]) -> None:
    """COPY polls into the table while it has no index (ids explicit when `columns` has them)."""
    names = "id, store_id, timestamp, active" if "id" in columns else "store_id, timestamp, active"
    options = "FORMAT binary, FREEZE" if "id" in columns else "FORMAT binary"
    copy_bytes(cursor, f"COPY monitoring_statuspoll ({names}) FROM STDIN WITH ({options})", binary_copy(columns))


def _rebuild_keys(cursor, *, statements: list[str]) -> int:
    """Rebuild the keys and indexes; how many repeated (store, timestamp) rows were removed first.

    A pair can be copied twice only from two blocks of one fresh load (a block keeps the last
    line of each of its pairs): then the unique key fails, and the row with the higher id,
    copied from the later line, is the one kept.
    """
    setup = "SET LOCAL maintenance_work_mem = '256MB'"
    try:
        with transaction.atomic(using=cursor.db.alias):
            cursor.execute("; ".join([setup, *statements]))
        removed = 0
    except IntegrityError:
        cursor.execute(
            """
            DELETE FROM monitoring_statuspoll poll USING (
                SELECT store_id, timestamp, max(id) AS kept FROM monitoring_statuspoll
                GROUP BY store_id, timestamp HAVING count(*) > 1
            ) repeated
            WHERE poll.store_id = repeated.store_id AND poll.timestamp = repeated.timestamp AND poll.id <> repeated.kept
            """
        )
        removed = cursor.rowcount
        cursor.execute("; ".join([setup, *statements]))
    # Fresh statistics for millions of new rows: the reports' query plans and the poll
    # count estimate of the health check (reports.data_overview) rely on them.
    cursor.execute("ANALYZE monitoring_statuspoll")
    return removed


def _stored_polls(cursor, *, micros: np.ndarray) -> np.ndarray:
    """The stored polls of the file's time span, copied out in one binary COPY."""
    low, high = (int(micros.min()), int(micros.max())) if len(micros) else (0, -1)
    sink = _Sink()
    # Integers only in the text: the bounds are microseconds since 1970 (the index on timestamp serves the range).
    with copy_errors_wrapped(cursor):
        cursor.copy_expert(
            "COPY (SELECT store_id, timestamp, active FROM monitoring_statuspoll WHERE timestamp BETWEEN "
            f"timestamptz 'epoch' + {low} * interval '1 microsecond' AND timestamptz 'epoch' + {high} * interval '1 microsecond'"
            ") TO STDOUT WITH (FORMAT binary)",
            sink,
        )
    return read_binary(b"".join(sink.chunks), names=_STORED)


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
