"""A read's window [since, now] in pieces: runs of digested days, and the spans of polls between them.

The closed days whose digests are current in the reader's snapshot
(monitoring/ingest/digests.py) are read from the digests, a row per store and day;
the rest of the window, the cut first day, the open day and any day changed since
its digest, from the poll table. One query reads every piece, and joins each store's
pieces in time order into one row.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

from monitoring.ingest import digests, partitions

_DAY = timedelta(days=1)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Piece:
    """A span of the window read one way: the digests of whole days [start, end), or the polls
    in [start, end) (the window's last piece: [start, end], the window being [since, now])."""

    start: datetime
    end: datetime
    digested: bool


def current_digests(cursor, *, since: datetime, now: datetime) -> list[date]:
    """The days wholly in [since, now] whose digests are current in this snapshot (ingest/digests.py)."""
    first_day = partitions.utc_midnight(since + _DAY - _MICROSECOND).date()  # the first midnight at or after since
    last_day = partitions.utc_midnight(now).date() - _DAY  # the last day ending at or before now
    if first_day > last_day:
        return []
    return digests.current_days(cursor, first_day=first_day, last_day=last_day)


def pieces(*, since: datetime, now: datetime, digested: list[date]) -> list[Piece]:
    """[since, now] cut into runs of digested days and the spans of polls around them, in time order."""
    pieces, at = [], since
    for day in digested:
        start = datetime(day.year, day.month, day.day, tzinfo=dt_timezone.utc)
        if pieces and pieces[-1].digested and pieces[-1].end == start:
            pieces[-1] = Piece(pieces[-1].start, start + _DAY, True)
            at = start + _DAY
            continue
        if at < start:
            pieces.append(Piece(at, start, False))
        pieces.append(Piece(start, start + _DAY, True))
        at = start + _DAY
    pieces.append(Piece(at, now, False))
    return pieces


def pieces_params(pieces: list[Piece]) -> dict:
    params = {}
    for n, piece in enumerate(pieces):
        params[f"start_{n}"], params[f"end_{n}"] = (
            (piece.start.date(), piece.end.date()) if piece.digested else (piece.start, piece.end)
        )
    return params


def polls_sql(*, picks: str, part: str, pieces: list[Piece]) -> str:
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
