"""The full-size generated data set (14,399 stores, 2 million polls, loaded for real): figures,
outage lists and period reports that must agree with each other on every store."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from monitoring.datagen import generate_dataset
from monitoring.ingest.digests import digests_refresh
from monitoring.ingest.load import ingest_paths
from monitoring.models import Report
from monitoring.pages import parse_outages_csv, parse_report_csv
from monitoring.report_tables import PERIOD
from monitoring.reports.build import report_build
from monitoring.reports.requests import ReportRequest, report_request
from monitoring.reports.service import report_create

pytestmark = pytest.mark.django_db(transaction=True)


def built(request: ReportRequest) -> Report:
    report = report_build(report=report_create(request=request, build_here=True))
    assert report.state == Report.State.COMPLETE, report.error
    return report


@pytest.fixture(scope="module")
def full_data(tmp_path_factory):
    return tmp_path_factory.mktemp("full")


def test_the_full_data_sets_outages_periods_and_week_agree_store_by_store(full_data):
    generate_dataset(out_dir=full_data)
    assert all(result.ok for result in ingest_paths(paths=[full_data]))
    rolling = built(ReportRequest())
    figures = parse_report_csv(text=rolling.csv).set_index("store_id")
    outages = parse_outages_csv(text=rolling.outages_csv)
    assert len(figures) == 14_399 and len(outages) > 10_000

    # SPEC 7: a store's outage minutes add up to its week downtime. Each outage's minutes and the
    # hours are rounded on their own: at most 0.005 min per outage and 0.005 h off in all.
    minutes = outages.groupby("store_id")["minutes"].agg(["sum", "count"])
    down = figures["downtime_last_week"]
    total = minutes["sum"].reindex(down.index, fill_value=0.0) / 60
    slack = 0.005 + minutes["count"].reindex(down.index, fill_value=0) * 0.005 / 60 + 1e-9
    assert ((total - down).abs() <= slack).all()
    assert set(outages["store_id"]) == set(down[down > 0].index)

    # SPEC 8: the period [now - 7 days, now) is exactly the rolling report's week, store by store.
    now = rolling.now
    period = built(report_request(start=(now - timedelta(days=7)).isoformat(), end=now.isoformat()))
    week = parse_report_csv(text=period.csv, layout=PERIOD).set_index("store_id")
    pd.testing.assert_series_equal(week["uptime_hours"], figures["uptime_last_week"], check_names=False)
    pd.testing.assert_series_equal(week["downtime_hours"], figures["downtime_last_week"], check_names=False)
    assert period.outages_csv == rolling.outages_csv

    # The same reports read from the poll digests (monitoring/ingest/digests.py) instead of the
    # poll table: every byte of every CSV is the same.
    assert digests_refresh().days == 7  # the generated week's closed days, before the latest poll's
    from_digests = built(ReportRequest())
    assert (from_digests.csv, from_digests.outages_csv, from_digests.outage_counts_csv) == (
        rolling.csv, rolling.outages_csv, rolling.outage_counts_csv
    )
    assert built(report_request(start=(now - timedelta(days=7)).isoformat(), end=now.isoformat())).csv == period.csv
