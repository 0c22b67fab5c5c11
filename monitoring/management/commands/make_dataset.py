"""Make a realistic store-monitoring dataset: real hours and timezones, synthetic polls and owners.

    manage.py make_dataset OUT                       real scale: ~14,400 stores, ~2.0M polls, one week
    manage.py make_dataset OUT --scale 0.02 --gzip   a few hundred stores, gzipped (like data/sample)
    manage.py make_dataset OUT --start 2023-01-25T18:13:22.479220 --end 2023-01-25T19:13:22.479220
                                                     exactly the polls of that hour (to append)
    manage.py make_dataset OUT --weeks 8             8 weeks ending with the real one, a polls file per
                                                     week: store_status_week01.csv (oldest) ... _week08.csv

Deterministic: the same arguments give byte-identical files (monitoring/datagen.py). The
summary names the owner the benchmarks scope to (brand-01, about 1,000 stores at full size).
"""
from pathlib import Path

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from monitoring.datagen import BENCHMARK_OWNER, END, START, generate_dataset, generate_weeks


def _utc(text: str) -> pd.Timestamp:
    stamp = pd.Timestamp(text)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("out", type=Path, help="folder to write store_status, menu_hours, timezones, owners CSVs to")
        parser.add_argument("--scale", type=float, default=1.0, help="share of the real store count (default 1)")
        parser.add_argument("--seed", type=int, default=2023)
        parser.add_argument("--start", type=_utc, default=None, help=f"first poll time, UTC (default {START})")
        parser.add_argument("--end", type=_utc, default=None, help=f"polls strictly before this, UTC (default {END})")
        parser.add_argument("--weeks", type=int, default=None, help="weeks of polls ending at the real end, a file each")
        parser.add_argument("--gzip", action="store_true", help="write .csv.gz files")

    def handle(self, *args, out: Path, scale: float, seed: int, start, end, weeks: int | None, gzip: bool, **options) -> None:
        if weeks is not None and (start is not None or end is not None):
            raise CommandError("--weeks always ends at the real end: it takes no --start or --end")
        try:
            if weeks is None:
                summary = generate_dataset(out_dir=out, scale=scale, seed=seed, start=start or START, end=end or END, compress=gzip)
            else:
                summary = generate_weeks(out_dir=out, weeks=weeks, scale=scale, seed=seed, compress=gzip)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if options["verbosity"] > 0:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{summary.stores:,} stores, {summary.polls:,} polls, {summary.hours_rows:,} business-hour rows, "
                    f"{summary.timezone_rows:,} timezones, {summary.owner_rows:,} owner rows "
                    f"({BENCHMARK_OWNER} owns {summary.benchmark_owner_stores:,} stores) -> {out}"
                )
            )
