"""Period reports (SPEC 8) on weeks of history: a month and a day for every store, trigger to Complete.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_periods.py
    ... bench/bench_periods.py --weeks 2 --scale 0.05   # a quick look
    .venv/bin/python bench/bench_periods.py            # no DATABASE_URL: an embedded PostgreSQL in bench/out/

Generates `--weeks` weeks (default 6: about 11 million polls at full size) with the
project's generator (`manage.py make_dataset --weeks N`, reused when bench/out/
periods-<S>-<N>/ holds it), loads them into a fresh database (`--database`, dropped
at the end), then asks, each in its own process so that each peak RSS is its own,
through the API's own trigger and poll (Django's test Client, runner threads):

- the month of the latest poll (January 2023: cut at the latest poll, with the
  previous month computed in the same report);
- the day before the latest poll's day.

Each is run three times; the median is reported. The last line printed is one JSON
object of figures (docs/performance.md records them).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from benchkit import OUT, ROOT, child_figures, drop_database, log, manage, use_fresh_database

RUNS = 3
POLL_SECONDS = 0.05
ASKS = {"month": {"period": "month", "date": "2023-01-25"}, "day": {"period": "day", "date": "2023-01-24"}}


def main() -> None:
    options = _arguments()
    if options.ask:
        print(json.dumps(_ask(ASKS[options.ask])))
        return
    sources = OUT / f"periods-{options.scale:g}-{options.weeks}"
    if not (sources / "menu_hours.csv").exists():
        manage("make_dataset", str(sources), "--weeks", str(options.weeks), "--scale", f"{options.scale:g}")
    admin_url = use_fresh_database(name=options.database, embedded_pgdata=OUT / "pgdata-periods")
    try:
        manage("migrate", "-v", "0")
        manage("runscript", "load", "-v", "0", "--script-args", str(sources))
        figures = {name: _median_of_runs(name) for name in ASKS}
    finally:
        drop_database(name=options.database, admin_url=admin_url)
    print(json.dumps({"scale": options.scale, "weeks": options.weeks, **figures, "cpus": os.cpu_count()}))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=6, help="weeks of polls (default 6)")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the real store count (default 1)")
    parser.add_argument("--database", default="bench_periods", help="throwaway database to create and drop")
    parser.add_argument("--ask", choices=sorted(ASKS), help=argparse.SUPPRESS)
    return parser.parse_args()


def _median_of_runs(name: str) -> dict:
    runs = []
    for _ in range(RUNS):
        load_average = round(os.getloadavg()[0], 1)
        runs.append({**child_figures(__file__, "--ask", name, label=name), "load_average": load_average})
        log(f"{name}: {runs[-1]}")
    middle = statistics.median(run["seconds"] for run in runs)
    return {**next(run for run in runs if run["seconds"] == middle), "all_seconds": [run["seconds"] for run in runs]}


def _ask(fields: dict) -> dict:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
    django.setup()
    from django.test import Client

    from monitoring.models import Report
    from monitoring.reports import runners

    client = Client()
    client.get("/api/v1/health")  # URLconf, API and database connection ready, as in a running server
    started = time.perf_counter()
    report_id = client.post("/trigger_report", fields, content_type="application/json").json()["report_id"]
    while client.get("/get_report", {"report_id": report_id}).status_code == 202:
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    runners.shutdown()
    report = Report.objects.get(pk=report_id)
    if report.state != Report.State.COMPLETE:
        raise SystemExit(f"the report did not complete: {report.error}")
    return {
        "seconds": round(seconds, 2), "read_seconds": round(report.read_seconds, 2),
        "compute_seconds": round(report.compute_seconds, 2), "stores": report.store_count, "polls": report.poll_count,
    }


if __name__ == "__main__":
    main()
