"""Ingestion benchmark: the full-size dataset into a fresh database, then re-loads and one more hour.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_ingest.py
    .venv/bin/python bench/bench_ingest.py          # no DATABASE_URL: an embedded PostgreSQL in bench/out/

Generates ~14,400 stores / ~2.0M polls with the project's generator (`manage.py make_dataset`,
in a subprocess so this process's peak RSS is the loader's alone) into bench/out/ingest/,
creates a `bench_ingest` database (or BENCH_DB_NAME) on DATABASE_URL's server (dropped again at the end),
and times: the fresh load, a re-load with nothing new (skipped), a forced full re-load,
and the refresh after one more hour of polls (~10,000) is appended to the polls file.
The last line printed is one JSON object of figures (docs/performance.md records them).
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from benchkit import (  # bench/ is this script's folder on sys.path
    OUT as BENCH_OUT,
    ROOT,
    drop_database,
    log,
    manage,
    use_fresh_database,
)

OUT = BENCH_OUT / "ingest"
# Another name when several checkouts measure on one server at once.
DB_NAME = os.getenv("BENCH_DB_NAME", "bench_ingest")
LAST_POLL = "2023-01-25T18:13:22.479220"
NEXT_HOUR_END = "2023-01-25T19:13:22.479220"


def main() -> None:
    sources, hour = OUT / "sources", OUT / "next_hour"
    shutil.rmtree(OUT, ignore_errors=True)
    manage("make_dataset", str(sources))
    manage("make_dataset", str(hour), "--start", LAST_POLL, "--end", NEXT_HOUR_END)
    admin_url = use_fresh_database(name=DB_NAME, embedded_pgdata=OUT / "pgdata")
    try:
        figures = _measure(sources=sources, next_hour=hour / "store_status.csv")
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(name=DB_NAME, admin_url=admin_url)
    print(json.dumps(figures))


def _measure(*, sources: Path, next_hour: Path) -> dict:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
    django.setup()
    from django.core.management import call_command

    from monitoring.ingest.load import ingest_paths
    from monitoring.ingest.refresher import refresh_round

    call_command("migrate", verbosity=0)
    figures = {}
    fresh, figures["fresh_load_s"] = _timed(lambda: ingest_paths(paths=[sources], progress=log))
    _, figures["reload_unchanged_s"] = _timed(lambda: ingest_paths(paths=[sources]))
    _, figures["reload_full_s"] = _timed(lambda: ingest_paths(paths=[sources], full=True))
    appended = _append_body(next_hour, to=sources / "store_status.csv")
    outcome, figures["refresh_one_hour_s"] = _timed(lambda: refresh_round(data_dir=sources))
    log(f"refresh: {outcome.line()}")
    failures = [r.error for r in fresh + outcome.results if not r.ok]
    if failures:
        raise SystemExit(f"loads failed: {failures}")
    polls = next(r for r in fresh if r.kind == "polls")
    return {
        "polls": polls.rows_read,
        "stores": _store_count(),
        "fresh_load_s": figures["fresh_load_s"],
        "reload_unchanged_s": figures["reload_unchanged_s"],
        "reload_full_s": figures["reload_full_s"],
        "refresh_one_hour_s": figures["refresh_one_hour_s"],
        "one_hour_polls": appended,
        "refresh_mode": next(r.mode for r in outcome.results if r.kind == "polls"),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "cpus": os.cpu_count(),
    }


def _append_body(source: Path, *, to: Path) -> int:
    """Append a generated file's rows (not its header) to the polls file, as the hourly feed does."""
    lines = source.read_bytes().split(b"\n", 1)[1]
    with open(to, "ab") as handle:
        handle.write(lines)
    return lines.count(b"\n")


def _store_count() -> int:
    from monitoring.models import Store

    return Store.objects.count()


def _timed(action):
    started = time.perf_counter()
    result = action()
    seconds = round(time.perf_counter() - started, 2)
    return result, seconds


if __name__ == "__main__":
    main()
