"""Reading the four CSV sources (SPEC 1, 11) into validated columns.

A file's kind comes from its header. The body is split into records with their
real line numbers (a quoted field may hold newlines), records of the wrong width or
with bytes that are not UTF-8 are set aside, the rest is parsed by pyarrow in one
call, and each column is validated as a whole. Every rejected row keeps its line,
column, reason and raw text; the good rows come back as one pyarrow table. Python's
csv module is the reference for what a record is: a file with stray quotes (Joe"s), or
one pyarrow will not read, is read by it instead, more slowly.

Pure numpy/pandas/pyarrow, no database: parsing is testable on its own. The kinds are
IngestRun.Kind, the names the load's record keeps, so they are spelled once.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from monitoring.ingest.validate import RowProblems, validate_columns
from monitoring.models import IngestRun


# Canonical column -> the header names that mean it (matched after strip + lower case).
_COLUMNS: dict[IngestRun.Kind, dict[str, tuple[str, ...]]] = {
    IngestRun.Kind.POLLS: {"store_id": ("store_id",), "status": ("status",), "timestamp_utc": ("timestamp_utc",)},
    IngestRun.Kind.HOURS: {
        "store_id": ("store_id",),
        "day": ("day", "dayofweek", "day_of_week"),
        "start_time_local": ("start_time_local",),
        "end_time_local": ("end_time_local",),
    },
    IngestRun.Kind.TIMEZONES: {"store_id": ("store_id",), "timezone_str": ("timezone_str",)},
    IngestRun.Kind.OWNERS: {"store_id": ("store_id",), "owner": ("owner",)},
}
_NEWLINE, _QUOTE, _COMMA, _CR = ord("\n"), ord('"'), ord(","), ord("\r")
_FIELD_EDGES = np.array([_COMMA, _NEWLINE, _CR, _QUOTE], np.uint8)  # what may stand beside an RFC 4180 quote
_BLOCK_SIZE = 1 << 20  # pyarrow's default; a longer record needs a block that holds it whole
# An unknown first line is quoted in the error (the data page, the load log, the command's output)
# only when it looks like a CSV header: printable, with a comma, at most this long; and then at
# most _SHOWN_HEADER_CHARS of it. A symlinked key or a binary file must never be echoed.
_PLAUSIBLE_HEADER_CHARS = 1000
_SHOWN_HEADER_CHARS = 120
# Longer records are rejected, not loaded: a hostile line costs no more memory than this.
# Above the 10 MB rows that real exports have been seen to hold (a pasted blob in a field).
RECORD_MAX_BYTES = 16 << 20
TOO_LONG = f"record longer than {RECORD_MAX_BYTES:,} bytes: not read"
SHOWN_RAW_BYTES = 1000  # of a record too long to read, kept for the report
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape


class SourceError(Exception):
    """The file as a whole cannot be loaded (missing, empty, unknown header, ...)."""


# slots: a block of short bad lines makes some 600,000 of these at once (40 bytes less each).
@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    column: str
    reason: str
    raw: str


@dataclass(frozen=True)
class Header:
    kind: IngestRun.Kind
    names: tuple[str, ...]  # as written in the file
    columns: dict[str, int]  # canonical column -> position
    end: int  # byte offset just past the header line

    def name_of(self, column: str) -> str:
        return self.names[self.columns[column]]


@dataclass
class ParsedSource:
    """The good rows (canonical columns + `line`) and the rejected ones of one body."""

    rows: pa.Table
    rejections: list[Rejection] = field(default_factory=list)
    rows_read: int = 0
    # Past the last newline-terminated record: where a later tail read may start.
    complete_end: int = 0
    complete_lines: int = 0


def is_compressed(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def parse_header(data: bytes, *, path: Path) -> Header:
    """Recognise the file's kind from its first line (SPEC 1: by header, not by name)."""
    if not data.strip():
        raise SourceError(f"{path}: empty file (no header line)")
    end = _first_line_end(data)
    try:
        line = data[:end].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(f"{path}: line 1: the header is not UTF-8 text{_utf16_hint(data[:end])}") from None
    allow_csv_fields_up_to(len(line))
    names = tuple(next(csv.reader([line.rstrip("\r\n")]), []))
    normalised = [name.strip().lower() for name in names]
    for kind, spec in _COLUMNS.items():
        columns = {}
        for column, variants in spec.items():
            found = [i for i, name in enumerate(normalised) if name in variants]
            if len(found) > 1:
                raise SourceError(f"{path}: line 1: column {column!r} appears {len(found)} times in the header")
            if found:
                columns[column] = found[0]
        if len(columns) == len(spec):
            return Header(kind=kind, names=names, columns=columns, end=end)
    expected = "; ".join(f"{kind}: {', '.join(spec)}" for kind, spec in _COLUMNS.items())
    raise SourceError(f"{path}: line 1: unknown header {_shown_header(line)}{_utf16_hint(data[:end])} (expected the columns of {expected})")


def _shown_header(line: str) -> str:
    """The first line quoted (escaped, cut) when it is plausibly a CSV header; else only its length."""
    text = line.rstrip("\r\n")
    if "," not in text or not text.isprintable() or len(text) > _PLAUSIBLE_HEADER_CHARS:
        return f"(not shown: {len(text):,} characters that are not a CSV header)"
    if len(text) > _SHOWN_HEADER_CHARS:
        return f"{text[:_SHOWN_HEADER_CHARS]!r}... ({len(text):,} characters)"
    return repr(text)


def _first_line_end(data: bytes) -> int:
    """Just past the first line: its LF, a lone CR (see line_ends), or the end of the data."""
    newline = data.find(b"\n")
    cr = data.find(b"\r", 0, len(data) if newline < 0 else newline)
    if 0 <= cr < len(data) - 1 and data[cr + 1] != _NEWLINE:
        return cr + 1
    return len(data) if newline < 0 else newline + 1


def _utf16_hint(header: bytes) -> str:
    """UTF-16 text (Excel's "Unicode text") is the usual cause of a header with NUL bytes."""
    if header.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in header:
        return " (is it UTF-16? save the file as UTF-8)"
    return ""


def allow_csv_fields_up_to(size: int) -> None:
    """Lift the csv module's 128 KiB field limit, a guard for streams: this text is in memory already."""
    if size > csv.field_size_limit():
        csv.field_size_limit(size)


def parse_body(data: bytes, *, header: Header, first_line: int) -> ParsedSource:
    """Parse and validate the records of `data` (no header), the first being line `first_line`."""
    records, table = None, None
    if _one_record_per_line(data):
        records = _line_records(data, first_line=first_line)
        table = _read_table(data, header=header, rows=len(records.lines))
    if table is None and quotes_pair_up(data):  # quotes, blank lines, CR, non-ASCII or a bad row: scan records
        records = _split_records(data, first_line=first_line, width=len(header.names))
        table = _read_table(records.clean_bytes(data), header=header, rows=len(records.lines), longest=records.longest)
    if table is None:  # a stray quote (Joe"s), which the quote scan would pair across lines, or a reading pyarrow refuses
        records, table = _read_with_csv_module(data, header=header, first_line=first_line)
    problems = validate_columns(table, kind=header.kind)
    rejections = records.rejections + _rejections(problems, records=records, data=data, header=header)
    rejections.sort(key=lambda rejection: rejection.line)
    good = problems.good_rows.append_column("line", pa.array(records.lines[problems.good_mask]))
    return ParsedSource(
        rows=good,
        rejections=rejections,
        rows_read=len(records.lines) + len(records.rejections),
        complete_end=records.complete_end,
        complete_lines=records.complete_lines,
    )


@dataclass
class _Records:
    """The well-formed records of a body: first line numbers and byte spans, in file order."""

    lines: np.ndarray
    complete_end: int
    complete_lines: int
    starts: np.ndarray | None = None  # None: one record per line, spans found when a row needs its text
    ends: np.ndarray | None = None
    dropped: list[tuple[int, int]] = field(default_factory=list)  # byte spans of malformed records
    rejections: list[Rejection] = field(default_factory=list)
    texts: list[str] | None = None  # the records' text, when read by the csv module
    longest: int = 0  # bytes of the longest record (with its line end), when scanned

    def clean_bytes(self, data: bytes) -> bytes:
        if not self.dropped:
            return data
        keep = np.ones(len(data), bool)
        for start, stop in self.dropped:
            keep[start:stop] = False
        return np.frombuffer(data, np.uint8)[keep].tobytes()

    def raw(self, data: bytes, index: int) -> str:
        if self.texts is not None:
            return self.texts[index]
        if self.starts is None:
            newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == _NEWLINE)
            self.starts = np.concatenate([[0], newlines + 1])[: len(self.lines)]
            self.ends = np.concatenate([newlines, [len(data)]])[: len(self.lines)]
        return data[self.starts[index] : self.ends[index]].decode("utf-8", "replace")


def _one_record_per_line(data: bytes) -> bool:
    """The common case, checked with fast byte searches: no quotes, CR, blank line or non-ASCII byte."""
    return data.isascii() and b'"' not in data and b"\r" not in data and b"\n\n" not in data and not data.startswith(b"\n")


def _line_records(data: bytes, *, first_line: int) -> _Records:
    complete_end = data.rfind(b"\n") + 1
    complete_lines = data.count(b"\n")
    count = complete_lines + (1 if complete_end < len(data) else 0)
    return _Records(lines=np.arange(first_line, first_line + count, dtype=np.int64), complete_end=complete_end, complete_lines=complete_lines)


@dataclass
class _Scan:
    """Every record of a body: byte spans, first line numbers and field counts."""

    starts: np.ndarray
    ends: np.ndarray  # before the line end
    next_starts: np.ndarray
    lines: np.ndarray
    widths: np.ndarray
    complete_end: int
    complete_lines: int

    def text(self, data: bytes, index: int, *, limit: int | None = None) -> str:
        end = self.ends[index] if limit is None else min(self.ends[index], self.starts[index] + limit)
        return data[self.starts[index] : end].decode("utf-8", "replace")


def _scan_records(data: bytes, *, first_line: int) -> _Scan:
    """Find the records with whole-array numpy scans (no Python loop over rows)."""
    buffer = np.frombuffer(data, np.uint8)
    newlines = line_ends(data)
    quoted = b'"' in data
    # Inside quotes (odd count of quotes so far) a newline or comma is part of a value;
    # a doubled quote "" toggles twice, so RFC 4180 escapes keep the parity right.
    inside = (np.cumsum(buffer == _QUOTE, dtype=np.uint8) & 1).view(bool) if quoted else None
    record_ends = newlines[~inside[newlines]] if quoted else newlines
    commas = np.flatnonzero((buffer == _COMMA) & ~inside) if quoted else np.flatnonzero(buffer == _COMMA)
    starts = np.concatenate([[0], record_ends + 1])
    ends = np.concatenate([record_ends, [len(data)]])
    ends = ends - ((ends > starts) & (buffer[np.maximum(ends - 1, 0)] == _CR))  # the CR of a CRLF
    complete_end = int(record_ends[-1]) + 1 if len(record_ends) else 0
    return _Scan(
        starts=starts,
        ends=ends,
        next_starts=np.concatenate([starts[1:], [len(data)]]),
        lines=first_line + (np.searchsorted(newlines, starts) if quoted else np.arange(len(starts))),
        widths=1 + np.searchsorted(commas, ends) - np.searchsorted(commas, starts),
        complete_end=complete_end,
        complete_lines=int(np.searchsorted(newlines, complete_end)),
    )


def line_ends(data: bytes) -> np.ndarray:
    """Where lines end: at each LF, and at each CR that no LF follows (old Mac files),
    as Python's csv module and pyarrow read them. A CR last in the data may be the first
    half of a CRLF still being written: it ends no line yet."""
    buffer = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(buffer == _NEWLINE)
    if b"\r" not in data:
        return newlines
    crs = np.flatnonzero(buffer[:-1] == _CR)
    return np.union1d(newlines, crs[buffer[crs + 1] != _NEWLINE])


def quotes_pair_up(data: bytes) -> bool:
    """Whether every quote stands where RFC 4180 puts one: opening a field, or closing it
    (before a comma, a line end, the end, or the second quote of a doubled ""). Only
    then do the record scan and pyarrow read the quotes as Python's csv module does."""
    if b'"' not in data:
        return True
    buffer = np.frombuffer(data, np.uint8)
    quotes = np.flatnonzero(buffer == _QUOTE)
    if len(quotes) % 2:
        return False
    opening, closing = quotes[0::2], quotes[1::2]
    opens_a_field = (opening == 0) | np.isin(buffer[np.maximum(opening - 1, 0)], _FIELD_EDGES)
    closes_a_field = (closing == len(buffer) - 1) | np.isin(buffer[np.minimum(closing + 1, len(buffer) - 1)], _FIELD_EDGES)
    return bool(opens_a_field.all() and closes_a_field.all())


def _split_records(data: bytes, *, first_line: int, width: int) -> _Records:
    """The well-formed records, and a rejection for each one of the wrong width or not UTF-8."""
    scan = _scan_records(data, first_line=first_line)
    blank = scan.ends == scan.starts
    too_long = np.flatnonzero(scan.ends - scan.starts > RECORD_MAX_BYTES)
    wrong_width = np.setdiff1d(np.flatnonzero(~blank & (scan.widths != width)), too_long)
    skip = set(wrong_width.tolist()) | set(too_long.tolist()) | set(np.flatnonzero(blank).tolist())
    undecodable = np.array(_undecodable(data, starts=scan.starts, ends=scan.ends, skip=skip), np.int64)
    rejections = (
        [Rejection(int(scan.lines[i]), "", TOO_LONG, scan.text(data, i, limit=SHOWN_RAW_BYTES)) for i in too_long]
        + [
            Rejection(int(scan.lines[i]), "", f"wrong column count: expected {width} fields, found {scan.widths[i]}", scan.text(data, i))
            for i in wrong_width
        ]
        + [Rejection(int(scan.lines[i]), "", "undecodable bytes: the row is not UTF-8 text", scan.text(data, i)) for i in undecodable]
    )
    good = ~blank
    for bad in (too_long, wrong_width, undecodable):
        good[bad] = False
    return _Records(
        lines=scan.lines[good].astype(np.int64),
        complete_end=scan.complete_end,
        complete_lines=scan.complete_lines,
        starts=scan.starts[good],
        ends=scan.ends[good],
        dropped=[(int(scan.starts[i]), int(scan.next_starts[i])) for i in np.union1d(np.union1d(too_long, wrong_width), undecodable).tolist()],
        rejections=rejections,
        longest=int((scan.next_starts - scan.starts).max()),
    )


def _read_with_csv_module(data: bytes, *, header: Header, first_line: int) -> tuple[_Records, pa.Table]:
    """The slow, forgiving reading, for quotes that do not pair up (or that pyarrow reads otherwise)."""
    decoded = data.decode("utf-8", "surrogateescape")
    allow_csv_fields_up_to(len(decoded))
    reader = csv.reader(io.StringIO(decoded, newline=""))
    lines, texts, values, rejections, before = [], [], [], [], 0
    for record in reader:
        line, before = first_line + before, reader.line_num
        text = ",".join(record)
        if not record:
            continue
        if len(text) > RECORD_MAX_BYTES:  # characters, at least one byte each
            rejections.append(Rejection(line, "", TOO_LONG, _replace_undecodable(text[:SHOWN_RAW_BYTES])))
        elif len(record) != len(header.names):
            reason = f"wrong column count: expected {len(header.names)} fields, found {len(record)}"
            if first_line + before - 1 > line:  # the record's last line
                reason += f" (one record over lines {line}-{first_line + before - 1}: a quote left open?)"
            rejections.append(Rejection(line, "", reason, _replace_undecodable(text)))
        elif _UNDECODABLE.search(text):
            rejections.append(Rejection(line, "", "undecodable bytes: the row is not UTF-8 text", _replace_undecodable(text)))
        else:
            lines.append(line)
            texts.append(text)
            values.append(record)
    ends = line_ends(data)
    records = _Records(
        lines=np.array(lines, np.int64),
        complete_end=int(ends[-1]) + 1 if len(ends) else 0,
        complete_lines=len(ends),
        rejections=rejections,
        texts=texts,
    )
    table = pa.table({column: pa.array([row[i] for row in values], pa.string()) for column, i in header.columns.items()})
    return records, table


def _replace_undecodable(text: str) -> str:
    return _UNDECODABLE.sub("\ufffd", text)


def _undecodable(data: bytes, *, starts: np.ndarray, ends: np.ndarray, skip: set[int]) -> list[int]:
    """Indices of records that are not valid UTF-8 (only records with non-ASCII bytes are decoded)."""
    if data.isascii():
        return []
    high = np.flatnonzero(np.frombuffer(data, np.uint8) >= 0x80)
    candidates = np.unique(np.searchsorted(starts, high, side="right") - 1)
    found = []
    for i in candidates.tolist():
        if i in skip:
            continue
        try:
            data[starts[i] : ends[i]].decode("utf-8")
        except UnicodeDecodeError:
            found.append(i)
    return found


def _read_table(body: bytes, *, header: Header, rows: int, longest: int = 0) -> pa.Table | None:
    """The needed columns of the records, all as strings (validated later).

    None when pyarrow cannot read them as `rows` rows of the header's width (a row of
    the wrong width, a record longer than its block), so that the caller falls back to
    a slower reading that reports each bad row with its line.
    """
    if rows == 0:  # pyarrow refuses an empty body (a file with only its header)
        return pa.table({column: pa.array([], pa.string()) for column in header.columns})
    names = [f"c{i}" for i in range(len(header.names))]
    wanted = {f"c{position}": column for column, position in header.columns.items()}
    if body.startswith(codecs.BOM_UTF8):  # pyarrow would drop it as a byte-order mark: here it is data
        body = b"\n" + body
    bad_width = []
    try:
        # One thread, over an Arrow buffer: the invalid-row handler is Python, and a read that
        # fails half-way must leave no Arrow task behind that would call it later (a task
        # still waiting for Python at exit deadlocks the interpreter's shutdown). A block
        # is 8 MiB (one record up to 16 MiB), parsed while the loader writes the one before it.
        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(
                column_names=names, block_size=max(_BLOCK_SIZE, longest + 1), use_threads=False
            ),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=b'"' in body,
                invalid_row_handler=lambda row: bad_width.append(row) or "skip",
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(wanted),
                column_types={name: pa.string() for name in wanted},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if bad_width or table.num_rows != rows:
        return None
    return table.rename_columns([wanted[name] for name in table.column_names])


def _rejections(problems: RowProblems, *, records: _Records, data: bytes, header: Header) -> list[Rejection]:
    return [
        Rejection(int(records.lines[index]), header.name_of(column), reason, records.raw(data, index))
        for index, column, reason in problems.rejected
    ]
