"""A report's inputs, read from PostgreSQL as whole columns.

A report is computed in shards: contiguous ranges of store_id in code-point
order (COLLATE "C", the report's own order), so the shards' CSV rows joined in
shard order are the report. Each shard reads each of the three tables once,
inside one REPEATABLE READ READ ONLY transaction, so its stores, hours and
polls are one snapshot even while an ingestion commits. A shard of many stores
reads the upper half of its stores' polls on a second connection at the same
time (two cores: the server's work on both halves overlaps); that connection
imports the first one's snapshot (pg_export_snapshot, SET TRANSACTION
SNAPSHOT), so the shard is still one snapshot. Across the shards of
one report (read one after the other, the next while the engine computes this
one, or by several Celery workers), each shard also reads the load generation
of its snapshot (the latest successful IngestRun): a report records the
generation it started at with its `now`, and a shard that read another
generation is read again, so every shard of a report reads one state of the
data, never some before and some after a load.

Hours and polls travel as binary COPY, read by numpy without parsing text:
hours as fixed-width rows, polls as one row per store holding its timestamps
and, apart, those of its inactive polls as arrays. Stores, the only
variable-width text, come from one plain query.
"""
from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from monitoring.access import STAFF, StoreScope
from monitoring.engine import LOOKBACK

Result = TypeVar("Result")
# A shard of at least this many stores reads its polls on two connections (_polls_cut).
SPLIT_READ_FROM_STORES = 2_000

# PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800_000_000
# Binary COPY: 11-byte signature, 4-byte flags, 4-byte header extension length.
_COPY_HEADER_BYTES = 19
_COPY_TRAILER_BYTES = 2
# A one-dimensional binary array: dimensions, null flag, element type, length,
# lower bound (4 bytes each), then each element as its length and value.
_ARRAY_HEADER_BYTES = 20
_STAMP = np.dtype([("length", ">i4"), ("value", ">i8")])


@dataclass(frozen=True)
class ShardBounds:
    """Stores with lower <= store_id < upper (None: unbounded on that side).

    The first shard is open below and the last open above, so a store added
    while a report runs still falls in exactly one shard.
    """

    lower: str | None = None
    upper: str | None = None


@dataclass(frozen=True)
class ShardRange:
    index: int
    first_store_id: str
    last_store_id: str


@dataclass
class ShardInput:
    stores: pd.DataFrame  # store int64, store_id str, timezone str ('' = default zone)
    hours: pd.DataFrame  # store int64, weekday int, start_us int64, end_us int64
    polls: pd.DataFrame  # store int64, ts int64 ns since the epoch, active bool
    read_seconds: float
    generation: int  # the load generation of the snapshot read (see report_basis)


@dataclass(frozen=True)
class ReportBasis:
    """What every shard of one report is read against: its `now`, and the data state (load generation)."""

    now: datetime
    generation: int


# Loads never interleave (ingest/load.py's advisory lock) and each file's rows commit in the
# transaction that writes its IngestRun row, so the latest successful run visible in a snapshot
# names the state of the data in it. A skipped file's run counts too: at worst a needless re-read.
_GENERATION = "SELECT coalesce(max(id), 0) FROM monitoring_ingestrun WHERE succeeded"


def report_basis(*, as_of: datetime | None) -> ReportBasis:
    """The report's `now` (report_now) and the load generation, from one statement: one snapshot."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ({_GENERATION}), (SELECT max(timestamp) FROM monitoring_statuspoll)")
        generation, latest = cursor.fetchone()
    return ReportBasis(now=as_of if as_of is not None else latest or timezone.now(), generation=generation)


def report_now(*, as_of: datetime | None) -> datetime:
    """The report's reference instant (SPEC 4): `as_of` itself, or else the latest poll.

    With no poll at all, the current time (every figure is then 0).
    """
    if as_of is not None:
        return as_of
    return latest_poll() or timezone.now()


def latest_poll() -> datetime | None:
    """The latest poll's timestamp: max() walks the poll_timestamp index backwards, one row read."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(timestamp) FROM monitoring_statuspoll")
        return cursor.fetchone()[0]


def shard_ranges(*, size: int, scope: StoreScope = STAFF) -> list[ShardRange]:
    """Every store in scope in code-point order, cut every `size` stores, in one query."""
    in_scope, params = scope.store_keys_sql(key="s.id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (n / %(size)s)::int AS shard, min(store_id), max(store_id)
            FROM (
                SELECT store_id, row_number() OVER (ORDER BY store_id) - 1 AS n, count(*) OVER () AS total
                FROM monitoring_store s WHERE {in_scope}
            ) numbered
            WHERE n %% %(size)s = 0 OR n %% %(size)s = %(size)s - 1 OR n = total - 1
            GROUP BY shard ORDER BY shard
            """,
            {"size": size, **params},
        )
        return [ShardRange(index, first, last) for index, first, last in cursor.fetchall()]


def bounds_of(ranges: list[ShardRange], index: int) -> ShardBounds:
    """Read bounds of shard `index`: from its first store up to the next shard's first."""
    lower = ranges[index].first_store_id if index > 0 else None
    upper = ranges[index + 1].first_store_id if index + 1 < len(ranges) else None
    return ShardBounds(lower, upper)


def read_shard(
    *, bounds: ShardBounds = ShardBounds(), now: datetime, store_id: str | None = None, since: datetime | None = None,
    scope: StoreScope = STAFF,
) -> ShardInput:
    """The shard's stores in scope, their hours and polls in [since, now] (default since: now - 14 days), one snapshot.

    `store_id` narrows the read to that one store (the store page), so a page
    shows exactly the inputs its report computed from, read the same way. An
    owner's report reads the owner's stores only (SPEC 11), in the same snapshot.
    """
    started = time.perf_counter()
    where, params = _store_filter(bounds=bounds, store_id=store_id, scope=scope)
    with _snapshot() as shareable, connection.cursor() as cursor, ThreadPoolExecutor(max_workers=1) as helper:
        cursor.execute(f"SELECT id, store_id, timezone FROM monitoring_store s WHERE {where}", params)
        stores = pd.DataFrame(cursor.fetchall(), columns=["store", "store_id", "timezone"]).astype({"store": "int64"})
        since = since if since is not None else now - LOOKBACK.to_pytimedelta()
        polls_params = {**params, "since": since, "now": now}
        cut = _polls_cut(stores["store"].to_numpy()) if shareable else None
        upper = None
        if cut is not None:
            # The upper half's polls on a second connection, in this same snapshot,
            # while this one reads the hours and the lower half.
            upper = helper.submit(
                _polls_in_snapshot,
                # This thread's connection settings: Django's `connection` is per thread.
                connect=partial(connection.get_new_connection, connection.get_connection_params()),
                snapshot=_export_snapshot(cursor),
                sql=_polls_sql(where=where, part="p.store_id >= %(cut)s AND"),
                params={**polls_params, "cut": cut},
            )
        hours = _copy_columns(
            cursor,
            f"""SELECT h.store_id, h.weekday, h.start_local, h.end_local
                FROM monitoring_businesshours h JOIN monitoring_store s ON s.id = h.store_id WHERE {where}""",
            params,
            {"store": ">i8", "weekday": ">i2", "start_us": ">i8", "end_us": ">i8"},
        )
        part = "" if cut is None else "p.store_id < %(cut)s AND"
        halves = [_decode_polls(_copy_out(cursor, _polls_sql(where=where, part=part), {**polls_params, "cut": cut}))]
        if upper is not None:
            # Lower ids first: the polls stay sorted by (store, timestamp).
            halves.append(upper.result())
        polls = _polls_frame(halves)
        cursor.execute(_GENERATION)
        generation = cursor.fetchone()[0]
    return ShardInput(stores=stores, hours=hours, polls=polls, read_seconds=time.perf_counter() - started, generation=generation)


def map_shards(compute: Callable[[ShardInput], Result], *, now: datetime, size: int) -> list[Result]:
    """`compute` of every shard of `size` stores, all read in one snapshot: what needs every
    store (status now, the alert decision) holds one shard's polls at a time, not the fleet's.

    Inside a caller's transaction (the alert decision's) that transaction is the snapshot.
    With no store at all, `compute` gets one empty read, so its shape is still there.
    """
    with _snapshot():
        ranges = shard_ranges(size=size)
        bounds = [bounds_of(ranges, index) for index in range(len(ranges))] or [ShardBounds()]
        return [compute(read_shard(bounds=shard, now=now)) for shard in bounds]


def _polls_cut(ids: np.ndarray) -> int | None:
    """The store id that halves a shard's polls read, or None to read them on one connection.

    Two connections because the server's scan and COPY of the polls is most of a
    read and this machine has two cores (docs/performance.md, "Reading the
    polls"); below SPLIT_READ_FROM_STORES stores a second connection's start costs
    more than it saves.
    """
    if len(ids) < SPLIT_READ_FROM_STORES:
        return None
    return int(np.partition(ids, len(ids) // 2)[len(ids) // 2])


def _export_snapshot(cursor) -> str:
    cursor.execute("SELECT pg_export_snapshot()")
    return cursor.fetchone()[0]


def _polls_in_snapshot(*, connect: Callable[[], Any], snapshot: str, sql: str, params: dict) -> _Polls:
    """The polls `sql` selects, read (binary COPY) on a connection of its own in the exported `snapshot`.

    Decoded here too, so this half's decoding overlaps the other half's read.

    The exporting transaction stays open until this returns (read_shard waits for
    it inside the snapshot), as SET TRANSACTION SNAPSHOT requires.
    """
    raw = connect()
    try:
        raw.autocommit = True  # the transaction is begun by hand, with its isolation level
        with raw.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            data = _copy_out(cursor, sql, params)
    finally:
        raw.close()
    return _decode_polls(data)


def _polls_sql(*, where: str, part: str) -> str:
    """The polls of the stores `where` selects (and `part` of them), in [since, now]: one row per store.

    One pass over the time range: each day partition's (store, timestamp)
    index, which carries the status, is scanned once in its order and the
    partitions' scans are merged on (store, timestamp), so each store's polls
    arrive together and sorted and one GroupAggregate turns them into two
    arrays without a sort: all its timestamps, and the timestamps of its
    inactive polls (NULL when there is none). A poll is inactive about one time
    in nine, so the second array is short: the server builds and sends one
    element per poll, where a status array beside the timestamps cost it about
    a fifth more (docs/performance.md). A per-store LATERAL probe would instead
    descend the 15 partitions' indexes once per store (measured about 1.6 times
    slower). About 250 polls travel per COPY row, so the client's cost per row
    is paid per store. A shard narrower than all stores passes its store ids as
    one array the index scans look up (an InitPlan: one query, and no literal
    list for the planner to estimate).
    """
    stores = "" if where == "TRUE" else f"p.store_id = ANY(ARRAY(SELECT s.id FROM monitoring_store s WHERE {where})) AND"
    # array_agg keeps the order of the ordered subquery's rows (PostgreSQL 15 has
    # no presorted aggregate input: an ORDER BY inside array_agg would sort again).
    return f"""
        SELECT store_id, array_agg(timestamp), array_agg(timestamp) FILTER (WHERE NOT active) FROM (
            SELECT p.store_id, p.timestamp, p.active FROM monitoring_statuspoll p
            WHERE {stores} {part} p.timestamp >= %(since)s AND p.timestamp <= %(now)s
            ORDER BY p.store_id, p.timestamp
        ) polls
        GROUP BY store_id"""


@dataclass(frozen=True)
class _Polls:
    """Polls as three arrays, sorted by (store, timestamp)."""

    store: np.ndarray  # int64
    ts: np.ndarray  # int64 ns since the epoch
    active: np.ndarray  # bool


def _polls_frame(parts: list[_Polls]) -> pd.DataFrame:
    """The polls of `parts`, in their order, as one frame."""
    columns = {name: np.concatenate([getattr(part, name) for part in parts]) for name in ("store", "ts", "active")}
    return pd.DataFrame(columns, copy=False)  # the arrays become the columns as they are


def _decode_polls(data: bytes) -> _Polls:
    """The binary COPY of _polls_sql as arrays, sorted by (store, timestamp).

    One pass over the rows finds each store's two arrays, whose elements (a
    4-byte length and an 8-byte value each) numpy reads in place; each inactive
    timestamp is then found among its store's polls, whose status it clears.
    """
    stores, counts, stamps, inactive_counts, inactive = [], [], [], [], []
    view, unpack = memoryview(data), struct.unpack_from
    at, end = _COPY_HEADER_BYTES, len(data) - _COPY_TRAILER_BYTES
    while at < end:
        # Row: field count, then length + value of: store (int8), timestamp[], timestamp[] or NULL (-1).
        store, stamps_bytes = unpack(">qi", view, at + 6)
        at += 18
        stores.append(store)
        counts.append(_array_count(view, at, stamps_bytes, store))
        stamps.append(np.frombuffer(view, _STAMP, counts[-1], at + _ARRAY_HEADER_BYTES)["value"])
        at += stamps_bytes
        inactive_bytes = unpack(">i", view, at)[0]
        at += 4
        if inactive_bytes < 0:
            inactive_counts.append(0)
            continue
        inactive_counts.append(_array_count(view, at, inactive_bytes, store))
        inactive.append(np.frombuffer(view, _STAMP, inactive_counts[-1], at + _ARRAY_HEADER_BYTES)["value"])
        at += inactive_bytes
    if not stores:
        return _Polls(store=np.empty(0, np.int64), ts=np.empty(0, np.int64), active=np.empty(0, bool))
    stamps_us, inactive_us = _joined(stamps), _joined(inactive)
    counts, inactive_counts = np.array(counts, dtype=np.int64), np.array(inactive_counts, dtype=np.int64)
    rows = np.arange(len(stores), dtype=np.int64)
    where = _positions_of(rows.repeat(counts), stamps_us, rows.repeat(inactive_counts), inactive_us)
    if not np.array_equal(stamps_us[np.minimum(where, stamps_us.size - 1)], inactive_us):
        raise ValueError("COPY of polls: an inactive poll is not among its store's sorted polls")
    active = np.ones(stamps_us.size, dtype=bool)
    active[where] = False
    stamps_us += _PG_EPOCH_US
    stamps_us *= 1_000
    return _Polls(store=np.array(stores, dtype=np.int64).repeat(counts), ts=stamps_us, active=active)


def _joined(values: list[np.ndarray]) -> np.ndarray:
    """Big-endian int64 pieces as one native int64 array."""
    return np.concatenate(values).astype(np.int64) if values else np.empty(0, np.int64)


def _array_count(data: memoryview, at: int, size: int, store: int) -> int:
    """The element count of the one-dimensional timestamp array of `size` bytes at `at`, checked."""
    count = struct.unpack_from(">i", data, at + _ARRAY_HEADER_BYTES - 8)[0]
    if size != _ARRAY_HEADER_BYTES + _STAMP.itemsize * count:
        raise ValueError(f"COPY of polls: store {store}'s arrays are not {count} plain values")
    return count


def _positions_of(rows: np.ndarray, stamps: np.ndarray, wanted_rows: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each (row, timestamp) of `wanted` sits among (rows, stamps), both sorted by row then timestamp.

    One searchsorted over keys row x span + (timestamp - first), in slices of rows
    small enough for the keys to fit in an int64 (one slice for any real read).
    """
    if not wanted.size:
        return np.empty(0, dtype=np.int64)
    first, span = int(stamps.min()), int(stamps.max() - stamps.min()) + 1
    rows_per_slice = max(1, (1 << 62) // span)
    positions = []
    for low in range(0, int(rows[-1]) + 1, rows_per_slice):
        high = low + rows_per_slice
        start, stop = np.searchsorted(rows, [low, high])
        wanted_start, wanted_stop = np.searchsorted(wanted_rows, [low, high])
        keys = (rows[start:stop] - low) * span + (stamps[start:stop] - first)
        wanted_keys = (wanted_rows[wanted_start:wanted_stop] - low) * span + (wanted[wanted_start:wanted_stop] - first)
        positions.append(start + np.searchsorted(keys, wanted_keys))
    return np.concatenate(positions)


def _store_filter(*, bounds: ShardBounds, store_id: str | None, scope: StoreScope) -> tuple[str, dict]:
    in_scope, params = scope.store_keys_sql(key="s.id")
    clauses = [in_scope]
    if store_id is not None:
        # The unique index on store_id finds the one store; the polls' index
        # scans then look up its id alone.
        clauses.append("s.store_id = %(store_id)s")
        params["store_id"] = store_id
    if bounds.lower is not None:
        clauses.append("s.store_id >= %(lower)s")
        params["lower"] = bounds.lower
    if bounds.upper is not None:
        clauses.append("s.store_id < %(upper)s")
        params["upper"] = bounds.upper
    return " AND ".join(clauses), params


@contextmanager
def _snapshot() -> Iterator[bool]:
    """One REPEATABLE READ READ ONLY transaction around all reads of a shard.

    Yields whether other connections may share it (pg_export_snapshot): inside a
    caller's transaction (a test case) the isolation level can no longer be set,
    the caller's transaction is the snapshot, and its uncommitted rows would be
    invisible to another connection.
    """
    if connection.in_atomic_block:
        yield False
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield True


def _copy_columns(cursor, sql: str, params: dict, columns: dict[str, str]) -> pd.DataFrame:
    """Run `sql` through binary COPY and read its NOT NULL fixed-width columns.

    Each row is an int16 field count, then per field an int32 length and the
    value, all big-endian: a numpy record type reads the whole buffer at once.
    """
    data = _copy_out(cursor, sql, params)
    fields = [("fields", ">i2")]
    for name, kind in columns.items():
        fields += [(f"{name}_len", ">i4"), (name, kind)]
    row = np.dtype(fields)
    count = (len(data) - _COPY_HEADER_BYTES - _COPY_TRAILER_BYTES) // row.itemsize
    rows = np.frombuffer(data, dtype=row, count=count, offset=_COPY_HEADER_BYTES)
    for name, kind in columns.items():
        if count and not (rows[f"{name}_len"] == np.dtype(kind).itemsize).all():
            raise ValueError(f"COPY of {name}: a NULL or a value of unexpected width")
    return pd.DataFrame({name: rows[name].astype(np.dtype(kind).newbyteorder("=")) for name, kind in columns.items()})


def _copy_out(cursor, sql: str, params: dict) -> bytes:
    """The rows of `sql` in PostgreSQL's binary COPY format."""
    statement = cursor.mogrify(sql, params).decode()
    buffer = io.BytesIO()
    cursor.copy_expert(f"COPY ({statement}) TO STDOUT WITH (FORMAT binary)", buffer)
    return buffer.getvalue()
