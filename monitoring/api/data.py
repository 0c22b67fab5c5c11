"""The service endpoints: health, status now (SPEC 9) and loading a source (SPEC 10, staff only)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import Query, Status

from monitoring.access import is_staff_request, request_scope
from monitoring.api.core import PROBLEMS, ApiError, api
from monitoring.api.schemas import (
    FleetStatusAnswer,
    Health,
    Problem,
    SourceLoaded,
)
from monitoring.http_errors import unknown_path
from monitoring.ingest.overview import data_overview
from monitoring.ingest.sources import upload_round
from monitoring.ingest.summary import load_answer
from monitoring.report_answers import (
    JSON_TYPE,
    status_json,
)
from monitoring.reports.status import fleet_status


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
        return unknown_path(request)
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
