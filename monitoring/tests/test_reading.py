"""reports/reading.py: the engine's input, read for a shard of stores or for one store's page.

Data: monitoring/tests/report_cases.py.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import StatusPoll, Store
from monitoring.reports import reading
from monitoring.tests.report_cases import LATEST_POLL, make_small_data, make_stores

pytestmark = pytest.mark.django_db


def count_read_queries(**narrowing) -> tuple[int, reading.ShardInput]:
    with CaptureQueriesContext(connection) as queries:
        data = reading.read_shard(now=LATEST_POLL, **narrowing)
    return len(queries), data


def rows_of(frame: pd.DataFrame, store: int) -> pd.DataFrame:
    """One store's rows in a fixed order (the reader promises none within a store)."""
    return frame[frame["store"] == store].sort_values(list(frame.columns), ignore_index=True)


def test_reading_50_stores_costs_as_many_queries_as_reading_1():
    make_stores(1)
    one, one_data = count_read_queries()
    Store.objects.all().delete()
    make_stores(50)
    fifty, fifty_data = count_read_queries()
    assert (len(one_data.stores), len(fifty_data.stores)) == (1, 50)
    # Stores, the window's current digested days, then hours and polls by COPY, then the
    # snapshot's load generation; the test's transaction is the snapshot, so no SET
    # TRANSACTION is sent.
    assert one == fifty == 5


def test_reading_one_store_costs_what_reading_a_shard_costs():
    make_stores(50)
    shard, _ = count_read_queries()
    one, data = count_read_queries(store_id="s0007")
    assert one == shard
    assert data.stores["store_id"].tolist() == ["s0007"]


def test_one_store_is_read_as_the_whole_read_holds_it():
    make_small_data()
    make_stores(3)
    whole = reading.read_shard(now=LATEST_POLL)
    one = reading.read_shard(now=LATEST_POLL, store_id="a")
    key = int(whole.stores.loc[whole.stores["store_id"] == "a", "store"].iloc[0])
    pd.testing.assert_frame_equal(one.stores, whole.stores[whole.stores["store"] == key].reset_index(drop=True))
    pd.testing.assert_frame_equal(rows_of(one.hours, key), rows_of(whole.hours, key))
    pd.testing.assert_frame_equal(rows_of(one.polls, key), rows_of(whole.polls, key))
    # Store "a": Monday 09:00-12:00 and its two polls (report_cases).
    assert len(one.hours) == 1 and len(one.polls) == 2


def test_every_poll_comes_with_its_status_whether_its_store_has_no_inactive_poll_some_or_only_those():
    # The read sends each store's timestamps and, apart, those of its inactive polls
    # (none: a NULL array); the reader marks the latter inactive among the former.
    always_up, always_down, mixed = (Store.objects.create(store_id=name) for name in ("up", "down", "mixed"))
    statuses = {always_up: [True, True, True], always_down: [False, False], mixed: [False, True, True, False, True]}
    StatusPoll.objects.bulk_create(
        StatusPoll(store=store, timestamp=LATEST_POLL - timedelta(hours=hour), active=active)
        for store, column in statuses.items() for hour, active in enumerate(column)
    )
    polls = reading.read_shard(now=LATEST_POLL).polls
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    expected = sorted(
        (store, (at - epoch) // timedelta(microseconds=1) * 1_000, active)
        for store, at, active in StatusPoll.objects.values_list("store", "timestamp", "active")
    )
    assert list(polls.itertuples(index=False, name=None)) == expected  # sorted by (store, timestamp) as read
    assert polls["active"].sum() == 6


def test_a_store_within_bounds_but_not_the_named_one_is_not_read():
    make_small_data()
    data = reading.read_shard(bounds=reading.ShardBounds(lower="b"), now=LATEST_POLL, store_id="a")
    assert data.stores.empty and data.hours.empty and data.polls.empty


def test_an_unknown_store_reads_nothing():
    make_small_data()
    data = reading.read_shard(now=LATEST_POLL, store_id="nope")
    assert data.stores.empty and data.hours.empty and data.polls.empty


def commit_a_poll_after_each_export(monkeypatch, *, store: int) -> None:
    """Right after each snapshot export, another session commits a poll of `store` (once)."""
    export = reading._export_snapshot

    def export_then_commit_a_poll(cursor) -> str:
        exported = export(cursor)
        writer = connection.get_new_connection(connection.get_connection_params())
        writer.autocommit = True
        with writer.cursor() as late:
            late.execute(
                "INSERT INTO monitoring_statuspoll (store_id, timestamp, active) VALUES (%s, %s, true) ON CONFLICT DO NOTHING",
                [store, LATEST_POLL - timedelta(minutes=1)],
            )
        writer.close()
        return exported

    monkeypatch.setattr(reading, "_export_snapshot", export_then_commit_a_poll)


@pytest.mark.django_db(transaction=True)
def test_a_read_split_over_two_connections_is_one_snapshot(monkeypatch):
    # Committed stores (no test transaction around them), so the read runs in its own
    # snapshot and may share it; two stores are enough to split.
    make_stores(4)
    monkeypatch.setattr(reading, "SPLIT_READ_FROM_STORES", 2)
    before = reading.read_shard(now=LATEST_POLL)
    last_store = int(before.stores["store"].max())  # in the upper half, read by the second connection
    commit_a_poll_after_each_export(monkeypatch, store=last_store)
    during = reading.read_shard(now=LATEST_POLL)
    pd.testing.assert_frame_equal(during.polls, before.polls)  # the poll committed after the snapshot: not seen
    monkeypatch.setattr(reading, "SPLIT_READ_FROM_STORES", 10**9)
    after = reading.read_shard(now=LATEST_POLL)
    assert len(after.polls) == len(before.polls) + 1
    # Split or not, the polls arrive sorted by (store, timestamp).
    assert after.polls.equals(after.polls.sort_values(["store", "ts"], ignore_index=True))


def test_every_store_is_read_in_exactly_one_key_range_whatever_their_size():
    make_stores(5)
    whole = reading.read_shard(now=LATEST_POLL)
    # 5 stores cut every 2 keys: [first, third), [third, fifth), [fifth, ...).
    ranges = reading.key_ranges(size=2)
    assert len(ranges) == 3 and ranges[0].lower is None and ranges[-1].upper is None
    parts = reading.map_shards(lambda data: data, now=LATEST_POLL, size=2)
    assert [len(part.stores) for part in parts] == [2, 2, 1]
    for name in ("stores", "hours", "polls"):
        joined = pd.concat([getattr(part, name) for part in parts], ignore_index=True)
        pd.testing.assert_frame_equal(joined, getattr(whole, name).sort_values("store", kind="stable", ignore_index=True))


@pytest.mark.django_db(transaction=True)
def test_shards_read_ahead_on_another_thread_share_one_snapshot(monkeypatch):
    # Committed stores: map_shards begins its own snapshot, and reads each next shard on a
    # thread of its own in it. A poll committed just after the export is seen by none.
    make_stores(5)
    whole = reading.read_shard(now=LATEST_POLL)
    commit_a_poll_after_each_export(monkeypatch, store=int(whole.stores["store"].max()))  # in the last key range
    parts = reading.map_shards(lambda data: data, now=LATEST_POLL, size=2)
    assert [len(part.stores) for part in parts] == [2, 2, 1]
    polls = pd.concat([part.polls for part in parts], ignore_index=True)
    pd.testing.assert_frame_equal(polls, whole.polls.sort_values("store", kind="stable", ignore_index=True))
    assert len(reading.read_shard(now=LATEST_POLL).polls) == len(whole.polls) + 1  # it was committed
