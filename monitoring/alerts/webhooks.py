"""Webhook subscriptions, and how one body is signed and POSTed (SPEC 9, docs/alerts.md).

The signature is HMAC-SHA256 of the raw body bytes with the subscription's secret,
so a receiver verifies exactly what it read off the wire before parsing it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass

import httpx
import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction

from monitoring.access import StoreScope
from monitoring.engine.csv_export import iso_seconds
from monitoring.models import WebhookSubscription

EVENT_HEADER = "X-Monitoring-Event"
DELIVERY_HEADER = "X-Monitoring-Delivery"
SIGNATURE_HEADER = "X-Monitoring-Signature"
PING = "ping"
# Shown with a failed delivery: enough of a receiver's error page to tell what went wrong.
ERROR_TEXT_LIMIT = 500


class SubscriptionError(ValueError):
    """A URL or secret that cannot be subscribed, or a subscription that does not exist."""


@dataclass(frozen=True)
class Answer:
    """What one POST got: delivered on a 2xx; otherwise the status or the error, to retry."""

    delivered: bool
    status: int | None = None
    error: str = ""


def subscription_add(*, url: str, secret: str, scope: StoreScope) -> WebhookSubscription:
    """A new active subscription of the scope (an owner's gets its stores' events only, SPEC 11);
    only http and https URLs (the model's validator), one per URL and owner."""
    subscription = WebhookSubscription(url=url.strip(), secret=secret, owner=scope.recorded_owner)
    try:
        subscription.full_clean()
    except ValidationError as error:
        raise SubscriptionError("; ".join(f"{field}: {' '.join(texts)}" for field, texts in error.message_dict.items())) from None
    with transaction.atomic():
        subscription.save()
    return subscription


def subscription_remove(*, ref: str, scope: StoreScope) -> WebhookSubscription:
    """Delete a subscription in scope named by its id or its URL (its queued deliveries go with it)."""
    subscription = subscription_get(ref=ref, scope=scope)
    subscription.delete()
    return subscription


def subscription_get(*, ref: str, scope: StoreScope) -> WebhookSubscription:
    """The subscription in scope with this id or URL; another owner's is not found, like an unknown one.

    Staff naming a URL several owners subscribed gets the first; its id tells them apart.
    """
    mine = scope.subscriptions()
    found = mine.filter(pk=int(ref)) if ref.isdigit() and len(ref) < 19 else mine.filter(url=ref)
    subscription = found.order_by("pk").first()
    if subscription is None:
        raise SubscriptionError(f"no subscription {ref[:200]!r} (give its id or URL: manage.py webhook list)")
    return subscription


def signature(*, secret: str, body: bytes) -> str:
    """The X-Monitoring-Signature value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def http_client(*, timeout: float) -> httpx.Client:
    """One client per deliverer, shared by its threads (httpx.Client is thread-safe), so
    connections to a receiver are kept alive between deliveries. Redirects are not
    followed: a signed POST should reach the URL the operator subscribed, or fail."""
    return httpx.Client(timeout=timeout, follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=32))


def post(*, client: httpx.Client, url: str, secret: str, kind: str, delivery_id: str, body: str) -> Answer:
    """POST one signed body; any answer but a 2xx, and any transport error, is a failure to retry."""
    raw = body.encode()
    headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: kind,
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: signature(secret=secret, body=raw),
    }
    try:
        response = client.post(url, content=raw, headers=headers)
    except httpx.TimeoutException:
        return Answer(delivered=False, error=f"no answer within {client.timeout.read} s")
    except httpx.HTTPError as error:
        return Answer(delivered=False, error=f"{type(error).__name__}: {error}"[:ERROR_TEXT_LIMIT])
    if 200 <= response.status_code < 300:
        return Answer(delivered=True, status=response.status_code)
    return Answer(delivered=False, status=response.status_code, error=f"HTTP {response.status_code}: {response.text[:ERROR_TEXT_LIMIT]}")


def ping(*, subscription: WebhookSubscription, timeout: float) -> Answer:
    """Send a signed `ping` now (not queued), so an operator sees at once whether the receiver verifies it."""
    delivery_id = str(uuid.uuid4())
    now = str(iso_seconds(np.array([time.time_ns()]))[0])
    body = json.dumps({"id": delivery_id, "event": PING, "now": now})
    with http_client(timeout=timeout) as client:
        return post(client=client, url=subscription.url, secret=subscription.secret, kind=PING, delivery_id=delivery_id, body=body)
