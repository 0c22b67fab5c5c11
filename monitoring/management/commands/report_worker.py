"""Build queued reports in this process, for REPORT_RUNNER=worker.

The web processes then only answer requests and queue reports (Pending rows); this
process takes them oldest first, REPORT_CONCURRENCY at a time, with the thread
runner's code, and recovers reports whose runner died. Start one or more, anywhere
that reaches the database. SIGTERM or Ctrl-C: the reports being built are finished,
then it exits. It also sends the queued webhook deliveries, from a thread.
"""
import os
import signal
import threading

from django.core.management.base import BaseCommand

from monitoring.alerts import delivery
from monitoring.reports import runners

QUEUE_POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--concurrency", type=int, default=None, help="reports at once (default: REPORT_CONCURRENCY)")
        parser.add_argument(
            "--nice", type=int, default=10,
            help="lower this process's CPU priority by N (default 10): on a machine shared with the web "
            "server, reports are batch work and requests are interactive",
        )

    def handle(self, *args, concurrency: int | None, nice: int, **options) -> None:
        os.nice(nice)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        worker = runners.ReportWorker(concurrency=concurrency)
        # The production layout runs report workers beside the web processes: they send the webhooks too.
        delivery.start_background()
        self.stdout.write(f"Building queued reports, {worker.concurrency} at a time (SIGTERM stops)")
        worker.run(stop=stop, poll_seconds=QUEUE_POLL_SECONDS)
        self.stdout.write(self.style.SUCCESS("stopped"))
