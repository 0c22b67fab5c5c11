"""The report endpoints (SPEC 6, 7): trigger a report, poll for it, list reports, a report's
outages, one store, one report's state.

The two endpoints of the original problem accept every style its clients use (GET or
POST; the id in the query, the path or a JSON body). Every answer is the scope's
(SPEC 11): another owner's report is not found, as an unknown id is.
"""
from __future__ import annotations

import json
import uuid
from functools import lru_cache
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from ninja import Query

from monitoring.access import client_identity, request_scope
from monitoring.api.core import (
    CSV_DOWNLOAD,
    FORMAT,
    PROBLEMS,
    REPORT_ID_SCHEMA,
    ApiError,
    Day,
    Instant,
    Output,
    ReportId,
    api,
    text_field,
    wants_csv,
)
from monitoring.api.schemas import (
    NotFound,
    OutageList,
    Problem,
    ReportComplete,
    ReportFailed,
    ReportList,
    ReportRunning,
    ReportStatus,
    StoreAnswer,
    Triggered,
)
from monitoring.http_errors import problem
from monitoring.models import Report
from monitoring.pages import store_detail
from monitoring.report_answers import (
    JSON_TYPE,
    PreciseJSONEncoder,
    csv_download,
    json_answer,
    no_such_report,
    outages_download,
    outages_json,
    report_status,
    store_answer,
)
from monitoring.reports.requests import RequestError, report_request
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
        if wants_csv(request, output):
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


REPORT_ANSWERS = {200: ReportComplete | ReportFailed, 202: ReportRunning, 400: Problem, 404: NotFound, **PROBLEMS}
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
    fields = {name: text_field(request, name, value) for name, value in
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
    report_id = text_field(request, "report_id", report_id)
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
    if wants_csv(request, output):
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
