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

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from monitoring.access import STAFF, StoreScope
from monitoring.engine import LOOKBACK
from monitoring.reports import poll_copy, poll_window

Result = TypeVar("Result")
# Whether this thread's transaction is a snapshot `snapshot` began (and may share).
_begun_here = threading.local()
# A shard of at least this many stores reads its polls on two connections (_polls_cut).
SPLIT_READ_FROM_STORES = 2_000


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
    scope: StoreScope = STAFF, keys: KeyRange = KeyRange(), store_keys: Sequence[int] | None = None,
) -> ShardInput:
    """The shard's stores in scope, their hours and polls in [since, now] (default since: now - 14 days), one snapshot.

    `store_id` narrows the read to that one store (the store page), so a page
    shows exactly the inputs its report computed from, read the same way. An
    owner's report reads the owner's stores only (SPEC 11), in the same snapshot.
    """
    started = time.perf_counter()
    chosen, params = _store_filter(bounds=bounds, store_id=store_id, scope=scope, store_keys=store_keys)
    where, picks = _keyed(where=chosen, keys=keys, params=params)
    with snapshot() as shareable, connection.cursor() as cursor, ThreadPoolExecutor(max_workers=1) as helper:
        cursor.execute(f"SELECT id, store_id, timezone FROM monitoring_store s WHERE {where}", params)
        stores = pd.DataFrame(cursor.fetchall(), columns=["store", "store_id", "timezone"]).astype({"store": "int64"})
        since = since if since is not None else now - LOOKBACK.to_pytimedelta()
        pieces = poll_window.pieces(since=since, now=now, digested=poll_window.current_digests(cursor, since=since, now=now))
        polls_params = {**params, **poll_window.pieces_params(pieces)}
        cut = _polls_cut(stores["store"].to_numpy()) if shareable else None
        upper = None
        if cut is not None:
            # The upper half's polls on a second connection, in this same snapshot,
            # while this one reads the hours and the lower half.
            upper = helper.submit(
                _polls_in_snapshot,
                exported=_export_snapshot(cursor),
                sql=poll_window.polls_sql(picks=picks, part="{alias}.store_id >= %(cut)s AND", pieces=pieces),
                params={**polls_params, "cut": cut},
            )
        hours = poll_copy.copy_columns(
            cursor,
            f"""SELECT h.store_id, h.weekday, h.start_local, h.end_local
                FROM monitoring_businesshours h JOIN monitoring_store s ON s.id = h.store_id WHERE {where}""",
            params,
            {"store": ">i8", "weekday": ">i2", "start_us": ">i8", "end_us": ">i8"},
        )
        part = "" if cut is None else "{alias}.store_id < %(cut)s AND"
        sql = poll_window.polls_sql(picks=picks, part=part, pieces=pieces)
        halves = [poll_copy.decode_polls(poll_copy.copy_out(cursor, sql, {**polls_params, "cut": cut}))]
        if upper is not None:
            # Lower ids first: the polls stay sorted by (store, timestamp).
            halves.append(upper.result())
        polls = poll_copy.polls_frame(halves)
        cursor.execute(_GENERATION)
        generation = cursor.fetchone()[0]
    return ShardInput(stores=stores, hours=hours, polls=polls, read_seconds=time.perf_counter() - started, generation=generation)


def map_shards(
    compute: Callable[[ShardInput], Result], *, now: datetime, size: int, since: datetime | None = None,
    store_keys: Sequence[int] | None = None,
) -> list[Result]:
    """`compute` of every shard of `size` stores, all read in one snapshot: what needs every
    store (status now, the alert decision) holds one shard's polls at a time, not the fleet's.

    `since` and `store_keys` narrow every read as read_shard's do.
    Inside a caller's transaction (the alert decision's) that transaction is the snapshot.
    With no store at all, `compute` gets one empty read, so its shape is still there.
    When the snapshot may be shared, the next shard is read on a thread of its own, in
    the same snapshot, while `compute` runs on this one (the server's work and the engine
    on the two cores).
    """
    with snapshot() as shareable:
        ranges = key_ranges(size=size, among=store_keys)
        read = partial(read_shard, now=now, since=since, store_keys=store_keys)
        if not shareable or len(ranges) == 1:
            return [compute(read(keys=keys)) for keys in ranges]
        with connection.cursor() as cursor:
            exported = _export_snapshot(cursor)
        results = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-read") as reader:
            ahead = reader.submit(_read_in_snapshot, exported, read=partial(read, keys=ranges[0]))
            for following in [*ranges[1:], None]:
                data = ahead.result()
                if following is not None:
                    ahead = reader.submit(_read_in_snapshot, exported, read=partial(read, keys=following))
                results.append(compute(data))
        return results


def _read_in_snapshot(exported: str, *, read: Callable[[], ShardInput]) -> ShardInput:
    """`read` (a read_shard) in the snapshot another transaction exported; shareable in turn,
    so the read may split its polls."""
    with _imported_snapshot(exported):
        _begun_here.active = True
        try:
            return read()
        finally:
            _begun_here.active = False


@contextmanager
def _imported_snapshot(exported: str) -> Iterator:
    """A cursor of this thread's own connection (Django's `connection` is per thread), in a
    REPEATABLE READ READ ONLY transaction of the `exported` snapshot; the connection is
    closed after. The exporting transaction must stay open until this ends, as SET
    TRANSACTION SNAPSHOT requires: its owner waits for this thread's work inside it."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [exported])
            yield cursor
    finally:
        connection.close()


def key_ranges(*, size: int, among: Sequence[int] | None = None) -> list[KeyRange]:
    """Every store's key (or those `among`) cut every `size` stores, in one query; one unbounded
    range when there are fewer."""
    within = "" if among is None else "WHERE id = ANY(%(among)s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM monitoring_store {within}) numbered
               WHERE n > 0 AND n %% %(size)s = 0 ORDER BY id""",
            {"size": size, "among": list(among or [])},
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


def _polls_in_snapshot(*, exported: str, sql: str, params: dict) -> poll_copy.Polls:
    """The polls `sql` selects, read (binary COPY) on a connection of its own in the `exported`
    snapshot, and decoded here too, so this half's decoding overlaps the other half's read."""
    with _imported_snapshot(exported) as cursor:
        data = poll_copy.copy_out(cursor, sql, params)
    return poll_copy.decode_polls(data)


def _store_filter(
    *, bounds: ShardBounds, store_id: str | None, scope: StoreScope, store_keys: Sequence[int] | None = None,
) -> tuple[str, dict]:
    in_scope, params = scope.store_keys_sql(key="s.id")
    clauses = [in_scope]
    if store_keys is not None:
        clauses.append("s.id = ANY(%(store_keys)s)")
        params["store_keys"] = list(store_keys)
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


