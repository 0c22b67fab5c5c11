"""History benchmark: weeks of polls loaded one by one, reports as history grows, the hourly refresh on top.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_history.py
    ... bench/bench_history.py --weeks 2 --scale 0.05   # a quick look
    .venv/bin/python bench/bench_history.py            # no DATABASE_URL: an embedded PostgreSQL in bench/out/

Generates `--weeks` weeks (default 8) of the same stores with the project's generator
(`manage.py make_dataset --weeks N --scale S`: a polls file per week, reused when
bench/out/history-<S>-<N>/ already holds it: the generator is deterministic) and the
hour of polls after the real end, creates a fresh database on DATABASE_URL's server
(`--database`, dropped at the end), loads the hours and timezones, then each week's
file alone, oldest first, and times, each step in its own process so that each peak
RSS is its own:

- each week's load (`ingest_paths` of that one file, as `runscript load` does), and apart
  what the round does after its files: the digests of the days it closed, then the alert
  events decided;
- a report (`manage.py report`: read, engine, CSV) after 2, 4 and 8 weeks loaded;
- the hourly refresh: the next hour's polls appended to the newest week's file (a copy
  in bench/out/history-<S>-<N>/feed/, so the generated files stay as made), then one
  refresh round of that folder (only the new lines read), then retention, which keeps
  all of 8 weeks at the default 90 days;
- retention that drops the oldest week: a pass keeping (weeks - 1) x 7 days.

Each step also records the machine's 1-minute load average as it starts. The last
line printed is one JSON object of figures (docs/performance.md records them).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from benchkit import (  # bench/ is this script's folder on sys.path
    OUT,
    ROOT,
    child_figures,
    drop_database,
    log,
    manage,
    use_fresh_database,
)

LAST_POLL = "2023-01-25T18:13:22.479220"
NEXT_HOUR_END = "2023-01-25T19:13:22.479220"
REPORT_AFTER_WEEKS = (2, 4, 8)


def main() -> None:
    options = _arguments()
    if options.step:
        print(json.dumps(_run_step(options.step, options.paths)))
        return
    folder = OUT / f"history-{options.scale:g}-{options.weeks}"
    weeks = _generate(folder=folder, weeks=options.weeks, scale=options.scale)
    admin_url = use_fresh_database(name=options.database, embedded_pgdata=OUT / "pgdata-history")
    try:
        manage("migrate", "-v", "0")
        figures = _measure(sources=folder / "sources", weeks=weeks, next_hour=folder / "next_hour" / "store_status.csv")
    finally:
        drop_database(name=options.database, admin_url=admin_url)
    print(json.dumps({"scale": options.scale, "weeks": options.weeks, **figures, "cpus": os.cpu_count()}))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=8, help="weeks of polls to load one by one (default 8)")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the real store count (default 1)")
    parser.add_argument("--database", default="bench_history", help="throwaway database to create and drop")
    parser.add_argument("--step", choices=["load", "report", "refresh", "retention"], help=argparse.SUPPRESS)
    parser.add_argument("--paths", type=Path, nargs="*", help=argparse.SUPPRESS)
    return parser.parse_args()


def _generate(*, folder: Path, weeks: int, scale: float) -> list[Path]:
    """The week files, oldest first, the newest one copied into feed/; and the next hour's polls."""
    sources, hour, feed = folder / "sources", folder / "next_hour", folder / "feed"
    files = [sources / f"store_status_week{week:0{max(2, len(str(weeks)))}d}.csv" for week in range(1, weeks + 1)]
    if not files[-1].exists():
        manage("make_dataset", str(sources), "--weeks", str(weeks), "--scale", f"{scale:g}")
    if not (hour / "store_status.csv").exists():
        manage("make_dataset", str(hour), "--scale", f"{scale:g}", "--start", LAST_POLL, "--end", NEXT_HOUR_END)
    shutil.rmtree(feed, ignore_errors=True)
    feed.mkdir()
    shutil.copyfile(files[-1], feed / files[-1].name)
    return files[:-1] + [feed / files[-1].name]


def _measure(*, sources: Path, weeks: list[Path], next_hour: Path) -> dict:
    figures = {"stores_load": _step("load", sources / "menu_hours.csv", sources / "timezones.csv")}
    figures["loads"], figures["reports"] = [], []
    for week, path in enumerate(weeks, start=1):
        figures["loads"].append({"week": week, **_step("load", path)})
        if week in REPORT_AFTER_WEEKS or week == len(weeks):
            figures["reports"].append({"weeks_loaded": week, **_step("report")})
    figures["one_hour_polls"] = _append_body(next_hour, to=weeks[-1])
    figures["refresh"] = _step("refresh", weeks[-1].parent)
    if len(weeks) > 1:
        figures["retention_one_week"] = _step("retention")
    first, last = figures["loads"][0]["seconds"], figures["loads"][-1]["seconds"]
    figures["last_over_first_load"] = round(last / first, 2)
    return figures


def _step(step: str, *paths: Path) -> dict:
    load_average = round(os.getloadavg()[0], 1)
    arguments = ["--paths", *map(str, paths)] if paths else []
    figures = {**child_figures(__file__, "--step", step, *arguments, label=step), "load_average": load_average}
    log(f"{step} {' '.join(p.name for p in paths)}: {figures}")
    return figures


def _run_step(step: str, paths: list[Path] | None) -> dict:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
    django.setup()
    return {"load": _load, "report": _report, "refresh": _refresh, "retention": _retention}[step](paths or [])


def _load(paths: list[Path]) -> dict:
    """The files loaded, then what a round does after them, each timed apart: the closed days
    digested and the alert events decided (so the refresh round decides only its hour's)."""
    from monitoring.ingest.load import ingest_paths
    from monitoring.ingest.sources import IngestRound

    started = time.perf_counter()
    results = ingest_paths(paths=paths)
    seconds = time.perf_counter() - started
    _fail_on([r.error for r in results if not r.ok])
    after = IngestRound.after(results)
    return {
        "seconds": round(seconds, 2), "rows": sum(r.rows_read for r in results), "inserted": sum(r.inserted for r in results),
        "digest_seconds": round(after.digests.seconds, 2), "digested_days": after.digests.days,
        "alerts_seconds": round(after.alerts.seconds, 2) if after.alerts else 0.0,
        "alerts": after.alerts.line() if after.alerts else "",
    }


def _report(_: list[Path]) -> dict:
    from django.core.management import call_command

    from monitoring.models import Report

    started = time.perf_counter()
    call_command("report", "--output", str(OUT / "history-report.csv"), stdout=sys.stderr)
    seconds = time.perf_counter() - started
    report = Report.objects.latest("requested_at")
    return {
        "seconds": round(seconds, 2),
        "read_seconds": round(report.read_seconds, 2),
        "compute_seconds": round(report.compute_seconds, 2),
        "stores": report.store_count,
        "polls": report.poll_count,
    }


def _refresh(paths: list[Path]) -> dict:
    from monitoring.ingest.refresher import refresh_round

    started = time.perf_counter()
    outcome = refresh_round(data_dir=paths[0])
    seconds = time.perf_counter() - started
    _fail_on([r.error for r in outcome.results if not r.ok] + ([outcome.error] if outcome.error else []))
    polls = [r for r in outcome.results if r.kind == "polls" and r.mode != "skipped"]
    return {"seconds": round(seconds, 2), "line": outcome.line(), "polls_read": sum(r.rows_read for r in polls)}


def _retention(_: list[Path]) -> dict:
    """Keep one week less than is loaded: with the latest poll on 2023-01-25, (weeks - 1) x 7
    days back is the first day of week 2, so exactly week 1's seven day partitions go."""
    from django.db.models import Max, Min

    from monitoring.ingest.retention import retention_apply
    from monitoring.models import StatusPoll

    first, latest = (StatusPoll.objects.aggregate(v=fn("timestamp"))["v"] for fn in (Min, Max))
    weeks = round((latest - first).days / 7)
    started = time.perf_counter()
    drop = retention_apply(keep_days=(weeks - 1) * 7).drop
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "line": drop.summary() if drop else "nothing dropped"}


def _append_body(source: Path, *, to: Path) -> int:
    """Append a generated file's rows (not its header) to a polls file, as the hourly feed does."""
    lines = source.read_bytes().split(b"\n", 1)[1]
    with open(to, "ab") as handle:
        handle.write(lines)
    return lines.count(b"\n")


def _fail_on(errors: list[str]) -> None:
    if errors:
        raise SystemExit(f"failed: {errors}")


if __name__ == "__main__":
    main()
