"""The JSON API (SPEC 6): trigger a report, poll for it, list reports, health, OpenAPI docs.

Thin: read the request, call monitoring.reports, shape the answer. The two
endpoints of the original problem accept every style its clients use (GET or
POST; the id in the query, the path or a JSON body), and every client mistake
gets a 4xx JSON answer. main/urls.py serves this one API under /api/v1/, /api/
and, for the two original endpoints, at the root.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from functools import lru_cache, wraps
from pathlib import Path
from typing import Annotated, Any, Literal

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import URLPattern
from django.utils.cache import patch_vary_headers
from ninja import NinjaAPI, Query, Status
from ninja.errors import HttpError, ValidationError
from ninja.openapi.docs import Swagger
from ninja.renderers import JSONRenderer
from pydantic import WithJsonSchema

from monitoring.access import client_identity, is_staff_request, request_scope
from monitoring.api_schemas import (
    Health,
    NotFound,
    Problem,
    ReportComplete,
    ReportFailed,
    ReportList,
    ReportRunning,
    FleetStatusAnswer,
    OutageList,
    ReportStatus,
    SourceLoaded,
    StoreAnswer,
    Subscription,
    SubscriptionList,
    SubscriptionNew,
    Triggered,
)
from monitoring.alerts.webhooks import SubscriptionError, subscription_add, subscription_get
from monitoring.http_errors import ROOT_ENDPOINTS, not_for_this_identity, problem
from monitoring.ingest.overview import data_overview
from monitoring.ingest.sources import upload_round
from monitoring.ingest.summary import load_answer
from monitoring.models import Report, WebhookSubscription
from monitoring.report_answers import (
    JSON_TYPE,
    PreciseJSONEncoder,
    csv_download,
    json_answer,
    no_such_report,
    outages_json,
    outages_download,
    report_status,
    status_json,
    store_answer,
)
from monitoring.pages import store_detail
from monitoring.reports.requests import RequestError, report_request
from monitoring.reports.status import fleet_status
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
Output = Literal["json", "csv"]
# What the schema promises, for clients and for schemathesis. The values stay plain strings so that
# the handlers read them, also from a body, and answer their own 4xx: the server accepts a
# little more (a naive instant, the polls' "… UTC"), and a blank id counts as no id.
Instant = Annotated[str, WithJsonSchema({"type": "string", "anyOf": [
    {"format": "date-time", "pattern": r"^(19[7-9][0-9]|[2-9][0-9]{3})-"},
    {"pattern": r"^\s*$", "description": "blank: the latest poll, as when absent"},
]})]
Day = Annotated[str, WithJsonSchema({"type": "string", "anyOf": [
    {"format": "date", "pattern": r"^(19[7-9][0-9]|[2-9][0-9]{3})-"},
    {"pattern": r"^\s*$", "description": "blank: not sent"},
]})]
REPORT_ID_SCHEMA = {"type": "string", "minLength": 1, "pattern": r"\S"}
ReportId = Annotated[str, WithJsonSchema(REPORT_ID_SCHEMA)]


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


@api.exception_handler(ApiError)
def _answer_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = problem(status=exc.status, error=exc.error)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _answer_too_much_data(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Over DATA_UPLOAD_MAX_MEMORY_SIZE or DATA_UPLOAD_MAX_NUMBER_FIELDS: the 400 production gives
    # (handler400), also with DEBUG on, where ninja would answer a 500 with the traceback.
    return problem(status=400, error=f"the request could not be read: {exc}")


api.add_exception_handler(RequestDataTooBig, _answer_too_much_data)
api.add_exception_handler(TooManyFieldsSent, _answer_too_much_data)


@api.exception_handler(HttpError)
def _answer_ninja_refusal(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # Ninja's own refusals (a schema's JSON body that cannot be parsed) in the API's shape, not {"detail": …}.
    return problem(status=exc.status_code, error=f"the request was refused: {exc}")


@api.exception_handler(ValidationError)
def _answer_invalid_parameter(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # loc is e.g. ("query", "format"): name the parameter, not where ninja found it.
    details = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors)
    return problem(status=422, error=details)


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


def _wants_csv(request: HttpRequest, output: Output | None) -> bool:
    if output is not None:
        return output == "csv"
    # `*/*` (curl, browsers) prefers the first: JSON; only an explicit text/csv downloads.
    return request.get_preferred_type(["application/json", "text/csv"]) == "text/csv"


# --- Shaping the answer ---------------------------------------------------------------


def _report_answer(request: HttpRequest, *, report_id: str, output: Output | None) -> HttpResponse:
    return _with_vary(_answer_for(request, report=_report(request, report_id), output=output))


def _report(request: HttpRequest, report_id: str) -> Report | None:
    """The report without its CSV, if the client may see it: another owner's is not found (SPEC 11)."""
    return report_get(report_id=report_id, scope=request_scope(request), with_csv=False)


def _with_vary(answer: HttpResponse) -> HttpResponse:
    # The answer depends on Accept (JSON or the CSV download): tell caches.
    patch_vary_headers(answer, ["Accept"])
    return answer


def _answer_for(request: HttpRequest, *, report: Report | None, output: Output | None) -> HttpResponse:
    if report is None:
        return no_such_report()
    if report.state == Report.State.COMPLETE:
        if _wants_csv(request, output):
            return csv_download(report=report)
        return HttpResponse(_complete_answer(report.pk), content_type=JSON_TYPE)
    if report.state == Report.State.FAILED:
        return json_answer(data={"status": "Failed", **report_status(report=report)})
    # SPEC 6 says "Running" for both queued and running; `state` tells them apart.
    return json_answer(data={"status": "Running", **report_status(report=report)}, status=202)


@lru_cache(maxsize=8)
def _complete_answer(report_id: uuid.UUID) -> bytes:
    """The JSON answer of a Complete report, rendered once per process.

    A Complete report never changes, and its answer carries the whole CSV (about
    800 KB for 14,000 stores): fetching and encoding it costs milliseconds, while
    many clients poll the same few reports. The state is still read on every
    request (without the CSV), so an expired report answers 404, not from here.
    """
    report = Report.objects.get(pk=report_id)
    # The CSV last: a person reading the answer sees the figures first.
    answer = {"status": "Complete", **report_status(report=report), "data": report.csv}
    return json.dumps(answer, cls=PreciseJSONEncoder).encode()


# --- The endpoints ---------------------------------------------------------------------

PROBLEMS = {405: Problem, 422: Problem}
REPORT_ANSWERS = {200: ReportComplete | ReportFailed, 202: ReportRunning, 400: Problem, 404: NotFound, **PROBLEMS}
# The CSV download shares the 200 of the JSON answer: say so in the schema.
CSV_DOWNLOAD = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}
FORMAT = Query(None, alias="format", description="csv: download the CSV of a Complete report (as Accept: text/csv)")
ORIGINAL = "The original endpoints (also at / and /api/)"
TRIGGER = {
    "response": {200: Triggered, 400: Problem, 409: Problem, 429: Problem, **PROBLEMS},
    "url_name": "trigger_report",
    "tags": [ORIGINAL],
    "summary": "Start a report",
    "description": (
        "A rolling report (optionally `as_of` an instant), an interval (`start`, `end`) or a local "
        "calendar period (`period`, `date`); each field may come in the query, a form field or a JSON body."
    ),
}
GET_REPORT = {
    "response": REPORT_ANSWERS,
    "url_name": "get_report",
    "tags": [ORIGINAL],
    "summary": "Poll a report",
    "description": 'The id may come in the query or, instead, a JSON body `{"report_id": "…"}`, even on GET.',
    # A schema cannot say "in the query or in the body" of a GET: the query parameter is documented
    # as required (what a client following the schema sends), and read as optional.
    "openapi_extra": {**CSV_DOWNLOAD, "parameters": [
        {"in": "query", "name": "report_id", "required": True, "schema": REPORT_ID_SCHEMA},
    ]},
}
BY_PATH = {**GET_REPORT, "url_name": "get_report_by_path", "description": "The id in the path.", "openapi_extra": CSV_DOWNLOAD}


# Each method gets its own operation id (OpenAPI wants them unique); the view is the same.
@api.get("/trigger_report", operation_id="trigger_report_get", **TRIGGER)
@api.post("/trigger_report", operation_id="trigger_report", **TRIGGER)
def trigger_report(
    request: HttpRequest,
    as_of: Instant | None = Query(None, description="a rolling report as of this earlier instant (ISO 8601; naive = UTC)"),
    start: Instant | None = Query(None, description="an interval report from this instant (ISO 8601), with `end`"),
    end: Instant | None = Query(None, description="an interval report up to this instant (exclusive); at most 93 days after `start`"),
    period: Literal["day", "week", "month"] | None = Query(None, description="a period report in each store's own calendar, with `date`"),
    date: Day | None = Query(None, description="a date (YYYY-MM-DD) inside the period"),
) -> Any:
    fields = {name: _text_field(request, name, value) for name, value in
              (("as_of", as_of), ("start", start), ("end", end), ("period", period), ("date", date))}
    try:
        asked = report_request(as_of=fields["as_of"], start=fields["start"], end=fields["end"],
                               period=fields["period"], day=fields["date"])
    except RequestError as refused:
        raise ApiError(refused.status, str(refused)) from None
    try:
        report = report_create(request=asked, requested_by=client_identity(request), scope=request_scope(request))
    except TriggerLimitReached as refused:
        raise ApiError(429, str(refused), {"Retry-After": str(refused.retry_after_seconds)}) from None
    return {"status": "success", "report_id": report.id}


@api.get("/get_report", operation_id="get_report", **GET_REPORT)
@api.post("/get_report", operation_id="get_report_post", **GET_REPORT)
def get_report(
    request: HttpRequest,
    report_id: str | None = Query(None, include_in_schema=False),
    output: Output | None = FORMAT,
) -> HttpResponse:
    report_id = _text_field(request, "report_id", report_id)
    if report_id is None:
        raise ApiError(400, MISSING_ID)
    return _report_answer(request, report_id=report_id, output=output)


@api.get("/get_report/{path:report_id}", operation_id="get_report_by_path", **BY_PATH)
@api.post("/get_report/{path:report_id}", operation_id="get_report_by_path_post", **BY_PATH)
def get_report_by_path(request: HttpRequest, report_id: ReportId, output: Output | None = FORMAT) -> HttpResponse:
    return _report_answer(request, report_id=report_id, output=output)


@api.get("/reports", response={200: ReportList, **PROBLEMS}, url_name="reports", tags=["Reports"], summary="Recent reports, newest first")
def reports(request: HttpRequest, limit: int = Query(20, ge=1, le=100)) -> Any:
    return {"reports": [report_status(report=report) for report in report_list(scope=request_scope(request), limit=limit)]}


# Before the report's own path: {path:report_id} would swallow ".../outages" and ".../stores/...".
@api.get(
    "/reports/{report_id}/outages", response={200: OutageList | ReportFailed, 202: ReportRunning, 404: NotFound, **PROBLEMS},
    url_name="report_outages", tags=["Reports"], summary="A report's outage list (SPEC 7)",
    description="JSON, or the SPEC 7 CSV with `?format=csv` or `Accept: text/csv`. 202 while the report runs.",
    openapi_extra=CSV_DOWNLOAD,
)
def report_outages(request: HttpRequest, report_id: ReportId, output: Output | None = FORMAT) -> HttpResponse:
    report = _report(request, report_id)
    if report is None or report.state != Report.State.COMPLETE:
        return _with_vary(_answer_for(request, report=report, output=output))
    if _wants_csv(request, output):
        return _with_vary(outages_download(report=report))
    return _with_vary(HttpResponse(_outages_answer(report.pk), content_type=JSON_TYPE))


@lru_cache(maxsize=4)
def _outages_answer(report_id: uuid.UUID) -> bytes:
    """A Complete report's outage list as JSON, rendered once per process (it never changes)."""
    report = Report.objects.only("id", "outages_csv").get(pk=report_id)
    return outages_json(report_id=report.id, text=report.outages_csv)


@api.get(
    "/reports/{report_id}/stores/{path:store_id}", response={200: StoreAnswer, 202: ReportRunning, 404: NotFound, **PROBLEMS},
    url_name="report_store", tags=["Reports"], summary="One store of a report: figures, hours, zone and outages",
)
def report_store(request: HttpRequest, report_id: ReportId, store_id: str) -> Any:
    report = _report(request, report_id)
    if report is None or report.state != Report.State.COMPLETE:
        return _answer_for(request, report=report, output="json")
    detail = store_detail(report=report, store_id=store_id)
    if detail is None:
        return problem(status=404, error=f"report {report.id} has no store {store_id[:64]!r}")
    return store_answer(detail=detail, report=report)


@api.get(
    "/reports/{path:report_id}", response={200: ReportStatus, 404: NotFound, **PROBLEMS}, url_name="report",
    tags=["Reports"], summary="One report's state, progress and figures",
)
def report_detail(request: HttpRequest, report_id: ReportId) -> Any:
    report = _report(request, report_id)
    if report is None:
        return no_such_report()
    return report_status(report=report)


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


@api.get(
    "/status", response={200: FleetStatusAnswer, **PROBLEMS}, url_name="status",
    tags=["Service"], summary="Every store's status now: closed, up, down (since when) or unknown",
    description="At the database's now (the latest poll). `?state=down` keeps the stores down now, longest first.",
)
def status(request: HttpRequest, state: Literal["closed", "up", "down", "unknown"] | None = Query(None)) -> Any:
    return HttpResponse(status_json(fleet=fleet_status(scope=request_scope(request)), state=state), content_type=JSON_TYPE)


def _subscription(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.pk, "url": subscription.url, "owner": subscription.owner or None,
        "active": subscription.active, "created_at": subscription.created_at,
    }


def _no_such_subscription(subscription_id: str) -> HttpResponse:
    # The same answer for an id that never existed and for another owner's (SPEC 11).
    return problem(status=404, error=f"no webhook subscription {subscription_id[:64]!r}")


def _subscription_in_scope(request: HttpRequest, subscription_id: str) -> WebhookSubscription | None:
    if not subscription_id.isdigit() or len(subscription_id) > 18:
        return None  # what an id cannot be is not found, as an id that does not exist
    try:
        return subscription_get(ref=subscription_id, scope=request_scope(request))
    except SubscriptionError:
        return None


WEBHOOKS = "Alerts"


@api.get("/webhooks", response={200: SubscriptionList, **PROBLEMS}, url_name="webhooks", tags=[WEBHOOKS],
         summary="Your webhook subscriptions (an owner's client: its own)")
def webhooks(request: HttpRequest) -> Any:
    return {"subscriptions": [_subscription(s) for s in request_scope(request).subscriptions().order_by("pk")]}


@api.post(
    "/webhooks", response={201: Subscription, 400: Problem, **PROBLEMS}, url_name="webhook_add", tags=[WEBHOOKS],
    summary="Subscribe a URL to the alert events (an owner's client: of its own stores)",
    description="Every store.down and store.recovered event decided afterwards is POSTed to the URL, signed with the secret "
    "(docs/alerts.md). 422 for a URL that is not http(s) or is already subscribed by you.",
)
def webhook_add(request: HttpRequest, body: SubscriptionNew) -> Any:
    try:
        subscription = subscription_add(url=body.url, secret=body.secret, scope=request_scope(request))
    except SubscriptionError as refused:
        raise ApiError(422, str(refused)) from None
    return Status(201, _subscription(subscription))


@api.get("/webhooks/{subscription_id}", response={200: Subscription, 404: Problem, **PROBLEMS}, url_name="webhook",
         tags=[WEBHOOKS], summary="One of your webhook subscriptions")
def webhook(request: HttpRequest, subscription_id: str) -> Any:
    subscription = _subscription_in_scope(request, subscription_id)
    return _no_such_subscription(subscription_id) if subscription is None else _subscription(subscription)


@api.delete("/webhooks/{subscription_id}", response={204: None, 404: Problem, **PROBLEMS}, url_name="webhook_remove",
            tags=[WEBHOOKS], summary="Unsubscribe (its queued deliveries are dropped)")
def webhook_remove(request: HttpRequest, subscription_id: str) -> Any:
    subscription = _subscription_in_scope(request, subscription_id)
    if subscription is None:
        return _no_such_subscription(subscription_id)
    subscription.delete()
    return Status(204, None)


# The body is read here, not by ninja, so that an upload over the cap is refused before a byte
# of it is read; the schema still documents it (and schemathesis sends it).
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "a CSV, CSV.gz or zip of CSV files"}},
}}}}}


@api.post(
    "/sources", response={200: SourceLoaded, 400: Problem, 403: Problem, 405: Problem, 413: Problem, 422: SourceLoaded | Problem},
    url_name="sources", tags=["Data"], summary="Load a CSV, CSV.gz or zip of CSV files (SPEC 10)", openapi_extra=UPLOAD_BODY,
    description="Each file (each member of a zip) is recognised by its header and loaded like any source. "
    "200: every file loaded; 422: a file could not be loaded (the summary says which and why). Staff only: an owner's client gets 404.",
)
def load_source(request: HttpRequest) -> Any:
    if not is_staff_request(request):
        return not_for_this_identity(request)
    if int(request.META.get("CONTENT_LENGTH") or 0) > settings.SOURCE_MAX_BYTES:
        raise ApiError(413, f"the upload is larger than SOURCE_MAX_BYTES ({settings.SOURCE_MAX_BYTES:,} bytes)")
    try:
        upload = request.FILES.get("file")
    except MultiPartParserError as error:
        raise ApiError(400, f"the multipart/form-data body cannot be read: {error}") from None
    if upload is None:
        raise ApiError(422, "send the file in the multipart/form-data field 'file' (a CSV, CSV.gz or zip)")
    answer = load_answer(upload_round(path=Path(upload.temporary_file_path()), filename=upload.name).results)
    return Status(200 if answer["ok"] else 422, answer)


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

