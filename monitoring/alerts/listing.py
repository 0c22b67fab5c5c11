"""What the Alerts page shows: the newest events and how their deliveries stand, in one query."""
from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from monitoring.access import StoreScope
from monitoring.models import AlertEvent, WebhookDelivery

PAGE_EVENTS = 200


def events_recent(*, scope: StoreScope, limit: int = PAGE_EVENTS) -> QuerySet[AlertEvent]:
    """The events of the stores in scope, newest first, each with its store and delivery counts by
    state (annotated, no query per row). An owner counts only its own subscriptions' deliveries."""
    states = WebhookDelivery.State
    mine = Q() if scope.is_staff else Q(deliveries__subscription__owner=scope.owner)
    return (
        scope.events().select_related("store")
        .defer("body")
        .annotate(
            delivered=Count("deliveries", filter=mine & Q(deliveries__state=states.DELIVERED)),
            pending=Count("deliveries", filter=mine & Q(deliveries__state=states.PENDING)),
            failed=Count("deliveries", filter=mine & Q(deliveries__state=states.FAILED)),
        )
        .order_by("-created_at", "-since", "store__store_id")[:limit]
    )
