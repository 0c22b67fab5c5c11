"""`manage.py webhook add/list/remove/test` and `deliver_webhooks --once`, and the Alerts page."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.alerts.events import alerts_decide
from monitoring.models import WebhookDelivery, WebhookSubscription
from monitoring.tests.processes import free_port
from monitoring.tests.receivers import Receiver
from monitoring.tests.test_alerts_delivery import one_down_store

pytestmark = pytest.mark.django_db


def test_add_list_and_remove_a_subscription(capsys):
    call_command("webhook", "add", "https://example.org/hook", secret="k")
    subscription = WebhookSubscription.objects.get()
    assert (subscription.url, subscription.secret, subscription.active) == ("https://example.org/hook", "k", True)
    call_command("webhook", "list")
    assert f"{subscription.pk}\thttps://example.org/hook\tstaff\tactive" in capsys.readouterr().out
    call_command("webhook", "remove", str(subscription.pk))
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize("url", ["ftp://example.org/hook", "javascript:alert(1)", "example.org/hook", ""])
def test_only_http_and_https_urls_can_be_subscribed(url):
    with pytest.raises(CommandError) as refused:
        call_command("webhook", "add", url, secret="k")
    assert refused.value.returncode == 2
    assert not WebhookSubscription.objects.exists()


def test_add_needs_a_secret_and_a_url_is_subscribed_once():
    with pytest.raises(CommandError, match="--secret"):
        call_command("webhook", "add", "https://example.org/hook")
    call_command("webhook", "add", "https://example.org/hook", secret="k")
    with pytest.raises(CommandError, match="already exists"):
        call_command("webhook", "add", "https://example.org/hook", secret="other")


def test_removing_an_unknown_subscription_says_so():
    with pytest.raises(CommandError, match="no subscription"):
        call_command("webhook", "remove", "https://example.org/nothing")


def test_test_sends_a_ping_the_receiver_can_verify(capsys):
    with Receiver(secret="k") as receiver:
        call_command("webhook", "add", receiver.url, secret="k")
        call_command("webhook", "test", receiver.url)
    [ping] = receiver.requests
    expected = "sha256=" + hmac.new(b"k", ping.body, hashlib.sha256).hexdigest()
    assert ping.headers["X-Monitoring-Signature"] == expected
    assert ping.headers["X-Monitoring-Event"] == "ping"
    assert json.loads(ping.body)["event"] == "ping"
    assert "HTTP 200" in capsys.readouterr().out


def test_test_fails_with_exit_code_1_when_the_receiver_is_unreachable():
    call_command("webhook", "add", f"http://127.0.0.1:{free_port()}/hook", secret="k")
    with pytest.raises(CommandError) as failed:
        call_command("webhook", "test", str(WebhookSubscription.objects.get().pk))
    assert failed.value.returncode == 1


def test_deliver_webhooks_once_sends_what_is_due_and_exits(capsys):
    with Receiver(secret="k") as receiver:
        call_command("webhook", "add", receiver.url, secret="k")
        one_down_store()
        alerts_decide()
        call_command("deliver_webhooks", once=True)
    assert len(receiver.requests) == 1 and receiver.requests[0].signed
    assert "1 delivered, 0 to retry, 0 failed" in capsys.readouterr().out
    assert WebhookDelivery.objects.get().state == "delivered"


def test_the_alerts_page_lists_events_newest_first_with_their_delivery_state(client):
    WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", secret="k")
    one_down_store()
    alerts_decide()
    page = client.get("/alerts/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "store.down" in text and ">a<" in text and "2023-01-25 10:20:00" in text
    assert "going on" in text and "40.00" in text and "1 pending" in text
