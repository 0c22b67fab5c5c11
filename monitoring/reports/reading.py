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
and, apart, those of its inactive polls, as runs of (length, value) pairs.
The closed days of the window whose digests are current in the snapshot
(monitoring/ingest/digests.py) come from the digests, a row per store and day;
the rest of the window from the poll table. Stores, the only variable-width
text, come from one plain query.
"""
from __future__ import annotations

import io
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from functools import partial
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from monitoring.access import STAFF, StoreScope
from monitoring.engine import LOOKBACK
from monitoring.ingest import digests

Result = TypeVar("Result")
# Whether this thread's transaction is a snapshot `snapshot` began (and may share).
_begun_here = threading.local()
# A shard of at least this many stores reads its polls on two connections (_polls_cut).
SPLIT_READ_FROM_STORES = 2_000

# PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800_000_000
# Binary COPY: 11-byte signature, 4-byte flags, 4-byte header extension length.
_COPY_HEADER_BYTES = 19
_COPY_TRAILER_BYTES = 2
# A timestamp as _polls_sql sends it: its 4-byte length and 8-byte value (ingest/digests.py).
_STAMP = np.dtype([("length", ">i4"), ("value", ">i8")])
_DAY, _MICROSECOND = timedelta(days=1), timedelta(microseconds=1)


@dataclass(frozen=True)
class ShardBounds:
    """Stores with lower <= store_id < upper (None: unbounded on that side).

    The first shard is open below and the last open above, so a store added
    while a report runs still falls in exactly one shard.
    """

    lower: str | None = None
    upper: str | None = None


@dataclass(frozen=True)
class KeyRange:
    """Stores with lower <= id < upper, by their integer key (None: unbounded on that side).

    What needs every store but not the report's order (status now, the alert decision) is
    read in key ranges: each table's scans then read a range of their (store, ...) indexes,
    where a range of store ids, scattered over the keys, descends them once per store.
    """

    lower: int | None = None
    upper: int | None = None


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
    scope: StoreScope = STAFF, keys: KeyRange = KeyRange(),
) -> ShardInput:
    """The shard's stores in scope, their hours and polls in [since, now] (default since: now - 14 days), one snapshot.

    `store_id` narrows the read to that one store (the store page), so a page
    shows exactly the inputs its report computed from, read the same way. An
    owner's report reads the owner's stores only (SPEC 11), in the same snapshot.
    """
    started = time.perf_counter()
    chosen, params = _store_filter(bounds=bounds, store_id=store_id, scope=scope)
    where, picks = _keyed(where=chosen, keys=keys, params=params)
    with snapshot() as shareable, connection.cursor() as cursor, ThreadPoolExecutor(max_workers=1) as helper:
        cursor.execute(f"SELECT id, store_id, timezone FROM monitoring_store s WHERE {where}", params)
        stores = pd.DataFrame(cursor.fetchall(), columns=["store", "store_id", "timezone"]).astype({"store": "int64"})
        since = since if since is not None else now - LOOKBACK.to_pytimedelta()
        pieces = _pieces(since=since, now=now, digested=_current_digests(cursor, since=since, now=now))
        polls_params = {**params, **_pieces_params(pieces)}
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
                sql=_polls_sql(picks=picks, part="{alias}.store_id >= %(cut)s AND", pieces=pieces),
                params={**polls_params, "cut": cut},
            )
        hours = _copy_columns(
            cursor,
            f"""SELECT h.store_id, h.weekday, h.start_local, h.end_local
                FROM monitoring_businesshours h JOIN monitoring_store s ON s.id = h.store_id WHERE {where}""",
            params,
            {"store": ">i8", "weekday": ">i2", "start_us": ">i8", "end_us": ">i8"},
        )
        part = "" if cut is None else "{alias}.store_id < %(cut)s AND"
        sql = _polls_sql(picks=picks, part=part, pieces=pieces)
        halves = [_decode_polls(_copy_out(cursor, sql, {**polls_params, "cut": cut}))]
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
    When the snapshot may be shared, the next shard is read on a thread of its own, in
    the same snapshot, while `compute` runs on this one (the server's work and the engine
    on the two cores).
    """
    with snapshot() as shareable:
        ranges = key_ranges(size=size)
        if not shareable or len(ranges) == 1:
            return [compute(read_shard(keys=keys, now=now)) for keys in ranges]
        with connection.cursor() as cursor:
            exported = _export_snapshot(cursor)
        results = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-read") as reader:
            ahead = reader.submit(_read_in_snapshot, exported, keys=ranges[0], now=now)
            for following in [*ranges[1:], None]:
                data = ahead.result()
                if following is not None:
                    ahead = reader.submit(_read_in_snapshot, exported, keys=following, now=now)
                results.append(compute(data))
        return results


def _read_in_snapshot(exported: str, *, keys: KeyRange, now: datetime) -> ShardInput:
    """read_shard on this thread's own connection, in the snapshot another transaction exported.

    The exporting transaction stays open until this returns (map_shards waits for it).
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [exported])
            _begun_here.active = True  # shareable in turn: read_shard may split its polls
            try:
                return read_shard(keys=keys, now=now)
            finally:
                _begun_here.active = False
    finally:
        connection.close()  # this thread's: Django's `connection` is per thread


def key_ranges(*, size: int) -> list[KeyRange]:
    """Every store's key cut every `size` stores, in one query; one unbounded range when there are fewer."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM monitoring_store) numbered
               WHERE n > 0 AND n %% %(size)s = 0 ORDER BY id""",
            {"size": size},
        )
        cuts = [key for (key,) in cursor.fetchall()]
    return [KeyRange(lower, upper) for lower, upper in zip([None, *cuts], [*cuts, None], strict=True)]


def _keyed(*, where: str, keys: KeyRange, params: dict) -> tuple[str, str]:
    """The store filter with the key range added, and how the polls' and digests' scans pick
    the stores ("{alias}" for the table): a range of their index where a key range is all
    there is to it, else one array of the stores' keys (an InitPlan: one query, and no
    literal list for the planner to estimate)."""
    tests = []
    for name, bound, operator in (("key_lower", keys.lower, ">="), ("key_upper", keys.upper, "<")):
        if bound is not None:
            params[name] = bound
            tests.append(f"{operator} %({name})s")
    picks = "".join(f"{{alias}}.store_id {test} AND " for test in tests)
    if where != "TRUE":
        picks += f"{{alias}}.store_id = ANY(ARRAY(SELECT s.id FROM monitoring_store s WHERE {where})) AND "
    return " AND ".join([where, *(f"s.id {test}" for test in tests)]), picks


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


@dataclass(frozen=True)
class _Piece:
    """A span of the window read one way: the digests of whole days [start, end), or the polls
    in [start, end) (the window's last piece: [start, end], the window being [since, now])."""

    start: datetime
    end: datetime
    digested: bool


def _current_digests(cursor, *, since: datetime, now: datetime) -> list[date]:
    """The days wholly in [since, now] whose digests are current in this snapshot (ingest/digests.py)."""
    first_day = _utc_midnight(since + _DAY - _MICROSECOND).date()  # the first midnight at or after since
    last_day = _utc_midnight(now).date() - _DAY  # the last day ending at or before now
    if first_day > last_day:
        return []
    return digests.current_days(cursor, first_day=first_day, last_day=last_day)


def _utc_midnight(instant: datetime) -> datetime:
    utc = instant.astimezone(dt_timezone.utc)
    return datetime(utc.year, utc.month, utc.day, tzinfo=dt_timezone.utc)


def _pieces(*, since: datetime, now: datetime, digested: list[date]) -> list[_Piece]:
    """[since, now] cut into runs of digested days and the spans of polls around them, in time order."""
    pieces, at = [], since
    for day in digested:
        start = datetime(day.year, day.month, day.day, tzinfo=dt_timezone.utc)
        if pieces and pieces[-1].digested and pieces[-1].end == start:
            pieces[-1] = _Piece(pieces[-1].start, start + _DAY, True)
            at = start + _DAY
            continue
        if at < start:
            pieces.append(_Piece(at, start, False))
        pieces.append(_Piece(start, start + _DAY, True))
        at = start + _DAY
    pieces.append(_Piece(at, now, False))
    return pieces


def _pieces_params(pieces: list[_Piece]) -> dict:
    params = {}
    for n, piece in enumerate(pieces):
        params[f"start_{n}"], params[f"end_{n}"] = (
            (piece.start.date(), piece.end.date()) if piece.digested else (piece.start, piece.end)
        )
    return params


def _polls_sql(*, picks: str, part: str, pieces: list[_Piece]) -> str:
    """The polls of the stores `picks` selects (and `part` of them) over the window's `pieces`: one row per store.

    Each row is the store, then its timestamps and, apart, those of its inactive
    polls, as runs of (length, value) pairs (ingest/digests.py: the bytes of a
    binary array without its header), in time order: the pieces' bytes joined in
    their order. A digested piece is about one stored row per store and day. A
    piece of polls is one pass over its day partitions: each partition's (store,
    timestamp) index, which carries the status, scanned in its order and merged on
    (store, timestamp), so each store's polls arrive sorted and a GroupAggregate
    packs them without a sort. A poll is inactive about one time in nine, so the
    second run is short (_keyed: how the stores are picked). docs/performance.md
    has the shapes measured.
    """
    branches = []
    for n, piece in enumerate(pieces):
        alias = "d" if piece.digested else "p"
        stores, in_part = picks.replace("{alias}", alias), part.replace("{alias}", alias)
        if piece.digested:
            branches.append(
                f"""SELECT store_id, {n} AS piece, string_agg(stamps, ''::bytea) AS stamps,
                    string_agg(inactive, ''::bytea) AS inactive FROM (
                    SELECT d.store_id, d.stamps, d.inactive FROM monitoring_polldigest d
                    WHERE {stores} {in_part} d.day >= %(start_{n})s AND d.day < %(end_{n})s
                    ORDER BY d.store_id, d.day
                ) days GROUP BY store_id"""
            )
            continue
        until = "<=" if n == len(pieces) - 1 else "<"
        # array_agg keeps the order of the ordered subquery's rows (PostgreSQL 15 has
        # no presorted aggregate input: an ORDER BY inside array_agg would sort again).
        branches.append(
            f"""SELECT store_id, {n} AS piece, {digests.PACKED_STAMPS} AS stamps,
                    {digests.PACKED_INACTIVE} AS inactive FROM (
                SELECT p.store_id, p.timestamp, p.active FROM monitoring_statuspoll p
                WHERE {stores} {in_part} p.timestamp >= %(start_{n})s AND p.timestamp {until} %(end_{n})s
                ORDER BY p.store_id, p.timestamp
            ) polls GROUP BY store_id"""
        )
    # string_agg joins each store's pieces in the subquery's order, and a piece's days in theirs.
    return f"""
        SELECT store_id, string_agg(stamps, ''::bytea), string_agg(inactive, ''::bytea) FROM (
            {" UNION ALL ".join(branches)}
            ORDER BY 1, 2
        ) pieces
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

    One pass over the rows finds each store's two runs of (length, value) pairs;
    the runs are joined and numpy reads the pairs in one go. Each inactive
    timestamp is then found among its store's polls, whose status it clears.
    """
    stores, counts, stamps, inactive_counts, inactive = [], [], [], [], []
    view, unpack = memoryview(data), struct.unpack_from
    at, end = _COPY_HEADER_BYTES, len(data) - _COPY_TRAILER_BYTES
    while at < end:
        # Row: field count, then length + value of: store (int8), stamps (bytea), inactive (bytea or NULL: -1).
        store, stamps_bytes = unpack(">qi", view, at + 6)
        at += 18
        stores.append(store)
        counts.append(stamps_bytes)
        stamps.append(view[at : at + stamps_bytes])
        at += stamps_bytes
        inactive_bytes = unpack(">i", view, at)[0]
        at += 4
        if inactive_bytes < 0:
            inactive_counts.append(0)
            continue
        inactive_counts.append(inactive_bytes)
        inactive.append(view[at : at + inactive_bytes])
        at += inactive_bytes
    if not stores:
        return _Polls(store=np.empty(0, np.int64), ts=np.empty(0, np.int64), active=np.empty(0, bool))
    stamps_us, inactive_us = _pairs_values(stamps), _pairs_values(inactive)
    counts, inactive_counts = _pair_counts(counts), _pair_counts(inactive_counts)
    rows = np.arange(len(stores), dtype=np.int64)
    where = _positions_of(rows.repeat(counts), stamps_us, rows.repeat(inactive_counts), inactive_us)
    if not np.array_equal(stamps_us[np.minimum(where, stamps_us.size - 1)], inactive_us):
        raise ValueError("COPY of polls: an inactive poll is not among its store's sorted polls")
    active = np.ones(stamps_us.size, dtype=bool)
    active[where] = False
    stamps_us += _PG_EPOCH_US
    stamps_us *= 1_000
    return _Polls(store=np.array(stores, dtype=np.int64).repeat(counts), ts=stamps_us, active=active)


def _pairs_values(runs: list[memoryview]) -> np.ndarray:
    """Runs of big-endian (length, value) pairs as one native int64 array of their values, checked."""
    pairs = np.frombuffer(b"".join(runs), _STAMP)
    if not (pairs["length"] == _STAMP["value"].itemsize).all():
        raise ValueError("COPY of polls: a timestamp that is NULL or not 8 bytes")
    return pairs["value"].astype(np.int64)


def _pair_counts(sizes: list[int]) -> np.ndarray:
    """How many (length, value) pairs each run of `sizes` bytes holds, checked."""
    sizes = np.array(sizes, dtype=np.int64)
    if (sizes % _STAMP.itemsize).any():
        raise ValueError("COPY of polls: a store's timestamps are not whole (length, value) pairs")
    return sizes // _STAMP.itemsize


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
def snapshot(*, read_write: bool = False) -> Iterator[bool]:
    """One REPEATABLE READ transaction around all reads of a shard (or of a whole decision).

    Yields whether other connections may share it (pg_export_snapshot): a snapshot
    begun here may, as may any read nested in it (map_shards' shards). Inside a
    caller's own transaction (a test case) the isolation level can no longer be set,
    the caller's transaction is the snapshot, and its uncommitted rows would be
    invisible to another connection. `read_write` for the alert decision, which
    writes its events after its reads, once no other connection shares it.
    """
    if connection.in_atomic_block:
        yield getattr(_begun_here, "active", False)
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ{'' if read_write else ' READ ONLY'}")
        _begun_here.active = True
        try:
            yield True
        finally:
            _begun_here.active = False


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
