"""monitoring.report_answers: the one status shape, 404 and CSV download of a report."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from monitoring.models import Report
from monitoring.report_answers import csv_filename, no_such_report, report_status


def test_it_names_the_csv_by_the_reports_now_then_its_id():
    report = Report(id=uuid.UUID(int=1), now=datetime(2023, 1, 25, 18, 13, 22, 479220, tzinfo=UTC))
    assert csv_filename(report=report) == "store-report-20230125T181322Z-00000000-0000-0000-0000-000000000001.csv"


def test_it_names_the_csv_of_a_report_without_now_by_its_id_alone():
    assert csv_filename(report=Report(id=uuid.UUID(int=1))) == "store-report-00000000-0000-0000-0000-000000000001.csv"


def test_it_answers_an_unknown_report_as_spec_6_says():
    response = no_such_report()
    assert response.status_code == 404 and json.loads(response.content) == {"status": "No such report Id!"}


def test_it_links_the_csv_only_once_the_report_is_complete():
    pending = Report(id=uuid.UUID(int=2), state=Report.State.PENDING)
    complete = Report(id=uuid.UUID(int=2), state=Report.State.COMPLETE)
    assert report_status(report=pending)["csv_url"] is None and report_status(report=pending)["final"] is False
    assert report_status(report=complete)["csv_url"] == f"/api/v1/get_report/{complete.id}?format=csv"
