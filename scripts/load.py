"""`manage.py runscript load`: load the CSV sources (SPEC 1, 10) into the database.

    manage.py runscript load                               the sources of settings.MONITORING_DATA_DIR
    manage.py runscript load --script-args SOURCE [...]    these files, folders, .zip files or http(s) URLs
    manage.py runscript load --script-args "--strict PATH" options go inside one quoted argument
                                                           (or --script-args=--strict alone)
    manage.py runscript load -v 0                          quiet: errors only

Prints a line of counts per file and the first rejected rows (a progress bar while
downloading or unzipping, on a terminal; plain lines otherwise), then the alert events
decided when new polls were stored (SPEC 9), and writes a log and
the CSV of all rejected rows to settings.MONITORING_LOG_DIR. Exit code 1 when a file
could not be loaded (missing, empty, unknown header, or rejected rows with --strict).
"""
from __future__ import annotations

import argparse
import shlex
import sys

from django.conf import settings
from django.core.management.base import CommandError, OutputWrapper
from django.core.management.color import color_style

from monitoring.ingest.sources import ingest_round, split_sources
from monitoring.ingest.summary import (
    LoadLog,
    TransferProgress,
    rejection_lines,
    runscript_verbosity,
    summary_line,
)

REJECTIONS_SHOWN = 10


def run(*script_args: str) -> None:
    options = _parse(script_args)
    verbosity = runscript_verbosity.get()
    stdout, stderr, style = OutputWrapper(sys.stdout), OutputWrapper(sys.stderr), color_style()
    log = LoadLog(log_dir=settings.MONITORING_LOG_DIR, prefix="load")
    transfer = TransferProgress(stream=sys.stdout) if verbosity > 0 else None

    def say(line: str) -> None:
        log.write(line)
        if transfer is not None:
            transfer.close()  # a line of text starts below a progress bar, not over it
        if verbosity > 0:
            stdout.write(line)

    sources = options.sources or split_sources(settings.MONITORING_DATA_DIR)
    say(f"Loading {', '.join(sources)}{' (strict)' if options.strict else ''}")
    loaded = ingest_round(sources=sources, strict=options.strict, full=options.full, progress=say, transfer=transfer)
    results = loaded.results
    for result in results:
        say(summary_line(result))
        for line in rejection_lines(result, limit=REJECTIONS_SHOWN if verbosity < 2 else result.rejected):
            say(line)
    if loaded.digests.line():
        say(loaded.digests.line())
    if loaded.alerts is not None:
        say(loaded.alerts.line())
    if log.write_rejections(results):
        say(f"Rejected rows and their reasons: {log.rejected_path}")
    failed = [r for r in results if not r.ok]
    if failed:
        for result in failed:
            stderr.write(style.ERROR(result.error))
        raise CommandError(f"{len(failed)} of {len(results)} files could not be loaded (log: {log.path})", returncode=1)
    say(f"Done. Log: {log.path}")


def _parse(script_args: tuple[str, ...]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="manage.py runscript load --script-args", add_help=False, exit_on_error=False)
    parser.add_argument("sources", nargs="*", help="CSV files (.csv, .csv.gz), folders of them, .zip files, http(s) URLs")
    parser.add_argument("--strict", action="store_true", help="a file with any rejected row loads nothing")
    parser.add_argument("--full", action="store_true", help="re-read files whole even if unchanged or only grown (URLs: download)")
    # Each argument may hold several words, so options can pass through runscript's own parser.
    words = [word for argument in script_args for word in shlex.split(argument)]
    try:
        options, unknown = parser.parse_known_args(words)
    except argparse.ArgumentError as error:
        raise CommandError(f"load: {error}", returncode=2) from None
    if unknown:
        raise CommandError(f"load: unknown option(s) {' '.join(unknown)} (known: --strict, --full)", returncode=2)
    return options
