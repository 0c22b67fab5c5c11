"""The outage list, one store of a report, and status now, over the API (SPEC 7 and 9)."""
from __future__ import annotations

import pytest

from monitoring.reports.build import report_build
from monitoring.reports.service import report_create
from monitoring.tests.api_cases import NO_SUCH_REPORT, make_report
from monitoring.tests.report_cases import make_small_data

pytestmark = pytest.mark.django_db

# report_cases at now = 17:30: a is down 15:44:30-17:00 (closing time), b from 17:15 to now.
OUTAGES = [
    {"store_id": "a", "start_utc": "2023-01-23T15:44:30Z", "end_utc": "2023-01-23T17:00:00Z", "minutes": 75.5, "ongoing": False},
    {"store_id": "b", "start_utc": "2023-01-23T17:15:00Z", "end_utc": "2023-01-23T17:30:00Z", "minutes": 15.0, "ongoing": True},
]


@pytest.fixture
def built():
    make_small_data()
    return report_build(report=report_create(build_here=True))


@pytest.fixture(params=["", "/api", "/api/v1"], ids=["root", "api", "api-v1"])
def prefix(request) -> str:
    return request.param


def test_the_outage_list_is_served_as_json_under_every_prefix(client, built, prefix):
    answer = client.get(f"{prefix}/reports/{built.id}/outages")
    assert answer.status_code == 200
    assert answer.json() == {"status": "Complete", "report_id": str(built.id), "count": 2, "outages": OUTAGES}


@pytest.mark.parametrize("ask", [{"format": "csv"}, {"HTTP_ACCEPT": "text/csv"}], ids=["format", "accept"])
def test_the_outage_list_downloads_as_the_spec_csv(client, built, ask):
    query = {"format": "csv"} if "format" in ask else {}
    headers = {key: value for key, value in ask.items() if key.startswith("HTTP_")}
    answer = client.get(f"/api/v1/reports/{built.id}/outages", query, **headers)
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    assert answer.content.decode() == built.outages_csv
    assert answer["Content-Disposition"].startswith('attachment; filename="store-outages-')


def test_the_outage_list_of_a_running_report_is_202_and_of_an_unknown_one_404(client):
    running = make_report("Running", shards_total=2, shards_done=1)
    answer = client.get(f"/api/v1/reports/{running.id}/outages")
    assert answer.status_code == 202 and answer.json()["progress"] == 0.5
    unknown = client.get("/api/v1/reports/00000000-0000-0000-0000-000000000000/outages")
    assert (unknown.status_code, unknown.json()) == (404, NO_SUCH_REPORT)


def test_one_store_of_a_report_has_its_figures_hours_zone_and_outages(client, built):
    answer = client.get(f"/api/v1/reports/{built.id}/stores/a")
    assert answer.status_code == 200
    body = answer.json()
    # report_cases: a (New York) open Mondays 09:00-12:00; hour [16:30, 17:30): 30 min open, down.
    assert (body["store_id"], body["timezone"], body["zone"]) == ("a", "America/New_York", "America/New_York")
    assert body["hours"] == [{"weekday": 0, "start_local": "09:00:00", "end_local": "12:00:00"}]
    assert body["figures"]["downtime_last_hour"] == 30.0 and body["figures"]["uptime_last_day"] == 1.74
    assert body["outages"] == OUTAGES[:1]


def test_an_unknown_store_of_a_report_is_404(client, built):
    assert client.get(f"/api/v1/reports/{built.id}/stores/nope").status_code == 404


@pytest.mark.parametrize("shard_stores", [20_000, 1])  # one read, or one read per store: the same answer
def test_status_now_says_each_stores_state_and_since_when_a_down_store_is_down(client, built, settings, shard_stores):
    settings.FLEET_SHARD_STORES = shard_stores
    # now = 17:30 (latest poll): a closed at 17:00 UTC, c (Denver) opens Wednesdays only: closed;
    # b (open 24/7) down since the midpoint 17:15, 15 min.
    body = client.get("/api/v1/status").json()
    assert body["now"] == "2023-01-23T17:30:00Z"
    assert body["counts"] == {"closed": 2, "up": 0, "down": 1, "unknown": 0}
    assert body["stores"] == [
        {"store_id": "a", "state": "closed", "down_since": None, "down_minutes": None},
        {"store_id": "b", "state": "down", "down_since": "2023-01-23T17:15:00Z", "down_minutes": 15.0},
        {"store_id": "c", "state": "closed", "down_since": None, "down_minutes": None},
    ]
    down = client.get("/api/v1/status", {"state": "down"}).json()["stores"]
    assert [store["store_id"] for store in down] == ["b"]


def test_status_now_of_an_empty_database_lists_no_store(client):
    body = client.get("/api/v1/status").json()
    assert body["stores"] == [] and body["counts"] == {"closed": 0, "up": 0, "down": 0, "unknown": 0}
