"""Manage API tokens: `create NAME [--owner O]`, `rotate NAME` (new secret, old one dies), `revoke NAME`, `list`.

The secret is printed once; only its hash is stored. A token created with
`--owner O` sees O's stores only (SPEC 11); one without is staff and sees every
store. A revoked token stays revoked: `rotate` refuses it unless `--reactivate`
says the client may come back.
"""
from django.core.management.base import BaseCommand, CommandError

from monitoring.access import IdentityRefused, api_token_create, api_token_revoke, api_token_rotate, owner_scope
from monitoring.models import ApiToken


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["create", "rotate", "revoke", "list"])
        parser.add_argument("name", nargs="?", default="")
        parser.add_argument("--reactivate", action="store_true", help="rotate: also let a revoked token in again")
        parser.add_argument("--owner", default="", help="create: the owner whose stores the token sees (none: staff)")

    def handle(self, *args, action: str, name: str, reactivate: bool, owner: str, **options) -> None:
        if action == "list":
            for token in ApiToken.objects.all():
                state = "active" if token.active else "revoked"
                self.stdout.write(
                    f"{token.name}\t{token.prefix}…\t{state}\t{token.owner or 'staff'}\t{token.last_used_at or 'never used'}"
                )
            return
        if not name:
            raise CommandError(f"'{action}' needs a token NAME", returncode=2)
        try:
            if action == "create":
                self._create(name=name, owner=owner)
            elif action == "rotate":
                self._rotate(name=name, reactivate=reactivate)
            else:
                self._revoke(name=name)
        except IdentityRefused as refused:
            raise CommandError(str(refused), returncode=2) from None

    def _create(self, *, name: str, owner: str) -> None:
        issued = api_token_create(name=name, owner=owner)
        if issued.token.owner and not owner_scope(issued.token.owner).stores().exists():
            # Not refused: the owners file may come later. But a typo would otherwise go unseen.
            self.stderr.write(self.style.WARNING(f"no store belongs to {issued.token.owner!r} yet: the token sees none until one does"))
        self.stdout.write(issued.secret)

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
