"""Reading a source as a stream of blocks cut at record boundaries, in bounded memory.

A file is read BLOCK_BYTES at a time (decompressed, for gzip), never whole: each block
ends where a record ends (a line end outside quotes, or, in a file with stray quotes,
where Python's csv module ends a record), so every block parses on its own and the
line numbers run on from one block to the next. Two caps keep a hostile file from
growing memory or time: SOURCE_MAX_BYTES on the bytes read (a gzip bomb fails once it
passes it), RECORD_MAX_BYTES on a record (a longer one is rejected with its line and
skipped without being held; a header that long fails the file).
"""
from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitoring.ingest.parse import (
    RECORD_MAX_BYTES,
    SHOWN_RAW_BYTES,
    TOO_LONG,
    Header,
    ParsedSource,
    Rejection,
    SourceError,
    allow_csv_fields_up_to,
    is_compressed,
    line_ends,
    parse_body,
    parse_header,
    quotes_pair_up,
)

# About 140,000 polls. A block of short bad lines is about 300,000 rejections, Python objects while it
# is parsed and stored, and two blocks are held at once (one parsed while the other is written): at
# 8 MiB a file of only bad lines peaks at about 450 MB, within issue #16's 500 (16 MiB: about 710).
BLOCK_BYTES = 8 << 20
GROW_BYTES = 1 << 20  # read this much more while a record runs past the block
_QUOTE = ord('"')


@dataclass(frozen=True)
class Block:
    data: bytes  # whole records (the last block may end without a line end)
    first_line: int
    lines: int  # line ends inside `data`
    last: bool = False
    too_long: bool = False  # `data` is only the start of one record longer than RECORD_MAX_BYTES


class SourceStream:
    """The header and the body blocks of one file, read from byte `start`."""

    def __init__(self, path: Path, *, start: int, first_line: int, header: Header | None, max_bytes: int) -> None:
        self.path, self.first_line, self.max_bytes, self.read_so_far = path, first_line, max_bytes, 0
        try:
            size = path.stat().st_size
            if not is_compressed(path) and size - start > max_bytes:
                raise SourceError(self._too_big())
            self.handle = gzip.open(path, "rb") if is_compressed(path) else open(path, "rb")  # noqa: SIM115 (closed by close())
            self.handle.seek(start)
        except FileNotFoundError:
            raise SourceError(f"{path}: no such file") from None
        self.head, self.buffer = b"", b""
        self.header = header or self._read_header()

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> SourceStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def blocks(self) -> Iterator[Block]:
        line, eof = self.first_line, False
        while True:
            while not eof and len(self.buffer) < BLOCK_BYTES:
                more = self._read(BLOCK_BYTES - len(self.buffer))
                eof = not more
                self.buffer += more
            if eof:
                yield Block(data=self.buffer, first_line=line, lines=len(line_ends(self.buffer)), last=True)
                return
            # Within BLOCK_BYTES first: the header's read leaves up to RECORD_MAX_BYTES buffered.
            cut, lines = record_boundary(self.buffer[:BLOCK_BYTES])
            if not cut and len(self.buffer) > BLOCK_BYTES:  # a record longer than a block
                cut, lines = record_boundary(self.buffer)
            if cut:
                yield Block(data=self.buffer[:cut], first_line=line, lines=lines)
                self.buffer, line = self.buffer[cut:], line + lines
            elif len(self.buffer) <= RECORD_MAX_BYTES:  # one long record: it may still end within the cap
                more = self._read(GROW_BYTES)
                eof = not more
                self.buffer += more
            else:  # a record past the cap: reject it, and read past it without keeping it
                yield Block(data=self.buffer[:SHOWN_RAW_BYTES], first_line=line, lines=0, too_long=True)
                skipped, eof = self._skip_record()
                line += skipped

    def _read_header(self) -> Header:
        data = self._read(RECORD_MAX_BYTES + 1)
        header = parse_header(data, path=self.path)
        if header.end > RECORD_MAX_BYTES or (header.end == len(data) and len(data) > RECORD_MAX_BYTES):
            raise SourceError(f"{self.path}: line 1: the header is longer than {RECORD_MAX_BYTES:,} bytes (is this a CSV file?)")
        self.head, self.buffer = data[: header.end], data[header.end :]
        return header

    def _skip_record(self) -> tuple[int, bool]:
        """Drop the buffered record and the rest of it as it streams in: it ends at the first
        line end with an even count of quotes since its start (a quoted field may hold line ends).
        Returns the line ends passed and whether the file ended inside it."""
        quotes, skipped, data = 0, 0, self.buffer
        while data:
            buffer = np.frombuffer(data, np.uint8)
            ends = line_ends(data)
            parity = (quotes + np.cumsum(buffer == _QUOTE))[ends] & 1 if len(ends) else ends
            outside = ends[parity == 0]
            if len(outside):
                cut = int(outside[0]) + 1
                self.buffer = data[cut:]
                return skipped + int(np.searchsorted(ends, cut)), False
            quotes, skipped = quotes + int((buffer == _QUOTE).sum()), skipped + len(ends)
            data = self._read(GROW_BYTES)
        self.buffer = b""
        return skipped, True

    def _read(self, size: int) -> bytes:
        try:
            data = self.handle.read(size)
        except (OSError, EOFError, zlib.error) as error:
            raise SourceError(f"{self.path}: cannot be read ({error})") from None
        self.read_so_far += len(data)
        if self.read_so_far > self.max_bytes:
            raise SourceError(self._too_big())
        return data

    def _too_big(self) -> str:
        return f"{self.path}: more than {self.max_bytes:,} bytes to read (SOURCE_MAX_BYTES): nothing loaded"


def parsed_blocks(source: SourceStream) -> Iterator[tuple[Block, ParsedSource]]:
    """Each block of the source with its parsed, validated rows."""
    for block in source.blocks():
        if block.too_long:
            parsed = parse_body(b"", header=source.header, first_line=block.first_line)
            text = block.data.decode("utf-8", "replace")
            parsed.rejections.append(Rejection(block.first_line, "", TOO_LONG, text))
            parsed.rows_read = 1
        else:
            parsed = parse_body(block.data, header=source.header, first_line=block.first_line)
        yield block, parsed


def record_boundary(data: bytes) -> tuple[int, int]:
    """Just past the last complete record of `data` (0: none), and the line ends before it.

    A line end outside quotes ends a record when the quotes pair up as RFC 4180 puts
    them; otherwise Python's csv module says where records end, as it reads the file.
    """
    ends = line_ends(data)
    if not len(ends):
        return 0, 0
    if b'"' in data:
        parity = (np.cumsum(np.frombuffer(data, np.uint8) == _QUOTE) & 1)[ends]
        ends_outside = ends[parity == 0]
        cut = int(ends_outside[-1]) + 1 if len(ends_outside) else 0
        if not cut or not quotes_pair_up(data[:cut]):
            cut = _csv_boundary(data, ends=ends)
    else:
        cut = int(ends[-1]) + 1
    return cut, int(np.searchsorted(ends, cut))


def _csv_boundary(data: bytes, *, ends: np.ndarray) -> int:
    """Where the csv module's second-to-last record of `data` ends (the last may be cut off)."""
    text = data.decode("utf-8", "surrogateescape")
    allow_csv_fields_up_to(len(text))
    reader = csv.reader(io.StringIO(text, newline=""))
    complete = before = 0
    for _ in reader:
        complete, before = before, reader.line_num
    return int(ends[complete - 1]) + 1 if complete else 0
