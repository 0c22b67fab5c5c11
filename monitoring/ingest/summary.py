"""What a load tells its user: a summary line per file, a log file, and the rejected rows as CSV.

Shared by `runscript load` and the refresher so both speak the same way.
"""
from __future__ import annotations

import contextvars
import csv
import itertools
import os
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from monitoring.ingest.load import FileResult
from monitoring.ingest.rejections import write_stored_rejections

# django-extensions runs a script's run(*args) without the command's options; its
# pre_command signal (connected in apps.py) hands us -v so `runscript load -v 0` is quiet.
runscript_verbosity: contextvars.ContextVar[int] = contextvars.ContextVar("runscript_verbosity", default=1)


def remember_runscript_options(sender, *, kwargs: dict, **_) -> None:
    if sender.__module__.endswith(".runscript"):
        runscript_verbosity.set(int(kwargs.get("verbosity", 1)))


def summary_line(result: FileResult) -> str:
    name = result.name
    if result.mode == "failed":
        return f"{name}: FAILED: {result.error}"
    if result.mode == "ignored":
        return f"{name}: skipped: {result.error}"
    if result.mode == "skipped":
        kind = f" ({result.kind})" if result.kind else ""
        return f"{name}{kind}: unchanged since the last load, skipped"
    how = "new lines only" if result.mode == "tail" else "full"
    parts = [
        f"{result.rows_read:,} read",
        f"{result.inserted:,} inserted",
        f"{result.updated:,} updated",
        f"{result.unchanged:,} unchanged",
        f"{result.rejected:,} rejected",
    ]
    if result.stores_created:
        parts.append(f"{result.stores_created:,} new stores")
    if result.deleted:
        parts.append(f"{result.deleted:,} old rows removed")
    if result.duplicates:
        parts.append(f"{result.duplicates:,} repeated rows superseded by a later line")
    return f"{name} ({result.kind}, {how}): {', '.join(parts)} in {result.seconds:.1f} s"


def round_line(results: Sequence[FileResult]) -> str:
    """One line of counts for a whole round of files."""
    loaded = [r for r in results if r.mode in ("full", "tail")]
    totals = {name: sum(getattr(r, name) for r in loaded) for name in ("rows_read", "inserted", "updated", "unchanged", "rejected")}
    failed = sum(1 for r in results if r.mode == "failed")
    skipped = sum(1 for r in results if r.mode == "skipped")
    seconds = sum(r.seconds for r in results)
    return (
        f"{len(results)} files: {len(loaded)} loaded, {skipped} unchanged, {failed} failed; "
        f"{totals['rows_read']:,} read, {totals['inserted']:,} inserted, {totals['updated']:,} updated, "
        f"{totals['unchanged']:,} unchanged, {totals['rejected']:,} rejected in {seconds:.1f} s"
    )


def load_answer(results: Sequence[FileResult], *, rejections_shown: int = 10) -> dict:
    """The per-file summary of a load as JSON-ready data: the API's and the data page's answer to an upload."""
    return {
        "ok": all(r.ok for r in results),
        "files": [
            {
                "name": r.name, "kind": r.kind, "mode": r.mode, "read": r.rows_read, "inserted": r.inserted,
                "updated": r.updated, "unchanged": r.unchanged, "rejected": r.rejected, "error": r.error,
                "rejections": [
                    {"line": x.line, "column": x.column, "reason": x.reason, "raw": x.raw} for x in r.rejections[:rejections_shown]
                ],
            }
            for r in results
        ],
    }


def rejection_lines(result: FileResult, *, limit: int) -> Iterator[str]:
    """A line per rejected row, at most `limit`; past the in-memory head they are read back
    from the database as they are printed, so `-v 2` on millions stays in flat memory."""
    rejections = result.every_rejection() if limit > len(result.rejections) else iter(result.rejections)
    shown = 0
    for r in itertools.islice(rejections, limit):
        shown += 1
        yield f"  {result.name} line {r.line}{f' column {r.column}' if r.column else ''}: {r.reason}"
    if result.rejected > shown:
        # Fewer than asked for: a failed load, whose record keeps only the head.
        kept = "" if shown == limit else " (not kept: the file failed to load)"
        yield f"  ... and {result.rejected - shown:,} more rejected rows of {result.name}{kept}"


class LoadLog:
    """A load's log file and, beside it, the CSV of its rejected rows."""

    def __init__(self, *, log_dir: Path, prefix: str) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{prefix}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"
        self.path = log_dir / f"{stem}.log"
        self.rejected_path = log_dir / f"{stem}-rejected.csv"

    def write(self, line: str) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {line}\n")

    def write_rejections(self, results: Sequence[FileResult]) -> int:
        """Write every rejected row recorded with its reason, as the database keeps it (copied
        from it past the in-memory head); returns how many (no file when none)."""
        if not any(r.rejections for r in results):
            return 0
        written = 0
        with open(self.rejected_path, "w", encoding="utf-8", newline="") as handle:
            # Line ends as PostgreSQL's COPY writes them, for one style in the file.
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["file", "line", "column", "reason", "raw"])
            for result in results:
                name = result.source or str(result.path)
                if result.rejections_past_head:
                    written += write_stored_rejections(run_id=result.run_id, name=name, handle=handle)
                    continue
                writer.writerows((name, x.line, x.column, x.reason, x.raw) for x in result.rejections)
                written += len(result.rejections)
        return written


class TransferProgress:
    """Bytes downloaded or unzipped: a bar redrawn in place on a terminal, a plain line every
    few seconds otherwise (a log or a pipe gets no carriage returns)."""

    WIDTH = 30
    EVERY_SECONDS = 2.0

    def __init__(self, *, stream: TextIO) -> None:
        self.stream = stream
        self.terminal = stream.isatty()
        self.label, self.last = "", 0.0

    def __call__(self, label: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if label != self.label:
            self._end_bar()
            self.label, self.last = label, now
        elif not finished and now - self.last < (0.1 if self.terminal else self.EVERY_SECONDS):
            return
        self.last = now
        self.stream.write(f"\r{self._bar(done, total)}" if self.terminal else f"{self._line(done, total)}\n")
        self.stream.flush()

    def close(self) -> None:
        self._end_bar()
        self.label = ""

    def _end_bar(self) -> None:
        if self.terminal and self.label:
            self.stream.write("\n")

    def _bar(self, done: int, total: int | None) -> str:
        if not total:
            return f"{self.label}: {done / 1e6:,.1f} MB"
        filled = min(self.WIDTH, self.WIDTH * done // total)
        return f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {100 * done // total:3d}% of {total / 1e6:,.1f} MB"

    def _line(self, done: int, total: int | None) -> str:
        of = f" of {total / 1e6:,.1f} MB ({100 * done // total}%)" if total else " MB"
        return f"{self.label}: {done / 1e6:,.1f}{of}"
