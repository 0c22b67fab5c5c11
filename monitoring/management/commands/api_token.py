"""Manage API tokens: `create NAME`, `rotate NAME` (new secret, old one dies), `revoke NAME`, `list`.

The secret is printed once; only its hash is stored.
"""
from django.core.management.base import BaseCommand, CommandError

from monitoring.access import api_token_create, api_token_revoke, api_token_rotate
from monitoring.models import ApiToken


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["create", "rotate", "revoke", "list"])
        parser.add_argument("name", nargs="?", default="")

    def handle(self, *args, action: str, name: str, **options) -> None:
        if action == "list":
            for token in ApiToken.objects.all():
                self.stdout.write(f"{token.name}\t{token.prefix}…\t{'active' if token.active else 'revoked'}\t{token.last_used_at or 'never used'}")
            return
        if not name:
            raise CommandError(f"'{action}' needs a token NAME", returncode=2)
        if action == "create":
            if ApiToken.objects.filter(name=name).exists():
                raise CommandError(f"a token named {name!r} exists; use 'rotate'", returncode=2)
            self.stdout.write(api_token_create(name=name).secret)
        elif action == "rotate":
            if not ApiToken.objects.filter(name=name).exists():
                raise CommandError(f"no token named {name!r}", returncode=2)
            self.stdout.write(api_token_rotate(name=name).secret)
        else:
            if not api_token_revoke(name=name):
                raise CommandError(f"no token named {name!r}", returncode=2)
            self.stdout.write(self.style.SUCCESS(f"revoked {name}"))
