"""Ingestion service: CSV files -> validated columns -> COPY -> one set-based upsert per file.

`ingest_paths` loads files and folders under a PostgreSQL advisory lock (two loads
never interleave), each file in one transaction (a crash leaves no partial file),
and returns per-file counts and rejected rows. A file already loaded is skipped when
unchanged, and read from where the last load stopped when it only grew (SPEC 1,
docs/ingestion.md).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

import pyarrow as pa
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from monitoring.ingest import poll_writes, writes
from monitoring.ingest.locks import LOAD_LOCK_KEY, session_lock
from monitoring.ingest.parse import (
    ParsedSource,
    Rejection,
    SourceError,
    parse_body,
    parse_header,
    read_bytes,
)
from monitoring.ingest.plan import LoadPlan, plan_load
from monitoring.models import IngestRun, RejectedRow

logger = logging.getLogger(__name__)

RAW_TEXT_LIMIT = 1000  # characters of a rejected row kept for the report
PROGRESS_EVERY_SECONDS = 2.0
PROGRESS_MIN_ROWS = 100_000  # smaller files load too fast for progress lines to help

Progress = Callable[[str], None]


@dataclass(kw_only=True)
class FileResult(writes.WriteCounts):
    """What loading one file did (or why it could not): the write counts and more."""

    path: Path
    source: str = ""  # the name shown and recorded when not the path (a zip member, a URL)
    kind: str = ""
    mode: str = "full"  # full, tail (only new lines), skipped (unchanged), failed, ignored (not a CSV)
    rows_read: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    @property
    def name(self) -> str:
        return self.source or self.path.name

    @property
    def ok(self) -> bool:
        return self.mode != "failed"


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
    with (
        session_lock(key=LOAD_LOCK_KEY, wait=True, on_busy=lambda: _say(progress, waiting)),
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read") as reader,
    ):
        # While one file is written to the database, the next one is read and parsed:
        # PostgreSQL and pyarrow/numpy then keep both cores busy.
        ahead = _start(files[0], source=sources.get(files[0], ""), full=full, reader=reader, progress=progress) if files else None
        for index in range(len(files)):
            current = ahead
            if index + 1 < len(files):
                ahead = _start(files[index + 1], source=sources.get(files[index + 1], ""), full=full, reader=reader, progress=progress)
            results.append(_finish(current, strict=strict, progress=progress))
    return results


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


@dataclass
class _Pending:
    """A file planned, and being read in the background."""

    path: Path
    source: str = ""
    plan: LoadPlan | None = None
    reading: Future | None = None  # -> (ParsedSource, seconds spent reading)
    error: str = ""


def _start(path: Path, *, source: str, full: bool, reader: ThreadPoolExecutor, progress: Progress | None) -> _Pending:
    pending = _Pending(path=path, source=source)
    try:
        pending.plan = plan_load(path=path, full=full, source=source)
    except (SourceError, DatabaseError) as error:
        pending.error = str(error).strip()
        return pending
    if pending.plan.mode != "skipped":
        pending.reading = reader.submit(_parse, pending.plan, progress)
    return pending


def _finish(pending: _Pending, *, strict: bool, progress: Progress | None) -> FileResult:
    started, read_seconds = time.monotonic(), 0.0
    result = FileResult(path=pending.path, source=pending.source)
    try:
        if pending.error:
            raise SourceError(pending.error)
        plan = pending.plan
        result.mode = plan.mode
        if plan.mode == "skipped":
            result.kind = plan.kind
            _record_skip(plan)
        else:
            parsed, read_seconds = pending.reading.result()
            result.kind, result.rows_read, result.rejections = plan.kind, parsed.rows_read, parsed.rejections
            if strict and parsed.rejections:
                raise SourceError(f"{plan.path}: {len(parsed.rejections)} rejected rows and --strict: nothing loaded")
            _write(plan, parsed, result=result, progress=progress)
    except (SourceError, DatabaseError) as error:
        result.mode, result.error = "failed", str(error).strip()
        if pending.source:  # a temporary file's path means nothing to the user: name its source
            result.error = result.error.replace(str(pending.path), pending.source)
        _record_failure(path=pending.source or str(pending.path), result=result)
    result.seconds = read_seconds + time.monotonic() - started
    return result


def _parse(plan: LoadPlan, progress: Progress | None) -> tuple[ParsedSource, float]:
    """Read and validate the planned part of a file (no database: runs in the reader thread)."""
    started = time.monotonic()
    data = read_bytes(plan.path, start=plan.start)
    header = parse_header(data, path=plan.path) if plan.start == 0 else plan.header
    head, body = (data[: header.end], data[header.end :]) if plan.start == 0 else (b"", data)
    try:
        parsed = parse_body(body, header=header, first_line=plan.first_line)
    except SourceError as error:
        raise SourceError(f"{plan.path}: {error}") from None
    plan.finish(header=header, head=head, body=body, parsed=parsed)
    if parsed.rows_read >= PROGRESS_MIN_ROWS:
        _say(progress, f"{plan.path.name}: read {parsed.rows_read:,} rows{_rate(parsed.rows_read, started)}")
    return parsed, time.monotonic() - started


def _write(plan: LoadPlan, parsed: ParsedSource, *, result: FileResult, progress: Progress | None) -> None:
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        # Durability of a load is settled by its IngestRun row: a crash before the
        # WAL flush only means the next round loads the file again.
        cursor.execute("SET LOCAL synchronous_commit = off")
        copy_progress = _copy_progress(plan.path.name, rows=len(parsed.rows), progress=progress)
        counts = _write_rows(cursor, kind=plan.kind, parsed=parsed, progress=copy_progress)
        for count in fields(counts):
            setattr(result, count.name, getattr(counts, count.name))
        run = _save_run(plan, result=result)
        _save_rejections(cursor, run=run, rejections=result.rejections)
    if len(parsed.rows) >= PROGRESS_MIN_ROWS:
        _say(progress, f"{plan.path.name}: stored {len(parsed.rows):,} rows{_rate(len(parsed.rows), started)}")


def _write_rows(cursor, *, kind: str, parsed: ParsedSource, progress) -> writes.WriteCounts:
    if kind == IngestRun.Kind.POLLS:
        return poll_writes.write_polls(cursor, rows=parsed.rows, progress=progress)
    if kind == IngestRun.Kind.HOURS:
        return writes.write_hours(cursor, rows=parsed.rows)
    return writes.write_timezones(cursor, rows=parsed.rows)


def _save_run(plan: LoadPlan, *, result: FileResult) -> IngestRun:
    return IngestRun.objects.create(
        path=plan.source,
        kind=result.kind,
        finished_at=timezone.now(),
        succeeded=True,
        rows_read=result.rows_read,
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=result.rejected,
        error=result.error,
        file_size=plan.size,
        file_mtime_ns=plan.mtime_ns,
        head_sha256=plan.loaded_sha256,
        bytes_loaded=plan.bytes_loaded,
        lines_loaded=plan.lines_loaded,
    )


def _save_rejections(cursor, *, run: IngestRun, rejections: list[Rejection]) -> None:
    """All rejected rows of a run in one COPY, however many."""
    if not rejections:
        return
    table = pa.table(
        {
            "run_id": pa.array([run.pk] * len(rejections), pa.int64()),
            "line": pa.array([r.line for r in rejections], pa.int64()),
            "column": [r.column for r in rejections],
            "reason": [r.reason for r in rejections],
            # PostgreSQL text cannot hold NUL characters.
            "raw": [r.raw[:RAW_TEXT_LIMIT].replace("\x00", "\ufffd") for r in rejections],
        }
    )
    sql = f'COPY {RejectedRow._meta.db_table} (run_id, line, "column", reason, raw) FROM STDIN WITH (FORMAT csv)'
    writes.copy_table(cursor, sql=sql, table=table)


def _record_skip(plan: LoadPlan) -> None:
    if plan.touched:  # same bytes under a new mtime: remember it, so the next round is a stat() only
        with transaction.atomic():
            _save_run(plan, result=FileResult(path=plan.path, kind=plan.kind, mode="skipped"))


def _record_failure(*, path: str, result: FileResult) -> None:
    """Keep a trace of a failed file after its transaction rolled back (best effort)."""
    logger.warning("%s", result.error)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            run = IngestRun.objects.create(
                path=path, kind=result.kind, finished_at=timezone.now(), succeeded=False,
                rows_read=result.rows_read, rejected=result.rejected, error=result.error,
            )
            _save_rejections(cursor, run=run, rejections=result.rejections)
    except DatabaseError as error:
        logger.warning("could not record the failed load of %s: %s", path, error)


def _copy_progress(name: str, *, rows: int, progress: Progress | None):
    """Periodic 'copied N% of the rows, rows/s' lines during a long COPY."""
    if progress is None or rows < PROGRESS_MIN_ROWS:
        return None
    started, last = time.monotonic(), [time.monotonic()]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS:
            last[0] = now
            copied = rows * done // max(total, 1)
            progress(f"{name}: copying, {copied:,} of {rows:,} rows{_rate(copied, started)}")

    return report


def _rate(rows: int, started: float) -> str:
    seconds = time.monotonic() - started
    return f" in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)" if seconds > 0 else ""


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)
    logger.debug(message)

