"""Every store id ingestion accepts gets working links: the report page, its table and
summary, and the store page link each store to its own page (docs/ui.md)."""
import csv
import html
import io
import re
import tempfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitoring.ingest.load import ingest_paths
from monitoring.models import Report, Store
from monitoring.reports.build import report_build
from monitoring.reports.service import report_create

pytestmark = pytest.mark.django_db

# Every character but control characters (which ingestion refuses) and lone surrogates (not UTF-8).
_ID_CHARACTERS = st.characters(exclude_categories=("Cc", "Cs"))
STORE_IDS = st.text(_ID_CHARACTERS, min_size=1, max_size=30).filter(lambda text: text.strip() and text not in (".", ".."))
HREF = re.compile(r'href="([^"]*)"')
# What a browser takes for a dot segment (WHATWG URL), percent-encoded too.
DOT_SEGMENTS = {".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"}


def load_one_down_store(store_id: str) -> None:
    """The store, down at its only poll: open all week (no hours given), so it is the summary's worst store."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([["store_id", "status", "timestamp_utc"], [store_id, "inactive", "2023-01-25 12:00:00"]])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "polls.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        [result] = ingest_paths(paths=[path])
    assert result.rejected == 0, result.rejections


def browser_path(*, page: str, href: str) -> str:
    """The path a browser requests for a link on `page` (still percent-encoded: the test client decodes it)."""
    resolved = urlsplit(urljoin(f"http://testserver{page}", html.unescape(href)))
    assert not {segment.lower() for segment in resolved.path.split("/")} & DOT_SEGMENTS, href
    return resolved.path


def store_links(page_html: str) -> list[str]:
    return [href for href in HREF.findall(page_html) if "/stores/" in href]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(store_id=STORE_IDS)
@example(store_id="a/../../../../trigger_report")
@example(store_id="a\u2028b")
@example(store_id="x?y#z%2F&amp;")
@example(store_id="...")
@example(store_id="=SUM(A1)")
@example(store_id=" padded /")
def test_every_store_link_of_the_report_and_store_pages_leads_to_that_stores_page(store_id):
    Report.objects.all().delete()
    Store.objects.all().delete()
    load_one_down_store(store_id)
    report = report_build(report=report_create(build_here=True))
    assert report.state == Report.State.COMPLETE, report.error
    client = Client()
    report_page = f"/reports/{report.id}/"
    pages = {report_page: client.get(report_page), f"{report_page}?q=": client.get(report_page, {"q": store_id[:5]})}
    links = [(page, href) for page, answer in pages.items() for href in store_links(answer.content.decode())]
    # The table row, the summary's worst store and its most interrupted store.
    assert len([link for link in links if link[0] == report_page]) == 3
    store_page = browser_path(page=report_page, href=links[0][1])
    answer = client.get(store_page)
    links += [(store_page, href) for href in store_links(answer.content.decode())]
    for page, href in links:
        shown = client.get(browser_path(page=page, href=href))
        assert shown.status_code == 200, (page, href)
        assert shown.context["detail"].store.store_id == store_id


def test_no_template_links_a_store_with_the_url_tag_which_cannot_encode_every_id():
    templates = Path(__file__).resolve().parents[2] / "templates"
    offenders = [path.name for path in templates.rglob("*.html") if "url 'report-store'" in path.read_text()]
    assert offenders == []


def test_a_nul_in_a_store_path_is_a_404_on_the_page_and_in_the_api(client):
    load_one_down_store("A")
    report = report_build(report=report_create(build_here=True))
    for path in ("%00", "A%00", "%00A"):
        assert client.get(f"/reports/{report.id}/stores/{path}").status_code == 404
        answer = client.get(f"/api/v1/reports/{report.id}/stores/{path}")
        assert answer.status_code == 404 and answer["Content-Type"].startswith("application/json")
