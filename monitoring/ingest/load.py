"""Ingestion service: CSV files -> blocks of validated columns -> COPY -> set-based writes.

`ingest_paths` loads files and folders under a PostgreSQL advisory lock (two loads
never interleave), each file block by block in one transaction (memory stays flat
whatever the file's size; a crash leaves no partial file),
and returns per-file counts and rejected rows (every one in the database, the first
ones in memory: monitoring/ingest/rejections.py). A file already loaded is skipped when
unchanged, and read from where the last load stopped when it only grew (SPEC 1,
docs/ingestion.md).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from monitoring.ingest import poll_writes, writes
from monitoring.ingest.locks import LOAD_LOCK_KEY, session_lock
from monitoring.ingest.parse import Rejection, SourceError
from monitoring.ingest.plan import LoadPlan, plan_load
from monitoring.ingest.rejections import copy_rejections, keep_head, stored_rejections
from monitoring.ingest.stream import SourceStream, parsed_blocks
from monitoring.models import IngestRun

logger = logging.getLogger(__name__)

PROGRESS_MIN_ROWS = 100_000  # smaller files load too fast for progress lines to help
# At most one progress line this often: a block takes about a second, 70 lines for a big file say nothing more.
PROGRESS_EVERY_SECONDS = 5.0

Progress = Callable[[str], None]


@dataclass(kw_only=True)
class FileResult(writes.WriteCounts):
    """What loading one file did (or why it could not): the write counts and more."""

    path: Path
    source: str = ""  # the name shown and recorded when not the path (a zip member, a URL)
    kind: str = ""
    mode: str = "full"  # full, tail (only new lines), skipped (unchanged), failed, ignored (not a CSV)
    rows_read: int = 0
    rejected: int = 0  # every rejected row of the file
    # The first rejections.HEAD_KEPT of them, in line order: a file of millions of bad
    # lines would hold millions here. All of them are stored under run_id.
    rejections: list[Rejection] = field(default_factory=list)
    run_id: int | None = None  # the IngestRun recording this load (or, when it failed, its failure)
    error: str = ""
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return self.source or self.path.name

    @property
    def ok(self) -> bool:
        return self.mode != "failed"

    @property
    def rejections_past_head(self) -> bool:
        """Whether the table holds more of them than the head: those are read back from it.
        A failed load's record keeps only the head (the rest rolled back)."""
        return self.ok and self.run_id is not None and self.rejected > len(self.rejections)

    def every_rejection(self) -> Iterator[Rejection]:
        """All the rejected rows recorded, in line order."""
        return stored_rejections(run_id=self.run_id) if self.rejections_past_head else iter(self.rejections)


def ingest_paths(
    *,
    paths: Sequence[Path],
    strict: bool = False,
    full: bool = False,
    progress: Progress | None = None,
    sources: Mapping[Path, str] | None = None,
) -> list[FileResult]:
    """Load every CSV file named (folders: their *.csv and *.csv.gz files), one transaction each.

    `sources` names files by where they came from (monitoring/ingest/sources.py), keyed by resolved path.
    """
    files, results = discover_files(paths)
    sources = sources or {}
    waiting = "another load is running: waiting for it to finish"
    with session_lock(key=LOAD_LOCK_KEY, wait=True, on_busy=lambda: _say(progress, waiting)):
        results.extend(
            _load_file(path, source=sources.get(path, ""), strict=strict, full=full, progress=progress) for path in files
        )
    return results


def stored_new_polls(results: Sequence[FileResult]) -> bool:
    return any(r.ok and r.kind == IngestRun.Kind.POLLS and (r.inserted or r.updated) for r in results)


def discover_files(paths: Sequence[Path]) -> tuple[list[Path], list[FileResult]]:
    """The files to load, and a failed result for each path that names none."""
    files, missing = [], []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith((".csv", ".csv.gz")))
            files.extend(found)
            if not found:
                missing.append(FileResult(path=path, mode="failed", error=f"{path}: no .csv or .csv.gz file in this folder"))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(FileResult(path=path, mode="failed", error=f"{path}: no such file or folder"))
    # A file named twice (or also through its folder) is loaded once.
    return list(dict.fromkeys(path.resolve() for path in files)), missing


def _load_file(path: Path, *, source: str, strict: bool, full: bool, progress: Progress | None) -> FileResult:
    started = time.monotonic()
    result = FileResult(path=path, source=source)
    try:
        plan = plan_load(path=path, full=full, source=source)
        result.mode = plan.mode
        if plan.mode == "skipped":
            result.kind = plan.kind
            _record_skip(plan)
        else:
            _load_blocks(plan, strict=strict, result=result, progress=progress)
    except (SourceError, DatabaseError) as error:
        result.mode, result.error, result.run_id = "failed", str(error).strip(), None  # its run rolled back
        if source:  # a temporary file's path means nothing to the user: name its source
            result.error = result.error.replace(str(path), source)
        _record_failure(path=source or str(path), result=result)
    result.seconds = time.monotonic() - started
    return result


def _load_blocks(plan: LoadPlan, *, strict: bool, result: FileResult, progress: Progress | None) -> None:
    """Read, parse and write the planned part of a file block by block, in one transaction:
    a report sees the file entirely or not at all. While a block is written, the next one
    is parsed in a second thread, so PostgreSQL and pyarrow/numpy keep both cores busy."""
    started = time.monotonic()
    source = SourceStream(plan.path, start=plan.start, first_line=plan.first_line, header=plan.header, max_bytes=settings.SOURCE_MAX_BYTES)
    with (
        source,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read") as reader,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        result.kind = source.header.kind
        # Durability of a load is settled by its IngestRun row: a crash before the
        # WAL flush only means the next round loads the file again.
        cursor.execute("SET LOCAL synchronous_commit = off")
        writer = _writer(cursor, kind=source.header.kind)
        plan.begin(header=source.header, head=source.head)
        # Created now, in the file's transaction, so each block's rejected rows can be stored
        # under it as they come instead of being held until the end.
        run = IngestRun.objects.create(path=plan.source, kind=result.kind)
        result.run_id = run.pk
        said = started
        for block, parsed in _read_ahead(parsed_blocks(source), reader=reader):
            result.rows_read += parsed.rows_read
            result.rejected += len(parsed.rejections)
            keep_head(result.rejections, parsed.rejections)
            if strict and result.rejected:
                raise SourceError(f"{plan.path}: {result.rejected} rejected rows and --strict: nothing loaded")
            copy_rejections(cursor, run_id=run.pk, rejections=parsed.rejections)
            # Stored: let them go now, not when the next block (being parsed meanwhile) replaces this one.
            parsed.rejections = []
            writer.add(parsed.rows)
            plan.add(block=block, parsed=parsed)
            if time.monotonic() - said >= PROGRESS_EVERY_SECONDS:
                said = time.monotonic()
                _say_progress(progress, plan.path.name, rows=result.rows_read, started=started)
        counts = writer.finish()
        for count in fields(counts):
            setattr(result, count.name, getattr(counts, count.name))
        _save_run(plan, result=result, run=run)
    if result.rows_read >= PROGRESS_MIN_ROWS:
        _say(progress, f"{plan.path.name}: stored {result.rows_read:,} rows{_rate(result.rows_read, started)}")


def _read_ahead(blocks: Iterator, *, reader: ThreadPoolExecutor) -> Iterator:
    """The items of `blocks`, the next one always being made in `reader` meanwhile."""
    upcoming = reader.submit(next, blocks, None)
    while (item := upcoming.result()) is not None:
        upcoming = reader.submit(next, blocks, None)
        yield item


_WRITERS: dict[str, Callable[..., writes.BlockWriter]] = {
    IngestRun.Kind.POLLS: poll_writes.PollWriter,
    IngestRun.Kind.HOURS: writes.HoursWriter,
    IngestRun.Kind.TIMEZONES: writes.TimezoneWriter,
    IngestRun.Kind.OWNERS: writes.OwnersWriter,
}


def _writer(cursor, *, kind: str) -> writes.BlockWriter:
    return _WRITERS[kind](cursor)


def _save_run(plan: LoadPlan, *, result: FileResult, run: IngestRun | None = None) -> IngestRun:
    """Record a load that worked (or a skip): `run`, created when the load began, or a new row."""
    run = run or IngestRun(path=plan.source)
    run.kind, run.finished_at, run.succeeded = result.kind, timezone.now(), True
    run.rows_read, run.inserted, run.updated, run.unchanged = result.rows_read, result.inserted, result.updated, result.unchanged
    run.rejected, run.error = result.rejected, result.error
    run.file_size, run.file_mtime_ns, run.head_sha256 = plan.size, plan.mtime_ns, plan.loaded_sha256
    run.bytes_loaded, run.lines_loaded = plan.bytes_loaded, plan.lines_loaded
    run.save()
    return run


def _record_skip(plan: LoadPlan) -> None:
    if plan.touched:  # same bytes under a new mtime: remember it, so the next round is a stat() only
        with transaction.atomic():
            _save_run(plan, result=FileResult(path=plan.path, kind=plan.kind, mode="skipped"))


def _record_failure(*, path: str, result: FileResult) -> None:
    """Keep a trace of a failed file after its transaction rolled back (best effort): its
    true counts, and of its rejected rows the head held in memory (the rest rolled back)."""
    logger.warning("%s", result.error)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            run = IngestRun.objects.create(
                path=path, kind=result.kind, finished_at=timezone.now(), succeeded=False,
                rows_read=result.rows_read, rejected=result.rejected, error=result.error,
            )
            copy_rejections(cursor, run_id=run.pk, rejections=result.rejections)
        result.run_id = run.pk
    except DatabaseError as error:
        logger.warning("could not record the failed load of %s: %s", path, error)


def _say_progress(progress: Progress | None, name: str, *, rows: int, started: float) -> None:
    if rows >= PROGRESS_MIN_ROWS:
        _say(progress, f"{name}: read {rows:,} rows{_rate(rows, started)}")


def _rate(rows: int, started: float) -> str:
    seconds = time.monotonic() - started
    return f" in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)" if seconds > 0 else ""


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)
    logger.debug(message)

