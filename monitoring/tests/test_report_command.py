"""`manage.py report`: the same report, built here, written to a file, timed."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from monitoring.models import Report
from monitoring.tests.report_cases import EXPECTED_CSV, make_small_data

pytestmark = pytest.mark.django_db


def run_report(*args: str) -> str:
    out = io.StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def test_it_writes_the_report_csv_to_the_file_named_and_says_where_and_how_long(tmp_path):
    make_small_data()
    target = tmp_path / "out" / "report.csv"
    said = run_report("--output", str(target))
    assert target.read_bytes() == EXPECTED_CSV.encode()
    report = Report.objects.get()
    assert report.state == Report.State.COMPLETE and report.requested_by == "manage.py report"
    assert f"CSV written to {target}" in said
    assert "3 stores, 4 polls, now 2023-01-23T17:30:00+00:00" in said
    assert "Timings: read " in said and " compute " in said and " total " in said


def test_it_writes_the_outage_list_as_of_an_instant_when_asked(tmp_path):
    make_small_data()
    said = run_report("--as-of", "2023-01-23T17:20:00Z", "--output", str(tmp_path / "r.csv"), "--outages", str(tmp_path / "o.csv"))
    # now 17:20 (report_cases): a down 15:44:30-17:00 (closed at 17:00) = 75.5 min; b's 17:30
    # poll does not exist, its 17:00 active poll holds: no outage.
    assert (tmp_path / "o.csv").read_text() == (
        "store_id,start_utc,end_utc,minutes,ongoing\n"
        "a,2023-01-23T15:44:30Z,2023-01-23T17:00:00Z,75.50,false\n"
    )
    assert f"Outage list written to {tmp_path / 'o.csv'}" in said


def test_it_writes_to_var_reports_by_default(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    make_small_data()
    run_report()
    report = Report.objects.get()
    assert (tmp_path / "var" / "reports" / f"{report.id}.csv").read_text() == EXPECTED_CSV


def test_as_of_without_an_offset_is_utc(tmp_path):
    make_small_data()
    run_report("--as-of", "2023-01-23T17:10", "--output", str(tmp_path / "r.csv"))
    # now is the instant asked for, read as UTC without an offset (SPEC 4).
    assert "now 2023-01-23T17:10:00+00:00" in run_report("--as-of", "2023-01-23T17:10:00Z", "--output", str(tmp_path / "z.csv"))
    assert (tmp_path / "r.csv").read_text() == (tmp_path / "z.csv").read_text()


def test_a_junk_as_of_is_a_clear_error():
    with pytest.raises(CommandError, match="'yesterday' is not an ISO 8601 instant"):
        run_report("--as-of", "yesterday")


def test_a_failed_report_is_an_error_naming_the_cause(monkeypatch, tmp_path):
    make_small_data()

    def broken_engine(**frames):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("monitoring.reports.build.compute_rolling_report", broken_engine)
    with pytest.raises(CommandError, match="failed: RuntimeError: out of memory"):
        run_report("--output", str(tmp_path / "r.csv"))
    assert not (tmp_path / "r.csv").exists()
