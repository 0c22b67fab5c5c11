"""What the Alerts page shows: the newest events and how their deliveries stand, in one query."""
from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from monitoring.models import AlertEvent, WebhookDelivery

PAGE_EVENTS = 200


def events_recent(*, limit: int = PAGE_EVENTS) -> QuerySet[AlertEvent]:
    """Newest first, each with its store and delivery counts by state (annotated, no query per row)."""
    states = WebhookDelivery.State
    return (
        AlertEvent.objects.select_related("store")
        .defer("body")
        .annotate(
            delivered=Count("deliveries", filter=Q(deliveries__state=states.DELIVERED)),
            pending=Count("deliveries", filter=Q(deliveries__state=states.PENDING)),
            failed=Count("deliveries", filter=Q(deliveries__state=states.FAILED)),
        )
        .order_by("-created_at", "-since", "store__store_id")[:limit]
    )
