"""The HTML pages through Django's test client: every button works without JavaScript.

Data and hand-worked figures: monitoring/tests/ui_data.py.
"""
import html
import re
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from django.test import Client
from django.urls import reverse

from monitoring.models import IngestRun, RejectedRow, Report, RetentionDrop, StatusPoll, Store
from monitoring.reports.build import report_build
from monitoring.reports.service import report_create
from monitoring.tests.ui_data import EXPECTED_CSV, NOW, make_three_stores

pytestmark = pytest.mark.django_db


@pytest.fixture
def stores():
    make_three_stores()


@pytest.fixture
def report(stores) -> Report:
    """A report built here and now (the runner's threads are not involved)."""
    return report_build(report=report_create(build_here=True))


def complete_report(csv: str) -> Report:
    return Report.objects.create(state=Report.State.COMPLETE, now=NOW, csv=csv, store_count=csv.count("\n") - 1)


def body_text(response) -> str:
    """The page's text without tags or repeated spaces, to assert on what a reader sees."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def table_store_ids(response) -> list[str]:
    return [row["store_id"] for row in response.context["table"].rows]


# --- The home page -----------------------------------------------------------------


def test_the_home_page_offers_trigger_report_and_get_report_buttons(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'method="post"' in page and "Trigger Report" in page and "csrfmiddlewaretoken" in page
    assert 'name="report_id"' in page and "Get Report" in page
    assert '<label for="id_report_id">Report id</label>' in page


def test_the_home_page_lists_recent_reports_with_their_state(client, report):
    response = client.get("/")
    assert reverse("report", args=[report.id]) in response.content.decode()
    assert "Complete" in body_text(response)


def test_the_home_page_shows_what_the_database_holds(client, stores):
    text = body_text(client.get("/"))
    # 3 stores, 5 polls, the latest at NOW.
    assert "Stores 3" in text and "Polls 5" in text and "2023-01-25 12:00:00 UTC" in text


# --- Trigger Report ------------------------------------------------------------------


def test_posting_the_trigger_form_creates_a_report_and_redirects_to_its_page(client, stores):
    response = client.post(reverse("report-trigger"))
    report = Report.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("report", args=[report.id])
    assert report.state == Report.State.PENDING and report.as_of is None


def test_the_trigger_form_passes_an_as_of_instant_in_utc(client, stores):
    client.post(reverse("report-trigger"), {"as_of": "2023-01-24T10:30:00"})
    assert Report.objects.get().as_of.isoformat() == "2023-01-24T10:30:00+00:00"


def test_a_malformed_as_of_is_shown_back_on_the_form_not_a_500(client, stores):
    response = client.post(reverse("report-trigger"), {"as_of": "yesterday-ish"})
    assert response.status_code == 400
    # The API's own words: one validation for both (reports/requests.py).
    assert "&#x27;yesterday-ish&#x27; is not an ISO 8601 instant" in response.content.decode()
    assert not Report.objects.exists()


@pytest.mark.parametrize(("as_of", "says"), [
    ("9999-12-31T00:00", "is in the future"), ("1900-01-01T00:00", "is before 1970"), ("0001-01-01T00:00", "is before 1970"),
])
def test_the_trigger_form_refuses_an_as_of_out_of_range_as_the_api_does(client, stores, as_of, says):
    response = client.post(reverse("report-trigger"), {"as_of": as_of})
    assert response.status_code == 400 and says in response.content.decode()
    assert not Report.objects.exists()


def test_the_trigger_form_asks_for_a_stores_own_day(client, stores):
    client.post(reverse("report-trigger"), {"report": "day", "date": "2023-01-24", "as_of": "ignored: another kind"})
    report = Report.objects.get()
    assert (report.kind, report.period, report.period_date.isoformat(), report.as_of) == ("period", "day", "2023-01-24", None)


def test_the_trigger_form_asks_for_an_interval_in_utc(client, stores):
    client.post(reverse("report-trigger"), {"report": "interval", "start": "2023-01-24T00:00", "end": "2023-01-25T06:00"})
    report = Report.objects.get()
    assert (report.kind, report.start.isoformat(), report.end.isoformat()) == (
        "interval", "2023-01-24T00:00:00+00:00", "2023-01-25T06:00:00+00:00",
    )


@pytest.mark.parametrize(("fields", "says"), [
    ({"report": "week"}, "a week period needs a date"),
    ({"report": "month", "date": "2023-02-30"}, "is not a date such as"),
    ({"report": "interval", "start": "2023-01-25T00:00", "end": "2023-01-24T00:00"}, "end must be after start"),
    ({"report": "interval", "start": "2022-01-01T00:00", "end": "2023-01-01T00:00"}, "at most 93 days"),
    ({"report": "day", "date": "2024-06-01"}, "starts after the latest poll"),
])
def test_the_trigger_form_shows_what_to_send_for_a_bad_period(client, stores, fields, says):
    response = client.post(reverse("report-trigger"), fields)
    assert response.status_code == 400 and says in response.content.decode()
    assert not Report.objects.exists()


def test_the_trigger_form_answers_json_to_the_page_script(client, stores):
    response = client.post(reverse("report-trigger"), HTTP_ACCEPT="application/json")
    report = Report.objects.get()
    assert response.status_code == 202 and response["Location"] == reverse("report-status", args=[report.id])
    assert response.json()["state"] == "Pending" and response.json()["page_url"] == reverse("report", args=[report.id])


def test_trigger_refuses_a_post_without_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    assert client.post(reverse("report-trigger")).status_code == 403
    assert not Report.objects.exists()


def test_trigger_accepts_a_post_with_the_csrf_token_from_the_page(stores):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(reverse("report-trigger"), {"csrfmiddlewaretoken": token}).status_code == 302


def test_a_get_never_triggers_a_report(client):
    assert client.get(reverse("report-trigger")).status_code == 405
    assert not Report.objects.exists()


def test_trigger_is_refused_politely_beyond_the_rate_limit(client, stores, settings):
    settings.TRIGGER_RATE_LIMIT = 1
    client.post(reverse("report-trigger"))
    response = client.post(reverse("report-trigger"))
    assert response.status_code == 429
    assert "Too many reports" in response.content.decode()
    assert Report.objects.count() == 1


def test_the_page_script_gets_a_refusal_as_json_with_its_reason(client, stores, settings):
    settings.TRIGGER_RATE_LIMIT = 1
    client.post(reverse("report-trigger"), HTTP_ACCEPT="application/json")
    response = client.post(reverse("report-trigger"), HTTP_ACCEPT="application/json")
    assert response.status_code == 429 and "Too many reports" in response.json()["error"]


# --- Get Report ------------------------------------------------------------------------


def test_get_report_with_an_id_goes_to_the_report_page(client, report):
    response = client.get(reverse("report-lookup"), {"report_id": str(report.id)}, follow=True)
    assert response.redirect_chain == [(reverse("report", args=[report.id]), 302)]
    assert table_store_ids(response) == ["A", "B", "c"]


def test_get_report_finds_the_id_inside_a_pasted_url_or_json(client, report):
    pasted = f' {{"status": "success", "report_id": "{report.id}"}} '
    response = client.get(reverse("report-lookup"), {"report_id": pasted})
    assert response["Location"] == reverse("report", args=[report.id])


@pytest.mark.parametrize("typed", ["no-such-report", str(uuid.uuid4()), "'; DROP TABLE x; --", "x" * 300])
def test_an_unknown_or_malformed_id_gets_a_friendly_404(client, typed):
    response = client.get(reverse("report-lookup"), {"report_id": typed})
    assert response.status_code == 404
    assert "There is no report with the id" in response.content.decode()
    assert 'name="report_id"' in response.content.decode()  # a form to try again


def test_an_empty_id_shows_the_form_again_with_an_error(client):
    response = client.get(reverse("report-lookup"), {"report_id": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_an_unknown_report_page_is_a_friendly_404(client):
    response = client.get(reverse("report", args=[uuid.uuid4()]))
    assert response.status_code == 404
    assert "There is no report with the id" in response.content.decode()


def test_a_malformed_report_url_is_a_404_page_not_a_500(client):
    response = client.get("/reports/not-a-uuid/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode()


# --- The report page ---------------------------------------------------------------------


def test_a_pending_report_page_shows_its_state_and_refreshes_itself_without_javascript(client, stores):
    report = report_create()
    page = client.get(reverse("report", args=[report.id])).content.decode()
    assert "Pending" in page and '<progress max="100" value="0"' in page
    assert '<noscript><meta http-equiv="refresh"' in page
    assert "Download CSV" not in page


def test_a_running_report_shows_its_progress(client, stores):
    report = Report.objects.create(state=Report.State.RUNNING, shards_total=4, shards_done=1)
    page = client.get(reverse("report", args=[report.id])).content.decode()
    # 1 of 4 shards = 25 %.
    assert '<progress max="100" value="25"' in page and "1 of 4 parts" in page


def test_a_failed_report_shows_its_error(client):
    report = Report.objects.create(state=Report.State.FAILED, error="ValueError: the disk is on fire")
    text = body_text(client.get(reverse("report", args=[report.id])))
    assert "The report failed." in text and "the disk is on fire" in text


def test_a_complete_report_shows_the_hand_computed_figures(client, report):
    response = client.get(reverse("report", args=[report.id]))
    assert report.csv == EXPECTED_CSV
    rows = {row["store_id"]: row for row in response.context["table"].rows}
    assert rows["A"]["downtime_last_week"] == 1.26 and rows["B"]["downtime_last_week"] == 167.5
    text = body_text(response)
    assert "Download CSV" in text and "Stores 3" in text


def test_the_summary_counts_stores_down_last_week_total_downtime_and_the_worst(client, report):
    summary = client.get(reverse("report", args=[report.id])).context["summary"]
    # Down last week: A (1.26 h) and B (167.5 h); total 1.26 + 167.5 = 168.76 h.
    assert summary.down_last_week == 2 and summary.down_last_day == 1
    assert summary.downtime_week_hours == pytest.approx(168.76)
    assert [row["store_id"] for row in summary.worst] == ["B", "A"]
    # Up 1.74 + 0.5 = 2.24 h of 2.24 + 168.76 = 171 open hours.
    assert summary.uptime_share == pytest.approx(2.24 / 171)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["A", "B", "c"]),
        ({"sort": "store_id", "order": "desc"}, ["c", "B", "A"]),
        ({"sort": "downtime_last_week"}, ["B", "A", "c"]),  # numbers: largest first by default
        ({"sort": "uptime_last_week", "order": "asc"}, ["c", "B", "A"]),  # 0, 0.5, 1.74
        ({"q": "b"}, ["B"]),  # store id contains, any case
        ({"show": "down_week"}, ["A", "B"]),
        ({"show": "down_day"}, ["B"]),
        ({"show": "down_hour", "q": "a"}, []),
    ],
)
def test_the_table_sorts_and_filters_on_the_server(client, report, params, expected):
    response = client.get(reverse("report", args=[report.id]), params)
    assert table_store_ids(response) == expected


def test_the_table_pages_through_many_stores():
    lines = "".join(f"s{n:05d},0.00,0.00,0.00,0.00,0.00,{n / 100:.2f}\n" for n in range(14_000))
    report = complete_report("store_id,uptime_last_hour,uptime_last_day,uptime_last_week,downtime_last_hour,downtime_last_day,downtime_last_week\n" + lines)
    response = Client().get(reverse("report", args=[report.id]), {"page": "3", "per": "100", "sort": "downtime_last_week"})
    table = response.context["table"]
    # Largest downtime first: s13999 (139.99 h) heads page 1, so page 3 starts at s13799.
    assert table.pages == 140 and table.rows[0]["store_id"] == "s13799" and len(table.rows) == 100
    assert "Stores 201–300 of 14,000" in body_text(response)


@pytest.mark.parametrize("params", [{"page": "-4"}, {"page": "9999"}, {"sort": "evil"}, {"order": "sideways"}, {"per": "1e9"}, {"show": "?"}])
def test_junk_table_controls_fall_back_to_defaults(client, report, params):
    response = client.get(reverse("report", args=[report.id]), params)
    assert response.status_code == 200 and len(table_store_ids(response)) >= 1


def test_sort_links_flip_the_order_of_the_sorted_column(client, report):
    page = client.get(reverse("report", args=[report.id]), {"sort": "downtime_last_week"}).content.decode()
    assert 'aria-sort="descending"' in page
    assert 'href="?sort=downtime_last_week&amp;order=asc"' in page


def test_store_ids_guarded_against_spreadsheet_formulas_are_shown_as_themselves(client):
    # engine.csv_export writes "=1+1" as "'=1+1" so a spreadsheet does not run it.
    report = complete_report("store_id,uptime_last_hour,uptime_last_day,uptime_last_week,downtime_last_hour,downtime_last_day,downtime_last_week\n'=1+1,0.00,0.00,0.00,0.00,0.00,0.00\n")
    assert table_store_ids(client.get(reverse("report", args=[report.id]))) == ["=1+1"]


def test_the_csv_download_is_the_report_csv_as_an_attachment(client, report):
    response = client.get(reverse("report-csv", args=[report.id]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    # The API's download has the same name: the report's `now`, then its id.
    assert response["Content-Disposition"] == f'attachment; filename="store-report-20230125T120000Z-{report.id}.csv"'
    assert response.content.decode() == EXPECTED_CSV


def test_an_unfinished_report_has_no_csv_yet(client, stores):
    assert client.get(reverse("report-csv", args=[report_create().id])).status_code == 404


def test_the_status_json_tells_the_page_script_the_progress(client, stores):
    report = Report.objects.create(state=Report.State.RUNNING, shards_total=3, shards_done=2)
    payload = client.get(reverse("report-status", args=[report.id])).json()
    # 2 shards of 3 done: 2 / 3 = 0.667 (the page shows 67 %).
    assert payload["state"] == "Running" and round(payload["progress"], 3) == 0.667 and payload["final"] is False


def test_the_status_json_is_the_apis_report_status(client, report):
    page = client.get(reverse("report-status", args=[report.id]))
    api = client.get(f"/api/v1/reports/{report.id}")
    assert page["Content-Type"] == api["Content-Type"] and page.json() == api.json()


def test_the_status_json_of_an_unknown_report_is_the_apis_404(client):
    # One body for an unknown report wherever it is asked (SPEC 6); it was {"error": "No such report"} here.
    response = client.get(reverse("report-status", args=[uuid.uuid4()]))
    assert response.status_code == 404 and response.json() == {"status": "No such report Id!"}


# --- The store page ----------------------------------------------------------------------


def test_the_store_page_shows_hours_as_given_and_the_report_figures(client, report):
    response = client.get(reverse("report-store", args=[report.id, "A"]))
    text = body_text(response)
    assert "America/New_York" in text and "Monday 09:00:00 12:00:00" in text
    assert "Last week 1.74 h 1.26 h" in text


def test_the_store_page_lists_the_outage_in_local_time_and_utc(client, report):
    response = client.get(reverse("report-store", args=[report.id, "A"]))
    # One outage: 10:44:30-12:00 EST = 15:44:30-17:00 UTC, 1 h 15 min 30 s = 75.50 min (ui_data).
    assert len(response.context["detail"].outages) == 1
    row = "Mon 2023-01-23 10:44:30 Mon 2023-01-23 12:00:00 1:15:30 75.50 2023-01-23 15:44:30 2023-01-23 17:00:00"
    assert row in body_text(response)


def test_the_store_chart_adds_up_to_the_report_figures(client, report):
    detail = client.get(reverse("report-store", args=[report.id, "A"])).context["detail"]
    assert round(detail.chart_uptime_hours, 2) == 1.74 and round(detail.chart_downtime_hours, 2) == 1.26
    # 3 polls in the week; the Saturday 03:00 one is outside business hours.
    assert (detail.week_polls, detail.week_observations) == (3, 2)


def test_the_store_page_of_a_store_with_defaults_says_so(client, report):
    text = body_text(client.get(reverse("report-store", args=[report.id, "B"])))
    assert "America/Chicago (none given: the default)" in text
    assert "No hours given: open 24 hours, 7 days a week." in text


def test_the_store_page_reads_as_many_queries_for_50_polls_as_for_1(client, django_assert_num_queries):
    one, fifty = Store.objects.create(store_id="one"), Store.objects.create(store_id="fifty")
    StatusPoll.objects.create(store=one, timestamp=NOW, active=True)
    StatusPoll.objects.bulk_create(
        StatusPoll(store=fifty, timestamp=NOW - timedelta(hours=n, minutes=7), active=n % 2 == 0) for n in range(50)
    )
    report = report_build(report=report_create(build_here=True))
    client.get(reverse("report", args=[report.id]))  # the report's CSV is parsed and cached
    # The report (without its CSV), then the reader's store, the lookback's current digested days,
    # its hours and polls of the 14-day lookback, and the load generation the reader saw.
    with django_assert_num_queries(6):
        assert client.get(reverse("report-store", args=[report.id, "one"])).context["detail"].week_polls == 1
    with django_assert_num_queries(6):
        assert client.get(reverse("report-store", args=[report.id, "fifty"])).context["detail"].week_polls == 50


def test_an_unknown_store_of_a_report_is_a_friendly_404(client, report):
    response = client.get(reverse("report-store", args=[report.id, "nope"]))
    assert response.status_code == 404 and "This report has no store" in response.content.decode()


# --- The data page ------------------------------------------------------------------------


def test_the_data_page_shows_the_last_load_of_each_file_and_its_rejected_rows(client, stores):
    old = IngestRun.objects.create(path="polls.csv", kind="polls", succeeded=True, rows_read=9)
    new = IngestRun.objects.create(path="polls.csv", kind="polls", succeeded=True, rows_read=7, rejected=1)
    RejectedRow.objects.create(run=old, line=3, column="status", reason="old news", raw="x")
    RejectedRow.objects.create(run=new, line=5, column="status", reason="unknown status 'maybe'", raw="1,maybe,2023")
    response = client.get(reverse("data"))
    assert response.context["loads"].runs == [new]
    text = body_text(response)
    assert "unknown status 'maybe'" in text and "old news" not in text


def test_the_data_page_shows_the_history_kept_and_what_retention_dropped(client, stores, settings):
    settings.POLL_RETENTION_DAYS = 90
    RetentionDrop.objects.create(
        keep_days=90, latest_poll_at=datetime(2023, 1, 25, 18, tzinfo=timezone.utc),
        kept_from=datetime(2022, 10, 27, tzinfo=timezone.utc), first_day=date(2022, 10, 17), last_day=date(2022, 10, 26),
        partitions=10, rows=2_900_000,
    )
    response = client.get(reverse("data"))
    history = response.context["history"]
    # make_three_stores writes through the ORM: its polls wait in DEFAULT, no day partition yet.
    assert (history.day_partitions, history.keep_days, history.drop_total) == (0, 90, 1)
    text = body_text(response)
    assert "90 days before the newest poll's day" in text
    assert "2022-10-17 .. 2022-10-26 10 2,900,000 0 2022-10-27 (90 days before 2023-01-25 18:00)" in text


def test_the_store_pages_outages_are_the_reports_outage_rows_and_the_timelines(client, report):
    # B (ui_data): down from the week's start to the midpoint 11:30, 7 d - 30 min = 10050 min,
    # then up: one outage in the report's list, the same one the timeline computes.
    detail = client.get(reverse("report-store", args=[report.id, "B"])).context["detail"]
    assert [(o.start.isoformat(), o.end.isoformat(), o.minutes, o.ongoing) for o in detail.outages] == [
        ("2023-01-18T12:00:00+00:00", "2023-01-25T11:30:00+00:00", 10050.0, False)
    ]
    listed = "B,2023-01-18T12:00:00Z,2023-01-25T11:30:00Z,10050.00,false"
    assert listed in report.outages_csv.splitlines()
    timeline = detail.timeline.outages
    assert [(s.isoformat(), e.isoformat(), bool(g)) for s, e, g in timeline[["start", "end", "ongoing"]].itertuples(index=False)] == [
        ("2023-01-18T12:00:00+00:00", "2023-01-25T11:30:00+00:00", False)
    ]


def test_the_report_table_sorts_by_the_outage_columns_and_the_summary_names_the_most_interrupted(client, report):
    # A and B have one outage each in the week (75.50 and 10050 min); c has none.
    response = client.get(reverse("report", args=[report.id]) + "?sort=longest_outage_minutes&order=desc")
    assert [row["store_id"] for row in response.context["table"].rows] == ["B", "A", "c"]
    assert [row["outages_last_week"] for row in response.context["table"].rows] == [1, 1, 0]
    # Ties (one outage each) stay in store_id order.
    assert [row["store_id"] for row in response.context["summary"].most_outages] == ["A", "B"]


def test_the_now_page_lists_the_stores_down_longest_first_linked_to_the_newest_report(client, report):
    # ui_data at now = Wed 12:00 UTC: B's last poll (12:00) is up, A is closed (Mondays only), c is
    # closed until 22:00 Tokyo time; no store is down. A poll makes B down: 12:30 inactive, the
    # latest poll now, so B is down since the midpoint 12:15, 15 minutes.
    assert client.get(reverse("now")).context["now"].down == []
    StatusPoll.objects.create(store=Store.objects.get(store_id="B"), timestamp=NOW + timedelta(minutes=30), active=False)
    now = client.get(reverse("now")).context["now"]
    assert now.counts == {"down": 1, "up": 0, "closed": 2, "unknown": 0}
    [down] = now.down
    assert (down.store_id, down.since.isoformat(), down.minutes) == ("B", "2023-01-25T12:15:00+00:00", 15.0)
    assert down.store_url == reverse("report-store", args=[report.id, "B"])


def test_every_page_carries_a_content_security_policy_without_inline_code(client, report):
    policy = client.get(reverse("report", args=[report.id]))["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    # Swagger UI sets inline styles of its own: its page alone allows them.
    assert "style-src 'self' 'unsafe-inline'" in client.get("/api/v1/docs")["Content-Security-Policy"]
