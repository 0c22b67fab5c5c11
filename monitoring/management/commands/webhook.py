"""Manage webhook subscriptions (SPEC 9): `add URL --secret S`, `list`, `remove ID|URL`, `test ID|URL`.

Every alert event decided after a subscription was added is POSTed to it, signed
with its secret (docs/alerts.md). `test` sends a signed `ping` now and says what
the receiver answered, so a new receiver's signature check can be tried at once.
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.alerts.webhooks import SubscriptionError, ping, subscription_add, subscription_get, subscription_remove
from monitoring.models import WebhookSubscription


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["add", "list", "remove", "test"])
        parser.add_argument("target", nargs="?", default="", help="add: the URL; remove, test: the id or URL")
        parser.add_argument("--secret", default="", help="add: the shared secret that signs every body")

    def handle(self, *args, action: str, target: str, secret: str, **options) -> None:
        if action == "list":
            for subscription in WebhookSubscription.objects.all():
                state = "active" if subscription.active else "paused"
                self.stdout.write(f"{subscription.pk}\t{subscription.url}\t{state}\tsince {subscription.created_at:%Y-%m-%d %H:%M}")
            return
        if not target:
            raise CommandError(f"'{action}' needs a {'URL' if action == 'add' else 'subscription id or URL'}", returncode=2)
        try:
            self._act(action, target=target, secret=secret)
        except SubscriptionError as error:
            raise CommandError(str(error), returncode=2) from None

    def _act(self, action: str, *, target: str, secret: str) -> None:
        if action == "add":
            if not secret:
                raise CommandError("'add' needs --secret S: receivers verify every body with it", returncode=2)
            subscription = subscription_add(url=target, secret=secret)
            self.stdout.write(self.style.SUCCESS(f"subscribed {subscription.url} (id {subscription.pk})"))
        elif action == "remove":
            subscription = subscription_remove(ref=target)
            self.stdout.write(self.style.SUCCESS(f"removed {subscription.url}"))
        else:
            subscription = subscription_get(ref=target)
            answer = ping(subscription=subscription, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
            if not answer.delivered:
                raise CommandError(f"ping to {subscription.url} failed: {answer.error}", returncode=1)
            self.stdout.write(self.style.SUCCESS(f"ping to {subscription.url}: HTTP {answer.status}"))
