"""Set-based writes of one validated source: COPY into a staging table, then one statement.

Every function here runs inside the caller's transaction (one per file) and issues
a fixed number of statements per block whatever its row count: no ORM object or
query per row. Polls, the big table, have their own module (poll_writes.py).
"""
from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

COPY_CHUNK = 1 << 20


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    duplicates: int = 0
    stores_created: int = 0


class BlockWriter(Protocol):
    """Writes one file's rows as its blocks come, inside the caller's transaction."""

    def add(self, rows: pa.Table) -> None: ...

    def finish(self) -> WriteCounts: ...


class StoreRowsWriter:
    """The file's rows become the full set of rows of the stores it names (SPEC 1, 11).

    For each store with a good row, its stored rows become exactly the file's distinct
    rows of it: a row already stored is `unchanged`, a new one `inserted`, a stored one
    the file lacks `deleted`; stores the file does not name are untouched. A row is a
    member of a set, never edited in place, so nothing is ever `updated`. Blocks are
    only staged: a store's rows may lie in two blocks, and the replacement must see
    them all, so it runs once, at the end.
    """

    table: ClassVar[str]  # the stored rows: store_id and `columns`
    stage: ClassVar[str]  # the staging tables' name
    columns: ClassVar[dict[str, str]]  # each column besides store_id -> its staging SQL type

    def __init__(self, cursor) -> None:
        self.cursor, self.rows, self.stores = cursor, 0, StoreKeys(cursor)
        stage_table(cursor, f"{self.stage}_rows ({self._definition()})")

    def _definition(self) -> str:
        return ", ".join(["store_id bigint", *(f"{name} {kind}" for name, kind in self.columns.items())])

    def add(self, rows: pa.Table) -> None:
        store_keys = self.stores.keys_of(rows.column("store_id"))
        staged = pa.table({"store_id": store_keys, **{name: rows.column(name) for name in self.columns}})
        copy_table(self.cursor, sql=f"COPY {self.stage}_rows FROM STDIN WITH (FORMAT csv)", table=staged)
        self.rows += staged.num_rows

    def finish(self) -> WriteCounts:
        cursor, stage, table = self.cursor, self.stage, self.table
        stage_table(cursor, f"{stage} ({self._definition()})")
        cursor.execute(f"INSERT INTO {stage} SELECT DISTINCT * FROM {stage}_rows")
        unique = cursor.rowcount
        names = ["store_id", *self.columns]
        new, old = (", ".join(f"{alias}.{name}" for name in names) for alias in ("new", "old"))
        # Only rows that differ are touched, so a re-load changes nothing at all.
        cursor.execute(
            f"""
            WITH gone AS (
                DELETE FROM {table} old
                WHERE old.store_id IN (SELECT store_id FROM {stage})
                  AND NOT EXISTS (SELECT 1 FROM {stage} new WHERE ({new}) = ({old}))
                RETURNING 1
            ), added AS (
                INSERT INTO {table} ({", ".join(names)})
                SELECT {new} FROM {stage} new
                WHERE NOT EXISTS (SELECT 1 FROM {table} old WHERE ({new}) = ({old}))
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM added)
            """
        )
        deleted, inserted = cursor.fetchone()
        return WriteCounts(
            inserted=inserted,
            unchanged=unique - inserted,
            deleted=deleted,
            duplicates=self.rows - unique,
            stores_created=self.stores.created,
        )


class HoursWriter(StoreRowsWriter):
    """The file's hours become the full set of hours of the stores it names (SPEC 1)."""

    table, stage = "monitoring_businesshours", "ingest_hours"
    columns = {"weekday": "smallint", "start_local": "time", "end_local": "time"}


class OwnersWriter(StoreRowsWriter):
    """The file's owners become the full set of owners of the stores it names (SPEC 11):
    a store named with a brand and a franchisee belongs to both, and to no one else."""

    table, stage = "monitoring_storeowner", "ingest_owners"
    # "C", the stored column's collation: PostgreSQL compares two texts only under one collation.
    columns = {"owner": 'text COLLATE "C"'}


class TimezoneWriter:
    """Set the timezone of the stores the file names; a store's last good line wins,
    whichever block it is in (blocks are staged with their row order, applied at the end)."""

    def __init__(self, cursor) -> None:
        self.cursor, self.rows, self.stores = cursor, 0, StoreKeys(cursor)
        stage_table(cursor, "ingest_timezone_rows (store_id bigint, timezone text, seq bigint)")

    def add(self, rows: pa.Table) -> None:
        store_keys = self.stores.keys_of(rows.column("store_id"))
        frame = pd.DataFrame(
            {
                "store_id": store_keys,
                "timezone": rows.column("timezone").to_numpy(zero_copy_only=False),
                "seq": np.arange(self.rows, self.rows + len(store_keys), dtype=np.int64),
            }
        )
        copy_table(self.cursor, sql="COPY ingest_timezone_rows FROM STDIN WITH (FORMAT csv)", table=frame)
        self.rows += len(frame)

    def finish(self) -> WriteCounts:
        cursor = self.cursor
        stage_table(cursor, "ingest_timezone (store_id bigint, timezone text)")
        cursor.execute(
            "INSERT INTO ingest_timezone SELECT DISTINCT ON (store_id) store_id, timezone FROM ingest_timezone_rows ORDER BY store_id, seq DESC"
        )
        last = cursor.rowcount
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
            unchanged=last - inserted - updated,
            duplicates=self.rows - last,
            stores_created=self.stores.created,
        )


class StoreKeys:
    """The store keys of the store ids one file names, each id asked of the database once.

    A block looks its ids up among those of the blocks before (one hash lookup per
    column) and stages only the ids it is the first to name: a file's blocks mostly
    name the same stores, and copying and joining every block's names cost more than
    writing its polls.
    """

    def __init__(self, cursor) -> None:
        self.cursor, self.created = cursor, 0
        self.names, self.keys = pa.array([], pa.string()), np.zeros(0, np.int64)

    def keys_of(self, store_ids: pa.ChunkedArray) -> np.ndarray:
        """Each row's store key; stores not known yet are created."""
        store_ids = store_ids.cast(pa.string())
        positions = pc.index_in(store_ids, value_set=self.names)
        unseen = pc.unique(pc.filter(store_ids, positions.is_null()).combine_chunks())
        if len(unseen):
            names, keys = self._fetch(unseen)
            self.names, self.keys = pa.concat_arrays([self.names, names]), np.concatenate([self.keys, keys])
            positions = pc.index_in(store_ids, value_set=self.names)
        return self.keys[positions.to_numpy()]

    def _fetch(self, names: pa.Array) -> tuple[pa.Array, np.ndarray]:
        """Create the stores of `names` not stored yet; the names with their keys."""
        cursor = self.cursor
        stage_table(cursor, 'ingest_store (store_id text COLLATE "C")')
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
        self.created += cursor.fetchone()[0]
        cursor.execute("SELECT staged.store_id, store.id FROM ingest_store staged JOIN monitoring_store store USING (store_id)")
        found = cursor.fetchall()
        return pa.array([name for name, _ in found], pa.string()), np.array([key for _, key in found], np.int64)


def copy_table(cursor, *, sql: str, table: pa.Table | pd.DataFrame) -> None:
    """COPY a small table as CSV (pyarrow quotes whatever needs quoting)."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False))
    copy_bytes(cursor, sql, sink.getvalue())


def stage_table(cursor, definition: str) -> None:
    # Dropped at commit; the DROP covers a savepoint-only transaction (tests) reusing the name.
    name = definition.split(" ", 1)[0]
    cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{name}; CREATE TEMP TABLE {definition} ON COMMIT DROP")


def copy_bytes(cursor, sql: str, payload: bytes) -> None:
    copy_parts(cursor, sql, [payload])


def copy_parts(cursor, sql: str, parts: Iterable[bytes | pa.Buffer]) -> None:
    """One COPY fed from `parts` as they are made: the whole input is never in memory at once."""
    with copy_errors_wrapped(cursor):
        cursor.copy_expert(sql, _Reader(parts), COPY_CHUNK)


def copy_errors_wrapped(cursor):
    """Django turns the driver's errors into its DatabaseError for execute() but not for
    copy_expert(): this does it for a COPY too, so a COPY that fails fails its file
    (caught as DatabaseError) instead of escaping the load."""
    return cursor.db.wrap_database_errors


class _Reader(io.RawIOBase):
    """Feeds COPY from memory, one part after the other."""

    def __init__(self, parts: Iterable[bytes | pa.Buffer]) -> None:
        self.parts, self.view, self.offset = iter(parts), memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.offset >= len(self.view):
            self.view, self.offset = memoryview(next(self.parts, b"")), 0
        end = len(self.view) if size < 0 else min(len(self.view), self.offset + size)
        chunk = self.view[self.offset : end].tobytes()
        self.offset = end
        return chunk  # empty only once every part is read: the end of COPY's input
