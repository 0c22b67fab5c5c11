"""Build a report now, in this process, and write its CSV (and its outage list) to files.

The same code as a triggered report, run synchronously (a Report row is kept
too, so the report also shows in the app): for scripts and cron jobs, for
checking figures, and for timing where the time goes (read vs compute).
"""
from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.models import Report
from monitoring.reports.build import report_build
from monitoring.reports.service import report_create


def iso_instant(text: str) -> datetime:
    """An ISO 8601 instant; without an offset it is taken as UTC, like the polls."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant (e.g. 2023-01-25T18:13:22Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-of", type=iso_instant, help="report as of this instant (default: the latest poll)")
        parser.add_argument("--output", type=Path, help="CSV file to write (default: var/reports/<report id>.csv)")
        parser.add_argument("--outages", type=Path, help="also write the report's outage list (SPEC 7) to this CSV file")

    def handle(self, *args, as_of: datetime | None, output: Path | None, outages: Path | None, **options) -> None:
        report = report_build(report=report_create(as_of=as_of, requested_by="manage.py report", build_here=True))
        if report.state != Report.State.COMPLETE:
            raise CommandError(f"report {report.id} failed: {report.error}")
        path = output or settings.BASE_DIR / "var" / "reports" / f"{report.id}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.csv, encoding="utf-8", newline="")
        if outages is not None:
            outages.parent.mkdir(parents=True, exist_ok=True)
            outages.write_text(report.outages_csv, encoding="utf-8", newline="")
        self.stdout.write(self.style.SUCCESS(
            f"Report {report.id}: {report.store_count} stores, {report.poll_count} polls, now {report.now.isoformat()}"
        ))
        self.stdout.write(f"CSV written to {path}")
        if outages is not None:
            self.stdout.write(f"Outage list written to {outages}")
        self.stdout.write(
            f"Timings: read {report.read_seconds:.2f} s, compute {report.compute_seconds:.2f} s, "
            f"total {report.duration_seconds:.2f} s"
        )
