"""The API's frame: the django-ninja instance, its error answers, and reading a request's fields.

The endpoints live beside it (reports.py, data.py, webhooks.py) and urls.py mounts them;
every client mistake is a 4xx JSON answer in one shape, `{"status", "error"}`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict
from ninja import NinjaAPI, Query
from ninja.errors import HttpError, ValidationError
from ninja.openapi.docs import Swagger
from ninja.renderers import JSONRenderer
from pydantic import WithJsonSchema

from monitoring.api.schemas import Problem
from monitoring.http_errors import problem
from monitoring.report_answers import PreciseJSONEncoder

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


def body_fields(request: HttpRequest) -> Mapping[str, Any]:
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


def text_field(request: HttpRequest, name: str, query_value: str | None) -> str | None:
    """A field from the query string, else from the body; blank counts as absent."""
    value = query_value if query_value is not None else body_fields(request).get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string, not {type(value).__name__}")
    if value is None or not value.strip():
        return None
    return value.strip()


def wants_csv(request: HttpRequest, output: Output | None) -> bool:
    if output is not None:
        return output == "csv"
    # `*/*` (curl, browsers) prefers the first: JSON; only an explicit text/csv downloads.
    return request.get_preferred_type(["application/json", "text/csv"]) == "text/csv"


# --- Shared by the endpoints ----------------------------------------------------------

PROBLEMS = {405: Problem, 422: Problem}
# The CSV download shares the 200 of the JSON answer: say so in the schema.
CSV_DOWNLOAD = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}
FORMAT = Query(None, alias="format", description="csv: download the CSV of a Complete report (as Accept: text/csv)")
