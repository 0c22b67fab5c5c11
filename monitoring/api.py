"""The JSON API (SPEC 6): trigger a report, poll for it, list reports, health, OpenAPI docs.

Thin: read the request, call monitoring.reports, shape the answer. The two
endpoints of the original problem accept every style its clients use (GET or
POST; the id in the query, the path or a JSON body), and every client mistake
gets a 4xx JSON answer. main/urls.py serves this one API under /api/v1/, /api/
and, for the two original endpoints, at the root.
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache, wraps
from http import HTTPStatus
from typing import Any, Literal

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Query, Status
from ninja.errors import ValidationError
from ninja.openapi.docs import Swagger
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

from monitoring.access import client_identity
from monitoring.api_schemas import (
    NO_SUCH_REPORT,
    Health,
    NotFound,
    Problem,
    ReportComplete,
    ReportFailed,
    ReportList,
    ReportRunning,
    ReportSummary,
    Triggered,
)
from monitoring.ingest.overview import data_overview
from monitoring.middleware import API_PREFIXES
from monitoring.models import Report
from monitoring.reports.requests import ReportRequest
from monitoring.reports.service import (
    TriggerLimitReached,
    report_create,
    report_get,
    report_list,
)

MISSING_ID = (
    "report_id is missing: send it as ?report_id=<id>, in the path /get_report/<id>, "
    'or in a JSON body {"report_id": "<id>"}'
)
CSV_TYPE = "text/csv; charset=utf-8"
Output = Literal["json", "csv"]
# Older instants are refused: PostgreSQL stores years Python cannot read back (year 0, BC).
EARLIEST_AS_OF = datetime(1970, 1, 1, tzinfo=UTC)


class PreciseJSONEncoder(NinjaJSONEncoder):
    """Keeps microseconds, which Django's encoder cuts to milliseconds: a report's `now` is
    a poll's exact instant, and `as_of=<now>` must give the same report again."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat().replace("+00:00", "Z")
        return super().default(o)


class PreciseJSONRenderer(JSONRenderer):
    encoder_class = PreciseJSONEncoder


class MonitoringAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(**kwargs)
        # The token is checked by monitoring.middleware, and only when REQUIRE_AUTH is on (production):
        # declare it here so the docs page offers "Authorize"; `{}` says it is optional.
        schema["components"]["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"token": []}, {}]
        return schema


api = MonitoringAPI(
    title="Store monitoring API",
    version="1.0.0",
    description=(
        "Trigger a store uptime report, poll it until it is Complete, download its CSV. "
        "Every path is also served under /api/; /trigger_report and /get_report also at the root."
    ),
    urls_namespace="api-v1",
    renderer=PreciseJSONRenderer(),
    # With "ninja" in INSTALLED_APPS the page loads Swagger UI from our static files, never a CDN.
    docs=Swagger(settings={"tryItOutEnabled": True}),
    docs_url="/docs",
    openapi_url="/openapi.json",
)


class ApiError(Exception):
    """A client's mistake, answered as `{"status": <reason phrase>, "error": <what to change>}`."""

    def __init__(self, status: int, error: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.headers = status, error, dict(headers or {})


def _json(data: dict[str, Any], status: int) -> JsonResponse:
    # The same Content-Type as ninja's own answers, so every API answer looks alike.
    return JsonResponse(data, status=status, content_type=api.get_content_type(), encoder=PreciseJSONEncoder)


def _problem(status: int, error: str) -> JsonResponse:
    return _json({"status": HTTPStatus(status).phrase, "error": error}, status)


@api.exception_handler(ApiError)
def _answer_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = _problem(exc.status, exc.error)
    for name, value in exc.headers.items():
        response[name] = value
    return response


@api.exception_handler(ValidationError)
def _answer_invalid_parameter(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # loc is e.g. ("query", "format"): name the parameter, not where ninja found it.
    details = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors)
    return _problem(422, details)


# --- Reading the request -------------------------------------------------------------


def _body_fields(request: HttpRequest) -> Mapping[str, Any]:
    """Fields sent in the body: a JSON object (also on GET, as the original examples do) or a form."""
    raw = request.body
    if not raw.strip():
        return {}
    # curl -d sends JSON as a form unless told otherwise: trust the first byte too.
    if request.content_type == "application/json" or raw.lstrip()[:1] in (b"{", b"["):
        try:
            fields = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
        except RecursionError:  # thousands of nested brackets
            raise ApiError(400, "the request body is JSON nested too deeply") from None
        if not isinstance(fields, dict):
            raise ApiError(400, 'the JSON body must be an object, e.g. {"report_id": "<id>"}')
        return fields
    return request.POST if request.method == "POST" else QueryDict(raw)


def _text_field(request: HttpRequest, name: str, query_value: str | None) -> str | None:
    """A field from the query string, else from the body; blank counts as absent."""
    value = query_value if query_value is not None else _body_fields(request).get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string, not {type(value).__name__}")
    if value is None or not value.strip():
        return None
    return value.strip()


def _parse_as_of(text: str | None) -> datetime | None:
    """An ISO 8601 instant in the past; naive means UTC; the polls' own `… UTC` form is accepted."""
    if text is None:
        return None
    shown = text if len(text) <= 64 else text[:64] + "…"
    try:
        moment = datetime.fromisoformat(text.removesuffix(" UTC"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        in_range = EARLIEST_AS_OF <= moment <= timezone.now()
    except (ValueError, OverflowError):
        raise ApiError(422, f"as_of: {shown!r} is not an ISO 8601 timestamp such as 2023-01-25T18:00:00Z") from None
    if not in_range:
        raise ApiError(422, f"as_of: {shown!r} is in the future or before 1970; a report can only look back")
    return moment


def _wants_csv(request: HttpRequest, output: Output | None) -> bool:
    if output is not None:
        return output == "csv"
    # `*/*` (curl, browsers) prefers the first: JSON; only an explicit text/csv downloads.
    return request.get_preferred_type(["application/json", "text/csv"]) == "text/csv"


# --- Shaping the answer ---------------------------------------------------------------


# Report attributes the answers carry, by group (names as in the model and the schemas).
TIMES = ("as_of", "requested_at", "started_at", "finished_at")
PROGRESS = ("state", "progress", "shards_done", "shards_total")
# What a finished report measured: its `now`, its size and where its time went.
FIGURES = ("now", "duration_seconds", "read_seconds", "compute_seconds", "store_count", "poll_count")


def _fields(report: Report, *groups: tuple[str, ...]) -> dict[str, Any]:
    return {"report_id": report.id, **{name: getattr(report, name) for group in groups for name in group}}


def _csv_url(report: Report) -> str:
    return reverse("api-v1:get_report_by_path", kwargs={"report_id": str(report.id)}) + "?format=csv"


def _csv_download(report: Report) -> HttpResponse:
    response = HttpResponse(report.csv, content_type=CSV_TYPE)
    response["Content-Disposition"] = f'attachment; filename="store-report-{report.id}.csv"'
    patch_vary_headers(response, ["Accept"])
    return response


def _report_answer(request: HttpRequest, response: HttpResponse, report_id: str, output: Output | None) -> Any:
    # The answer depends on Accept: tell caches (the CSV download gets its own header).
    patch_vary_headers(response, ["Accept"])
    report = report_get(report_id=report_id, with_csv=False)
    if report is None:
        return Status(404, {"status": NO_SUCH_REPORT})
    if report.state == Report.State.COMPLETE:
        if _wants_csv(request, output):
            return _csv_download(report)
        answer = HttpResponse(_complete_answer(report.pk), content_type=api.get_content_type())
        patch_vary_headers(answer, ["Accept"])
        return answer
    if report.state == Report.State.FAILED:
        return Status(200, {"status": "Failed", "error": report.error, **_fields(report, TIMES)})
    # SPEC 6 says "Running" for both queued and running; `state` tells them apart.
    return Status(202, {"status": "Running", **_fields(report, PROGRESS, TIMES)})


@lru_cache(maxsize=8)
def _complete_answer(report_id: uuid.UUID) -> bytes:
    """The JSON answer of a Complete report, rendered once per process.

    A Complete report never changes, and its answer carries the whole CSV (about
    800 KB for 14,000 stores): fetching and encoding it costs milliseconds, while
    many clients poll the same few reports. The state is still read on every
    request (without the CSV), so an expired report answers 404, not from here.
    """
    report = Report.objects.get(pk=report_id)
    answer = ReportComplete(status="Complete", data=report.csv, **_fields(report, FIGURES, TIMES))
    return json.dumps(answer.model_dump(), cls=PreciseJSONEncoder).encode()


def _summary(report: Report) -> dict[str, Any]:
    csv_url = _csv_url(report) if report.state == Report.State.COMPLETE else None
    return {**_fields(report, ("state", "progress", "error"), FIGURES, TIMES), "csv_url": csv_url}


# --- The endpoints ---------------------------------------------------------------------

PROBLEMS = {405: Problem, 422: Problem}
REPORT_ANSWERS = {200: ReportComplete | ReportFailed, 202: ReportRunning, 400: Problem, 404: NotFound, **PROBLEMS}
# The CSV download shares the 200 of the JSON answer: say so in the schema.
CSV_DOWNLOAD = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}
FORMAT = Query(None, alias="format", description="csv: download the CSV of a Complete report (as Accept: text/csv)")
ORIGINAL = "The original endpoints (also at / and /api/)"
TRIGGER = {
    "response": {200: Triggered, 400: Problem, 429: Problem, **PROBLEMS},
    "url_name": "trigger_report",
    "tags": [ORIGINAL],
    "summary": "Start a report",
    "description": "`as_of` may come in the query, a form field or a JSON body.",
}
GET_REPORT = {
    "response": REPORT_ANSWERS,
    "url_name": "get_report",
    "tags": [ORIGINAL],
    "summary": "Poll a report",
    "description": 'The id may come in the query or a JSON body `{"report_id": "…"}`, even on GET.',
    "openapi_extra": CSV_DOWNLOAD,
}
BY_PATH = {**GET_REPORT, "url_name": "get_report_by_path", "description": "The id in the path."}


# Each method gets its own operation id (OpenAPI wants them unique); the view is the same.
@api.get("/trigger_report", operation_id="trigger_report_get", **TRIGGER)
@api.post("/trigger_report", operation_id="trigger_report", **TRIGGER)
def trigger_report(
    request: HttpRequest,
    as_of: str | None = Query(None, description="report as of this earlier instant (ISO 8601; naive = UTC)"),
) -> Any:
    moment = _parse_as_of(_text_field(request, "as_of", as_of))
    try:
        report = report_create(request=ReportRequest(as_of=moment), requested_by=client_identity(request))
    except TriggerLimitReached as refused:
        raise ApiError(429, str(refused), {"Retry-After": str(refused.retry_after_seconds)}) from None
    return {"status": "success", "report_id": report.id}


@api.get("/get_report", operation_id="get_report", **GET_REPORT)
@api.post("/get_report", operation_id="get_report_post", **GET_REPORT)
def get_report(
    request: HttpRequest,
    response: HttpResponse,
    report_id: str | None = Query(None),
    output: Output | None = FORMAT,
) -> Any:
    report_id = _text_field(request, "report_id", report_id)
    if report_id is None:
        raise ApiError(400, MISSING_ID)
    return _report_answer(request, response, report_id, output)


@api.get("/get_report/{path:report_id}", operation_id="get_report_by_path", **BY_PATH)
@api.post("/get_report/{path:report_id}", operation_id="get_report_by_path_post", **BY_PATH)
def get_report_by_path(request: HttpRequest, response: HttpResponse, report_id: str, output: Output | None = FORMAT) -> Any:
    return _report_answer(request, response, report_id, output)


@api.get("/reports", response={200: ReportList, **PROBLEMS}, url_name="reports", tags=["Reports"], summary="Recent reports, newest first")
def reports(request: HttpRequest, limit: int = Query(20, ge=1, le=100)) -> Any:
    return {"reports": [_summary(report) for report in report_list(limit=limit)]}


@api.get(
    "/reports/{path:report_id}", response={200: ReportSummary, 404: NotFound, **PROBLEMS}, url_name="report",
    tags=["Reports"], summary="One report's state, progress and figures",
)
def report_detail(request: HttpRequest, report_id: str) -> Any:
    report = report_get(report_id=report_id)
    if report is None:
        return Status(404, {"status": NO_SUCH_REPORT})
    return _summary(report)


@api.get(
    "/health", response={200: Health, 503: Health, **PROBLEMS}, url_name="health",
    tags=["Service"], summary="Database and data freshness",
)
def health(request: HttpRequest) -> Any:
    overview = data_overview()
    return Status(200 if overview.database_ok else 503, {
        "status": "ok" if overview.database_ok else "unavailable",
        "database_ok": overview.database_ok,
        "store_count": overview.store_count,
        "poll_count": overview.poll_count,
        "latest_poll_at": overview.latest_poll_at,
        "oldest_poll_at": overview.oldest_poll_at,
        "data_age_seconds": overview.data_age_seconds,
    })


# --- URLs and the project's error pages -------------------------------------------------


def _http_methods(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """HEAD answered as GET (probes and `curl -I` send it; the server drops the body), and a
    wrong method answered in the API's JSON shape instead of ninja's bare text 405."""

    @wraps(view)  # keeps csrf_exempt
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        method = request.method
        request.method = "GET" if method == "HEAD" else method
        response = view(request, *args, **kwargs)
        request.method = method
        if response.status_code != 405:
            return response
        allowed = set(response["Allow"].split(", "))
        allowed |= {"HEAD"} if "GET" in allowed else set()
        listed = ", ".join(sorted(allowed))  # ninja lists them from a set: keep the header stable
        answer = _problem(405, f"{method} is not allowed on {request.path}; use {listed}")
        answer["Allow"] = listed
        return answer

    return wrapper


def _patterns() -> list[URLPattern]:
    patterns, _app, _namespace = api.urls
    return [URLPattern(p.pattern, _http_methods(p.callback), p.default_args, p.name) for p in patterns]


_PATTERNS = _patterns()
# What main/urls.py mounts (path() takes these (patterns, app_name, namespace) triples): the whole
# API under /api/v1/ (the namespace ninja reverses for its docs page) and /api/, and the two
# original endpoints at the root.
v1_urls = (_PATTERNS, "ninja", api.urls_namespace)
latest_urls = (_PATTERNS, "ninja", "api")
root_urls = ([p for p in _PATTERNS if p.name in {"trigger_report", "get_report", "get_report_by_path"}], "ninja", "root-api")


# Where a report id is read from the path: an id no route accepts (one with a line break) is still an id.
REPORT_PATH = re.compile(r"/(api/(v1/)?)?get_report/|/api/(v1/)?reports/.", re.DOTALL)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _problem(400, "the request could not be read (too large, or malformed)")
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if REPORT_PATH.match(request.path):
        return _json({"status": NO_SUCH_REPORT}, 404)
    if _is_api(request):
        return _problem(404, f"no API endpoint at {request.path}; see /api/v1/docs")
    return defaults.page_not_found(request, exception)


@csrf_exempt  # machine clients send no CSRF token: a POST to a wrong path is a 404 too
def unknown_path(request: HttpRequest) -> HttpResponse:
    return page_not_found(request, Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return _problem(500, "the server failed on this request; the error is logged")
    return defaults.server_error(request)
