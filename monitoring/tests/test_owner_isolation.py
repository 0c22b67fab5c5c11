"""No answer anywhere shows an owner anything that is not its own (SPEC 11).

Every URL pattern of the project is taken from Django's URL resolver (so an endpoint
added later is walked too: a parameter this file has no values for fails the test),
filled with every owner's ids and with unknown ones, and asked with GET, POST and
DELETE by each identity: two owners' tokens and sessions, a staff session and an
anonymous client, with REQUIRE_AUTH on as in production. Then:

- no answer (body or headers) holds a store id or owner name the identity may not see,
  once the values the request itself carried are taken out (a 404 may echo them);
- no answer is a server error;
- what an owner gets for another's report, store or subscription is exactly what it
  gets for an id that does not exist (status and body, the id itself swapped).
"""
from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from monitoring.tests.owner_cases import ALPHA, BETA, EVERY_STORE, NOBODYS, VISIBLE, OwnerWorld, make_owner_world

pytestmark = pytest.mark.django_db

UNKNOWN_REPORT = str(uuid.UUID(int=7))
UNKNOWN_STORE = "qnosuchstorezq"
UNKNOWN_SUBSCRIPTION = "987654"
METHODS = ("get", "post", "delete")
# A form's CSRF token is masked afresh on every answer: not part of what is compared.
CSRF_VALUE = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]+')
# What identifies a route's parameters: Django's <converter:name> and a regex's (?P<name>...).
ROUTE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")
REGEX_PARAMETER = re.compile(r"\(\?P<(\w+)>[^)]*\)")
NON_CAPTURING = re.compile(r"\(\?:([^)|]*)[^)]*\)")


def every_pattern(patterns=None, prefix: str = "") -> Iterator[str]:
    """Each URL pattern of the project as one template: its resolvers' prefixes and its own route."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from every_pattern(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern)


def parameters_of(template: str) -> list[str]:
    return ROUTE_PARAMETER.findall(template) + REGEX_PARAMETER.findall(template)


def filled(template: str, values: dict[str, str]) -> str:
    path = ROUTE_PARAMETER.sub(lambda m: values[m.group(1)], template)
    path = REGEX_PARAMETER.sub(lambda m: values[m.group(1)], path)
    path = NON_CAPTURING.sub(lambda m: m.group(1), path)  # the first alternative
    return "/" + path.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "")


def candidates(world: OwnerWorld) -> dict[str, list[str]]:
    """The values each parameter takes: every owner's and staff's ids, and an unknown one."""
    reports = [str(report.id) for report in world.reports.values()] + [UNKNOWN_REPORT]
    return {
        "report_id": reports,
        "store_id": [*EVERY_STORE, UNKNOWN_STORE],
        "subscription_id": [str(s.pk) for s in world.subscriptions.values()] + [UNKNOWN_SUBSCRIPTION],
        # The admin's (staff only: an owner is answered 404 before any of these is looked up).
        "object_id": ["1"], "app_label": ["monitoring"], "url": ["nothing-here/"], "content_type_id": ["1"],
        "id": ["1"], "path": ["x"],
    }


def identities(world: OwnerWorld) -> dict[str, Client]:
    clients = {}
    for owner in (ALPHA, BETA):
        clients[f"{owner} token"] = Client(HTTP_AUTHORIZATION=f"Bearer {world.tokens[owner]}")
        session = Client()
        session.force_login(world.users[owner])
        clients[f"{owner} session"] = session
    staff = Client()
    staff.force_login(world.users[None])
    clients["staff session"] = staff
    clients["anonymous"] = Client()
    return clients


def owner_of(identity: str) -> str | None:
    return next((owner for owner in (ALPHA, BETA) if identity.startswith(owner)), None)


def forbidden_for(identity: str, world: OwnerWorld) -> set[str]:
    """What must not appear in the identity's answers."""
    owner = owner_of(identity)
    if identity == "staff session":
        return set()
    hidden = set(EVERY_STORE) | {ALPHA, BETA} | {s.url for s in world.subscriptions.values()}
    if owner is None:  # anonymous, turned away by REQUIRE_AUTH
        return hidden
    return hidden - VISIBLE[owner] - {owner, world.subscriptions[owner].url}


def out_of_scope(identity: str, world: OwnerWorld) -> dict[str, str]:
    """Another owner's (or staff's) ids the identity's answers must treat as unknown: id -> unknown stand-in."""
    owner = owner_of(identity)
    if owner is None:
        return {}
    others = [o for o in (ALPHA, BETA, None) if o != owner]
    hidden = {str(world.reports[o].id): UNKNOWN_REPORT for o in others}
    hidden |= {str(world.subscriptions[o].pk): UNKNOWN_SUBSCRIPTION for o in others}
    hidden |= {store_id: UNKNOWN_STORE for store_id in set(EVERY_STORE) - VISIBLE[owner]}
    return hidden


def answer_text(response) -> bytes:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items()).encode()
    return headers + b"\n" + body


def comparable(response, *, swap: tuple[str, str] | None = None) -> tuple[int, bytes]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    body = CSRF_VALUE.sub(rb"\1", body)
    if swap is not None:
        body = body.replace(swap[0].encode(), swap[1].encode())
    return response.status_code, body


@pytest.fixture
def world(settings) -> OwnerWorld:
    settings.REQUIRE_AUTH = True
    settings.TRIGGER_RATE_LIMIT = 0
    return make_owner_world()


def requests_to_make(world: OwnerWorld) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(template, path, the values in it) for every pattern and every combination of its values."""
    values = candidates(world)
    for template in every_pattern():
        names = parameters_of(template)
        missing = [name for name in names if name not in values]
        assert not missing, f"add test values for {missing} of the URL pattern {template!r} (test_owner_isolation.py)"
        for combination in itertools.product(*(values[name] for name in names)):
            chosen = dict(zip(names, combination, strict=True))
            yield template, filled(template, chosen), chosen


def test_the_walk_covers_every_endpoint_kind(world):
    """A guard on the walker itself: the patterns that matter are among those it asks."""
    paths = {path for _template, path, _values in requests_to_make(world)}
    report, store = str(world.reports[ALPHA].id), EVERY_STORE[0]
    for expected in (
        f"/reports/{report}/", f"/reports/{report}/csv", f"/reports/{report}/stores/{store}", "/now/", "/alerts/", "/data/",
        f"/api/v1/reports/{report}/outages", f"/api/v1/reports/{report}/stores/{store}", "/api/v1/status",
        "/api/v1/webhooks", f"/api/v1/webhooks/{world.subscriptions[ALPHA].pk}", "/api/v1/sources", "/get_report",
        f"/api/get_report/{report}", "/trigger_report", "/admin/",
    ):
        assert expected in paths


def test_no_answer_shows_an_identity_what_is_not_its_own(world):
    clients = identities(world)
    asked = 0
    for identity, client in clients.items():
        forbidden = forbidden_for(identity, world)
        for template, path, values in requests_to_make(world):
            # The request's own values may come back (a 404 names the id asked for): not a leak.
            echoed = set(values.values())
            for method in METHODS:
                response = getattr(client, method)(path)
                asked += 1
                assert response.status_code < 500, f"{identity} {method.upper()} {path}: {response.status_code}"
                text = answer_text(response)
                for value in echoed:
                    text = text.replace(value.encode(), b"")
                leaked = sorted(word for word in forbidden if word.encode() in text)
                assert not leaked, f"{identity} {method.upper()} {path} ({template}) shows {leaked}"
    assert asked > 1000  # every pattern, value and identity: a walk this small would have missed some


def test_another_owners_ids_are_answered_as_ids_that_do_not_exist(world):
    for identity, client in identities(world).items():
        hidden = out_of_scope(identity, world)
        for _template, path, values in requests_to_make(world):
            for name, value in values.items():
                if value not in hidden:
                    continue
                stand_in = hidden[value]
                unknown_path = path.replace(value, stand_in)
                for method in ("get", "delete"):
                    theirs = getattr(client, method)(path)
                    unknown = getattr(client, method)(unknown_path)
                    assert comparable(theirs, swap=(value, stand_in)) == comparable(unknown), (
                        f"{identity} {method.upper()} {path}: another's {name} answers unlike an unknown one"
                    )


def test_staff_see_every_store_and_owners_their_own_in_status_now(world):
    clients = identities(world)
    listed = {
        identity: {row["store_id"] for row in clients[identity].get("/api/v1/status").json()["stores"]}
        for identity in ("staff session", f"{ALPHA} token", f"{BETA} session")
    }
    assert listed == {"staff session": set(EVERY_STORE), f"{ALPHA} token": VISIBLE[ALPHA], f"{BETA} session": VISIBLE[BETA]}
    assert NOBODYS not in listed[f"{ALPHA} token"] | listed[f"{BETA} session"]
