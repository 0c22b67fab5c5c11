"""Two owners, a store they share and a store nobody owns, with reports, alerts and subscriptions of each.

Every store is open 24/7 (no hours row) in the default zone and polled hourly on
Wed 2023-01-25: active at 08:00 UTC, inactive at 09:00, 10:00, 11:00 and 12:00 (now).
So each is down since the midpoint 08:30, 210 minutes at now: past ALERT_AFTER_MINUTES
(30), each gets one store.down event.

Store ids and owner names are made of letters no other text of an answer has
(not even a fragment of another id), so a leak is a plain substring.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from django.contrib.auth import get_user_model

from monitoring.access import api_token_create, owner_scope, owner_user_add
from monitoring.alerts.events import alerts_decide
from monitoring.alerts.webhooks import subscription_add
from monitoring.models import Report, StatusPoll, Store, StoreOwner, WebhookSubscription
from monitoring.reports.build import report_build
from monitoring.reports.service import report_create

NOW = datetime(2023, 1, 25, 12, 0, tzinfo=timezone.utc)
ALPHA, BETA = "Alphafoods", "Betaburgers"
ALPHA_ONLY = ("qalphaonezq", "qalphatwozq")
BETA_ONLY = ("qbetaonezq",)
SHARED = "qsharedzq"  # owned by both
NOBODYS = "qnobodyzq"  # owned by neither: staff only
EVERY_STORE = (*ALPHA_ONLY, *BETA_ONLY, SHARED, NOBODYS)
VISIBLE = {ALPHA: {*ALPHA_ONLY, SHARED}, BETA: {*BETA_ONLY, SHARED}}


@dataclass(frozen=True)
class OwnerWorld:
    reports: dict[str | None, Report]  # by owner; None: staff's
    subscriptions: dict[str | None, WebhookSubscription]
    tokens: dict[str | None, str]  # secrets
    users: dict[str | None, object]


def make_owner_world() -> OwnerWorld:
    stores = {store_id: Store.objects.create(store_id=store_id) for store_id in EVERY_STORE}
    StoreOwner.objects.bulk_create(
        [StoreOwner(store=stores[store_id], owner=ALPHA) for store_id in (*ALPHA_ONLY, SHARED)]
        + [StoreOwner(store=stores[store_id], owner=BETA) for store_id in (*BETA_ONLY, SHARED)]
    )
    StatusPoll.objects.bulk_create(
        StatusPoll(store=store, timestamp=NOW.replace(hour=hour), active=hour == 8)
        for store in stores.values() for hour in (8, 9, 10, 11, 12)
    )
    subscriptions = {
        owner: subscription_add(url=f"https://hooks.example/{owner or 'staff'}", secret="k", scope=owner_scope(owner))
        for owner in (ALPHA, BETA, None)
    }
    alerts_decide()
    reports = {owner: report_build(report=report_create(scope=owner_scope(owner), build_here=True)) for owner in (ALPHA, BETA, None)}
    tokens = {owner: api_token_create(name=f"token-{owner or 'staff'}", owner=owner or "").secret for owner in (ALPHA, BETA, None)}
    users = {owner: owner_user_add(username=f"user-{owner}", owner=owner).user for owner in (ALPHA, BETA)}
    users[None] = get_user_model().objects.create_user(username="user-staff", password="x", is_staff=True, is_superuser=True)
    return OwnerWorld(reports=reports, subscriptions=subscriptions, tokens=tokens, users=users)
