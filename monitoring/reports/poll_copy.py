"""Binary COPY read by numpy: fixed-width rows, and the polls' runs of (length, value) pairs.

`COPY (SELECT ...) TO STDOUT WITH (FORMAT binary)` sends each row as an int16 field
count, then per field an int32 length and the value, all big-endian: fixed-width rows
are one numpy record type over the whole buffer; the polls' rows (a store, then two
byte strings of timestamps) are walked once and their runs joined and read in one go.
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
import pandas as pd

# PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800_000_000
# Binary COPY: 11-byte signature, 4-byte flags, 4-byte header extension length.
_COPY_HEADER_BYTES = 19
_COPY_TRAILER_BYTES = 2
# A timestamp as poll_window.polls_sql sends it: its 4-byte length and 8-byte value (ingest/digests.py).
_STAMP = np.dtype([("length", ">i4"), ("value", ">i8")])


@dataclass(frozen=True)
class Polls:
    """Polls as three arrays, sorted by (store, timestamp)."""

    store: np.ndarray  # int64
    ts: np.ndarray  # int64 ns since the epoch
    active: np.ndarray  # bool


def polls_frame(parts: list[Polls]) -> pd.DataFrame:
    """The polls of `parts`, in their order, as one frame."""
    columns = {name: np.concatenate([getattr(part, name) for part in parts]) for name in ("store", "ts", "active")}
    return pd.DataFrame(columns, copy=False)  # the arrays become the columns as they are


def decode_polls(data: bytes) -> Polls:
    """The binary COPY of poll_window.polls_sql as arrays, sorted by (store, timestamp).

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
        return Polls(store=np.empty(0, np.int64), ts=np.empty(0, np.int64), active=np.empty(0, bool))
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
    return Polls(store=np.array(stores, dtype=np.int64).repeat(counts), ts=stamps_us, active=active)


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


def copy_columns(cursor, sql: str, params: dict, columns: dict[str, str]) -> pd.DataFrame:
    """Run `sql` through binary COPY and read its NOT NULL fixed-width columns.

    Each row is an int16 field count, then per field an int32 length and the
    value, all big-endian: a numpy record type reads the whole buffer at once.
    """
    data = copy_out(cursor, sql, params)
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


def copy_out(cursor, sql: str, params: dict) -> bytes:
    """The rows of `sql` in PostgreSQL's binary COPY format."""
    statement = cursor.mogrify(sql, params).decode()
    buffer = io.BytesIO()
    cursor.copy_expert(f"COPY ({statement}) TO STDOUT WITH (FORMAT binary)", buffer)
    return buffer.getvalue()
