"""Manage API tokens: `create NAME`, `rotate NAME` (new secret, old one dies), `revoke NAME`, `list`.

The secret is printed once; only its hash is stored. A revoked token stays revoked:
`rotate` refuses it unless `--reactivate` says the client may come back.
"""
from django.core.management.base import BaseCommand, CommandError

from monitoring.access import TokenRefused, api_token_create, api_token_revoke, api_token_rotate
from monitoring.models import ApiToken


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["create", "rotate", "revoke", "list"])
        parser.add_argument("name", nargs="?", default="")
        parser.add_argument("--reactivate", action="store_true", help="rotate: also let a revoked token in again")

    def handle(self, *args, action: str, name: str, reactivate: bool, **options) -> None:
        if action == "list":
            for token in ApiToken.objects.all():
                self.stdout.write(f"{token.name}\t{token.prefix}…\t{'active' if token.active else 'revoked'}\t{token.last_used_at or 'never used'}")
            return
        if not name:
            raise CommandError(f"'{action}' needs a token NAME", returncode=2)
        try:
            if action == "create":
                self.stdout.write(api_token_create(name=name).secret)
            elif action == "rotate":
                self._rotate(name=name, reactivate=reactivate)
            else:
                self._revoke(name=name)
        except TokenRefused as refused:
            raise CommandError(str(refused), returncode=2) from None

    def _rotate(self, *, name: str, reactivate: bool) -> None:
        was_revoked = ApiToken.objects.filter(name=name, active=False).exists()
        secret = api_token_rotate(name=name, reactivate=reactivate).secret
        if was_revoked:
            self.stderr.write(self.style.WARNING(f"{name} was revoked and is active again, with this new secret"))
        self.stdout.write(secret)

    def _revoke(self, *, name: str) -> None:
        if not api_token_revoke(name=name):
            raise CommandError(f"no token named {name!r}", returncode=2)
        self.stdout.write(self.style.SUCCESS(f"revoked {name}"))
