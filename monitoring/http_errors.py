"""Where the JSON API lives, and what the site answers when no view does (handler400/404/500).

main/urls.py mounts the API under the prefixes named here, and points Django's error
handlers at this module: on an API path an error is JSON in the API's shape (also
with DEBUG on, whose pages are HTML), elsewhere it is Django's own page.
"""
from __future__ import annotations

import re
from http import HTTPStatus

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from monitoring.report_answers import json_answer, no_such_report

API_V1 = "api/v1/"
API_LATEST = "api/"
ROOT = ""
# The whole API under the first two; the original problem's two endpoints also at the root.
API_PREFIXES = (API_V1, API_LATEST, ROOT)
ROOT_ENDPOINTS = ("trigger_report", "get_report")
# request.path (with its leading slash) starts with one of these on an API path.
API_PATHS = tuple(f"/{prefix}" for prefix in API_PREFIXES if prefix) + tuple(f"/{name}" for name in ROOT_ENDPOINTS)
# For main/urls.py: any other path below the API is the JSON 404, not the pages' HTML one.
UNKNOWN_API_PATH = "^(?:" + "|".join(re.escape(path[1:]) for path in API_PATHS) + ")"
# Where a report id is read from the path: an id no route accepts (one with a line break) is still an id.
# /reports/<id> at the root is the pages' report page, hence only under the API's own prefixes.
REPORT_PATH = re.compile(
    "|".join([f"/{re.escape(prefix)}get_report/" for prefix in API_PREFIXES]
             + [f"/{re.escape(prefix)}reports/." for prefix in API_PREFIXES if prefix]),
    re.DOTALL,
)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATHS)


def problem(*, status: int, error: str) -> JsonResponse:
    """Every API error but the unknown report: `status` is the reason phrase, `error` says what to change."""
    return json_answer(data={"status": HTTPStatus(status).phrase, "error": error}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return problem(status=400, error="the request could not be read (too large, or malformed)")
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if REPORT_PATH.match(request.path):
        return no_such_report()
    if is_api_path(request.path):
        return problem(status=404, error=f"no API endpoint at {request.path}; see /{API_V1}docs")
    return defaults.page_not_found(request, exception)


@csrf_exempt  # machine clients send no CSRF token: a POST to a wrong path is a 404 too
def unknown_path(request: HttpRequest) -> HttpResponse:
    """An unknown path's 404; also what a staff-only page or endpoint answers an owner's client
    (SPEC 11), so it learns nothing, not even that the path exists."""
    return page_not_found(request, Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return problem(status=500, error="the server failed on this request; the error is logged")
    return defaults.server_error(request)
