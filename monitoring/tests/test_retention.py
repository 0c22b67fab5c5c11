"""Retention (monitoring/ingest/retention.py): old day partitions dropped, counted from the latest poll."""
from datetime import date, datetime, timedelta, timezone

import pytest
from django.db import connection

from monitoring.ingest import partitions, retention
from monitoring.ingest.load import ingest_paths
from monitoring.ingest.refresher import refresh_round
from monitoring.ingest.retention import keep_from, retention_apply
from monitoring.models import RetentionDrop, StatusPoll, Store
from monitoring.tests.ingest_helpers import another_session

pytestmark = pytest.mark.django_db

POLLS_HEADER = "store_id,status,timestamp_utc\n"
D = date(2023, 1, 25)  # the latest poll's day
# D - 90 days: back 25 days to 2022-12-31, 31 more to 11-30, 30 more to 10-31, 4 more: 2022-10-27.
D_MINUS_90 = date(2022, 10, 27)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def day_list() -> list[date]:
    with connection.cursor() as cursor:
        return [p.day for p in partitions.day_partitions(cursor)]


def polls_file(folder, *, days_back: list[int], skip: tuple[int, ...] = ()) -> None:
    """Stores a and b polled at noon on each day D - n, n in days_back, and a at 18:00 on D (the latest)."""
    lines = [
        f"{store},active,{D - timedelta(days=n)} 12:00:00\n" for n in days_back if n not in skip for store in ("a", "b")
    ]
    folder.mkdir(exist_ok=True)
    (folder / "polls.csv").write_text(POLLS_HEADER + "".join(lines) + f"a,inactive,{D} 18:00:00\n")


# Days D-100 .. D-85 around the boundary and D-3 .. D (every day would only take longer):
# 20 day partitions, 2 polls each (3 on D).
DAYS_BACK = [*range(85, 101), *range(4)]


@pytest.fixture
def hundred_days(tmp_path):
    polls_file(tmp_path / "sources", days_back=DAYS_BACK)
    ingest_paths(paths=[tmp_path / "sources"])
    return tmp_path / "sources"


def test_the_first_day_kept_is_the_one_keep_days_before_the_latest_polls_day():
    assert keep_from(latest=utc(2023, 1, 25, 18), keep_days=90) == utc(2022, 10, 27)
    # A latest poll at midnight sharp: still counted from its own day.
    assert keep_from(latest=utc(2023, 1, 25), keep_days=90) == utc(2022, 10, 27)
    assert keep_from(latest=utc(2023, 1, 25, 23, 59, 59), keep_days=1) == utc(2023, 1, 24)


def test_days_older_than_the_retention_are_dropped_and_the_boundary_day_is_kept(hundred_days):
    outcome = retention_apply(keep_days=90)
    # Days D-100 .. D-91 (2022-10-17 .. 2022-10-26) go: 10 partitions of 2 polls each.
    # D-90 (2022-10-27) .. D-85 and D-3 .. D stay: 6 + 4 = 10 partitions, 10 x 2 + 1 = 21 polls.
    drop = outcome.drop
    assert (drop.first_day, drop.last_day, drop.partitions, drop.rows, drop.default_rows) == (
        date(2022, 10, 17), date(2022, 10, 26), 10, 20, 0
    )
    assert (drop.keep_days, drop.latest_poll_at, drop.kept_from) == (90, utc(2023, 1, 25, 18), utc(2022, 10, 27))
    days = day_list()
    assert (len(days), days[0], days[-1]) == (10, D_MINUS_90, D)
    assert StatusPoll.objects.count() == 21
    assert StatusPoll.objects.order_by("timestamp").first().timestamp == utc(2022, 10, 27, 12)
    assert outcome.line() == "retention: 10 day partitions dropped (2022-10-17 .. 2022-10-26, 20 polls)"


def test_a_second_pass_drops_nothing_more(hundred_days):
    retention_apply(keep_days=90)
    again = retention_apply(keep_days=90)
    assert again.drop is None and again.line() == ""
    assert RetentionDrop.objects.count() == 1 and len(day_list()) == 10


def test_zero_keeps_everything(hundred_days):
    assert retention_apply(keep_days=0).drop is None
    assert len(day_list()) == 20 and StatusPoll.objects.count() == 41
    assert not RetentionDrop.objects.exists()


def test_the_days_count_from_the_latest_poll_not_from_the_clock(hundred_days):
    # Today is years after 2023: counted from the clock, 90 days would drop every poll.
    assert retention_apply(keep_days=365).drop is None
    assert len(day_list()) == 20


def test_old_rows_of_the_default_partition_are_deleted_and_recent_ones_kept(tmp_path):
    polls_file(tmp_path / "sources", days_back=DAYS_BACK, skip=(2,))
    ingest_paths(paths=[tmp_path / "sources"])
    store = Store.objects.get(store_id="a")
    # Days with no partition: the ORM's polls land in DEFAULT.
    StatusPoll.objects.create(store=store, timestamp=utc(2022, 9, 1, 8), active=True)  # before D-100
    StatusPoll.objects.create(store=store, timestamp=utc(2023, 1, 23, 8), active=True)  # D-2
    drop = retention_apply(keep_days=90).drop
    assert (drop.partitions, drop.rows, drop.default_rows) == (10, 20, 1)
    assert drop.summary() == (
        "10 day partitions dropped (2022-10-17 .. 2022-10-26, 20 polls); 1 polls before 2022-10-27 deleted from DEFAULT"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT timestamp FROM {partitions.DEFAULT}")
        assert cursor.fetchall() == [(utc(2023, 1, 23, 8),)]


def test_an_empty_table_has_nothing_to_drop():
    assert retention_apply(keep_days=90).drop is None


def test_retention_gives_up_while_the_poll_table_is_in_use_and_changes_nothing(hundred_days, monkeypatch):
    monkeypatch.setattr(retention, "LOCK_TIMEOUT", "100ms")
    with another_session() as other, other.cursor() as cursor:
        # A long report read in another session holds the poll table: DROP TABLE would wait for it.
        # (ONLY: this test's uncommitted load still holds the DEFAULT partition, which ATTACH locks.)
        cursor.execute("SET lock_timeout = '5s'; BEGIN; LOCK TABLE ONLY monitoring_statuspoll IN ACCESS SHARE MODE")
        outcome = retention_apply(keep_days=90)
    assert outcome.postponed and outcome.line().startswith("retention postponed")
    assert len(day_list()) == 20 and not RetentionDrop.objects.exists()


def test_the_refresh_round_applies_the_retention_setting_and_says_so(hundred_days, settings):
    settings.MONITORING_DATA_DIR, settings.MONITORING_LOG_DIR = hundred_days, hundred_days.parent / "log"
    settings.POLL_RETENTION_DAYS = 90
    outcome = refresh_round()  # the file is already loaded: skipped, then retention
    assert [r.mode for r in outcome.results] == ["skipped"]
    assert outcome.retention.drop.partitions == 10
    assert outcome.line().endswith("; retention: 10 day partitions dropped (2022-10-17 .. 2022-10-26, 20 polls)")
    assert refresh_round().retention.drop is None
