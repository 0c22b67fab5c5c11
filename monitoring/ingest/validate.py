"""Validating the columns of a parsed source as whole arrays (SPEC 1).

Each check looks at one column of every row at once and flags the rows that fail
it; a row is rejected for the first failing column only (one reason per row, in
the order of the checks). Python loops run over the rejected rows alone, or over
the distinct timezone names. Pure pandas/pyarrow: no Django.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.engine.zones import is_timezone_name
from monitoring.models import CONTROL_CHARACTER, OWNER_MAX_CHARS

UTC_MICROS = pa.timestamp("us", tz="UTC")
_TIME = r"^(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?$"
# The timestamp shapes of SPEC 1 (once a trailing "UTC" is cut off). Checked first,
# because the parsers alone are lenient: pandas reads "now" as the current time and
# "2023" as a New Year's midnight, which would load as real polls.
_TIMESTAMP = r"^(?P<local>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)\s*(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?$"
# Every store id becomes a key of a unique index, whose entries PostgreSQL caps at
# 2704 bytes: 255 characters (at most 1020 bytes of UTF-8) stays well below.
STORE_ID_MAX_CHARS = 255
# "." and ".." name the folder itself or its parent in a URL path, also percent-encoded
# ("%2e%2e", WHATWG URL): a browser resolves a link to such a store page away. Nothing else is.
DOT_SEGMENTS = (".", "..")
VALUE_SHOWN_CHARS = 80  # of a bad value quoted in a reason (the raw row keeps more)


@dataclass
class RowProblems:
    """The outcome of validation: typed good rows, which rows they were, and why the others failed."""

    good_rows: pa.Table
    good_mask: np.ndarray
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (row index, column, reason)


class _Checks:
    def __init__(self, rows: int) -> None:
        self.bad = np.zeros(rows, bool)
        self.rejected: list[tuple[int, str, str]] = []

    def flag(self, failed: np.ndarray, *, column: str, values: pa.Array, reason: str) -> None:
        """Reject the rows in `failed` not rejected yet; `reason` may use {value} (quoted, shortened)."""
        new = np.flatnonzero(np.asarray(failed) & ~self.bad)
        if not len(new):
            return
        for index, value in zip(new.tolist(), values.take(pa.array(new)).to_pylist(), strict=True):
            self.rejected.append((index, column, reason.format(value=_shown(value))))
        self.bad[new] = True

    def result(self, columns: dict[str, pa.Array]) -> RowProblems:
        good = ~self.bad
        table = pa.table(columns).filter(pa.array(good)) if self.bad.any() else pa.table(columns)
        return RowProblems(good_rows=table, good_mask=good, rejected=self.rejected)


def validate_columns(table: pa.Table, *, kind: str) -> RowProblems:
    """Typed good rows of a polls, hours, timezones or owners table of strings, and the rejected rows."""
    checks = _Checks(table.num_rows)
    store_ids = table.column("store_id").combine_chunks()
    _flag_names(checks, store_ids, stored=store_ids, column="store_id", noun="store id", max_chars=STORE_ID_MAX_CHARS)
    dot_segment = _numpy(pc.is_in(store_ids, value_set=pa.array(DOT_SEGMENTS)))
    checks.flag(dot_segment, column="store_id", values=store_ids, reason="store id {value} is a URL dot segment: no link can name it")
    validate = {"polls": _polls, "hours": _hours, "timezones": _timezones, "owners": _owners}[kind]
    return checks.result({"store_id": store_ids, **validate(table, checks)})


def _flag_names(checks: _Checks, values: pa.Array, *, stored: pa.Array, column: str, noun: str, max_chars: int) -> None:
    """What a store id and an owner must both be: not blank, free of control characters, not too long.

    `stored` is the value as it would be stored (an owner trimmed, a store id as written);
    the reasons quote `values`, as the file writes them.
    """
    checks.flag(_is_blank(values), column=column, values=values, reason=f"empty {noun}")
    checks.flag(_numpy(pc.match_substring_regex(stored, CONTROL_CHARACTER)), column=column, values=values,
                reason=f"control character (NUL, tab, line break, ...) in {noun} {{value}}")
    too_long = _numpy(pc.greater(pc.utf8_length(stored), max_chars))
    checks.flag(too_long, column=column, values=values, reason=f"{noun} longer than {max_chars} characters: {{value}}")


def _polls(table: pa.Table, checks: _Checks) -> dict[str, pa.Array]:
    status = table.column("status").combine_chunks()
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(status))
    active = pc.equal(lowered, "active")
    known = pc.or_(active, pc.equal(lowered, "inactive"))
    checks.flag(_numpy(pc.invert(known)), column="status", values=status, reason="unknown status {value}")
    stamps_text = table.column("timestamp_utc").combine_chunks()
    stamps = parse_utc(stamps_text)
    checks.flag(_numpy(stamps.is_null()), column="timestamp_utc", values=stamps_text, reason="unparsable timestamp {value}")
    return {"timestamp": stamps, "active": active}


def _hours(table: pa.Table, checks: _Checks) -> dict[str, pa.Array]:
    day_text = table.column("day").combine_chunks()
    trimmed = pc.utf8_trim_whitespace(day_text)
    integer = pc.match_substring_regex(trimmed, r"^[+-]?\d{1,4}$")
    day = pc.cast(pc.if_else(integer, trimmed, pa.scalar(None, pa.string())), pa.int16())
    checks.flag(_numpy(pc.invert(integer)), column="day", values=day_text, reason="unparsable day {value}")
    outside = pc.fill_null(pc.or_(pc.less(day, 0), pc.greater(day, 6)), False)
    checks.flag(_numpy(outside), column="day", values=day_text, reason="day outside 0-6: {value}")
    columns = {"weekday": pc.fill_null(day, 0)}
    for column, name in (("start_time_local", "start_local"), ("end_time_local", "end_local")):
        text = table.column(column).combine_chunks()
        times = parse_local_times(text)
        checks.flag(_numpy(times.is_null()), column=column, values=text, reason="unparsable time {value}")
        columns[name] = times
    return columns


def _timezones(table: pa.Table, checks: _Checks) -> dict[str, pa.Array]:
    text = table.column("timezone_str").combine_chunks()
    names = pc.utf8_trim_whitespace(text)
    # The engine's own check: a zone accepted here is one a report uses, never swapped for the default.
    valid = pa.array([name for name in pc.unique(names).to_pylist() if is_timezone_name(name)], pa.string())
    known = pc.is_in(names, value_set=valid)
    checks.flag(_numpy(pc.invert(known)), column="timezone_str", values=text, reason="unknown timezone name {value}")
    return {"timezone": names}


def _owners(table: pa.Table, checks: _Checks) -> dict[str, pa.Array]:
    text = table.column("owner").combine_chunks()
    # Trimmed, as a status or a zone name is: " brand-01" in a hand-edited file is brand-01.
    owners = pc.utf8_trim_whitespace(text)
    _flag_names(checks, text, stored=owners, column="owner", noun="owner", max_chars=OWNER_MAX_CHARS)
    return {"owner": owners}


def parse_utc(text: pa.Array) -> pa.Array:
    """UTC instants of SPEC 1's timestamp formats; null where the text is not one.

    Fast path: the real files' 'YYYY-MM-DD HH:MM:SS.ffffff UTC' becomes an ISO 8601
    text with 'Z' that pyarrow casts in C. Any other mix goes through pandas' ISO 8601
    parser, each text first written with an explicit offset ('+00:00' for no zone, 'Z'
    or 'UTC'): in a column that mixes times with and without an offset, pandas 2.3
    reads a time without one in the offset of the time before it (2 hours off after
    a '+02:00').
    """
    trimmed = pc.utf8_trim_whitespace(text)
    if len(trimmed) and pc.all(pc.ends_with(trimmed, " UTC")).as_py():
        local = pc.utf8_slice_codeunits(trimmed, 0, -4)
        if pc.all(pc.match_substring_regex(local, _TIMESTAMP)).as_py():
            try:
                return pc.cast(pc.binary_join_element_wise(local, "Z", ""), UTC_MICROS, safe=False)
            except pa.ArrowInvalid:
                pass  # some row is not in the fast format: the general parser finds which
    bare = pc.replace_substring_regex(trimmed, r"(?i)\s*UTC$", "")
    parts = pc.extract_regex(bare, _TIMESTAMP)  # null where not well formed
    zone = pc.struct_field(parts, "zone")
    offset = pc.if_else(pc.match_substring_regex(zone, "^[+-]"), zone, "+00:00")  # "" (no zone), Z or z: UTC
    zoned = pc.binary_join_element_wise(pc.struct_field(parts, "local"), offset, "").to_numpy(zero_copy_only=False)
    stamps = pd.to_datetime(zoned, format="ISO8601", utc=True, errors="coerce")
    return pa.array(stamps.as_unit("us"), UTC_MICROS)


def parse_local_times(text: pa.Array) -> pa.Array:
    """'HH:MM[:SS[.ffffff]]' as canonical 'HH:MM:SS.ffffff' text; null where invalid."""
    parts = pc.extract_regex(pc.utf8_trim_whitespace(text), _TIME)
    hour, minute, second, fraction = (pc.struct_field(parts, name) for name in ("h", "m", "s", "f"))
    second = pc.if_else(pc.equal(second, ""), "00", second)  # an absent optional group is ""
    valid = pc.and_(
        pc.less(pc.cast(hour, pa.int8()), 24),
        pc.and_(pc.less(pc.cast(minute, pa.int8()), 60), pc.less(pc.cast(second, pa.int8()), 60)),
    )
    canonical = pc.binary_join_element_wise(
        pc.utf8_lpad(hour, 2, "0"), ":", minute, ":", second, ".", pc.utf8_rpad(fraction, 6, "0"), ""
    )
    return pc.if_else(pc.fill_null(valid, False), canonical, pa.scalar(None, pa.string()))


def _shown(value: str) -> str:
    """A bad value quoted for a reason; a 10 MB field must not make a 10 MB message."""
    if len(value) <= VALUE_SHOWN_CHARS:
        return repr(value)
    return f"{value[:VALUE_SHOWN_CHARS]!r}... ({len(value):,} characters)"


def _is_blank(values: pa.Array) -> np.ndarray:
    return _numpy(pc.equal(pc.utf8_trim_whitespace(values), ""))


def _numpy(mask: pa.Array) -> np.ndarray:
    return mask.to_numpy(zero_copy_only=False)
