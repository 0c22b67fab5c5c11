"""Report benchmark: a full report of the full-size dataset, timed three ways.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_report.py
    ... bench/bench_report.py --scale 10     # ten times the stores and polls (heavy: minutes to load)
    ... bench/bench_report.py --weeks 2      # two weeks of polls: the steady state (a report reads 14 days)
    .venv/bin/python bench/bench_report.py   # no DATABASE_URL: an embedded PostgreSQL in bench/out/
    ... bench/bench_report.py --owner brand-01 --runs 3   # one owner's report (988 stores, SPEC 11), median of 3

Generates the dataset with the project's generator (`manage.py make_dataset`, reused
when bench/out/report-<scale>/sources already holds it: the generator is
deterministic), loads it with `manage.py runscript load` into a fresh `bench_report`
database on DATABASE_URL's server (dropped at the end), with `--weeks N` the polls of
N - 1 more weeks after it (generated into week-2/... beside it, only their status
files loaded, as refreshes would add them), then times, each in its own process so
that each peak RSS is its own:

- engine: the engine alone on frames already in memory (read first, shard by shard);
- command: `manage.py report` (reads, engine, CSV, Report row);
- trigger: POST /trigger_report, then GET /get_report until it says Complete, through
  Django's test Client in a process whose runner threads build the report.

With `--owner O` every way computes O's report only (its stores read alone), the trigger
sent with a token of O's. With `--runs N` each way runs N times, each in its own process,
and its figures are the run of median seconds (all N times are listed too).

The last line printed is one JSON object of figures (docs/performance.md records them).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta

from benchkit import (  # bench/ is this script's folder on sys.path
    OUT,
    ROOT,
    child_figures,
    drop_database,
    log,
    manage,
    use_fresh_database,
)

DB_NAME = "bench_report"
POLL_SECONDS = 0.05
WEEK = timedelta(days=7)


def main() -> None:
    sys.path.insert(0, str(ROOT))  # the project's modules, for the children and the weeks' dates
    options = _arguments()
    if options.way:
        print(json.dumps(_run_way(options.way, owner=options.owner)))
        return
    sources = OUT / f"report-{options.scale:g}" / "sources"
    # owners.csv too: a folder made before the generator wrote owners is made again.
    if not all((sources / name).exists() for name in ("store_status.csv", "owners.csv")):
        manage("make_dataset", str(sources), "--scale", f"{options.scale:g}")
    admin_url = use_fresh_database(name=DB_NAME, embedded_pgdata=OUT / "pgdata-report")
    try:
        load_started = time.perf_counter()
        manage("migrate", "-v", "0")
        manage("runscript", "load", "-v", "0", "--script-args", str(sources))
        _load_more_weeks(scale=options.scale, weeks=options.weeks)
        log(f"loaded in {time.perf_counter() - load_started:.1f} s")
        figures = {"scale": options.scale, "weeks": options.weeks, "owner": options.owner or None}
        figures.update({way: _measure_in_child(way, owner=options.owner, runs=options.runs) for way in ("engine", "command", "trigger")})
    finally:
        drop_database(name=DB_NAME, admin_url=admin_url)
    figures["cpus"] = os.cpu_count()
    print(json.dumps(figures))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="share of the real store count (default 1)")
    parser.add_argument("--weeks", type=int, choices=range(1, 6), default=1,
                        help="weeks of polls loaded (default 1; the generator reaches 4 weeks past the first)")
    parser.add_argument("--owner", default="", help="one owner's report (its stores only), e.g. brand-01")
    parser.add_argument("--runs", type=int, default=1, help="runs of each way; the figures are the median run's")
    parser.add_argument("--way", choices=["engine", "command", "trigger"], help=argparse.SUPPRESS)
    return parser.parse_args()


def _load_more_weeks(*, scale: float, weeks: int) -> None:
    """Weeks 2..N of polls after the generated one; only their status files are loaded."""
    from monitoring.datagen import END

    for week in range(2, weeks + 1):
        folder = OUT / f"report-{scale:g}" / f"week-{week}"
        if not (folder / "store_status.csv").exists():
            start, end = END + (week - 2) * WEEK, END + (week - 1) * WEEK
            manage("make_dataset", str(folder), "--scale", f"{scale:g}", "--start", start.isoformat(), "--end", end.isoformat())
        manage("runscript", "load", "-v", "0", "--script-args", str(folder / "store_status.csv"))


def _measure_in_child(way: str, *, owner: str, runs: int) -> dict:
    """Run one way `runs` times, each in a fresh process; the median run's figures (with its own peak RSS)."""
    results = [child_figures(__file__, "--way", way, "--owner", owner, label=f"the {way} run") for _ in range(runs)]
    for figures in results:
        log(f"{way}: {figures}")
    median = sorted(results, key=lambda figures: figures["seconds"])[len(results) // 2]
    return {**median, "runs_seconds": [figures["seconds"] for figures in results]} if runs > 1 else median


def _run_way(way: str, *, owner: str) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
    django.setup()
    return {"engine": _engine_alone, "command": _command, "trigger": _trigger}[way](owner=owner)


def _engine_alone(*, owner: str) -> dict:
    from django.conf import settings

    from monitoring.access import owner_scope
    from monitoring.engine import compute_report, report_to_csv
    from monitoring.reports import reading

    now = reading.report_now(as_of=None)
    scope = owner_scope(owner)
    ranges = reading.shard_ranges(size=settings.REPORT_SHARD_STORES, scope=scope)
    frames = [reading.read_shard(bounds=reading.bounds_of(ranges, i), now=now, scope=scope) for i in range(len(ranges))]
    compute = to_csv = 0.0
    stores = 0
    for f in frames:
        started = time.perf_counter()
        report = compute_report(stores=f.stores, hours=f.hours, polls=f.polls, now=now)
        computed = time.perf_counter()
        report_to_csv(report)
        compute, to_csv = compute + computed - started, to_csv + time.perf_counter() - computed
        stores += len(report)
    return {
        "seconds": round(compute, 2),
        "csv_seconds": round(to_csv, 2),
        "read_seconds": round(sum(f.read_seconds for f in frames), 2),
        "stores": stores,
        "polls": sum(len(f.polls) for f in frames),
        "shards": len(frames),
    }


def _command(*, owner: str) -> dict:
    from django.core.management import call_command

    from monitoring.models import Report

    started = time.perf_counter()
    call_command("report", "--output", str(OUT / "report.csv"), "--owner", owner, stdout=sys.stderr)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), **_split(Report.objects.latest("requested_at"))}


def _trigger(*, owner: str) -> dict:
    """POST /trigger_report, then GET /get_report until Complete (the API's own answers); an owner's with its token."""
    from django.test import Client

    from monitoring.access import api_token_create
    from monitoring.models import ApiToken, Report

    headers = {}
    if owner:
        ApiToken.objects.filter(name="bench-owner").delete()
        headers["HTTP_AUTHORIZATION"] = f"Bearer {api_token_create(name='bench-owner', owner=owner).secret}"
    client = Client(**headers)
    client.get("/api/v1/health")  # URLconf, API and database connection ready, as in a running server
    from monitoring.reports import runners

    runners.start_background()  # the runner threads and janitor up, as `manage.py serve` starts them
    time.sleep(1.0)  # the janitor's first round (recovery, expiry) done before the clock starts
    started = time.perf_counter()
    answer = client.post("/trigger_report")
    if answer.status_code != 200:
        raise SystemExit(f"POST /trigger_report answered {answer.status_code}: {answer.content[:300]!r}")
    report_id = answer.json()["report_id"]
    while (answer := client.get("/get_report", {"report_id": report_id})).status_code == 202:
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    if answer.json().get("status") != "Complete":
        raise SystemExit(f"the report did not complete: {answer.content[:300]!r}")
    runners.shutdown()
    return {"seconds": round(seconds, 2), "via": "POST /trigger_report, GET /get_report", **_split(Report.objects.get(pk=report_id))}


def _split(report) -> dict:
    return {
        "read_seconds": round(report.read_seconds, 2),
        "compute_seconds": round(report.compute_seconds, 2),
        "report_seconds": round(report.duration_seconds, 2),
        "stores": report.store_count,
        "polls": report.poll_count,
    }


if __name__ == "__main__":
    main()
