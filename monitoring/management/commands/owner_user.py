"""Owners' logins (SPEC 11): `add USERNAME --owner O`, `remove USERNAME`, `list`.

`add` makes the user belong to owner O: signed in, it sees O's stores only, on
every page and through the API. A user that does not exist yet is created and its
password printed once (change it with `manage.py changepassword USERNAME`).
`remove` makes the user staff again. The admin (Users > Owner) does the same.
"""
from django.core.management.base import BaseCommand, CommandError

from monitoring.access import IdentityRefused, owner_scope, owner_user_add, owner_user_remove
from monitoring.models import UserOwner


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["add", "remove", "list"])
        parser.add_argument("username", nargs="?", default="")
        parser.add_argument("--owner", default="", help="add: the owner whose stores the user sees")

    def handle(self, *args, action: str, username: str, owner: str, **options) -> None:
        if action == "list":
            for link in UserOwner.objects.select_related("user"):
                self.stdout.write(f"{link.user.get_username()}\t{link.owner}")
            return
        if not username:
            raise CommandError(f"'{action}' needs a USERNAME", returncode=2)
        if action == "remove":
            if not owner_user_remove(username=username):
                raise CommandError(f"{username!r} is not an owner's user", returncode=2)
            self.stdout.write(self.style.SUCCESS(f"{username} has no owner now: it is staff and sees every store"))
            return
        try:
            added = owner_user_add(username=username, owner=owner)
        except IdentityRefused as refused:
            raise CommandError(str(refused), returncode=2) from None
        owner = added.user.owner_of.owner
        if not owner_scope(owner).stores().exists():
            self.stderr.write(self.style.WARNING(f"no store belongs to {owner!r} yet: the user sees none until one does"))
        if added.password is not None:
            self.stdout.write(f"created {username} (owner {owner}); password: {added.password}")
        else:
            self.stdout.write(self.style.SUCCESS(f"{username} now sees the stores of {owner}"))
