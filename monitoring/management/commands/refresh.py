"""Re-ingest the sources (a folder, files, zips, URLs) every settings.REFRESH_INTERVAL_SECONDS, for ever.

The sources grow every hour; each round loads what changed (new lines of a polls
file that only grew, whole files otherwise) and prints one line of counts. SIGTERM
or Ctrl-C ends the loop after the current round (each file loads in one
transaction, so even a kill leaves no partial file). Several refreshers may run:
only one works at a time (a PostgreSQL advisory lock). Rejected rows go to a CSV in
settings.MONITORING_LOG_DIR, as with `runscript load`.
"""
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.ingest.refresher import RoundOutcome, run_refresher
from monitoring.ingest.summary import LoadLog, rejection_lines


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="do one round and exit (non-zero if a file failed)")
        parser.add_argument("--full", action="store_true", help="first round re-reads every file whole")
        parser.add_argument("--interval", type=float, default=None, help="seconds between rounds (default: settings)")
        parser.add_argument(
            "--data-dir", default=None, help="sources to ingest: a folder, file, .zip or URL, or several with commas (default: settings)"
        )

    def handle(self, *args, once: bool, full: bool, interval: float | None, data_dir: str | None, **options) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        interval = interval or settings.REFRESH_INTERVAL_SECONDS
        outcomes: list[RoundOutcome] = []
        if options["verbosity"] > 0 and not once:
            self.stdout.write(f"Refreshing {data_dir or settings.MONITORING_DATA_DIR} every {interval:g} s (SIGTERM stops)")

        def on_round(outcome: RoundOutcome) -> None:
            outcomes.append(outcome)
            self._report(outcome, verbosity=options["verbosity"])

        run_refresher(stop=stop, interval=interval, on_round=on_round, data_dir=data_dir, full_first=full, once=once)
        if once and outcomes and outcomes[-1].failed:
            raise CommandError(outcomes[-1].line(), returncode=1)

    def _report(self, outcome: RoundOutcome, *, verbosity: int) -> None:
        log = LoadLog(log_dir=settings.MONITORING_LOG_DIR, prefix="refresh")
        if log.write_rejections(outcome.results):
            log.write(outcome.line())
            for result in outcome.results:
                for line in rejection_lines(result, limit=result.rejected):
                    log.write(line)
        if verbosity > 0:
            style = self.style.WARNING if outcome.failed else self.style.SUCCESS
            self.stdout.write(style(outcome.line()))
            for result in outcome.results:
                if not result.ok:
                    self.stderr.write(result.error)
                for line in rejection_lines(result, limit=10):
                    self.stdout.write(line)
