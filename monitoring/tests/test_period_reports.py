"""Period reports (SPEC 8) end to end: asked through the API, built, answered and shown."""
from __future__ import annotations

import pytest
from django.urls import reverse

from monitoring.models import Report
from monitoring.reports.build import report_build
from monitoring.reports.requests import report_request
from monitoring.reports.service import report_create
from monitoring.tests.ui_data import make_three_stores

pytestmark = pytest.mark.django_db

# ui_data, the local day of Wed 2023-01-25, cut at the latest poll 12:00 UTC:
# A (New York, open Mondays only): no open time that day: 0, 0, no percent.
# B (Chicago by default, open 24/7): its day starts 06:00 UTC; 11:00 down, 12:00 up, midpoint
#   11:30: down 06:00-11:30 = 5.5 h (one outage, 330 min), up 0.5 h, 0.5 / 6 = 8.33 %.
# c (Tokyo, Wednesdays 22:00-02:00, no poll): 0, 0, no percent.
DAY_CSV = (
    "store_id,uptime_hours,downtime_hours,uptime_percent,outages,longest_outage_minutes\n"
    "A,0.00,0.00,,0,0.00\n"
    "B,0.50,5.50,8.33,1,330.00\n"
    "c,0.00,0.00,,0,0.00\n"
)


@pytest.fixture
def day_report() -> Report:
    make_three_stores()
    return report_build(report=report_create(request=report_request(period="day", day="2023-01-25"), build_here=True))


def test_a_day_report_is_each_stores_own_day_cut_at_the_latest_poll(day_report):
    assert day_report.state == Report.State.COMPLETE, day_report.error
    assert day_report.csv == DAY_CSV
    assert day_report.outages_csv.splitlines()[1:] == ["B,2023-01-25T06:00:00Z,2023-01-25T11:30:00Z,330.00,false"]
    assert day_report.periods_cut is True and day_report.effective_end.isoformat() == "2023-01-25T12:00:00+00:00"
    # The day before: no store has an observation in it (B's polls are later), no open time seen.
    assert day_report.period_totals == {
        "up_hours": 0.5, "down_hours": 5.5, "previous_up_hours": 0.0, "previous_down_hours": 0.0,
        "cut": True, "end": "2023-01-25T12:00:00+00:00",
    }


def test_the_api_triggers_a_period_report_and_says_what_it_is(client):
    make_three_stores()
    answer = client.post("/api/v1/trigger_report", {"period": "day", "date": "2023-01-25"}, content_type="application/json")
    assert answer.status_code == 200
    report = Report.objects.get()
    report_build(report=report)
    status = client.get(f"/api/v1/reports/{report.id}").json()
    assert (status["kind"], status["period"], status["date"], status["periods_cut"]) == ("period", "day", "2023-01-25", True)
    # Fleet: 0.5 h up of 6 h open = 8.33 %; the previous day had no observed open time.
    assert status["fleet"]["uptime_percent"] == 8.33 and status["fleet"]["previous_uptime_percent"] is None
    assert client.get("/get_report", {"report_id": str(report.id)}).json()["data"] == DAY_CSV


@pytest.mark.parametrize(("fields", "says"), [
    ({"start": "2023-01-25T00:00:00Z", "end": "2023-01-24T00:00:00Z"}, "end: end must be after start"),
    ({"start": "2022-01-01T00:00:00Z", "end": "2022-06-01T00:00:00Z"}, "at most 93 days"),
    ({"start": "soon", "end": "2023-01-24T00:00:00Z"}, "start: 'soon' is not an ISO 8601 instant"),
    ({"period": "fortnight", "date": "2023-01-24"}, "send one of day, week, month"),
    ({"period": "day"}, "date: a day period needs a date"),
    ({"date": "2023-01-24"}, "a date needs a period"),
    ({"period": "day", "date": "24/01/2023"}, "is not a date such as 2023-01-24"),
    ({"period": "day", "date": "2023-01-24", "start": "2023-01-24T00:00:00Z"}, "not both"),
    ({"period": "month", "date": "2023-02-10"}, "starts after the latest poll"),
])
def test_a_bad_period_is_a_422_that_says_what_to_send(client, fields, says):
    make_three_stores()
    answer = client.post("/api/v1/trigger_report", fields, content_type="application/json")
    assert answer.status_code == 422 and says in answer.json()["error"]
    assert not Report.objects.exists()


def test_the_period_report_page_shows_the_fleets_percent_and_sorts_by_percent(client, day_report):
    page = client.get(reverse("report", args=[day_report.id]) + "?sort=uptime_percent&order=desc")
    assert page.status_code == 200
    summary = page.context["summary"].period
    assert (summary.uptime_percent, summary.previous_uptime_percent, summary.down_stores) == (8.33, None, 1)
    # Stores without a percent sort last either way.
    assert [row["store_id"] for row in page.context["table"].rows] == ["B", "A", "c"]
    assert "8.33 %" in page.content.decode()


def test_the_store_page_of_a_period_report_shows_its_period_figures(client, day_report):
    page = client.get(reverse("report-store", args=[day_report.id, "B"]))
    assert page.status_code == 200
    detail = page.context["detail"]
    assert (detail.figures["uptime_percent"], detail.figures["outages"]) == (8.33, 1.0)
    assert [(o.minutes, o.ongoing) for o in detail.outages] == [(330.0, False)]
