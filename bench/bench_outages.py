"""Outages and status now at full size: what the outage list costs a report, how fast it is served,
and how fast status now answers (issue "how often, and when").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_outages.py
    .venv/bin/python bench/bench_outages.py   # no DATABASE_URL: an embedded PostgreSQL in bench/out/

Loads the generated full-size data set (reused from bench/out/report-1/sources, as
bench_report.py makes it) into a fresh `bench_outages` database, then in one process:

- engine: on frames already read, the rolling figures alone (what a report computed
  before outage lists) and the same with the week's outage list, its counts and CSVs,
  median of three, so the outage list's share of a report is measured, not guessed;
- trigger: POST /trigger_report until Complete (median of three), the way clients ask;
- outages: GET /api/v1/reports/<id>/outages as JSON (first: rendered; again: cached)
  and as CSV;
- status: GET /api/v1/status (first after a load: computed; again: cached).

The last line printed is one JSON object of figures (docs/performance.md records them).
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

from benchkit import OUT, ROOT, drop_database, log, manage, use_fresh_database

DB_NAME = "bench_outages"
POLL_SECONDS = 0.05
RUNS = 3


def main() -> None:
    sources = OUT / "report-1" / "sources"
    if not (sources / "store_status.csv").exists():
        manage("make_dataset", str(sources))
    admin_url = use_fresh_database(name=DB_NAME, embedded_pgdata=OUT / "pgdata-outages")
    try:
        manage("migrate", "-v", "0")
        manage("runscript", "load", "-v", "0", "--script-args", str(sources))
        figures = _measure()
    finally:
        drop_database(name=DB_NAME, admin_url=admin_url)
    figures["cpus"] = os.cpu_count()
    figures["load_average"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


def _measure() -> dict:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
    django.setup()
    from django.test import Client

    client = Client()
    client.get("/api/v1/health")  # URLconf, API and database connection ready, as in a running server
    figures = {"engine": _engine(), "trigger_seconds": _median(lambda: _trigger(client))}
    report_id = _trigger(client, keep_id=True)
    figures["outages"] = {
        "json_first_seconds": _timed(lambda: client.get(f"/api/v1/reports/{report_id}/outages")),
        "json_again_seconds": _timed(lambda: client.get(f"/api/v1/reports/{report_id}/outages")),
        "csv_seconds": _timed(lambda: client.get(f"/api/v1/reports/{report_id}/outages", {"format": "csv"})),
        "rows": client.get(f"/api/v1/reports/{report_id}/outages").json()["count"],
    }
    figures["status"] = {
        "first_seconds": _timed(lambda: client.get("/api/v1/status")),
        "again_seconds": _timed(lambda: client.get("/api/v1/status")),
        "down_seconds": _timed(lambda: client.get("/api/v1/status", {"state": "down"})),
    }
    from django.db import connections

    from monitoring.reports import runners

    runners.shutdown()
    connections.close_all()  # the database is dropped next
    return figures


def _engine() -> dict:
    """The rolling figures alone against figures plus outage list, on the same frames."""
    from monitoring.engine import compute_rolling_report, outage_counts_to_csv, outages_to_csv, report_to_csv
    from monitoring.engine.report import _figures, store_status
    from monitoring.engine.stores import store_table
    from monitoring.engine.timebase import Span
    from monitoring.reports import reading

    now = reading.report_now(as_of=None)
    data = reading.read_shard(now=now)
    frames = {"stores": data.stores, "hours": data.hours, "polls": data.polls}

    def figures_only() -> None:
        status = store_status(stores=store_table(data.stores), hours=data.hours, polls=data.polls, span=Span.ending_at(now))
        _figures(status)

    def with_outages() -> None:
        rolling = compute_rolling_report(**frames, now=now)
        report_to_csv(rolling.figures)
        outages_to_csv(rolling.outages)
        outage_counts_to_csv(rolling.outage_counts)

    return {
        "read_seconds": round(data.read_seconds, 2),
        "figures_only_seconds": _median(figures_only),
        "with_outage_list_seconds": _median(with_outages),
    }


def _trigger(client, *, keep_id: bool = False):
    started = time.perf_counter()
    report_id = client.post("/trigger_report").json()["report_id"]
    while client.get("/get_report", {"report_id": report_id}).status_code == 202:
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    log(f"report {report_id}: {seconds:.2f} s")
    return report_id if keep_id else seconds


def _timed(call) -> float:
    started = time.perf_counter()
    answer = call()
    seconds = round(time.perf_counter() - started, 3)
    log(f"{answer.status_code} in {seconds} s ({len(answer.content):,} bytes)")
    return seconds


def _median(call) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = call()
        times.append(result if isinstance(result, float) else time.perf_counter() - started)
    return round(statistics.median(times), 3)


if __name__ == "__main__":
    main()
