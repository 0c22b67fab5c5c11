"""Who may use the service when it is exposed: API tokens, logins and a trigger rate limit.

In development (the default) everything stays open. With settings.REQUIRE_AUTH
(on in production) the API wants a valid token (`Authorization: Bearer <token>`)
or a logged-in user, and the pages want a login.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from monitoring.models import ApiToken, Report

TOKEN_BYTES = 32
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once; only its hash is stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenRefused(Exception):
    """A token command that would do something the operator may not mean (the message says what)."""


def api_token_create(*, name: str) -> IssuedToken:
    """A new client token; TokenRefused when the name is taken or too long for its column."""
    limit = ApiToken._meta.get_field("name").max_length
    if len(name) > limit:
        raise TokenRefused(f"a token name has at most {limit} characters, not {len(name)}")
    if ApiToken.objects.filter(name=name).exists():
        raise TokenRefused(f"a token named {name!r} exists; use 'rotate'")
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken.objects.create(name=name, key_hash=_hash(secret), prefix=secret[:8])
    return IssuedToken(token=token, secret=secret)


def api_token_rotate(*, name: str, reactivate: bool = False) -> IssuedToken:
    """A new secret for the same client; the old one stops working at once.

    A revoked token is refused unless `reactivate` says so: a revocation is a decision
    (a leaked secret, a client gone) that a routine rotation must not undo silently.
    """
    token = ApiToken.objects.filter(name=name).first()
    if token is None:
        raise TokenRefused(f"no token named {name!r}")
    if not token.active and not reactivate:
        raise TokenRefused(f"the token {name!r} is revoked; 'rotate --reactivate {name}' lets it in again with a new secret")
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


def may_load_sources(request: HttpRequest) -> bool:
    """Whether the request may load data (an upload changes every later report): anyone in
    development; with REQUIRE_AUTH, staff only. Staff is a token or a signed-in user without
    an owner: owners do not exist yet (SPEC 11), so today that is every token and every user,
    and this is the one place to refuse an owner's token when they come."""
    if not settings.REQUIRE_AUTH:
        return True
    user = getattr(request, "user", None)
    return getattr(request, "api_token", None) is not None or bool(user is not None and user.is_authenticated)


def trigger_allowed(*, client: str) -> bool:
    """At most TRIGGER_RATE_LIMIT reports per TRIGGER_RATE_WINDOW_SECONDS per client.

    Counted from the report rows themselves, so every web process agrees without a shared cache.
    """
    if settings.TRIGGER_RATE_LIMIT == 0:
        return True
    since = timezone.now() - timedelta(seconds=settings.TRIGGER_RATE_WINDOW_SECONDS)
    recent = Report.objects.filter(requested_by=client, requested_at__gte=since).count()
    return recent < settings.TRIGGER_RATE_LIMIT
