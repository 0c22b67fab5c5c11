"""Who may use the service and what they see: API tokens, logins, owners' scopes and a trigger rate limit.

In development (the default) everything stays open. With settings.REQUIRE_AUTH
(on in production) the API wants a valid token (`Authorization: Bearer <token>`)
or a logged-in user, and the pages want a login.

What an identity may see is decided here and nowhere else (SPEC 11): `request_scope`
gives a request's StoreScope (a token's or a user's owner; none is staff), and every
view, API endpoint, command and export reads stores, reports, events and
subscriptions through it. Anything out of scope is answered as if it did not exist.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from monitoring.models import (
    CONTROL_CHARACTER,
    OWNER_MAX_CHARS,
    AlertEvent,
    ApiToken,
    Report,
    Store,
    StoreOwner,
    UserOwner,
    WebhookSubscription,
)

TOKEN_BYTES = 32
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once; only its hash is stored


@dataclass(frozen=True)
class StoreScope:
    """Which stores an identity may see: every store (staff, `owner` None) or one owner's.

    The one rule of SPEC 11, spelled once for each way the data are read: an owner's
    stores are those its StoreOwner rows name; its reports and subscriptions are those
    recorded with its name; its alert events are those of its stores.
    """

    owner: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.owner is None

    def stores(self) -> QuerySet[Store]:
        every = Store.objects.all()
        return every if self.owner is None else every.filter(owners__owner=self.owner)

    def store_ids(self) -> frozenset[str] | None:
        """The owner's store ids (one query), or None for staff: every store."""
        if self.owner is None:
            return None
        return frozenset(self.stores().values_list("store_id", flat=True))

    def store_keys_sql(self, *, key: str) -> tuple[str, dict]:
        """A SQL condition that `key` (a monitoring_store.id expression) is in scope, and its parameters:
        the same rule as stores(), for the report reader's own SQL."""
        if self.owner is None:
            return "TRUE", {}
        return store_owned_sql(key=key, owner="%(scope_owner)s"), {"scope_owner": self.owner}

    def reports(self) -> QuerySet[Report]:
        every = Report.objects.all()
        return every if self.owner is None else every.filter(owner=self.owner)

    def events(self) -> QuerySet[AlertEvent]:
        every = AlertEvent.objects.all()
        return every if self.owner is None else every.filter(store__owners__owner=self.owner)

    def subscriptions(self) -> QuerySet[WebhookSubscription]:
        every = WebhookSubscription.objects.all()
        return every if self.owner is None else every.filter(owner=self.owner)

    @property
    def recorded_owner(self) -> str:
        """How a row this identity creates records its owner (blank: staff)."""
        return self.owner or ""


STAFF = StoreScope()


def store_owned_sql(*, key: str, owner: str) -> str:
    """SQL: the store `key` (a monitoring_store.id expression) belongs to `owner` (an SQL text
    expression: a parameter, or a column such as a subscription's owner)."""
    return f"EXISTS (SELECT 1 FROM {StoreOwner._meta.db_table} o WHERE o.store_id = {key} AND o.owner = {owner})"


def owner_scope(owner: str | None) -> StoreScope:
    """The scope of a recorded owner name (a report's, a subscription's, a command's --owner); blank is staff."""
    return StoreScope(owner=owner or None)


def request_scope(request: HttpRequest) -> StoreScope:
    """Whose stores the request may see: its token's owner, else its user's, else staff.

    An anonymous request is staff: it gets here only in development (with REQUIRE_AUTH
    the middleware turns it away), where the service is open by design. Kept on the
    request, so a view and the helpers it calls ask the database once.
    """
    cached = getattr(request, "_store_scope", None)
    if cached is not None:
        return cached
    token = getattr(request, "api_token", None)
    user = getattr(request, "user", None)
    if token is not None:
        scope = owner_scope(token.owner)
    elif user is not None and user.is_authenticated:
        scope = owner_scope(UserOwner.objects.filter(user_id=user.pk).values_list("owner", flat=True).first())
    else:
        scope = STAFF
    request._store_scope = scope
    return scope


def scope_for_templates(request: HttpRequest) -> dict:
    """Context processor: `scope`, so the pages show an owner's name and hide staff-only links."""
    return {"scope": request_scope(request)}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class IdentityRefused(Exception):
    """A token or user command that would do something the operator may not mean (the message says what)."""


def api_token_create(*, name: str, owner: str = "") -> IssuedToken:
    """A new client token, of an owner (it sees that owner's stores only) or, with no owner, staff;
    IdentityRefused when the name is taken or too long for its column, or the owner's name is not one."""
    limit = ApiToken._meta.get_field("name").max_length
    if len(name) > limit:
        raise IdentityRefused(f"a token name has at most {limit} characters, not {len(name)}")
    if ApiToken.objects.filter(name=name).exists():
        raise IdentityRefused(f"a token named {name!r} exists; use 'rotate'")
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken.objects.create(name=name, key_hash=_hash(secret), prefix=secret[:8], owner=owner_name(owner))
    return IssuedToken(token=token, secret=secret)


def owner_name(text: str) -> str:
    """An owner's name as given to a command or the admin: stripped; blank means staff. The
    owners source accepts the same names (at most OWNER_MAX_CHARS, no control characters)."""
    name = text.strip()
    if len(name) > OWNER_MAX_CHARS:
        raise IdentityRefused(f"an owner's name has at most {OWNER_MAX_CHARS} characters, not {len(name)}")
    if re.search(CONTROL_CHARACTER, name):
        raise IdentityRefused("an owner's name has no control characters")
    return name


@dataclass(frozen=True)
class OwnerUser:
    user: AbstractBaseUser
    password: str | None  # a new user's password, shown once; None when the user existed


def owner_user_add(*, username: str, owner: str) -> OwnerUser:
    """Make a login user belong to an owner (creating the user, with a new password, if needed).

    An owner's user can log in to the pages and sees only the owner's stores; it is
    never let into the admin, which shows every store (admin.py).
    """
    owner = owner_name(owner)
    if not owner:
        raise IdentityRefused("give the owner: --owner NAME (a user without one is staff: 'owner_user remove')")
    users = get_user_model()
    with transaction.atomic():
        user = users.objects.filter(**{users.USERNAME_FIELD: username}).first()
        password = None
        if user is None:
            password = secrets.token_urlsafe(12)
            user = users.objects.create_user(**{users.USERNAME_FIELD: username}, password=password)
        UserOwner.objects.update_or_create(user=user, defaults={"owner": owner})
    return OwnerUser(user=user, password=password)


def owner_user_remove(*, username: str) -> bool:
    """The user is staff again (sees every store); False when it had no owner or does not exist."""
    users = get_user_model()
    return UserOwner.objects.filter(**{f"user__{users.USERNAME_FIELD}": username}).delete()[0] > 0


def api_token_rotate(*, name: str, reactivate: bool = False) -> IssuedToken:
    """A new secret for the same client; the old one stops working at once.

    A revoked token is refused unless `reactivate` says so: a revocation is a decision
    (a leaked secret, a client gone) that a routine rotation must not undo silently.
    """
    token = ApiToken.objects.filter(name=name).first()
    if token is None:
        raise IdentityRefused(f"no token named {name!r}")
    if not token.active and not reactivate:
        raise IdentityRefused(f"the token {name!r} is revoked; 'rotate --reactivate {name}' lets it in again with a new secret")
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    token.key_hash, token.prefix, token.active = _hash(secret), secret[:8], True
    token.save(update_fields=["key_hash", "prefix", "active"])
    return IssuedToken(token=token, secret=secret)


def api_token_revoke(*, name: str) -> bool:
    """Stop the client's token working at once; False when no token has that name.

    The row stays (inactive), so `rotate` can give the client a new secret later.
    """
    return ApiToken.objects.filter(name=name).update(active=False) > 0


def api_token_for_request(request: HttpRequest) -> ApiToken | None:
    """The active token the request carries in `Authorization: Bearer …` or `X-API-Token`."""
    header = request.headers.get("Authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Token", "")
    if not secret or len(secret) > 200:
        return None
    token = ApiToken.objects.filter(key_hash=_hash(secret), active=True).first()
    if token is not None:
        _note_use(token)
    return token


def _note_use(token: ApiToken) -> None:
    """Record when a token was last used, to the minute: a write on every request of a
    polling client would cost each one a commit (and its disk flush) for nothing."""
    moment = timezone.now()
    if token.last_used_at is None or moment - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=moment)


def client_identity(request: HttpRequest) -> str:
    """A stable name for whoever sends the request, used for the trigger rate limit."""
    token = getattr(request, "api_token", None)
    if token is not None:
        return f"token:{token.name}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.get_username()}"
    return f"ip:{request.META.get('REMOTE_ADDR', 'unknown')}"


def is_staff_request(request: HttpRequest) -> bool:
    """Whether the request may do what only staff may (load data, see the loads): a token or a
    user without an owner, or anyone in development. An owner is answered 404 (SPEC 11)."""
    return request_scope(request).is_staff


def trigger_allowed(*, client: str) -> bool:
    """At most TRIGGER_RATE_LIMIT reports per TRIGGER_RATE_WINDOW_SECONDS per client.

    Counted from the report rows themselves, so every web process agrees without a shared cache.
    """
    if settings.TRIGGER_RATE_LIMIT == 0:
        return True
    since = timezone.now() - timedelta(seconds=settings.TRIGGER_RATE_WINDOW_SECONDS)
    recent = Report.objects.filter(requested_by=client, requested_at__gte=since).count()
    return recent < settings.TRIGGER_RATE_LIMIT
