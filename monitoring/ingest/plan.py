"""Deciding how much of a file to read: nothing, only its new lines, or all of it.

The last successful IngestRun of a path remembers the file's size and mtime and
the SHA-256 of the bytes loaded (up to the last complete line). Same size and
mtime: skip. The file grew and its loaded prefix still hashes the same: the old
lines are untouched, so only the new ones are parsed, their line numbers
continuing. Anything else (rewritten, truncated, gzip, --full): a full load.
Hours, timezone and owners files are always re-read whole when they change, since
each is the full truth for the stores it names.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from monitoring.ingest.parse import (
    Header,
    ParsedSource,
    SourceError,
    is_compressed,
    parse_header,
)
from monitoring.ingest.stream import Block
from monitoring.models import IngestRun

HASH_CHUNK = 4 << 20
HEADER_CHUNK = 64 << 10


@dataclass
class LoadPlan:
    path: Path
    size: int
    mtime_ns: int
    source: str = ""  # what the IngestRun rows call the file (its path, or e.g. "data.zip:store status.csv")
    kind: str = ""
    mode: str = "full"  # full, tail or skipped
    start: int = 0  # first byte to read
    first_line: int = 2  # line number of the first record read (the header is line 1)
    header: Header | None = None  # known in advance for a tail read
    touched: bool = False  # skipped although the mtime changed: the content is the same
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    loaded_sha256: str = ""
    bytes_loaded: int = 0
    lines_loaded: int = 0
    hashed: bool = False  # whether the loaded bytes are remembered, for a later tail read

    def begin(self, *, header: Header, head: bytes) -> None:
        self.kind = header.kind
        self.hashed = not is_compressed(self.path) and (self.start > 0 or head.endswith(b"\n"))
        if self.hashed:  # else a gzip file, or a header ending in a lone CR: reloaded whole when it changes
            self.hasher.update(head)
            self.bytes_loaded, self.lines_loaded = self.start + len(head), self.first_line - 1

    def add(self, *, block: Block, parsed: ParsedSource) -> None:
        """Remember what of the file is now loaded: up to the last newline-terminated line.
        Blocks end at record ends; only the last one may end mid-line."""
        if block.too_long:  # its bytes were skipped unread: no later tail read can trust the offsets
            self.hashed, self.loaded_sha256, self.bytes_loaded, self.lines_loaded = False, "", 0, 0
        if not self.hashed:
            return
        complete = parsed.complete_end if block.last else len(block.data)
        self.hasher.update(memoryview(block.data)[:complete])
        self.loaded_sha256 = self.hasher.hexdigest()
        self.bytes_loaded += complete
        self.lines_loaded += parsed.complete_lines if block.last else block.lines


def plan_load(*, path: Path, full: bool, source: str = "") -> LoadPlan:
    """`source` names a file unpacked or downloaded to a temporary path: its history is kept under that name."""
    path = path.resolve()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    plan = LoadPlan(path=path, size=stat.st_size, mtime_ns=stat.st_mtime_ns, source=source or str(path))
    last = None if full else last_successful_run(plan.source)
    if last is None:
        return plan
    plan.kind = last.kind
    if (last.file_size, last.file_mtime_ns) == (plan.size, plan.mtime_ns):
        return _skip(plan, last, touched=False)
    if is_compressed(path) or not last.bytes_loaded or plan.size < last.bytes_loaded:
        return plan
    if prefix_digest(path, size=last.bytes_loaded, hasher=plan.hasher) != last.head_sha256:
        plan.hasher = hashlib.sha256()
        return plan
    if plan.size == last.bytes_loaded:
        return _skip(plan, last, touched=True)
    if last.kind != IngestRun.Kind.POLLS:
        plan.hasher = hashlib.sha256()
        return plan
    plan.mode, plan.start, plan.first_line = "tail", last.bytes_loaded, last.lines_loaded + 1
    plan.header = parse_header(read_head(path), path=path)
    return plan


def last_successful_run(source: str) -> IngestRun | None:
    return IngestRun.objects.filter(path=source, succeeded=True).order_by("-started_at", "-id").first()


def prefix_digest(path: Path, *, size: int, hasher) -> str:
    """Feed the first `size` bytes of the file to `hasher` in chunks; its hex digest."""
    with open(path, "rb") as handle:
        remaining = size
        while remaining > 0:
            chunk = handle.read(min(HASH_CHUNK, remaining))
            if not chunk:
                break
            hasher.update(chunk)
            remaining -= len(chunk)
    return hasher.copy().hexdigest()


def read_head(path: Path) -> bytes:
    """The file's first line (its header), however long."""
    with open(path, "rb") as handle:
        head = handle.read(HEADER_CHUNK)
        while b"\n" not in head:
            chunk = handle.read(HEADER_CHUNK)
            if not chunk:
                break
            head += chunk
    return head


def _skip(plan: LoadPlan, last: IngestRun, *, touched: bool) -> LoadPlan:
    plan.mode, plan.touched = "skipped", touched
    plan.loaded_sha256, plan.bytes_loaded, plan.lines_loaded = last.head_sha256, last.bytes_loaded, last.lines_loaded
    return plan
