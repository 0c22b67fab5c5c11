"""The JSON API over real HTTP against a live server, with the real report runner.

A report goes from trigger to its CSV on the three hand-worked stores of
monitoring/tests/ui_data.py; the request styles that only a real server sees
(a GET with a body, percent-encoded junk in the path) are sent for real.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from monitoring.reports import runners
from monitoring.tests.api_cases import JSON_TYPE, JUNK_IDS, NO_SUCH_REPORT, make_report
from monitoring.tests.ui_data import EXPECTED_CSV, make_three_stores


def call(url: str, *, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body bytes) of one HTTP request; 4xx and 5xx are answers, not errors."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wait_until_finished(base: str, report_id: str) -> dict:
    """Poll /get_report the way a client does; give up (fail) after a generous bound."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, body = call(f"{base}/get_report?report_id={report_id}")
        if status != 202:
            return json.loads(body)
        time.sleep(0.05)
    pytest.fail(f"report {report_id} still running after 60 s")


@pytest.mark.django_db(transaction=True)
class TestOverHttp:
    @pytest.fixture(autouse=True)
    def no_runner_left_over(self, transactional_db):
        """No report thread from an earlier test, and none left holding a database connection."""
        runners.shutdown()
        yield
        runners.shutdown()

    def test_a_report_goes_from_trigger_to_the_hand_worked_csv(self, live_server):
        make_three_stores()
        status, _, body = call(f"{live_server.url}/trigger_report", method="POST")
        triggered = json.loads(body)
        assert status == 200 and triggered["status"] == "success"
        finished = wait_until_finished(live_server.url, triggered["report_id"])
        assert finished["status"] == "Complete" and finished["data"] == EXPECTED_CSV
        assert (finished["now"], finished["store_count"], finished["poll_count"]) == ("2023-01-25T12:00:00Z", 3, 5)

    def test_the_csv_downloads_over_http_both_ways(self, live_server):
        make_three_stores()
        report_id = json.loads(call(f"{live_server.url}/api/v1/trigger_report", method="POST")[2])["report_id"]
        wait_until_finished(live_server.url, report_id)
        by_format = call(f"{live_server.url}/api/get_report/{report_id}?format=csv")
        by_accept = call(f"{live_server.url}/get_report?report_id={report_id}", headers={"Accept": "text/csv"})
        for status, headers, body in (by_format, by_accept):
            assert (status, headers["Content-Type"]) == (200, "text/csv; charset=utf-8")
            assert headers["Content-Disposition"] == f'attachment; filename="store-report-20230125T120000Z-{report_id}.csv"'
            assert body.decode("utf-8") == EXPECTED_CSV

    def test_a_report_as_of_an_earlier_instant_ignores_the_later_polls(self, live_server):
        make_three_stores()
        body = json.dumps({"as_of": "2023-01-25T11:30:00Z"}).encode()
        answer = call(f"{live_server.url}/trigger_report", method="POST", body=body, headers={"Content-Type": "application/json"})
        finished = wait_until_finished(live_server.url, json.loads(answer[2])["report_id"])
        # now = 11:30 itself (SPEC 4); B's 12:00 poll does not exist, so its 11:00 inactive one
        # holds: B is down all its open time: hour 60 min, day 24 h, week 7 x 24 = 168 h.
        # A's Monday 23 Jan stays in the week [18 Jan 11:30, 25 Jan 11:30): 1.74 up, 1.26 down.
        assert finished["now"] == "2023-01-25T11:30:00Z"
        assert finished["data"].splitlines()[1:] == [
            "A,0.00,0.00,1.74,0.00,0.00,1.26", "B,0.00,0.00,0.00,60.00,24.00,168.00", "c,0.00,0.00,0.00,0.00,0.00,0.00",
        ]

    def test_get_report_reads_a_json_body_sent_with_get(self, live_server):
        report = make_report("Running", shards_total=4, shards_done=3)
        body = json.dumps({"report_id": str(report.id)}).encode()
        status, _, answer = call(f"{live_server.url}/get_report", body=body, headers={"Content-Type": "application/json"})
        # 3 shards of 4 done: 0.75.
        assert status == 202 and json.loads(answer)["progress"] == 0.75

    @pytest.mark.parametrize("report_id", JUNK_IDS.values(), ids=JUNK_IDS.keys())
    def test_junk_ids_are_no_such_report_over_http(self, live_server, report_id):
        quoted = urllib.parse.quote(report_id, safe="")
        urls = [f"{live_server.url}/get_report?report_id={quoted}"]
        # Django's live test server first looks every path up as a media file; a 10,000-character
        # path breaks that lookup (ENAMETOOLONG) before the app sees it. The test client covers it.
        if len(quoted) < 255:
            urls.append(f"{live_server.url}/api/v1/get_report/{quoted}")
        for url in urls:
            status, headers, body = call(url)
            assert (status, headers["Content-Type"], json.loads(body)) == (404, JSON_TYPE, NO_SUCH_REPORT)

    def test_a_wrong_method_is_a_json_405_over_http(self, live_server):
        status, headers, body = call(f"{live_server.url}/api/trigger_report", method="DELETE")
        assert (status, headers["Allow"], json.loads(body)["status"]) == (405, "GET, POST", "Method Not Allowed")
