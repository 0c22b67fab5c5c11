"""Set-based writes of one validated source: COPY into a staging table, then one statement.

Every function here runs inside the caller's transaction (one per file) and issues
a fixed number of statements whatever the row count: no ORM object or query per
row. Store ids are turned into the stores' integer keys in numpy, so the big
poll COPY carries three fixed-width columns in PostgreSQL's binary format.
"""
from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC.
_PG_EPOCH_MICROS = 946_684_800_000_000
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_BINARY_TRAILER = struct.pack(">h", -1)
# One poll as a binary COPY tuple: field count, then (length, value) per field, big-endian.
_POLL_TUPLE = np.dtype(
    [("fields", ">i2"), ("store_len", ">i4"), ("store", ">i8"), ("ts_len", ">i4"), ("ts", ">i8"), ("active_len", ">i4"), ("active", "u1")]
)
COPY_CHUNK = 1 << 20


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    duplicates: int = 0
    stores_created: int = 0


Progress = Callable[[int], None]  # called with the rows copied so far


def write_polls(cursor, *, rows: pa.Table, progress: Progress | None = None) -> WriteCounts:
    """Upsert polls: a known (store, timestamp) takes the file's status; the last line wins in a file."""
    store_keys, created = ensure_stores(cursor, store_ids=rows.column("store_id"))
    micros = rows.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
    active = rows.column("active").combine_chunks().to_numpy(zero_copy_only=False)
    keep = sorted_last_of_each(store_keys, micros)
    payload = _binary_polls(store_keys[keep], micros[keep], active[keep])
    counts = WriteCounts(duplicates=len(micros) - len(keep), stores_created=created)
    cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM monitoring_statuspoll)")
    if cursor.fetchone()[0]:
        _copy_into_empty_polls(cursor, payload=payload, progress=progress)
        counts.inserted = len(keep)
        return counts
    _stage(cursor, "ingest_poll (store_id bigint, ts timestamptz, active boolean)")
    _copy(cursor, "COPY ingest_poll FROM STDIN WITH (FORMAT binary)", payload, progress)
    # Statistics let the planner pick index probes for an hour of polls and hash
    # joins for a full reload; two joins beat millions of ON CONFLICT row locks.
    cursor.execute("ANALYZE ingest_poll; SET LOCAL work_mem = '256MB'")
    cursor.execute(
        """
        WITH updated AS (
            UPDATE monitoring_statuspoll poll SET active = new.active FROM ingest_poll new
            WHERE poll.store_id = new.store_id AND poll.timestamp = new.ts AND poll.active <> new.active
            RETURNING 1
        ), inserted AS (
            INSERT INTO monitoring_statuspoll (store_id, timestamp, active)
            SELECT new.store_id, new.ts, new.active FROM ingest_poll new
            WHERE NOT EXISTS (
                SELECT 1 FROM monitoring_statuspoll poll WHERE poll.store_id = new.store_id AND poll.timestamp = new.ts)
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM updated)
        """
    )
    counts.inserted, counts.updated = cursor.fetchone()
    counts.unchanged = len(keep) - counts.inserted - counts.updated
    return counts


def _copy_into_empty_polls(cursor, *, payload: bytes, progress: Progress | None) -> None:
    """The cheapest correct path into an empty poll table: COPY without secondary indexes
    and foreign key, then rebuild them by sorting (minutes of row-by-row index and
    deferred foreign-key work become seconds). The DDL locks the table until commit;
    with no polls yet, a reader only waits for the first data to arrive.
    """
    cursor.execute(
        """
        SELECT 'ALTER TABLE monitoring_statuspoll DROP CONSTRAINT ' || quote_ident(conname),
               'ALTER TABLE monitoring_statuspoll ADD CONSTRAINT ' || quote_ident(conname) || ' '
               || pg_get_constraintdef(oid)
        FROM pg_constraint WHERE conrelid = 'monitoring_statuspoll'::regclass AND contype IN ('u', 'f')
        UNION ALL
        SELECT 'DROP INDEX ' || quote_ident(schemaname) || '.' || quote_ident(indexname), indexdef
        FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = 'monitoring_statuspoll' AND indexname NOT IN (
            SELECT conname FROM pg_constraint WHERE conrelid = 'monitoring_statuspoll'::regclass)
        """
    )
    statements = cursor.fetchall()
    # TRUNCATE (of an empty table) in this transaction allows COPY FREEZE: no later
    # rewrite of every page to set hint bits and freeze.
    cursor.execute("; ".join([drop for drop, _ in statements] + ["TRUNCATE monitoring_statuspoll"]))
    sql = "COPY monitoring_statuspoll (store_id, timestamp, active) FROM STDIN WITH (FORMAT binary, FREEZE)"
    _copy(cursor, sql, payload, progress)
    # Unique constraints and indexes first: the foreign key check then runs as one join.
    rebuild = sorted((create for _, create in statements), key=lambda sql: "FOREIGN KEY" in sql)
    cursor.execute(("SET LOCAL maintenance_work_mem = '256MB'; " + "; ".join(rebuild)) if rebuild else "SELECT 1")


def write_hours(cursor, *, rows: pa.Table) -> WriteCounts:
    """The file's hours become the full set of hours of the stores it names (SPEC 1)."""
    store_keys, created = ensure_stores(cursor, store_ids=rows.column("store_id"))
    frame = pd.DataFrame(
        {
            "store_id": store_keys,
            "weekday": rows.column("weekday").to_numpy(),
            "start_local": rows.column("start_local").to_numpy(),
            "end_local": rows.column("end_local").to_numpy(),
        }
    )
    unique = frame.drop_duplicates()
    _stage(cursor, "ingest_hours (store_id bigint, weekday smallint, start_local time, end_local time)")
    copy_table(cursor, sql="COPY ingest_hours FROM STDIN WITH (FORMAT csv)", table=unique)
    # Only rows that differ are touched, so a re-load changes nothing at all.
    cursor.execute(
        """
        WITH gone AS (
            DELETE FROM monitoring_businesshours old
            WHERE old.store_id IN (SELECT store_id FROM ingest_hours)
              AND NOT EXISTS (
                SELECT 1 FROM ingest_hours new
                WHERE (new.store_id, new.weekday, new.start_local, new.end_local)
                    = (old.store_id, old.weekday, old.start_local, old.end_local))
            RETURNING 1
        ), added AS (
            INSERT INTO monitoring_businesshours (store_id, weekday, start_local, end_local)
            SELECT new.store_id, new.weekday, new.start_local, new.end_local FROM ingest_hours new
            WHERE NOT EXISTS (
                SELECT 1 FROM monitoring_businesshours old
                WHERE (new.store_id, new.weekday, new.start_local, new.end_local)
                    = (old.store_id, old.weekday, old.start_local, old.end_local))
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM added)
        """
    )
    deleted, inserted = cursor.fetchone()
    return WriteCounts(
        inserted=inserted,
        unchanged=len(unique) - inserted,
        deleted=deleted,
        duplicates=len(frame) - len(unique),
        stores_created=created,
    )


def write_timezones(cursor, *, rows: pa.Table) -> WriteCounts:
    """Set the timezone of the stores the file names; a store's last good line wins."""
    store_keys, created = ensure_stores(cursor, store_ids=rows.column("store_id"))
    frame = pd.DataFrame({"store_id": store_keys, "timezone": rows.column("timezone").to_numpy(zero_copy_only=False)})
    last = frame.drop_duplicates(subset="store_id", keep="last")
    _stage(cursor, "ingest_timezone (store_id bigint, timezone text)")
    copy_table(cursor, sql="COPY ingest_timezone FROM STDIN WITH (FORMAT csv)", table=last)
    cursor.execute(
        """
        WITH target AS (
            SELECT store.id, store.timezone AS old, new.timezone AS new
            FROM ingest_timezone new JOIN monitoring_store store ON store.id = new.store_id
        ), changed AS (
            UPDATE monitoring_store store SET timezone = target.new FROM target
            WHERE store.id = target.id AND target.old <> target.new
            RETURNING target.old = '' AS first
        )
        SELECT count(*) FILTER (WHERE first), count(*) FILTER (WHERE NOT first) FROM changed
        """
    )
    inserted, updated = cursor.fetchone()
    return WriteCounts(
        inserted=inserted,
        updated=updated,
        unchanged=len(last) - inserted - updated,
        duplicates=len(frame) - len(last),
        stores_created=created,
    )


def ensure_stores(cursor, *, store_ids: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """Create the stores not known yet; return each row's store key and how many were created."""
    names = pc.unique(store_ids.combine_chunks())
    _stage(cursor, 'ingest_store (store_id text COLLATE "C")')
    copy_table(cursor, sql="COPY ingest_store FROM STDIN WITH (FORMAT csv)", table=pa.table({"store_id": names}))
    cursor.execute(
        """
        WITH created AS (
            INSERT INTO monitoring_store (store_id, timezone)
            SELECT store_id, '' FROM ingest_store ORDER BY store_id
            ON CONFLICT (store_id) DO NOTHING RETURNING 1
        )
        SELECT count(*) FROM created
        """
    )
    created = cursor.fetchone()[0]
    cursor.execute("SELECT staged.store_id, store.id FROM ingest_store staged JOIN monitoring_store store USING (store_id)")
    found = cursor.fetchall()
    known = pa.array([name for name, _ in found], pa.string())
    keys = np.array([key for _, key in found], np.int64)
    positions = pc.index_in(store_ids, value_set=known).to_numpy(zero_copy_only=False)
    return keys[positions], created


def sorted_last_of_each(store_keys: np.ndarray, micros: np.ndarray) -> np.ndarray:
    """Row indices in (store, timestamp) order, keeping only the last line of each pair.

    Sorted rows fill the indexes in order and keep a store's polls together on disk.
    """
    if not len(micros):
        return np.zeros(0, np.int64)
    low, span = int(micros.min()), int(micros.max()) - int(micros.min()) + 1
    if (int(store_keys.max()) + 1) * span < 2**62:
        # One int64 per pair sorts far faster than two columns.
        combined = store_keys * span + (micros - low)
        order = np.argsort(combined, kind="stable")
        ordered = combined[order]
        last = np.append(ordered[1:] != ordered[:-1], True)
    else:
        order = np.lexsort((micros, store_keys))  # stable: equal pairs stay in line order
        keys, stamps = store_keys[order], micros[order]
        last = np.append((keys[1:] != keys[:-1]) | (stamps[1:] != stamps[:-1]), True)
    return order[last]


def _binary_polls(store_keys: np.ndarray, micros: np.ndarray, active: np.ndarray) -> bytes:
    tuples = np.empty(len(store_keys), _POLL_TUPLE)
    tuples["fields"], tuples["store_len"], tuples["ts_len"], tuples["active_len"] = 3, 8, 8, 1
    tuples["store"] = store_keys
    tuples["ts"] = micros - _PG_EPOCH_MICROS
    tuples["active"] = active
    return _BINARY_HEADER + tuples.tobytes() + _BINARY_TRAILER


def copy_table(cursor, *, sql: str, table: pa.Table | pd.DataFrame) -> None:
    """COPY a small table as CSV (pyarrow quotes whatever needs quoting)."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False))
    _copy(cursor, sql, sink.getvalue(), None)


def _stage(cursor, definition: str) -> None:
    # Dropped at commit; the DROP covers a savepoint-only transaction (tests) reusing the name.
    name = definition.split(" ", 1)[0]
    cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{name}; CREATE TEMP TABLE {definition} ON COMMIT DROP")


def _copy(cursor, sql: str, payload: bytes, progress: Progress | None) -> None:
    cursor.copy_expert(sql, _Reader(payload, progress), COPY_CHUNK)


class _Reader(io.RawIOBase):
    """Feeds COPY from memory and reports how far it got (rows estimated from bytes)."""

    def __init__(self, payload: bytes, progress: Progress | None) -> None:
        self.view, self.offset, self.progress = memoryview(payload), 0, progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        end = len(self.view) if size < 0 else min(len(self.view), self.offset + size)
        chunk = self.view[self.offset : end].tobytes()
        self.offset = end
        if self.progress:
            self.progress(max(0, (self.offset - len(_BINARY_HEADER)) // _POLL_TUPLE.itemsize))
        return chunk
