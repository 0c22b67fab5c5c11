"""Webhook delivery (SPEC 9) to real HTTP receivers on 127.0.0.1: signed, retried, durable."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from django.conf import settings
from django.db import connection
from django.utils.timezone import now as django_now

from monitoring.alerts.delivery import Deliverer, deliveries_claim
from monitoring.alerts.events import alerts_decide
from monitoring.models import AlertEvent, StatusPoll, Store, WebhookDelivery, WebhookSubscription
from monitoring.tests.processes import env_for_test_database, free_port, wait_until
from monitoring.tests.receivers import HANG, Receiver

pytestmark = pytest.mark.django_db

SECRET = "s3cret"


def one_down_store() -> None:
    """Store a: 10:00 up, 10:40 and 11:00 down: at now 11:00 down since 10:20, 40 minutes."""
    store = Store.objects.create(store_id="a", timezone="UTC")
    StatusPoll.objects.bulk_create(
        StatusPoll(store=store, timestamp=datetime(2023, 1, 25, hour, minute, tzinfo=timezone.utc), active=up)
        for hour, minute, up in ((10, 0, True), (10, 40, False), (11, 0, False))
    )


def subscribe(url: str) -> WebhookSubscription:
    return WebhookSubscription.objects.create(url=url, secret=SECRET)


def deliver(**options) -> Deliverer:
    deliverer = Deliverer(**options)
    deliverer.drain()
    deliverer.close()
    return deliverer


def make_due() -> None:
    """What the passing of the backoff (a minute or more) does: every pending row is due."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE monitoring_webhookdelivery SET next_attempt_at = now() - interval '1 second' WHERE state = 'pending'")


def test_an_event_arrives_signed_with_its_kind_and_delivery_id():
    with Receiver(secret=SECRET) as receiver:
        subscribe(receiver.url)
        one_down_store()
        alerts_decide()
        deliver()
    [request] = receiver.requests
    delivery = WebhookDelivery.objects.get()
    assert request.signed
    assert request.headers["X-Monitoring-Event"] == "store.down"
    assert request.headers["X-Monitoring-Delivery"] == str(delivery.pk)
    assert request.body.decode() == AlertEvent.objects.get().body
    assert json.loads(request.body)["since"] == "2023-01-25T10:20:00Z"
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)


def test_a_500_is_retried_a_minute_later_and_delivered_once():
    with Receiver(secret=SECRET, answers=[500, 200]) as receiver:
        subscribe(receiver.url)
        one_down_store()
        alerts_decide()
        deliver()
        delivery = WebhookDelivery.objects.get()
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
        assert delivery.last_error.startswith("HTTP 500")
        # The first retry waits 1 minute (2^0); until then nothing is sent.
        with connection.cursor() as cursor:
            cursor.execute("SELECT next_attempt_at - now() FROM monitoring_webhookdelivery")
            assert cursor.fetchone()[0].total_seconds() == 60
        deliver()
        assert len(receiver.requests) == 1
        make_due()
        deliver()
    delivery.refresh_from_db()
    assert [r.headers["X-Monitoring-Delivery"] for r in receiver.requests] == [str(delivery.pk)] * 2
    assert (delivery.state, delivery.attempts) == ("delivered", 2)


def test_a_receiver_that_never_answers_times_out_and_is_retried(settings):
    with Receiver(secret=SECRET, answers=[HANG, 200]) as receiver:
        subscribe(receiver.url)
        one_down_store()
        alerts_decide()
        deliver(timeout=0.5)
        delivery = WebhookDelivery.objects.get()
        assert (delivery.state, delivery.last_status) == ("pending", None)
        assert delivery.last_error == "no answer within 0.5 s"
        make_due()
        deliver(timeout=0.5)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)


def test_a_receiver_down_during_a_round_gets_the_event_when_it_is_back():
    port = free_port()  # nothing listens there yet: connection refused
    subscribe(f"http://127.0.0.1:{port}/hook")
    one_down_store()
    alerts_decide()
    deliver()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and "ConnectError" in delivery.last_error
    with Receiver(secret=SECRET) as receiver:
        WebhookSubscription.objects.update(url=receiver.url)  # the receiver is back (here on a new port)
        make_due()
        deliver()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, len(receiver.requests)) == ("delivered", 2, 1)


def test_backoff_doubles_up_to_an_hour_and_the_row_fails_after_24_hours():
    subscribe(f"http://127.0.0.1:{free_port()}/hook")
    one_down_store()
    alerts_decide()
    waits = []
    for _ in range(8):
        make_due()
        deliver()
        with connection.cursor() as cursor:
            cursor.execute("SELECT extract(epoch FROM next_attempt_at - now()) / 60 FROM monitoring_webhookdelivery")
            waits.append(float(cursor.fetchone()[0]))
    # Minutes after try 1, 2, ...: 2^(n-1), capped at 60.
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE monitoring_webhookdelivery SET created_at = now() - interval '24 hours'")
    make_due()
    deliver()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", 9)
    assert "ConnectError" in delivery.last_error


def test_a_slow_receiver_does_not_hold_up_the_others():
    # 4 threads, so a receiver has at most 2 in flight: the slow one (1 s per answer)
    # takes 2 at a time, the fast one gets the other 2 threads all along.
    with Receiver(secret=SECRET, delay=1.0) as slow, Receiver(secret=SECRET) as fast:
        subscribe(slow.url)
        subscribe(fast.url)
        stores = Store.objects.bulk_create(Store(store_id=f"s{n}", timezone="UTC") for n in range(10))
        StatusPoll.objects.bulk_create(
            StatusPoll(store=store, timestamp=datetime(2023, 1, 25, hour, minute, tzinfo=timezone.utc), active=up)
            for store in stores for hour, minute, up in ((10, 0, True), (10, 40, False), (11, 0, False))
        )
        assert alerts_decide().queued == 20
        deliverer = Deliverer(concurrency=4)
        deliverer.step(wait_seconds=0)
        # In about a second the slow receiver answers 2, the fast one all 10.
        for _ in range(40):
            deliverer.step(wait_seconds=0.05)
        fast_done = WebhookDelivery.objects.filter(subscription__url=fast.url, state="delivered").count()
        slow_done = WebhookDelivery.objects.filter(subscription__url=slow.url, state="delivered").count()
        deliverer.close()
    assert fast_done == 10
    assert slow_done <= 4


def test_a_claimed_row_is_not_claimed_again_until_its_claim_expires():
    subscribe("http://127.0.0.1:9/hook")
    one_down_store()
    alerts_decide()
    first = deliveries_claim(limit=10, in_flight={}, per_subscription=10)
    second = deliveries_claim(limit=10, in_flight={}, per_subscription=10)
    assert (len(first), len(second)) == (1, 0)


@pytest.mark.django_db(transaction=True)  # the deliverer process must see the rows
def test_a_deliverer_killed_between_claiming_and_sending_leaves_the_delivery_to_a_later_run(tmp_path):
    with Receiver(secret=SECRET) as receiver:
        subscribe(receiver.url)
        one_down_store()
        alerts_decide()
        # It claims (a 3 s claim), then pauses a minute before sending: it is killed in that pause.
        env = env_for_test_database(
            WEBHOOK_PAUSE_AFTER_CLAIM_SECONDS="60", WEBHOOK_CLAIM_SECONDS="3", WEBHOOK_TIMEOUT_SECONDS="1"
        )
        with (tmp_path / "deliver.log").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "deliver_webhooks", "--once"],
                cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            wait_until(lambda: WebhookDelivery.objects.get().attempts == 1, what="the deliverer to claim the delivery")
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
        assert receiver.requests == []
        assert WebhookDelivery.objects.get().state == "pending"
        # Once the dead deliverer's claim expires, another run sends it.
        wait_until(lambda: WebhookDelivery.objects.filter(next_attempt_at__lte=django_now()).exists(), what="the claim to expire")
        deliver()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, len(receiver.requests)) == ("delivered", 2, 1)
    assert receiver.requests[0].signed
