"""Rejected-rows benchmark: polls files in which every row is bad, at two sizes, each loaded
in a fresh process; the loader's peak RSS should not grow with the number of rejected rows.

    BENCH_DB_NAME=rej_bench DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_rejections.py
    .venv/bin/python bench/bench_rejections.py --rows 1000000,4000000     # the default sizes

Writes the files into bench/out/rejections/ (three reasons in turn: an unknown status, an
unparsable timestamp, a missing field), creates a `bench_rejections` database (or
BENCH_DB_NAME) on DATABASE_URL's server (dropped at the end), and for each size runs, in a
child process, what `runscript load -v 2` does with the rows: the load, the log's CSV of
every rejected row and every rejection line (counted, not printed). The child's peak RSS
comes from wait4(). The last line printed is one JSON object of figures
(docs/performance.md records them).
"""
from __future__ import annotations

import argparse
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
    child_figures,
    drop_database,
    log,
    manage,
    use_fresh_database,
)

OUT = BENCH_OUT / "rejections"
DB_NAME = os.getenv("BENCH_DB_NAME", "bench_rejections")
# One of each reason in turn, so the reasons' checks (status, timestamp, field count) all run.
BAD_ROWS = (
    "s{n},maybe,2023-01-22 12:00:00 UTC\n",
    "s{n},active,2023-13-45 99:00:00 UTC\n",
    "s{n},active\n",
)


def main() -> None:
    options = _parse()
    if options.child:
        print(json.dumps(_load(Path(options.child), log_dir=OUT / "log")))
        return
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    files = {rows: _write_bad_file(OUT / f"bad_{rows}.csv", rows=rows) for rows in options.rows}
    admin_url = use_fresh_database(name=DB_NAME, embedded_pgdata=OUT / "pgdata")
    try:
        manage("migrate", "--verbosity", "0")
        runs = [{"rows": rows, **child_figures(__file__, "--child", str(path), label=f"{rows:,} bad rows")} for rows, path in files.items()]
    finally:
        drop_database(name=DB_NAME, admin_url=admin_url)
    for run in runs:
        log(f"{run['rows']:,} bad rows: peak RSS {run['peak_rss_mb']} MB ({run['load_peak_rss_mb']} MB by the end of the load), "
            f"load {run['load_s']} s, CSV {run['csv_s']} s, lines {run['lines_s']} s")
    print(json.dumps({"runs": runs, "rss_growth_mb": runs[-1]["peak_rss_mb"] - runs[0]["peak_rss_mb"], "cpus": os.cpu_count()}))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=lambda text: [int(n) for n in text.split(",")], default=[1_000_000, 4_000_000])
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a child: load this file into DATABASE_URL's database
    return parser.parse_args()


def _write_bad_file(path: Path, *, rows: int) -> Path:
    """A polls file of `rows` bad rows, written in chunks so this process stays small too."""
    chunk = 100_000
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("store_id,status,timestamp_utc\n")
        for start in range(0, rows, chunk):
            handle.write("".join(BAD_ROWS[n % 3].format(n=n % 1000) for n in range(start, min(rows, start + chunk))))
    return path


def _load(path: Path, *, log_dir: Path) -> dict:
    """In the child: load the file, then write its rejected rows as `runscript load -v 2` does."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
    django.setup()
    from monitoring.ingest.load import ingest_paths
    from monitoring.ingest.summary import LoadLog, rejection_lines
    from monitoring.models import RejectedRow

    started = time.perf_counter()
    [result] = ingest_paths(paths=[path])
    loaded, load_rss = time.perf_counter(), _peak_rss_mb()
    written = LoadLog(log_dir=log_dir, prefix="bench").write_rejections([result])
    logged = time.perf_counter()
    lines = sum(1 for _ in rejection_lines(result, limit=result.rejected))
    return {
        "mode": result.mode,
        "rejected": result.rejected,
        "stored": RejectedRow.objects.filter(run__path=str(path.resolve())).count(),
        "csv_rows": written,
        "lines": lines,
        "load_s": round(loaded - started, 2),
        "load_peak_rss_mb": load_rss,  # the load alone, before the rows are read back
        "csv_s": round(logged - loaded, 2),
        "lines_s": round(time.perf_counter() - logged, 2),
    }


def _peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if __name__ == "__main__":
    main()
