"""What a load tells its user: a summary line per file, a log file, and the rejected rows as CSV.

Shared by `runscript load` and the refresher so both speak the same way.
"""
from __future__ import annotations

import contextvars
import csv
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitoring.ingest.load import FileResult

# django-extensions runs a script's run(*args) without the command's options; its
# pre_command signal (connected in apps.py) hands us -v so `runscript load -v 0` is quiet.
runscript_verbosity: contextvars.ContextVar[int] = contextvars.ContextVar("runscript_verbosity", default=1)


def remember_runscript_options(sender, *, kwargs: dict, **_) -> None:
    if sender.__module__.endswith(".runscript"):
        runscript_verbosity.set(int(kwargs.get("verbosity", 1)))


def summary_line(result: FileResult) -> str:
    name = result.path.name
    if result.mode == "failed":
        return f"{name}: FAILED: {result.error}"
    if result.mode == "skipped":
        return f"{name} ({result.kind}): unchanged since the last load, skipped"
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


def rejection_lines(result: FileResult, *, limit: int) -> list[str]:
    lines = [
        f"  {result.path.name} line {r.line}{f' column {r.column}' if r.column else ''}: {r.reason}"
        for r in result.rejections[:limit]
    ]
    if result.rejected > limit:
        lines.append(f"  ... and {result.rejected - limit:,} more rejected rows of {result.path.name}")
    return lines


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
        """Write every rejected row with its reason; returns how many (no file when none)."""
        rows = [(str(r.path), x.line, x.column, x.reason, x.raw) for r in results for x in r.rejections]
        if rows:
            with open(self.rejected_path, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["file", "line", "column", "reason", "raw"])
                writer.writerows(rows)
        return len(rows)
