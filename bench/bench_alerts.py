"""Alerts at full size (issue 13): deciding the events for every store after an hourly
refresh, and sending 10,000 queued webhook deliveries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_alerts.py
    .venv/bin/python bench/bench_alerts.py   # no DATABASE_URL: an embedded PostgreSQL in bench/out/

Loads the generated full-size data set (bench/out/report-1/sources, made as
bench_report.py makes it) into a fresh `bench_i_alerts` database, then:

- decide: the first round after the load (stores down at the first load are told),
  then an hour of new polls for every store (as the hourly refresh adds it) and the
  round after it, then that round again (nothing new): seconds for each;
- deliver: 10,000 deliveries queued to a local receiver (another process, answering
  at once) sent by one Deliverer with WEBHOOK_CONCURRENCY threads: deliveries per second;
  then the same with a second, slow receiver (2 s per answer) subscribed too: the fast
  receiver's rate while the slow one is being served.

The last line printed is one JSON object of figures (docs/performance.md records them).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from benchkit import OUT, ROOT, drop_database, log, manage, use_fresh_database

DB_NAME = "bench_i_alerts"
DELIVERIES = 10_000
SLOW_DELIVERIES = 40
SLOW_SECONDS = 2.0


def main() -> None:
    if sys.argv[1:2] == ["--receive"]:
        _receive(port=int(sys.argv[2]), delay=float(sys.argv[3]))
        return
    sources = OUT / "report-1" / "sources"
    if not (sources / "store_status.csv").exists():
        manage("make_dataset", str(sources))
    admin_url = use_fresh_database(name=DB_NAME, embedded_pgdata=OUT / "pgdata-alerts")
    try:
        manage("migrate", "-v", "0")
        manage("runscript", "load", "-v", "0", "--script-args", str(sources))
        figures = _measure()
    finally:
        _close_connections()
        drop_database(name=DB_NAME, admin_url=admin_url)
    figures["cpus"] = os.cpu_count()
    figures["load_average"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


def _measure() -> dict:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
    django.setup()
    from django.db import connection

    from monitoring.models import AlertEvent, WebhookDelivery

    # `runscript load` decided the first round already; clear it to time that round too.
    AlertEvent.objects.all().delete()
    figures = {"decide": _decide(connection)}
    WebhookDelivery.objects.all().delete()
    figures["deliver"] = _deliver(connection)
    return figures


def _close_connections() -> None:
    """This process's connection would keep the database from being dropped."""
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()


def _decide(connection) -> dict:
    from monitoring.alerts.events import alerts_decide
    from monitoring.models import Store

    first = alerts_decide()
    log(f"first round: {first.line()}")
    with connection.cursor() as cursor:
        # The next hour's poll of every store, 1 in 10 down, as a refresh would store it.
        cursor.execute(
            """INSERT INTO monitoring_statuspoll (store_id, timestamp, active)
               SELECT id, (SELECT max(timestamp) FROM monitoring_statuspoll) + interval '1 hour', mod(id, 10) <> 0
               FROM monitoring_store"""
        )
    after_refresh = alerts_decide()
    log(f"after an hourly refresh: {after_refresh.line()}")
    again = alerts_decide()
    log(f"the same round again: {again.line()}")
    return {
        "stores": Store.objects.count(),
        "first_round_seconds": round(first.seconds, 3),
        "first_round_down": first.down,
        "after_refresh_seconds": round(after_refresh.seconds, 3),
        "after_refresh_down": after_refresh.down,
        "after_refresh_recovered": after_refresh.recovered,
        "same_round_again_seconds": round(again.seconds, 3),
    }


def _deliver(connection) -> dict:
    from django.conf import settings

    from monitoring.alerts.delivery import Deliverer
    from monitoring.models import WebhookDelivery, WebhookSubscription

    fast_port, slow_port = _free_port(), _free_port()
    receivers = [_start_receiver(fast_port, 0.0), _start_receiver(slow_port, SLOW_SECONDS)]
    try:
        fast = WebhookSubscription.objects.create(url=f"http://127.0.0.1:{fast_port}/hook", secret="bench")
        _queue(connection, subscription=fast.pk, count=DELIVERIES)
        started = time.perf_counter()
        tally = Deliverer().drain()
        alone = time.perf_counter() - started
        log(f"{DELIVERIES:,} to one receiver in {alone:.2f} s: {tally.line()}")

        WebhookDelivery.objects.all().delete()
        slow = WebhookSubscription.objects.create(url=f"http://127.0.0.1:{slow_port}/hook", secret="bench")
        _queue(connection, subscription=fast.pk, count=DELIVERIES)
        _queue(connection, subscription=slow.pk, count=SLOW_DELIVERIES)
        deliverer = Deliverer()
        started = time.perf_counter()
        while WebhookDelivery.objects.filter(subscription=fast, state="pending").exists():
            deliverer.step(wait_seconds=0.05)
        beside_slow = time.perf_counter() - started
        slow_done = WebhookDelivery.objects.filter(subscription=slow, state="delivered").count()
        deliverer.close()
        log(f"{DELIVERIES:,} to the fast receiver in {beside_slow:.2f} s while the slow one answered {slow_done}")
    finally:
        for receiver in receivers:
            receiver.terminate()
            receiver.wait()
    return {
        "concurrency": settings.WEBHOOK_CONCURRENCY,
        "deliveries": DELIVERIES,
        "alone_seconds": round(alone, 2),
        "alone_per_second": round(DELIVERIES / alone),
        "beside_slow_seconds": round(beside_slow, 2),
        "beside_slow_per_second": round(DELIVERIES / beside_slow),
        "slow_answer_seconds": SLOW_SECONDS,
        "slow_delivered_meanwhile": slow_done,
    }


def _queue(connection, *, subscription: int, count: int) -> None:
    """`count` synthetic store.down events (one per store and hour) and a delivery of each."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO monitoring_alertevent (id, kind, store_id, since, now, minutes, body, created_at)
               SELECT gen_random_uuid(), 'store.down', s.id, now() - n * interval '1 hour', now(), 60,
                      '{"event": "store.down", "store_id": "' || s.store_id || '"}', now()
               FROM (SELECT id, store_id FROM monitoring_store ORDER BY id LIMIT 1000) s, generate_series(1, %s) n
               ON CONFLICT DO NOTHING""",
            [count // 1000 + 1],
        )
        cursor.execute(
            """INSERT INTO monitoring_webhookdelivery
                   (id, event_id, subscription_id, state, next_attempt_at, attempts, last_error, created_at)
               SELECT gen_random_uuid(), e.id, %s, 'pending', now(), 0, '', now()
               FROM (SELECT id FROM monitoring_alertevent ORDER BY id LIMIT %s) e""",
            [subscription, count],
        )


def _start_receiver(port: int, delay: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, __file__, "--receive", str(port), str(delay)])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the receiver on port {port} did not start")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _receive(*, port: int, delay: float) -> None:
    """A receiver in its own process (so it does not share the deliverer's GIL): 204 to every POST."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Hook(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if delay:
                time.sleep(delay)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", port), Hook)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
