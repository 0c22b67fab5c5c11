"""The JSON API (SPEC 6) through Django's test client, on every prefix it is served under.

Reports in each state are rows made with the ORM; the whole life of a report
(trigger, poll, download) over real HTTP with the real runner is test_api_live.py.
"""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from monitoring.access import api_token_create
from monitoring.models import Report
from monitoring.tests.api_cases import JSON_TYPE, JUNK_IDS, NO_SUCH_REPORT, T0, make_report
from monitoring.tests.ui_data import NOW, make_three_stores

pytestmark = pytest.mark.django_db

CSV_TEXT = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,downtime_last_hour,downtime_last_day,downtime_last_week\n"
    "s1,60.0,24.0,168.0,0.0,0.0,0.0\n"
)


@pytest.fixture(params=["", "/api", "/api/v1"], ids=["root", "api", "api-v1"])
def prefix(request) -> str:
    return request.param


@pytest.fixture
def complete_report() -> Report:
    return make_report(
        "Complete", now=T0, started_at=T0, finished_at=T0 + timedelta(seconds=2.5), read_seconds=0.5,
        compute_seconds=1.25, shards_total=1, shards_done=1, store_count=1, poll_count=3, csv=CSV_TEXT,
    )


def expected_status(report: Report) -> dict:
    """complete_report's status, as every answer about it carries it."""
    return {
        "report_id": str(report.id), "state": "Complete", "final": True, "progress": 1.0,
        "shards_done": 1, "shards_total": 1, "now": "2023-01-25T18:00:00Z", "duration_seconds": 2.5,
        "read_seconds": 0.5, "compute_seconds": 1.25, "store_count": 1, "poll_count": 3, "as_of": None,
        "requested_at": "2023-01-25T18:00:00Z", "started_at": "2023-01-25T18:00:00Z",
        "finished_at": "2023-01-25T18:00:02.500000Z", "error": "", "page_url": f"/reports/{report.id}/",
        "csv_url": f"/api/v1/get_report/{report.id}?format=csv",
        "kind": "rolling", "start": None, "end": None, "period": None, "date": None, "owner": None, "effective_end": None,
        "periods_cut": False, "fleet": None, "outages_url": f"/api/v1/reports/{report.id}/outages",
    }


# --- /trigger_report ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "get"])
def test_trigger_report_answers_success_and_the_id_of_a_new_report(client, prefix, method):
    response = getattr(client, method)(f"{prefix}/trigger_report")
    assert response.status_code == 200
    body = response.json()
    assert body == {"status": "success", "report_id": body["report_id"]}
    report = Report.objects.get(pk=body["report_id"])
    assert report.as_of is None and report.requested_by == "ip:127.0.0.1"


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        ({"QUERY_STRING": "as_of=2023-01-25T17:00:00Z"}, datetime(2023, 1, 25, 17, tzinfo=UTC)),
        # An offset is honoured: 12:00 at -05:00 is 17:00 UTC.
        ({"QUERY_STRING": "as_of=2023-01-25T12:00:00-05:00"}, datetime(2023, 1, 25, 17, tzinfo=UTC)),
        # A naive timestamp means UTC, and the polls' own "… UTC" form is accepted.
        ({"QUERY_STRING": "as_of=2023-01-25 17:00:00"}, datetime(2023, 1, 25, 17, tzinfo=UTC)),
        ({"QUERY_STRING": "as_of=2023-01-25 17:00:00.5 UTC"}, datetime(2023, 1, 25, 17, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_trigger_report_takes_as_of_from_the_query(client, send, expected):
    response = client.post("/trigger_report", **send)
    assert Report.objects.get(pk=response.json()["report_id"]).as_of == expected


def test_trigger_report_takes_as_of_from_a_json_body(client):
    response = client.post("/trigger_report", {"as_of": "2023-01-25T17:00:00Z"}, content_type="application/json")
    assert Report.objects.get(pk=response.json()["report_id"]).as_of == datetime(2023, 1, 25, 17, tzinfo=UTC)


def test_trigger_report_takes_as_of_from_a_form_field(client):
    response = client.post("/trigger_report", {"as_of": "2023-01-25T17:00:00Z"})
    assert Report.objects.get(pk=response.json()["report_id"]).as_of == datetime(2023, 1, 25, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    "as_of",
    ["yesterday", "2023-13-01T00:00:00", "2023-01-25T25:00:00", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00+01:00"],
)
def test_trigger_report_refuses_an_unreadable_or_future_as_of(client, prefix, as_of):
    response = client.post(f"{prefix}/trigger_report?as_of={as_of}")
    assert response.status_code == 422
    assert response.json()["status"] == "Unprocessable Entity" and "as_of" in response.json()["error"]
    assert not Report.objects.exists()


def test_trigger_report_refuses_an_as_of_a_minute_ahead_until_it_has_passed(client):
    # 409, not 422: the schema cannot say "in the past", and the same request is fine a minute later.
    ahead = (timezone.now() + timedelta(minutes=1)).isoformat()
    response = client.post("/trigger_report", {"as_of": ahead}, content_type="application/json")
    assert response.status_code == 409 and "in the future" in response.json()["error"]


def test_trigger_report_refuses_an_as_of_written_before_1970(client):
    response = client.post("/trigger_report?as_of=1969-12-31T23:59:59Z")
    assert response.status_code == 422 and "before 1970" in response.json()["error"]


def test_trigger_report_takes_a_blank_as_of_as_the_latest_poll(client):
    response = client.post("/trigger_report?as_of=%20")
    assert response.status_code == 200 and Report.objects.get().as_of is None


def test_trigger_report_refuses_a_body_that_is_not_json(client):
    response = client.post("/trigger_report", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("the request body is not valid JSON")


@pytest.mark.parametrize("body", ['["2023-01-25"]', '{"as_of": 1674666000}', "[" * 100_000])
def test_trigger_report_refuses_json_of_the_wrong_shape(client, body):
    response = client.post("/trigger_report", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["status"] == "Bad Request"


def test_trigger_report_is_rate_limited_per_client_when_configured(client, settings):
    settings.TRIGGER_RATE_LIMIT, settings.TRIGGER_RATE_WINDOW_SECONDS = 1, 60
    assert client.post("/trigger_report").status_code == 200
    response = client.post("/trigger_report")
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert response.json() == {"status": "Too Many Requests", "error": "too many reports: at most 1 reports per 60 s per client"}


def test_the_api_needs_no_csrf_token(prefix):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"{prefix}/trigger_report").status_code == 200


# --- /get_report: the states ---------------------------------------------------------------


def test_a_pending_report_is_reported_as_running_with_no_progress(client, prefix):
    report = make_report("Pending")
    response = client.get(f"{prefix}/get_report", {"report_id": str(report.id)})
    assert response.status_code == 202
    assert response.json() == {
        "status": "Running", "report_id": str(report.id), "state": "Pending", "final": False,
        "progress": 0.0, "shards_done": 0, "shards_total": 0, "now": None, "duration_seconds": None,
        "read_seconds": None, "compute_seconds": None, "store_count": None, "poll_count": None,
        "as_of": None, "requested_at": "2023-01-25T18:00:00Z", "started_at": None, "finished_at": None,
        "error": "", "page_url": f"/reports/{report.id}/", "csv_url": None, "outages_url": None,
        "kind": "rolling", "start": None, "end": None, "period": None, "date": None, "owner": None, "effective_end": None,
        "periods_cut": False, "fleet": None,
    }


def test_a_running_report_shows_its_progress(client, prefix):
    report = make_report("Running", started_at=T0, shards_total=4, shards_done=1)
    response = client.get(f"{prefix}/get_report", {"report_id": str(report.id)})
    assert response.status_code == 202
    body = response.json()
    # 1 shard of 4 done: 1 / 4 = 0.25.
    assert (body["status"], body["state"], body["progress"]) == ("Running", "Running", 0.25)
    assert body["started_at"] == "2023-01-25T18:00:00Z"


def test_a_complete_report_carries_its_csv_and_figures(client, prefix, complete_report):
    response = client.get(f"{prefix}/get_report", {"report_id": str(complete_report.id)})
    assert response.status_code == 200
    # The status every report answer shares (as /api/v1/reports shows it), and the CSV.
    assert response.json() == {"status": "Complete", **expected_status(complete_report), "data": CSV_TEXT}


def test_a_reports_now_keeps_its_microseconds_so_as_of_now_gives_the_same_report(client):
    # The latest poll of the 2023 data is 18:13:22.479220: cut to milliseconds (.479) it would
    # fall before that poll, and `as_of=<now>` would report as of the poll before it.
    report = make_report("Complete", now=datetime(2023, 1, 25, 18, 13, 22, 479220, tzinfo=UTC), csv=CSV_TEXT)
    assert client.get("/get_report", {"report_id": str(report.id)}).json()["now"] == "2023-01-25T18:13:22.479220Z"


def test_a_complete_reports_answer_is_served_again_but_not_once_the_report_expired(client, complete_report):
    path = f"/get_report?report_id={complete_report.id}"
    first = client.get(path)
    assert client.get(path).content == first.content and first.json()["data"] == CSV_TEXT
    complete_report.delete()  # expired (REPORTS_KEEP)
    assert client.get(path).status_code == 404


def test_a_failed_report_says_why(client, prefix):
    report = make_report("Failed", started_at=T0, finished_at=T0, error="no polls in the database")
    response = client.get(f"{prefix}/get_report", {"report_id": str(report.id)})
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["error"], body["report_id"]) == ("Failed", "no polls in the database", str(report.id))


# --- /get_report: every way of naming the report ----------------------------------------


def test_get_report_takes_the_id_from_the_path(client, prefix, complete_report):
    response = client.get(f"{prefix}/get_report/{complete_report.id}")
    assert response.status_code == 200 and response.json()["data"] == CSV_TEXT


def test_get_report_takes_the_id_from_a_json_body_on_get(client, prefix, complete_report):
    body = json.dumps({"report_id": str(complete_report.id)})
    response = client.generic("GET", f"{prefix}/get_report", body, content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "Complete"


def test_get_report_reads_a_json_body_sent_as_curl_d_does_without_a_json_content_type(client, complete_report):
    body = json.dumps({"report_id": str(complete_report.id)})
    response = client.generic("GET", "/get_report", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200


def test_get_report_takes_the_id_from_a_posted_form(client, complete_report):
    response = client.post("/get_report", {"report_id": str(complete_report.id)})
    assert response.status_code == 200


def test_get_report_accepts_an_id_in_upper_case(client, complete_report):
    response = client.get(f"/get_report/{str(complete_report.id).upper()}")
    assert response.status_code == 200


@pytest.mark.parametrize("report_id", JUNK_IDS.values(), ids=JUNK_IDS.keys())
def test_an_unknown_or_malformed_id_is_no_such_report(client, prefix, report_id):
    by_query = client.get(f"{prefix}/get_report", {"report_id": report_id})
    by_path = client.get(f"{prefix}/get_report/{report_id}")
    by_body = client.generic("GET", f"{prefix}/get_report", json.dumps({"report_id": report_id}), content_type="application/json")
    for response in (by_query, by_path, by_body):
        assert response.status_code == 404
        assert response.json() == NO_SUCH_REPORT


@pytest.mark.parametrize("query", ["", "?report_id=", "?report_id=%20%20"])
def test_a_missing_id_is_a_bad_request_that_says_where_to_put_it(client, prefix, query):
    response = client.get(f"{prefix}/get_report{query}")
    assert response.status_code == 400
    assert response.json()["status"] == "Bad Request"
    assert response.json()["error"].startswith("report_id is missing")


def test_a_get_body_that_is_not_json_is_a_bad_request(client):
    response = client.generic("GET", "/get_report", '{"report_id": ', content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


# --- /get_report: the CSV download -------------------------------------------------------


def assert_is_the_csv_download(response, report: Report) -> None:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    # The same name as the pages' download: the report's `now`, then its id.
    assert response["Content-Disposition"] == f'attachment; filename="store-report-20230125T180000Z-{report.id}.csv"'
    assert response.content.decode("utf-8") == CSV_TEXT


def test_format_csv_downloads_the_csv(client, prefix, complete_report):
    response = client.get(f"{prefix}/get_report", {"report_id": str(complete_report.id), "format": "csv"})
    assert_is_the_csv_download(response, complete_report)


def test_accept_text_csv_downloads_the_csv(client, prefix, complete_report):
    response = client.get(f"{prefix}/get_report/{complete_report.id}", headers={"Accept": "text/csv"})
    assert_is_the_csv_download(response, complete_report)
    assert "Accept" in response["Vary"]


@pytest.mark.parametrize("accept", ["*/*", "application/json", "text/html,*/*;q=0.8", "application/json, text/csv;q=0.5"])
def test_clients_that_do_not_ask_for_csv_first_get_json(client, complete_report, accept):
    response = client.get(f"/get_report/{complete_report.id}", headers={"Accept": accept})
    assert response["Content-Type"] == JSON_TYPE
    assert response.json()["status"] == "Complete"


def test_format_json_wins_over_accept_text_csv(client, complete_report):
    response = client.get(f"/get_report/{complete_report.id}?format=json", headers={"Accept": "text/csv"})
    assert response.json()["status"] == "Complete"


def test_asking_for_the_csv_of_a_running_report_answers_its_progress(client):
    report = make_report("Running", shards_total=2, shards_done=1)
    response = client.get(f"/get_report/{report.id}?format=csv")
    assert response.status_code == 202 and response.json()["progress"] == 0.5


def test_an_unknown_format_is_refused(client, prefix, complete_report):
    response = client.get(f"{prefix}/get_report/{complete_report.id}?format=xml")
    assert response.status_code == 422
    assert response.json() == {"status": "Unprocessable Entity", "error": "format: Input should be 'json' or 'csv'"}


# --- Methods, unknown paths, server errors ------------------------------------------------


@pytest.mark.parametrize("path", ["/trigger_report", "/get_report", f"/get_report/{uuid.uuid4()}"])
@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
def test_a_wrong_method_is_a_json_405_that_lists_the_allowed_ones(client, prefix, path, method):
    response = getattr(client, method)(f"{prefix}{path}")
    assert response.status_code == 405
    # HEAD is not offered where GET creates a report (a probe would create one).
    assert response["Allow"] == ("GET, POST" if path == "/trigger_report" else "GET, HEAD, POST")
    assert response.json()["status"] == "Method Not Allowed"


def test_posting_to_a_read_only_endpoint_is_a_json_405(client):
    response = client.post("/api/v1/reports")
    assert response.status_code == 405
    assert response.json()["error"] == "POST is not allowed on /api/v1/reports; use GET, HEAD"


def test_head_is_answered_as_get_without_a_body(client, complete_report):
    response = client.head(f"/api/v1/get_report/{complete_report.id}")
    assert (response.status_code, response["Content-Type"], response.content) == (200, JSON_TYPE, b"")


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/nothing", "/trigger_report/extra", "/api/v1/reports/"])
def test_an_unknown_api_path_is_a_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"status": "Not Found", "error": f"no API endpoint at {path}; see /api/v1/docs"}


def test_an_unknown_api_path_is_a_json_404_with_debug_on_too(client, settings):
    settings.DEBUG = True  # `make run`: Django's own 404 page would be HTML
    for response in (client.get("/api/v1/nothing-here"), Client(enforce_csrf_checks=True).post("/api/nothing")):
        assert (response.status_code, response.json()["status"]) == (404, "Not Found")


@pytest.mark.parametrize("path", ["/get_report/", "/api/get_report/a%0Ab", "/api/v1/reports/a%0Ab"])
def test_an_id_no_route_accepts_is_still_no_such_report(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response.json() == NO_SUCH_REPORT


def test_an_unknown_page_outside_the_api_stays_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and not response["Content-Type"].startswith("application/json")


def test_a_server_failure_on_the_api_is_a_json_500(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("monitoring.api.reports.report_list", broken)
    response = Client(raise_request_exception=False).get("/api/v1/reports")
    assert response.status_code == 500
    assert response.json() == {"status": "Internal Server Error", "error": "the server failed on this request; the error is logged"}


def test_a_body_over_the_upload_limit_is_a_json_400(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = client.post("/trigger_report", json.dumps({"as_of": "x" * 200}), content_type="application/json")
    assert response.status_code == 400 and response.json()["status"] == "Bad Request"


# --- /api/v1/reports and /api/v1/reports/{id} ------------------------------------------------


def test_the_list_shows_recent_reports_newest_first(client, complete_report):
    older = Report.objects.create(state="Pending", requested_at=T0 - timedelta(hours=1))
    response = client.get("/api/v1/reports")
    assert response.status_code == 200
    reports = response.json()["reports"]
    assert [r["report_id"] for r in reports] == [str(complete_report.id), str(older.id)]
    assert reports[0] == expected_status(complete_report)
    assert reports[1]["csv_url"] is None


def test_the_list_honours_its_limit(client):
    for hour in range(3):
        Report.objects.create(requested_at=T0 + timedelta(hours=hour))
    assert len(client.get("/api/v1/reports?limit=2").json()["reports"]) == 2


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_the_list_refuses_a_limit_outside_1_to_100(client, limit):
    response = client.get(f"/api/v1/reports?limit={limit}")
    assert response.status_code == 422 and response.json()["error"].startswith("limit: ")


def test_a_reports_detail_shows_its_progress(client):
    report = make_report("Running", shards_total=8, shards_done=6)
    response = client.get(f"/api/v1/reports/{report.id}")
    # 6 shards of 8 done: 6 / 8 = 0.75.
    assert response.status_code == 200 and response.json()["progress"] == 0.75


@pytest.mark.parametrize("report_id", JUNK_IDS.values(), ids=JUNK_IDS.keys())
def test_the_detail_of_an_unknown_report_is_no_such_report(client, report_id):
    response = client.get(f"/api/v1/reports/{report_id}")
    assert response.status_code == 404 and response.json() == NO_SUCH_REPORT


# --- /api/v1/health ------------------------------------------------------------------------


def test_health_counts_the_data_and_dates_its_latest_poll(client):
    make_three_stores()
    before = timezone.now()
    response = client.get("/api/v1/health")
    after = timezone.now()
    assert response.status_code == 200
    body = response.json()
    # ui_data: 3 stores, 5 polls from Sat 21 Jan 08:00 to Wed 25 Jan 12:00 UTC.
    assert {key: body[key] for key in ("status", "database_ok", "store_count", "poll_count")} == {
        "status": "ok", "database_ok": True, "store_count": 3, "poll_count": 5,
    }
    assert (body["latest_poll_at"], body["oldest_poll_at"]) == ("2023-01-25T12:00:00Z", "2023-01-21T08:00:00Z")
    assert (before - NOW).total_seconds() <= body["data_age_seconds"] <= (after - NOW).total_seconds()


def test_health_is_503_when_the_database_does_not_answer(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(connection, "create_cursor", refuse)
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and response.json()["database_ok"] is False



# --- Writes need intent: HEAD changes nothing, a login session needs the CSRF token -----------


def test_head_on_trigger_report_is_a_405_and_creates_no_report(client, prefix):
    response = client.head(f"{prefix}/trigger_report")
    assert (response.status_code, response["Allow"]) == (405, "GET, POST")
    assert not Report.objects.exists()


def test_get_on_trigger_report_still_creates_a_report_for_programs(client, prefix):
    # SPEC 6 and the original curl examples: anonymous (development) and token clients may GET.
    assert client.get(f"{prefix}/trigger_report").status_code == 200
    assert Report.objects.count() == 1


@pytest.fixture
def browser(django_user_model) -> Client:
    """A logged-in browser whose requests are CSRF-checked, as a real one's are."""
    signed_in = Client(enforce_csrf_checks=True)
    signed_in.force_login(django_user_model.objects.create_user("owner", password="a long passphrase"))
    signed_in.get("/")  # the page sets the csrftoken cookie
    return signed_in


def test_a_logged_in_browser_cannot_trigger_without_the_csrf_token(browser, prefix):
    assert browser.post(f"{prefix}/trigger_report").status_code == 403
    assert browser.get(f"{prefix}/trigger_report").status_code == 403  # an <img> on any page sends this
    assert not Report.objects.exists()


def test_a_logged_in_browser_triggers_with_the_csrf_token_from_this_site_only(browser, prefix):
    token = browser.cookies["csrftoken"].value
    foreign = browser.post(f"{prefix}/trigger_report", HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="https://evil.example")
    assert foreign.status_code == 403 and foreign.json()["status"] == "Forbidden"
    assert browser.post(f"{prefix}/trigger_report", HTTP_X_CSRFTOKEN=token).status_code == 200
    assert Report.objects.count() == 1


def test_a_token_client_triggers_without_csrf_even_with_a_session(browser, settings):
    settings.REQUIRE_AUTH = True
    issued = api_token_create(name="dashboard")
    response = browser.post("/trigger_report", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert response.status_code == 200 and Report.objects.count() == 1


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(("body", "content_type"), [
    (b"x" * (20 * 1024 * 1024), "application/octet-stream"),  # over DATA_UPLOAD_MAX_MEMORY_SIZE
    ("&".join(f"f{n}=1" for n in range(5000)).encode(), "application/x-www-form-urlencoded"),  # over ..._NUMBER_FIELDS
])
def test_too_large_a_body_is_a_json_400_in_development_as_in_production(client, settings, debug, body, content_type):
    settings.DEBUG = debug
    response = client.post("/trigger_report", data=body, content_type=content_type)
    assert (response.status_code, response["Content-Type"]) == (400, JSON_TYPE)
    assert response.json()["status"] == "Bad Request" and not Report.objects.exists()
