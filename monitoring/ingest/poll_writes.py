"""Writing status polls, the big table (2 million rows a week), in one transaction per file.

Polls travel as fixed-width tuples in PostgreSQL's binary COPY format, built and
read with numpy. The stored polls of the file's time span are copied out once and
compared with the file in numpy, so only new polls and changed statuses are
written: a re-load of an unchanged file writes nothing, and an hour of new polls
writes only that hour. Polls of days with no partition yet (a fresh database, a new
week) are copied into new day partitions before these get their indexes and join
the table (partitions.py).
"""
from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pyarrow as pa

from monitoring.ingest import partitions
from monitoring.ingest.writes import (
    Progress,
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
_FIELD_TYPES = {"store": ">i8", "ts": ">i8", "active": "u1", "is_new": "u1"}
_STORED = ("store", "ts", "active")


def write_polls(cursor, *, rows: pa.Table, progress: Progress | None = None) -> WriteCounts:
    """A known (store, timestamp) takes the file's status; within a file the last line wins."""
    store_keys, created = ensure_stores(cursor, store_ids=rows.column("store_id"))
    micros = rows.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
    active = rows.column("active").combine_chunks().to_numpy(zero_copy_only=False)
    keep = sorted_last_of_each(store_keys, micros)
    store_keys, micros, active = store_keys[keep], micros[keep], active[keep]
    counts = WriteCounts(duplicates=len(rows) - len(keep), stores_created=created)
    fresh_days, adopted_days = partitions.days_to_create(cursor, micros=micros)
    partitions.adopt_default_rows(cursor, days=adopted_days)
    fresh = np.isin(micros // partitions.DAY_MICROS, fresh_days)
    if fresh.any():
        new_columns = {"store": store_keys[fresh], "ts": micros[fresh], "active": active[fresh]}
        _bulk_insert(cursor, columns=new_columns, days=fresh_days, progress=progress)
    store_keys, micros, active = store_keys[~fresh], micros[~fresh], active[~fresh]
    stored = _stored_polls(cursor, micros=micros)
    position = pair_positions(store_keys, micros, stored["store"], stored["ts"] + _PG_EPOCH_MICROS)
    is_new = position < 0
    stored_active = np.zeros(len(position), bool)
    stored_active[~is_new] = stored["active"][position[~is_new]]
    write = is_new | (stored_active != active)
    columns = {"store": store_keys[write], "ts": micros[write], "active": active[write], "is_new": is_new[write]}
    counts.inserted, counts.updated = _write_changes(cursor, columns=columns, progress=None if fresh.any() else progress)
    counts.inserted += int(fresh.sum())
    counts.unchanged = len(keep) - counts.inserted - counts.updated
    return counts


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


def _bulk_insert(cursor, *, columns: dict[str, np.ndarray], days: np.ndarray, progress: Progress | None) -> None:
    """Polls of days with no partition yet, the cheapest correct way: each day's partition
    is made as a plain table, filled by COPY FREEZE (no later pass over every page), given
    its indexes by sorting, and attached (row-by-row index upkeep and a foreign-key check
    per row cost several times more for millions of rows). Only these new tables are
    written: a day loaded into a year of history costs what it costs into an empty table.
    The columns come sorted by (store, timestamp), so each day's rows are a run of them.
    """
    parent = partitions.PARENT
    day_of_row = columns["ts"] // partitions.DAY_MICROS
    order = np.argsort(day_of_row, kind="stable")  # by day, still by (store, timestamp) within one
    edges = np.searchsorted(day_of_row[order], days, side="left").tolist() + [len(order)]
    parts = [partitions.partition_of(day) for day in days]
    # DROP: a day's empty partition (days_to_create) is replaced; a missing one is a no-op.
    cursor.execute("; ".join(
        f"DROP TABLE IF EXISTS {p.name}; CREATE TABLE {p.name} (LIKE {parent} INCLUDING DEFAULTS)" for p in parts
    ))
    for part, low, high in zip(parts, edges[:-1], edges[1:], strict=True):
        rows = order[low:high]
        payload = binary_copy({name: values[rows] for name, values in columns.items()})
        copy_bytes(cursor, f"COPY {part.name} (store_id, timestamp, active) FROM STDIN WITH (FORMAT binary, FREEZE)", payload, progress)
    # The indexes the parent's partitioned indexes expect, so that ATTACH adopts them instead
    # of building its own; ATTACH then checks the foreign key in one join, and the bounds in one scan.
    statements = ["SET LOCAL maintenance_work_mem = '256MB'"]
    for part in parts:
        statements += [
            f"ALTER TABLE {part.name} ADD PRIMARY KEY (id, timestamp)",
            f"CREATE UNIQUE INDEX ON {part.name} (store_id, timestamp) INCLUDE (active)",
            f"CREATE INDEX ON {part.name} (timestamp)",
            f"ALTER TABLE {parent} ATTACH PARTITION {part.name} {part.bounds_sql()}",
            # Fresh statistics for the new rows: the reports' query plans rely on them.
            f"ANALYZE {part.name}",
        ]
    cursor.execute("; ".join(statements))


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


def _write_changes(cursor, *, columns: dict[str, np.ndarray], progress: Progress | None) -> tuple[int, int]:
    """Insert the new polls and update the changed ones; (inserted, updated)."""
    stage_table(cursor, "ingest_poll (store_id bigint, ts timestamptz, active boolean, is_new boolean)")
    copy_bytes(cursor, "COPY ingest_poll FROM STDIN WITH (FORMAT binary)", binary_copy(columns), progress)
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
