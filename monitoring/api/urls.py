"""The API's URL patterns: HEAD, a session's writes and wrong methods handled around every endpoint.

main/urls.py mounts them: the whole API under /api/v1/ and /api/, the two original
endpoints (and the outage list) at the root too.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import URLPattern

from monitoring.api import data, reports, webhooks
from monitoring.api.core import api
from monitoring.http_errors import ROOT_ENDPOINTS, problem

# --- URLs ------------------------------------------------------------------------------


# Endpoints where even GET changes state (a new report): HEAD is refused on them, since a HEAD
# answered as GET would create a report for a probe; and a logged-in browser must show intent
# (below), as it must for every POST and DELETE.
STATE_CHANGING_ON_GET = ("trigger_report",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
REFUSED_HEAD = "HEAD would create a report here: HEAD changes nothing; use GET or POST"
SESSION_WRITE = (
    "a logged-in browser writes with POST or DELETE and the CSRF token (the X-CSRFToken header, from the "
    "csrftoken cookie) from this site; programs send 'Authorization: Bearer <token>' instead"
)


def _csrf_check(request: HttpRequest) -> None:
    """The view the CSRF check is run for: ninja's views are exempt, this one is not."""


def _without_intent(request: HttpRequest) -> bool:
    """A write carried by a login session alone, without the CSRF token and a same-site origin.

    Cookies go with any request the browser sends, whichever site makes it send it; a token
    client (Authorization header) or anonymous development has no cookie to borrow.
    """
    if getattr(request, "api_token", None) is not None or not request.user.is_authenticated:
        return False
    if request.method in SAFE_METHODS:
        return True  # a GET from a logged-in browser may be an <img> on any page
    # The check reads a form's csrfmiddlewaretoken through request.POST, which consumes a multipart
    # body's stream: cache the raw body first, which the trigger then still reads for its fields.
    _ = request.body
    return CsrfViewMiddleware(lambda _: HttpResponse()).process_view(request, _csrf_check, (), {}) is not None


def _http_methods(view: Callable[..., HttpResponse], *, changes_state: bool) -> Callable[..., HttpResponse]:
    """HEAD answered as GET (probes and `curl -I` send it; the server drops the body), but refused
    where GET changes state; a session's write without intent refused; and a wrong method answered
    in the API's JSON shape instead of ninja's bare text 405."""

    @wraps(view)  # keeps csrf_exempt
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        method = request.method
        if changes_state and method == "HEAD":
            answer = problem(status=405, error=REFUSED_HEAD)
            answer["Allow"] = "GET, POST"
            return answer
        if (changes_state or method not in SAFE_METHODS) and _without_intent(request):
            return problem(status=403, error=SESSION_WRITE)
        request.method = "GET" if method == "HEAD" else method
        response = view(request, *args, **kwargs)
        request.method = method
        if response.status_code != 405:
            return response
        allowed = set(response["Allow"].split(", "))
        allowed |= {"HEAD"} if "GET" in allowed and not changes_state else set()
        listed = ", ".join(sorted(allowed))  # ninja lists them from a set: keep the header stable
        answer = problem(status=405, error=f"{method} is not allowed on {request.path}; use {listed}")
        answer["Allow"] = listed
        return answer

    return wrapper


# Importing them registered their endpoints on `api`, in this order (a path matches the first
# endpoint that takes it): these patterns are theirs.
ENDPOINT_MODULES = (reports, data, webhooks)


def _patterns() -> list[URLPattern]:
    patterns, _app, _namespace = api.urls
    return [
        URLPattern(p.pattern, _http_methods(p.callback, changes_state=p.name in STATE_CHANGING_ON_GET), p.default_args, p.name)
        for p in patterns
    ]


_PATTERNS = _patterns()
# What main/urls.py mounts (path() takes these (patterns, app_name, namespace) triples): the whole
# API under /api/v1/ (the namespace ninja reverses for its docs page) and /api/, and the two
# original endpoints at the root.
v1_urls = (_PATTERNS, "ninja", api.urls_namespace)
latest_urls = (_PATTERNS, "ninja", "api")
# The outage list too: /reports/<id>/outages beside the report's page /reports/<id>/ (the
# store page links to it), answered exactly as under /api/v1/.
AT_THE_ROOT_TOO = ("report_outages",)
root_urls = (
    [p for p in _PATTERNS if str(p.pattern).startswith(ROOT_ENDPOINTS) or p.name in AT_THE_ROOT_TOO], "ninja", "root-api",
)
