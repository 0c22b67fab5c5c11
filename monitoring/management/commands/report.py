"""Build a report now, in this process, and write its CSV (and its outage list) to files.

The same code as a triggered report, run synchronously (a Report row is kept
too, so the report also shows in the app): for scripts and cron jobs, for
checking figures, and for timing where the time goes (read vs compute).

    manage.py report                                   rolling: last hour, day and week at the latest poll
    manage.py report --as-of 2023-01-24T18:00:00Z      rolling, now = that instant
    manage.py report --start S --end E                 an interval, the same for every store (SPEC 8)
    manage.py report --period month --date 2023-01-15  each store's own local day, week or month
    manage.py report --owner brand-01                  one owner's stores only, as its clients see it (SPEC 11)
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.access import IdentityRefused, owner_name, owner_scope
from monitoring.models import Report
from monitoring.reports.build import report_build
from monitoring.reports.requests import RequestError, report_request
from monitoring.reports.service import report_create


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-of", help="rolling report as of this instant (ISO 8601; naive = UTC; default: the latest poll)")
        parser.add_argument("--start", help="interval report from this instant (ISO 8601), with --end")
        parser.add_argument("--end", help="interval report up to this instant (exclusive)")
        parser.add_argument("--period", help="period report: day, week or month, with --date")
        parser.add_argument("--date", help="the date (YYYY-MM-DD) inside the period, in each store's own calendar")
        parser.add_argument("--output", type=Path, help="CSV file to write (default: var/reports/<report id>.csv)")
        parser.add_argument("--outages", type=Path, help="also write the report's outage list (SPEC 7) to this CSV file")
        parser.add_argument("--owner", default="", help="the report of this owner's stores, seen by its clients (default: every store)")

    def handle(self, *args, output: Path | None, outages: Path | None, owner: str, **options) -> None:
        try:
            request = report_request(
                as_of=options["as_of"], start=options["start"], end=options["end"],
                period=options["period"], day=options["date"],
            )
            scope = owner_scope(owner_name(owner))
        except (RequestError, IdentityRefused) as error:
            raise CommandError(str(error)) from None
        created = report_create(request=request, requested_by="manage.py report", scope=scope, build_here=True)
        report = report_build(report=created)
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
        if report.kind != Report.Kind.ROLLING:
            cut = " (cut at the latest poll)" if report.periods_cut else ""
            self.stdout.write(f"Periods end by {report.effective_end.isoformat() if report.effective_end else '-'}{cut}")
        self.stdout.write(f"CSV written to {path}")
        if outages is not None:
            self.stdout.write(f"Outage list written to {outages}")
        self.stdout.write(
            f"Timings: read {report.read_seconds:.2f} s, compute {report.compute_seconds:.2f} s, "
            f"total {report.duration_seconds:.2f} s"
        )
