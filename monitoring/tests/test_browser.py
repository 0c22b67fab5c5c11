"""The pages in a real browser (Debian's Chromium, headless) against a live server,
with JavaScript and without it. Screenshots of every page land in test-artifacts/.

Data and hand-worked figures: monitoring/tests/ui_data.py.
"""
import json
import os
import re
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from monitoring.models import Report
from monitoring.reports import runners
from monitoring.reports.build import report_build
from monitoring.access import owner_user_add
from monitoring.models import StoreOwner, Store
from monitoring.tests.ui_data import EXPECTED_CSV, make_three_stores

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # tests make between two clicks are still plain synchronous calls.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()
    if before is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]  # the rest of the suite keeps Django's guard


@pytest.fixture
def stores():
    make_three_stores()


@pytest.fixture(autouse=True)
def no_runner_left_over():
    """Each test starts without report threads (an earlier test's would take its reports),
    and leaves none holding a connection to the test database."""
    runners.shutdown()
    yield
    runners.shutdown()


@pytest.fixture
def paused_runner(monkeypatch):
    """Reports stay Pending until the test builds them: progress is seen step by step, never raced."""
    monkeypatch.setattr(runners, "report_submitted", lambda: None)


# Console messages of every page a test opens that report a Content-Security-Policy refusal.
CSP_REFUSALS: list[str] = []


@pytest.fixture(autouse=True)
def no_content_security_policy_refusal():
    """Every page passes its own policy: its script and styles are its own static files."""
    CSP_REFUSALS.clear()
    yield
    assert CSP_REFUSALS == []


def open_page(browser, live_server, *, javascript: bool = True, viewport: dict = DESKTOP):
    context = browser.new_context(java_script_enabled=javascript, viewport=viewport, accept_downloads=True, base_url=live_server.url)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.on("console", lambda message: CSP_REFUSALS.append(message.text) if "Content Security Policy" in message.text else None)
    return page


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def table_store_ids(page) -> list[str]:
    return page.locator("table.report-rows tbody th").all_inner_texts()


def build_the_pending_report() -> Report:
    return report_build(report=Report.objects.get(state=Report.State.PENDING))


def url_has(page, text: str) -> None:
    """Wait until the address shows `text`, whether a page load or the table's in-place
    update (history.replaceState) changed it."""
    expect(page).to_have_url(re.compile(re.escape(text)))


def mark_the_window(page) -> None:
    """A mark that a page load would wipe: its survival proves nothing reloaded."""
    page.evaluate("window.notReloaded = true")


def was_not_reloaded(page) -> bool:
    return page.evaluate("window.notReloaded === true")


# --- With JavaScript ---------------------------------------------------------------------


def test_trigger_report_shows_live_progress_then_the_result_without_a_reload(browser, live_server, stores, paused_runner):
    page = open_page(browser, live_server)
    page.goto("/")
    mark_the_window(page)
    page.get_by_role("button", name="Trigger Report").click()
    progress = page.locator("[data-trigger-progress]")
    progress.get_by_text("Pending").wait_for()
    shoot(page, "desktop-index-progress")
    # The runner's own figures: 1 of 4 parts done = 25 % (the page polls every second).
    Report.objects.filter(state=Report.State.PENDING).update(state=Report.State.RUNNING, shards_total=4, shards_done=1)
    progress.get_by_text("1 of 4 parts").wait_for()
    assert progress.locator("progress").get_attribute("value") == "25"
    Report.objects.filter(state=Report.State.RUNNING).update(state=Report.State.PENDING, shards_total=0, shards_done=0)
    build_the_pending_report()
    result = page.locator("[data-trigger-result]")
    result.get_by_text("Complete").wait_for()
    assert table_store_ids(page) == ["A", "B", "c"] and was_not_reloaded(page)
    shoot(page, "desktop-index-result")


def test_a_triggered_report_runs_on_the_real_runner_to_complete(browser, live_server, stores):
    """The runner's threads in this process (the live server's) build it, as in production."""
    page = open_page(browser, live_server)
    page.goto("/")
    page.get_by_role("button", name="Trigger Report").click()
    page.locator("[data-trigger-result]").get_by_text("Complete").wait_for()
    assert Report.objects.get().csv == EXPECTED_CSV


def test_an_owner_logs_in_and_sees_only_its_stores(browser, live_server, stores, settings):
    """SPEC 11 in the browser: an owner's login triggers a report of its stores (A and c), on the
    real runner, and neither its table, the Now page nor the navigation shows anything else."""
    settings.REQUIRE_AUTH = True
    StoreOwner.objects.bulk_create(StoreOwner(store=store, owner="Acme") for store in Store.objects.filter(store_id__in=["A", "c"]))
    password = owner_user_add(username="acme-manager", owner="Acme").password
    page = open_page(browser, live_server)
    page.goto("/")
    page.get_by_label("Username").fill("acme-manager")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Trigger Report").click()
    page.locator("[data-trigger-result]").get_by_text("Complete").wait_for()
    report = Report.objects.get()
    assert report.owner == "Acme"
    # The lines of A and c from the hand-worked staff CSV (ui_data.py), B's left out.
    assert report.csv == "".join(line for line in EXPECTED_CSV.splitlines(keepends=True) if not line.startswith("B,"))
    page.goto(f"/reports/{report.id}/")
    assert table_store_ids(page) == ["A", "c"]
    assert "Acme's stores" in page.locator(".site-nav").inner_text()
    assert page.get_by_role("link", name="Data").count() == 0
    shoot(page, "desktop-owner-report")
    page.goto("/now/")
    assert "B" not in page.locator("main").locator("a, td, th").all_inner_texts()
    shoot(page, "desktop-owner-now")


def test_get_report_with_a_pasted_id_shows_the_table(browser, live_server, stores, paused_runner):
    page = open_page(browser, live_server)
    page.goto("/")
    page.get_by_role("button", name="Trigger Report").click()
    page.locator("[data-trigger-progress]").get_by_text("Pending").wait_for()
    report = build_the_pending_report()
    page.goto("/")
    page.get_by_label("Report id").fill(f"  {report.id} ")
    page.get_by_label("Report id").press("Enter")  # the keyboard submits the form
    page.wait_for_url(f"**/reports/{report.id}/")
    assert table_store_ids(page) == ["A", "B", "c"]
    assert "2 of 3 stores were down" in page.locator("#summary-title + .stats").inner_text().replace("\n", " ")
    shoot(page, "desktop-report")
    page.goto("/")
    shoot(page, "desktop-index")


@pytest.fixture
def report_page(browser, live_server, stores):
    """A Complete report open in a page with JavaScript."""
    report = report_build(report=Report.objects.create(state=Report.State.PENDING))
    page = open_page(browser, live_server)
    page.goto(f"/reports/{report.id}/")
    mark_the_window(page)
    return page, report


def test_the_table_sorts_and_filters_in_place(report_page):
    page, _ = report_page
    # Downtime last week: B 167.50, A 1.26, c 0.00 -> largest first on the first click.
    page.get_by_role("link", name="Downtime, Last week (h)").click()
    url_has(page, "order=desc")
    assert table_store_ids(page) == ["B", "A", "c"]
    page.get_by_role("link", name="Downtime, Last week (h)").click()
    url_has(page, "order=asc")
    assert table_store_ids(page) == ["c", "A", "B"]
    page.get_by_label("Store id contains").fill("b")
    url_has(page, "q=b")
    assert table_store_ids(page) == ["B"]
    page.get_by_label("Store id contains").fill("")
    page.get_by_label("Show").select_option("down_week")
    url_has(page, "show=down_week")
    assert table_store_ids(page) == ["A", "B"]  # c has no downtime; still sorted ascending
    assert was_not_reloaded(page)


def test_the_table_sorts_from_the_keyboard_and_keeps_the_focus(report_page):
    page, _ = report_page
    header = page.get_by_role("link", name="Uptime, Last week (h)")
    header.focus()
    page.keyboard.press("Enter")
    url_has(page, "sort=uptime_last_week")
    # Uptime last week: A 1.74, B 0.50, c 0.00.
    assert table_store_ids(page) == ["A", "B", "c"]
    assert page.evaluate("document.activeElement.dataset.sort") == "uptime_last_week"


def test_the_csv_download_is_the_csv_the_api_gives(report_page, live_server):
    page, report = report_page
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    downloaded = Path(download.value.path()).read_text(encoding="utf-8")
    with urllib.request.urlopen(f"{live_server.url}/get_report?report_id={report.id}") as answer:
        from_api = json.load(answer)
    assert from_api["status"] == "Complete"
    assert downloaded == from_api["data"] == EXPECTED_CSV
    assert download.value.suggested_filename.startswith("store-report-20230125T120000Z-")


def test_the_store_page_draws_the_polls_hours_and_timeline_the_report_counted(report_page):
    page, _ = report_page
    page.get_by_role("link", name="A", exact=True).first.click()
    page.wait_for_url("**/stores/A")
    shoot(page, "desktop-store")
    chart = page.locator("svg.chart")
    # Rows: local dates of the week [Wed 18 Jan 07:00, Wed 25 Jan 07:00) EST: Wed 18 ... Wed 25 = 8 rows.
    assert chart.locator("g.day").count() == 8
    monday = chart.locator('g.day[data-day="2023-01-23"]')
    # x = 96 + 850 * (seconds since local midnight) / 86400   (svg_chart.LEFT, PLOT_WIDTH)
    # open 09:00-12:00: x = 96 + 850 * 9/24 = 414.75, width = 850 * 3/24 = 106.25
    assert rect(monday.locator("rect.open")) == ("414.75", "106.25")
    # up 09:00-10:44:30: 10:44:30 = 38670 s -> 850 * 38670/86400 = 380.434; width 380.434 - 318.75 = 61.68
    assert rect(monday.locator("rect.up")) == ("414.75", "61.68")
    # down 10:44:30-12:00: x = 96 + 380.434 = 476.43, width 425 - 380.434 = 44.57
    assert rect(monday.locator("rect.down")) == ("476.43", "44.57")
    assert chart.locator("rect.up").count() == 1 and chart.locator("rect.down").count() == 1
    # Polls: 10:14 active (36840 s -> 96 + 362.43 = 458.43), 11:15 inactive (40500 s -> 96 + 398.44 = 494.44).
    assert monday.locator("circle.poll-active").get_attribute("cx") == "458.43"
    assert monday.locator("circle.poll-inactive").get_attribute("cx") == "494.44"
    # Sat 21 Jan 03:00 local (08:00 UTC) is outside business hours: drawn, marked unused.
    saturday = chart.locator('g.day[data-day="2023-01-21"]')
    assert saturday.locator("circle.poll-ignored").get_attribute("cx") == "202.25"  # 96 + 850/8
    # now = 12:00 UTC = 07:00 EST: x = 96 + 850 * 7/24 = 343.92.
    assert chart.locator("g.now line").get_attribute("x1") == "343.92"
    outages = page.locator("#outages tbody tr")
    assert outages.count() == 1
    assert outages.first.locator("td").all_inner_texts() == [
        "Mon 2023-01-23 10:44:30", "Mon 2023-01-23 12:00:00", "1:15:30", "75.50", "2023-01-23 15:44:30",
        "2023-01-23 17:00:00",
    ]
    figures = page.locator("#store-figures tbody tr").last.locator("td").all_inner_texts()
    assert figures == ["1.74 h", "1.26 h"]


def rect(locator) -> tuple[str, str]:
    assert locator.count() == 1
    return locator.get_attribute("x"), locator.get_attribute("width")


def test_the_data_page_shows_counts_and_the_latest_poll(browser, live_server, stores):
    page = open_page(browser, live_server)
    page.goto("/data/")
    text = page.locator("main").inner_text()
    assert "2023-01-25 12:00:00 UTC" in text and "No file loaded yet" in text
    shoot(page, "desktop-data")


def test_an_unknown_id_gets_the_friendly_not_found_page(browser, live_server):
    page = open_page(browser, live_server)
    page.goto("/")
    page.get_by_label("Report id").fill("not-a-report")
    page.get_by_role("button", name="Get Report").click()
    page.get_by_text("There is no report with the id “not-a-report”.").wait_for()
    shoot(page, "desktop-404")


# --- Without JavaScript ---------------------------------------------------------------------


def test_without_javascript_trigger_goes_to_a_page_that_refreshes_until_complete(browser, live_server, stores, paused_runner):
    page = open_page(browser, live_server, javascript=False)
    page.goto("/")
    page.get_by_role("button", name="Trigger Report").click()
    page.wait_for_url("**/reports/*/")
    assert page.locator(".report-head .state").inner_text() == "Pending"
    shoot(page, "nojs-report-pending")
    build_the_pending_report()
    # The page's <noscript> refresh (every 2 s) brings the result.
    page.get_by_role("link", name="Download CSV").wait_for()
    assert table_store_ids(page) == ["A", "B", "c"]


def test_without_javascript_get_report_sort_filter_download_and_store_page_work(browser, live_server, stores):
    report = report_build(report=Report.objects.create(state=Report.State.PENDING))
    page = open_page(browser, live_server, javascript=False)
    page.goto("/")
    page.get_by_label("Report id").fill(str(report.id))
    page.get_by_role("button", name="Get Report").click()
    page.wait_for_url(f"**/reports/{report.id}/")
    assert table_store_ids(page) == ["A", "B", "c"]
    page.get_by_role("link", name="Downtime, Last day (h)").click()
    url_has(page, "sort=downtime_last_day")
    # Downtime last day: B 23.50, then A and c at 0.00 in store_id order.
    assert table_store_ids(page) == ["B", "A", "c"]
    page.get_by_label("Store id contains").fill("C")
    page.get_by_role("button", name="Apply").click()
    url_has(page, "q=C")
    assert table_store_ids(page) == ["c"]
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert Path(download.value.path()).read_text(encoding="utf-8") == EXPECTED_CSV
    page.get_by_role("link", name="c", exact=True).click()
    page.wait_for_url("**/stores/c")
    # Asia/Tokyo: the week [Wed 18 Jan 21:00, Wed 25 Jan 21:00) JST touches 8 local dates.
    assert page.locator("svg.chart g.day").count() == 8
    assert "No downtime in the last week." in page.locator("main").inner_text()
    shoot(page, "nojs-store")


# --- On a phone ----------------------------------------------------------------------------


def test_every_page_fits_a_phone_screen(browser, live_server, stores):
    report = report_build(report=Report.objects.create(state=Report.State.PENDING))
    page = open_page(browser, live_server, viewport=PHONE)
    for name, path in [
        ("index", "/"),
        ("report", f"/reports/{report.id}/"),
        ("store", f"/reports/{report.id}/stores/A"),
        ("data", "/data/"),
    ]:
        page.goto(path)
        shoot(page, f"phone-{name}")
        page.screenshot(path=str(ARTIFACTS / f"phone-{name}-top.png"))
        # Wide tables and the chart scroll inside their own boxes; the page itself never does.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
