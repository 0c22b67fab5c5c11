"""Poll digests (monitoring/ingest/digests.py): a read from them holds exactly the polls a read
of the poll table holds, and no change to a day's polls is ever read through an old digest.

The second implementation every read is checked against is the ORM: the window's polls
ordered by (store, timestamp).
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from django.db import connection

from monitoring.ingest import partitions
from monitoring.ingest.digests import digests_refresh
from monitoring.ingest.load import ingest_paths
from monitoring.ingest.overview import history_kept
from monitoring.ingest.retention import retention_apply
from monitoring.ingest.sources import ingest_round
from monitoring.models import DigestedDay, PollChange, StatusPoll, Store
from monitoring.reports import poll_window, reading
from monitoring.tests.ingest_helpers import another_session

pytestmark = pytest.mark.django_db
HEADER = "store_id,status,timestamp_utc\n"
LATEST = datetime(2023, 1, 25, 12, 0, tzinfo=timezone.utc)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def polls_file(tmp_path) -> str:
    """Five closed days (20th to 24th) and the open 25th, as a load writes them (day partitions).

    a: every hour, inactive when the hour is a multiple of 5; b: only inactive polls, every
    third hour; c: active, at odd microseconds; d: polls on the 20th only.
    """
    lines = []
    for hour in range(5 * 24 + 13):  # 2023-01-20 00:00 .. 2023-01-25 12:00
        at = utc(2023, 1, 20) + timedelta(hours=hour)
        lines.append(f"a,{'inactive' if hour % 5 == 0 else 'active'},{at:%Y-%m-%d %H:%M:%S}")
        if hour % 3 == 0:
            lines.append(f"b,inactive,{at:%Y-%m-%d %H:%M:%S}")
        lines.append(f"c,active,{at + timedelta(minutes=7, microseconds=123457):%Y-%m-%d %H:%M:%S.%f}")
        if hour < 24:
            lines.append(f"d,active,{at + timedelta(minutes=30):%Y-%m-%d %H:%M:%S}")
    path = tmp_path / "polls.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


@pytest.fixture
def loaded(tmp_path):
    [result] = ingest_paths(paths=[polls_file(tmp_path)])
    assert result.ok and result.inserted > 0
    return result


def read(*, now: datetime, since: datetime | None = None) -> pd.DataFrame:
    return reading.read_shard(now=now, since=since).polls


def truth(*, now: datetime, since: datetime | None = None) -> pd.DataFrame:
    since = since if since is not None else now - timedelta(days=14)
    rows = list(
        StatusPoll.objects.filter(timestamp__gte=since, timestamp__lte=now)
        .order_by("store_id", "timestamp").values_list("store_id", "timestamp", "active")
    )
    return pd.DataFrame({
        "store": np.array([store for store, _, _ in rows], dtype=np.int64),
        "ts": np.array([pd.Timestamp(at).value for _, at, _ in rows], dtype=np.int64),
        "active": np.array([active for _, _, active in rows], dtype=bool),
    })


def assert_read_is_the_truth(*, now: datetime = LATEST, since: datetime | None = None) -> None:
    pd.testing.assert_frame_equal(read(now=now, since=since), truth(now=now, since=since))


def current_days() -> list:
    with connection.cursor() as cursor:
        return poll_window.current_digests(cursor, since=utc(2023, 1, 1), now=utc(2023, 2, 1))


def test_every_closed_day_is_digested_and_the_open_one_is_not(loaded):
    outcome = digests_refresh()
    # The 20th to the 24th; the 25th holds the latest poll. Polls of the five days:
    # a 24 x 5 = 120, b 8 x 5 = 40, c 120, d 24 on the 20th: 304.
    assert (outcome.days, outcome.polls) == (5, 304)
    assert current_days() == [utc(2023, 1, day).date() for day in range(20, 25)]
    with connection.cursor() as cursor:
        assert [p.day.day for p in partitions.day_partitions(cursor, parent=partitions.DIGESTS)] == [20, 21, 22, 23, 24]
    assert digests_refresh().days == 0  # nothing changed since
    assert history_kept().digested_days == 5  # the data page's figure


@pytest.mark.parametrize(
    "since, now",
    [
        (None, LATEST),  # the rolling window: every closed day from its digests
        (utc(2023, 1, 22, 6), LATEST),  # cut inside a digested day: the 22nd from its polls
        (utc(2023, 1, 21), utc(2023, 1, 23, 17, 30)),  # as of the 23rd: the 23rd and later from polls
        (utc(2023, 1, 21), utc(2023, 1, 24)),  # now at midnight: the 23rd whole, the 24th's first instant
        (utc(2023, 1, 20, 0, 7, 0, 123457), utc(2023, 1, 20, 23)),  # inside one day: no digest at all
        (utc(2023, 1, 23, 18), utc(2023, 1, 25, 6)),  # the 23rd's and the 25th's polls, the 24th's digest
    ],
)
def test_a_read_from_digests_holds_exactly_the_window_s_polls(loaded, since, now):
    digests_refresh()
    assert_read_is_the_truth(now=now, since=since)


def test_the_window_is_cut_into_runs_of_digested_days_and_spans_of_polls():
    days = [utc(2023, 1, day).date() for day in (21, 22, 24)]
    pieces = poll_window.pieces(since=utc(2023, 1, 20, 12), now=utc(2023, 1, 25, 6), digested=days)
    assert [(p.start, p.end, p.digested) for p in pieces] == [
        (utc(2023, 1, 20, 12), utc(2023, 1, 21), False),
        (utc(2023, 1, 21), utc(2023, 1, 23), True),
        (utc(2023, 1, 23), utc(2023, 1, 24), False),
        (utc(2023, 1, 24), utc(2023, 1, 25), True),
        (utc(2023, 1, 25), utc(2023, 1, 25, 6), False),
    ]


def test_a_status_changed_in_a_digested_day_is_read_from_the_polls_until_the_day_is_digested_again(loaded):
    digests_refresh()
    a = Store.objects.get(store_id="a")
    assert StatusPoll.objects.filter(store=a, timestamp=utc(2023, 1, 22, 1)).update(active=False) == 1
    assert utc(2023, 1, 22).date() not in current_days()
    assert_read_is_the_truth()
    assert digests_refresh().days == 1
    assert utc(2023, 1, 22).date() in current_days()
    assert_read_is_the_truth()


def test_polls_added_or_deleted_in_digested_days_stale_those_days_only(loaded):
    digests_refresh()
    e = Store.objects.create(store_id="e")
    StatusPoll.objects.create(store=e, timestamp=utc(2023, 1, 21, 9), active=False)
    StatusPoll.objects.filter(store__store_id="b", timestamp__date=utc(2023, 1, 23).date()).delete()
    assert current_days() == [utc(2023, 1, day).date() for day in (20, 22, 24)]
    assert_read_is_the_truth()
    assert digests_refresh().days == 2
    assert_read_is_the_truth()


def test_a_load_that_changes_a_digested_day_stales_it(loaded, tmp_path):
    digests_refresh()
    changed = tmp_path / "changed.csv"
    changed.write_text(HEADER + "a,inactive,2023-01-21 02:00:00\nz,active,2023-01-25 13:00:00\n")
    [result] = ingest_paths(paths=[changed])
    assert (result.inserted, result.updated) == (1, 1)
    assert utc(2023, 1, 21).date() not in current_days()
    assert_read_is_the_truth(now=utc(2023, 1, 25, 13))


def test_a_day_loaded_again_into_a_new_partition_stales_its_digests(loaded, tmp_path):
    digests_refresh()
    # Emptied, then loaded again: the loader fills a new table for the day and attaches it,
    # out of the trigger's sight, so it records the day itself.
    StatusPoll.objects.filter(timestamp__date=utc(2023, 1, 20).date()).delete()
    digests_refresh()
    again = tmp_path / "again.csv"
    again.write_text(HEADER + "a,inactive,2023-01-20 05:00:00\n")
    ingest_paths(paths=[again])
    assert utc(2023, 1, 20).date() not in current_days()
    assert_read_is_the_truth()


def test_retention_drops_the_digests_with_their_days(loaded):
    digests_refresh()
    # Latest poll on the 25th, 3 days kept: the 22nd to the 25th stay, the 20th and 21st go.
    outcome = retention_apply(keep_days=3)
    assert outcome.drop.partitions == 2
    with connection.cursor() as cursor:
        assert [p.day.day for p in partitions.day_partitions(cursor, parent=partitions.DIGESTS)] == [22, 23, 24]
    assert [d.day.day for d in DigestedDay.objects.all()] == [22, 23, 24]
    assert not PollChange.objects.filter(day__lt=utc(2023, 1, 22).date()).exists()
    assert_read_is_the_truth()


def test_truncating_the_polls_forgets_every_digest(loaded):
    digests_refresh()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE monitoring_statuspoll")
    assert not DigestedDay.objects.exists()
    assert_read_is_the_truth()


def digest_on_own_connection() -> None:
    try:
        digests_refresh()
    finally:
        connection.close()  # this thread's own


@pytest.mark.django_db(transaction=True)
def test_a_digest_waits_for_a_change_of_its_day_being_written_and_then_holds_it(tmp_path):
    ingest_paths(paths=[polls_file(tmp_path)])
    digests_refresh()
    StatusPoll.objects.filter(store__store_id="a", timestamp=utc(2023, 1, 23, 2)).update(active=False)
    store = Store.objects.get(store_id="d").id
    with another_session() as other, other.cursor() as cursor:
        cursor.execute("BEGIN")
        # The trigger takes the 23rd's lock and numbers the change; not yet committed.
        cursor.execute("INSERT INTO monitoring_statuspoll (store_id, timestamp, active) VALUES (%s, %s, false)", [store, utc(2023, 1, 23, 4)])
        digesting = threading.Thread(target=digest_on_own_connection)
        digesting.start()
        time.sleep(0.5)
        assert digesting.is_alive()  # waiting for the 23rd's lock
        cursor.execute("COMMIT")
        digesting.join(timeout=30)
    assert not digesting.is_alive()
    assert utc(2023, 1, 23).date() in current_days()
    assert_read_is_the_truth()
    assert read(now=LATEST).pipe(lambda polls: len(polls[polls["store"] == store])) == 25  # its 24 on the 20th, and the new one


def test_a_round_whose_files_did_not_change_still_digests_the_closed_days(tmp_path):
    # As after an upgrade: polls loaded, no digest yet; the next round finds its file unchanged.
    path = polls_file(tmp_path)
    ingest_paths(paths=[path])
    unchanged = ingest_round(sources=[path])
    assert [result.mode for result in unchanged.results] == ["skipped"]
    assert unchanged.alerts is None  # nothing new to decide
    assert unchanged.digests.days == 5 and unchanged.digests.line().startswith("digests: 5 days (304 polls)")
