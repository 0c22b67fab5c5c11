"""Manage webhook subscriptions (SPEC 9): `add URL --secret S [--owner O]`, `list`, `remove ID|URL`, `test ID|URL`.

Every alert event decided after a subscription was added is POSTed to it, signed
with its secret (docs/alerts.md); with `--owner O`, only the events of O's stores
(SPEC 11). Owners' clients manage their own through /api/v1/webhooks. `test` sends a signed `ping` now and says what
the receiver answered, so a new receiver's signature check can be tried at once.
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.access import STAFF, IdentityRefused, owner_name, owner_scope
from monitoring.alerts.webhooks import SubscriptionError, ping, subscription_add, subscription_get, subscription_remove
from monitoring.models import WebhookSubscription


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["add", "list", "remove", "test"])
        parser.add_argument("target", nargs="?", default="", help="add: the URL; remove, test: the id or URL")
        parser.add_argument("--secret", default="", help="add: the shared secret that signs every body")
        parser.add_argument("--owner", default="", help="add: only the events of this owner's stores (none: every store)")

    def handle(self, *args, action: str, target: str, secret: str, owner: str, **options) -> None:
        if action == "list":
            for subscription in WebhookSubscription.objects.all():
                state = "active" if subscription.active else "paused"
                self.stdout.write(
                    f"{subscription.pk}\t{subscription.url}\t{subscription.owner or 'staff'}\t{state}\t"
                    f"since {subscription.created_at:%Y-%m-%d %H:%M}"
                )
            return
        if not target:
            raise CommandError(f"'{action}' needs a {'URL' if action == 'add' else 'subscription id or URL'}", returncode=2)
        try:
            self._act(action, target=target, secret=secret, owner=owner)
        except (SubscriptionError, IdentityRefused) as error:
            raise CommandError(str(error), returncode=2) from None

    def _act(self, action: str, *, target: str, secret: str, owner: str) -> None:
        # The operator is staff: every subscription, whoever's, can be listed, removed and tested.
        if action == "add":
            if not secret:
                raise CommandError("'add' needs --secret S: receivers verify every body with it", returncode=2)
            subscription = subscription_add(url=target, secret=secret, scope=owner_scope(owner_name(owner)))
            whose = f", events of {subscription.owner}'s stores" if subscription.owner else ""
            self.stdout.write(self.style.SUCCESS(f"subscribed {subscription.url} (id {subscription.pk}{whose})"))
        elif action == "remove":
            subscription = subscription_remove(ref=target, scope=STAFF)
            self.stdout.write(self.style.SUCCESS(f"removed {subscription.url}"))
        else:
            subscription = subscription_get(ref=target, scope=STAFF)
            answer = ping(subscription=subscription, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
            if not answer.delivered:
                raise CommandError(f"ping to {subscription.url} failed: {answer.error}", returncode=1)
            self.stdout.write(self.style.SUCCESS(f"ping to {subscription.url}: HTTP {answer.status}"))
