"""Webhook subscriptions over the API (SPEC 9, 11): an owner's client subscribes for its own stores."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Status

from monitoring.access import request_scope
from monitoring.alerts.webhooks import (
    SubscriptionError,
    subscription_add,
    subscription_get,
)
from monitoring.api.core import PROBLEMS, ApiError, api
from monitoring.api.schemas import (
    Problem,
    Subscription,
    SubscriptionList,
    SubscriptionNew,
)
from monitoring.http_errors import problem
from monitoring.models import WebhookSubscription


def _subscription(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.pk, "url": subscription.url, "owner": subscription.owner or None,
        "active": subscription.active, "created_at": subscription.created_at,
    }


def _no_such_subscription(subscription_id: str) -> HttpResponse:
    # The same answer for an id that never existed and for another owner's (SPEC 11).
    return problem(status=404, error=f"no webhook subscription {subscription_id[:64]!r}")


def _subscription_in_scope(request: HttpRequest, subscription_id: str) -> WebhookSubscription | None:
    if not subscription_id.isdigit() or len(subscription_id) > 18:
        return None  # what an id cannot be is not found, as an id that does not exist
    try:
        return subscription_get(ref=subscription_id, scope=request_scope(request))
    except SubscriptionError:
        return None


WEBHOOKS = "Alerts"


@api.get("/webhooks", response={200: SubscriptionList, **PROBLEMS}, url_name="webhooks", tags=[WEBHOOKS],
         summary="Your webhook subscriptions (an owner's client: its own)")
def webhooks(request: HttpRequest) -> Any:
    return {"subscriptions": [_subscription(s) for s in request_scope(request).subscriptions().order_by("pk")]}


@api.post(
    "/webhooks", response={201: Subscription, 400: Problem, **PROBLEMS}, url_name="webhook_add", tags=[WEBHOOKS],
    summary="Subscribe a URL to the alert events (an owner's client: of its own stores)",
    description="Every store.down and store.recovered event decided afterwards is POSTed to the URL, signed with the secret "
    "(docs/alerts.md). 422 for a URL that is not http(s) or is already subscribed by you.",
)
def webhook_add(request: HttpRequest, body: SubscriptionNew) -> Any:
    try:
        subscription = subscription_add(url=body.url, secret=body.secret, scope=request_scope(request))
    except SubscriptionError as refused:
        raise ApiError(422, str(refused)) from None
    return Status(201, _subscription(subscription))


@api.get("/webhooks/{subscription_id}", response={200: Subscription, 404: Problem, **PROBLEMS}, url_name="webhook",
         tags=[WEBHOOKS], summary="One of your webhook subscriptions")
def webhook(request: HttpRequest, subscription_id: str) -> Any:
    subscription = _subscription_in_scope(request, subscription_id)
    return _no_such_subscription(subscription_id) if subscription is None else _subscription(subscription)


@api.delete("/webhooks/{subscription_id}", response={204: None, 404: Problem, **PROBLEMS}, url_name="webhook_remove",
            tags=[WEBHOOKS], summary="Unsubscribe (its queued deliveries are dropped)")
def webhook_remove(request: HttpRequest, subscription_id: str) -> Any:
    subscription = _subscription_in_scope(request, subscription_id)
    if subscription is None:
        return _no_such_subscription(subscription_id)
    subscription.delete()
    return Status(204, None)
