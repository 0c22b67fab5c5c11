"""monitoring.http_errors: the API's prefixes, and the site's error handlers that use them."""
from __future__ import annotations

import pytest

from main import urls
from monitoring.http_errors import REPORT_PATH, is_api_path
from monitoring.middleware import OPEN_PREFIXES


@pytest.mark.parametrize("path", ["/api/v1/reports", "/api/anything", "/trigger_report", "/get_report/x"])
def test_it_counts_every_path_below_the_api_as_the_apis(path):
    assert is_api_path(path)


@pytest.mark.parametrize("path", ["/", "/reports/", "/data/", "/admin/", "/apis"])
def test_it_leaves_the_pages_paths_to_the_pages(path):
    assert not is_api_path(path)


@pytest.mark.parametrize("path", ["/get_report/x", "/api/get_report/x", "/api/v1/get_report/x", "/api/reports/x", "/api/v1/reports/a\nb"])
def test_it_reads_a_report_id_from_every_api_path_that_names_one(path):
    assert REPORT_PATH.match(path)


def test_it_leaves_the_pages_report_paths_alone():
    assert not REPORT_PATH.match("/reports/3f0c/") and not REPORT_PATH.match("/api/v1/reports")


def test_the_project_points_its_error_handlers_here():
    handlers = (urls.handler400, urls.handler404, urls.handler500)
    assert handlers == tuple(f"monitoring.http_errors.{name}" for name in ("bad_request", "page_not_found", "server_error"))


def test_health_is_open_under_each_api_prefix():
    assert {"/api/v1/health", "/api/health"} <= set(OPEN_PREFIXES)
