"""Durable webhook delivery: the delivery row is the job (claimed, sent, retried, failed).

Claiming is one conditional UPDATE: it takes due pending rows (locked rows of
another deliverer are skipped) and moves their next attempt WEBHOOK_CLAIM_SECONDS
ahead, so two deliverers never send a row at once, and a deliverer killed between
claiming and sending leaves the row due again when its claim expires
(at-least-once: the delivery id, the same on every try, lets a receiver drop a
duplicate). The outcome is written only by the claim that sent it (the attempt
number must still match).

A 2xx delivers. Anything else is retried 1, 2, 4, ... minutes later (at most an
hour apart, the last try exactly 24 hours after the event), then the row is
failed with its last error.

Sending runs in a small thread pool (WEBHOOK_CONCURRENCY); the database is only
touched by the loop's thread. One subscription has at most half the pool in
flight, so a slow receiver (seconds per answer) leaves the rest to the others.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection

from monitoring.alerts.webhooks import Answer, http_client, post
from monitoring.models import AlertEvent, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

# How often an idle deliverer looks for due rows (one index probe per active subscription).
IDLE_POLL_SECONDS = 1.0
RETRY_FOR = "24 hours"
BACKOFF_CAP = "1 hour"

_background_guard = threading.Lock()
_background_stop = threading.Event()  # set at exit (_stop_background)
_background: threading.Thread | None = None


@dataclass(frozen=True)
class Claimed:
    id: str
    attempts: int  # this try's number: the outcome is written only while it still matches
    subscription: int
    url: str
    secret: str
    kind: str
    body: str


@dataclass
class Tally:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def line(self) -> str:
        return f"{self.delivered} delivered, {self.retrying} to retry, {self.failed} failed"


def deliveries_claim(*, limit: int, in_flight: dict[int, int], per_subscription: int) -> list[Claimed]:
    """Claim up to `limit` due deliveries, oldest first, at most `per_subscription` in flight each."""
    subscriptions = list(in_flight)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, {
            "limit": limit, "per": per_subscription, "claim": settings.WEBHOOK_CLAIM_SECONDS,
            "subs": subscriptions, "flying": [in_flight[s] for s in subscriptions],
        })
        return [Claimed(str(row[0]), *row[1:]) for row in cursor.fetchall()]


def deliveries_record(*, outcomes: list[tuple[Claimed, Answer]]) -> Tally:
    """Write a batch of outcomes in one UPDATE; returns what became of them."""
    if not outcomes:
        return Tally()
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, {
            "ids": [c.id for c, _ in outcomes], "attempts": [c.attempts for c, _ in outcomes],
            "ok": [a.delivered for _, a in outcomes], "status": [a.status for _, a in outcomes],
            "error": [a.error for _, a in outcomes],
        })
        states = [state for (state,) in cursor.fetchall()]
    return Tally(
        delivered=states.count(WebhookDelivery.State.DELIVERED),
        retrying=states.count(WebhookDelivery.State.PENDING),
        failed=states.count(WebhookDelivery.State.FAILED),
    )


class Deliverer:
    """Claims due deliveries as the pool has room, sends them in threads, records their outcomes."""

    def __init__(self, *, concurrency: int | None = None, timeout: float | None = None) -> None:
        self.concurrency = concurrency or settings.WEBHOOK_CONCURRENCY
        self.per_subscription = max(1, self.concurrency // 2)
        self._client = http_client(timeout=timeout or settings.WEBHOOK_TIMEOUT_SECONDS)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook")
        self._flying: dict[Future, Claimed] = {}
        self.tally = Tally()

    def step(self, *, wait_seconds: float) -> int:
        """Record the sends that finished (waiting up to `wait_seconds` for one), then claim
        as many as there is room for. Returns how many it claimed."""
        if self._flying:
            done, _ = wait(self._flying, timeout=wait_seconds, return_when=FIRST_COMPLETED)
            self._record(done)
        room = self.concurrency - len(self._flying)
        if room <= 0:
            return 0
        in_flight: dict[int, int] = {}
        for claimed in self._flying.values():
            in_flight[claimed.subscription] = in_flight.get(claimed.subscription, 0) + 1
        claimed = deliveries_claim(limit=room, in_flight=in_flight, per_subscription=self.per_subscription)
        for delivery in claimed:
            self._flying[self._pool.submit(self._send, delivery)] = delivery
        return len(claimed)

    def drain(self) -> Tally:
        """Send everything due now and wait for the answers (`deliver_webhooks --once`, tests)."""
        while self.step(wait_seconds=IDLE_POLL_SECONDS) or self._flying:
            pass
        return self.tally

    def run(self, *, stop: threading.Event) -> None:
        """Until `stop`: on SIGTERM the sends in flight finish (each within the timeout) and are recorded."""
        while not stop.is_set():
            try:
                if not self.step(wait_seconds=IDLE_POLL_SECONDS) and not self._flying:
                    connection.close()  # idle: hold no connection
                    stop.wait(IDLE_POLL_SECONDS)
            except DatabaseError:
                logger.warning("webhook deliverer: the database did not answer; trying again", exc_info=True)
                connection.close()
                stop.wait(IDLE_POLL_SECONDS)
        self.close()

    def close(self) -> None:
        done, _ = wait(self._flying)
        self._record(done)
        self._pool.shutdown()
        self._client.close()

    def _send(self, delivery: Claimed) -> Answer:
        if settings.WEBHOOK_PAUSE_AFTER_CLAIM_SECONDS:
            time.sleep(settings.WEBHOOK_PAUSE_AFTER_CLAIM_SECONDS)  # fault tests kill the process here
        return post(
            client=self._client, url=delivery.url, secret=delivery.secret, kind=delivery.kind,
            delivery_id=delivery.id, body=delivery.body,
        )

    def _record(self, done: set[Future]) -> None:
        outcomes = [(self._flying.pop(future), future.result()) for future in done]
        tally = deliveries_record(outcomes=outcomes)
        self.tally.delivered += tally.delivered
        self.tally.retrying += tally.retrying
        self.tally.failed += tally.failed
        for claimed, answer in outcomes:
            if not answer.delivered:
                logger.info("webhook %s to %s: %s (will retry)", claimed.id, claimed.url, answer.error)


def start_background() -> threading.Thread:
    """Deliver from a daemon thread of this process (`serve`, `report_worker`), once per process.

    At the process's exit the thread is stopped first (its sends in flight finish), then
    the embedded database: exit handlers run last registered first, and this one is
    registered after the database's.
    """
    global _background
    with _background_guard:
        if _background is None or not _background.is_alive():
            if _background is None:
                atexit.register(_stop_background)
            _background = threading.Thread(target=_run_background, name="webhook-deliverer", daemon=True)
            _background.start()
    return _background


def _stop_background() -> None:
    _background_stop.set()
    if _background is not None:
        _background.join(timeout=settings.WEBHOOK_TIMEOUT_SECONDS + IDLE_POLL_SECONDS)


def _run_background() -> None:
    try:
        Deliverer().run(stop=_background_stop)
    except Exception:
        logger.exception("webhook deliverer thread stopped")
    finally:
        connection.close()


_D, _S, _E = WebhookDelivery._meta.db_table, WebhookSubscription._meta.db_table, AlertEvent._meta.db_table
# Per active subscription, its oldest due rows from the index delivery_due (room left
# under the per-subscription cap), then the oldest of those overall. SKIP LOCKED
# passes over rows another deliverer is claiming; the UPDATE re-checks that a row is
# still due, so a row claimed meanwhile is not claimed twice.
_CLAIM_SQL = f"""
WITH picked AS (
    SELECT due.id FROM {_S} s
    LEFT JOIN unnest(%(subs)s::bigint[], %(flying)s::int[]) AS f(sub, n) ON f.sub = s.id
    CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at FROM {_D} d
        WHERE d.subscription_id = s.id AND d.state = 'pending' AND d.next_attempt_at <= now()
        ORDER BY d.next_attempt_at
        LIMIT greatest(%(per)s - coalesce(f.n, 0), 0)
        FOR UPDATE OF d SKIP LOCKED
    ) due
    WHERE s.active
    ORDER BY due.next_attempt_at
    LIMIT %(limit)s
)
UPDATE {_D} d SET attempts = d.attempts + 1, next_attempt_at = now() + %(claim)s * interval '1 second'
FROM picked, {_S} s, {_E} e
WHERE d.id = picked.id AND s.id = d.subscription_id AND e.id = d.event_id
  AND d.state = 'pending' AND d.next_attempt_at <= now()
RETURNING d.id, d.attempts, d.subscription_id, s.url, s.secret, e.kind, e.body
"""
# After try n fails, the next is 2^(n-1) minutes later (capped), never past the 24 hours;
# a try failing at or after them fails the row.
_RECORD_SQL = f"""
UPDATE {_D} d SET
    state = CASE WHEN o.ok THEN 'delivered'
                 WHEN now() >= d.created_at + interval '{RETRY_FOR}' THEN 'failed' ELSE 'pending' END,
    delivered_at = CASE WHEN o.ok THEN now() END,
    next_attempt_at = CASE WHEN o.ok THEN d.next_attempt_at ELSE least(
        now() + least(interval '1 minute' * power(2, least(d.attempts - 1, 20)), interval '{BACKOFF_CAP}'),
        d.created_at + interval '{RETRY_FOR}') END,
    last_status = o.status,
    last_error = o.error
FROM unnest(%(ids)s::uuid[], %(attempts)s::int[], %(ok)s::bool[], %(status)s::int[], %(error)s::text[])
    AS o(id, attempts, ok, status, error)
WHERE d.id = o.id AND d.attempts = o.attempts AND d.state = 'pending'
RETURNING d.state
"""
