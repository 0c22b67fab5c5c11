"""Send the queued webhook deliveries as they fall due, for ever (or `--once`: what is due now).

`manage.py serve` and `manage.py report_worker` already deliver from a thread, so
this process is only needed where neither runs (or to add capacity). Several may
run: a delivery is claimed by one at a time (monitoring/alerts/delivery.py).
SIGTERM or Ctrl-C: the sends in flight finish and are recorded, then it exits;
even a kill loses nothing, the claimed rows are sent again when their claim expires.
"""
import signal
import threading

from django.core.management.base import BaseCommand

from monitoring.alerts.delivery import Deliverer


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="send what is due now, wait for the answers, exit")
        parser.add_argument("--concurrency", type=int, default=None, help="sends at once (default: WEBHOOK_CONCURRENCY)")

    def handle(self, *args, once: bool, concurrency: int | None, **options) -> None:
        deliverer = Deliverer(concurrency=concurrency)
        if once:
            tally = deliverer.drain()
            deliverer.close()
            self.stdout.write(self.style.SUCCESS(tally.line()))
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"Delivering webhooks, {deliverer.concurrency} at a time (SIGTERM stops)")
        deliverer.run(stop=stop)
        self.stdout.write(self.style.SUCCESS(f"stopped: {deliverer.tally.line()}"))
