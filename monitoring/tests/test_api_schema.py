"""The OpenAPI schema: what it promises, that its docs page works offline, and that the API keeps to it.

Schemathesis generates requests from the schema (valid and invalid ones) and runs every
one of its checks: no server error, every answer as documented (status, content type,
headers, body), every valid request accepted and every invalid one refused.
"""
from __future__ import annotations

import os
import re
import urllib.request
from pathlib import Path

import pytest
from hypothesis import settings
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from main.wsgi import application

PREFIXES = ["/api/v1", "/api"]
CHROMIUM = Path("/usr/bin/chromium")
# A few dozen requests per operation keep the whole run to seconds.
EXAMPLES_PER_OPERATION = 25


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_schema_documents_every_endpoint_under_api_v1(client, prefix):
    schema = client.get(f"{prefix}/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    assert sorted(schema["paths"]) == [
        "/api/v1/get_report", "/api/v1/get_report/{report_id}", "/api/v1/health",
        "/api/v1/reports", "/api/v1/reports/{report_id}", "/api/v1/reports/{report_id}/outages",
        "/api/v1/reports/{report_id}/stores/{store_id}", "/api/v1/sources", "/api/v1/status", "/api/v1/trigger_report",
        "/api/v1/webhooks", "/api/v1/webhooks/{subscription_id}",
    ]
    assert sorted(schema["paths"]["/api/v1/trigger_report"]) == ["get", "post"]


def test_every_operation_has_its_own_id(client):
    schema = client.get("/api/v1/openapi.json").json()
    ids = [operation["operationId"] for methods in schema["paths"].values() for operation in methods.values()]
    assert len(ids) == len(set(ids))


def test_the_schema_documents_the_csv_download_and_the_spec_statuses(client):
    answers = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/get_report"]["get"]["responses"]
    assert {"200", "202", "400", "404"} <= set(answers)
    assert set(answers["200"]["content"]) == {"application/json", "text/csv"}


def parameter(schema: dict, path: str, name: str) -> dict:
    return next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name)


def test_the_schema_says_as_of_is_a_date_time_from_1970_or_blank(client):
    schema = client.get("/api/v1/openapi.json").json()
    instant, blank = parameter(schema, "/api/v1/trigger_report", "as_of")["schema"]["anyOf"][0]["anyOf"]
    assert instant["format"] == "date-time" and re.match(instant["pattern"], "1970-01-01T00:00:00Z")
    assert not re.match(instant["pattern"], "1969-12-31T23:59:59Z") and re.match(blank["pattern"], " ")


@pytest.mark.parametrize("path", ["/api/v1/get_report", "/api/v1/get_report/{report_id}", "/api/v1/reports/{report_id}"])
def test_the_schema_says_a_report_id_is_required_and_not_blank(client, path):
    # Required in the query too: a schema cannot say "in the query or in a JSON body" of a GET.
    report_id = parameter(client.get("/api/v1/openapi.json").json(), path, "report_id")
    assert report_id["required"] is True and report_id["schema"]["minLength"] == 1
    assert report_id["schema"]["pattern"] == r"\S"


def test_the_schema_offers_the_optional_bearer_token(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["components"]["securitySchemes"] == {"token": {"type": "http", "scheme": "bearer"}}
    assert schema["security"] == [{"token": []}, {}]


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_docs_page_references_no_asset_on_another_host(client, prefix):
    response = client.get(f"{prefix}/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assets = asset_urls(html)
    assert any(url.endswith("swagger-ui-bundle.js") for url in assets)
    assert [url for url in assets if not url.startswith("/static/")] == []
    assert not re.search(r"https?://", html)


def test_the_docs_assets_are_served_by_the_app_itself(live_server):
    with urllib.request.urlopen(f"{live_server.url}/api/v1/docs") as page:
        assets = asset_urls(page.read().decode())
    for url in assets:
        with urllib.request.urlopen(f"{live_server.url}{url}") as asset:
            assert asset.status == 200 and len(asset.read()) > 0, url


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_the_docs_page_renders_every_operation_with_the_network_cut_off(live_server):
    # Playwright's sync API runs an event loop in this thread.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    refused = []

    def refuse(route) -> None:
        refused.append(route.request.url)
        route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        # Only the app itself answers: anything else (a CDN) is refused and recorded.
        page.route(re.compile(r"^(?!" + re.escape(live_server.url) + ")"), refuse)
        page.goto(f"{live_server.url}/api/v1/docs")
        page.locator(".opblock").first.wait_for(timeout=20_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        browser.close()
    assert refused == []
    assert "/api/v1/trigger_report" in [path.replace("\u200b", "") for path in paths]


@pytest.fixture
def connection_kept_across_requests():
    """The WSGI handler closes the database connection after each request, which would end the
    test's transaction; Django's own test client unhooks the same two signals for the same reason."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_schema(db, connection_kept_across_requests):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    schema.config.generation.update(
        max_examples=EXAMPLES_PER_OPERATION, modes=list(GenerationMode), deterministic=True
    )
    return schema


fuzzed = schemathesis.pytest.from_fixture("api_schema")


# OpenAPI cannot say that `start` needs `end` and excludes `period`/`date`, or that `as_of` is
# for rolling reports only: those schema-valid combinations are refused (422) on purpose, so
# trigger_report skips just the "valid data is accepted" check; every valid combination is
# accepted in test_api.py (test_trigger_report_accepts_...).
DEPENDENT_PARAMETERS = {"/api/v1/trigger_report"}
# Any bytes are a schema-valid file, but only a CSV with a known header (or a zip of them) loads:
# the others are refused (422, naming the file and why) on purpose. test_api_sources.py uploads real ones.
CONTENT_CHECKED = {"/api/v1/sources"}
# A string matching the URL's pattern is not yet a URL Django's validator takes ("http://-"), and a
# URL subscribed twice is refused (422) on purpose: test_owners.py subscribes real ones.
CONTENT_CHECKED |= {"/api/v1/webhooks"}


@fuzzed.parametrize()
@settings(deadline=None)  # correctness only: speed is measured in bench/, never asserted
def test_the_api_answers_every_generated_request_as_documented(case):
    excluded = [positive_data_acceptance] if case.operation.path in DEPENDENT_PARAMETERS | CONTENT_CHECKED else []
    case.call_and_validate(excluded_checks=excluded)  # every other check schemathesis has
