"""The poll table partitioned by day (migration 0006, monitoring/ingest/partitions.py)."""
from datetime import datetime, timezone

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from monitoring.ingest import partitions
from monitoring.ingest.load import ingest_paths
from monitoring.models import StatusPoll, Store

POLLS_HEADER = "store_id,status,timestamp_utc\n"
BEFORE, PARTITIONED = [("monitoring", "0005_report_outage_list")], [("monitoring", "0006_partition_polls_by_day")]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def partition_names() -> list[str]:
    with connection.cursor() as cursor:
        return [p.name for p in partitions.day_partitions(cursor)]


def rows_in(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_load_creates_exactly_the_partitions_of_the_days_it_writes(tmp_path):
    path = tmp_path / "polls.csv"
    path.write_text(POLLS_HEADER + "a,active,2023-01-22 23:59:59\na,active,2023-01-23 00:00:00\nb,inactive,2023-01-25 10:00:00\n")
    [result] = ingest_paths(paths=[path])
    assert result.inserted == 3
    assert partition_names() == [f"monitoring_statuspoll_{day}" for day in ("20230122", "20230123", "20230125")]
    # Midnight UTC opens a day: 23:59:59 stays on the 22nd, 00:00:00 is the 23rd's.
    assert (rows_in("monitoring_statuspoll_20230122"), rows_in("monitoring_statuspoll_20230123")) == (1, 1)
    assert rows_in(partitions.DEFAULT) == 0


@pytest.mark.django_db
def test_polls_written_by_the_orm_wait_in_the_default_partition_until_a_load_writes_their_day(tmp_path):
    store = Store.objects.create(store_id="a")
    StatusPoll.objects.create(store=store, timestamp=utc(2023, 1, 22, 12), active=True)
    assert rows_in(partitions.DEFAULT) == 1 and partition_names() == []
    path = tmp_path / "polls.csv"
    path.write_text(POLLS_HEADER + "a,inactive,2023-01-22 12:00:00\na,active,2023-01-22 13:00:00\n")
    [result] = ingest_paths(paths=[path])
    # The ORM's poll moved into the 22nd's partition and took the file's status.
    assert (result.inserted, result.updated) == (1, 1)
    assert rows_in(partitions.DEFAULT) == 0 and rows_in("monitoring_statuspoll_20230122") == 2
    assert list(StatusPoll.objects.order_by("timestamp").values_list("active", flat=True)) == [False, True]


@pytest.mark.django_db
def test_an_emptied_partition_is_replaced_and_its_day_loads_again(tmp_path):
    path = tmp_path / "polls.csv"
    path.write_text(POLLS_HEADER + "a,active,2023-01-22 12:00:00\n")
    ingest_paths(paths=[path])
    StatusPoll.objects.all().delete()
    path.write_text(POLLS_HEADER + "a,active,2023-01-22 12:00:00\nb,active,2023-01-22 13:00:00\n")
    [result] = ingest_paths(paths=[path], full=True)
    assert result.inserted == 2 and partition_names() == ["monitoring_statuspoll_20230122"]


@pytest.mark.django_db(transaction=True)
def test_migrating_to_partitions_and_back_keeps_every_poll():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO monitoring_store (store_id, timezone) VALUES ('a', ''), ('b', '')")
        cursor.execute(
            "INSERT INTO monitoring_statuspoll (store_id, timestamp, active) "
            "SELECT s.id, timestamptz '2023-01-20 23:30+00' + n * interval '20 minutes', n % 3 = 0 "
            "FROM monitoring_store s CROSS JOIN generate_series(0, 5) n"
        )
    expected = _polls()
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(PARTITIONED)
        assert _polls() == expected
        # 23:30 and 23:50 on the 20th, the other four polls on the 21st (2 stores each).
        assert (rows_in("monitoring_statuspoll_20230120"), rows_in("monitoring_statuspoll_20230121")) == (4, 8)
        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        assert _polls() == expected
        with connection.cursor() as cursor:  # the plain table again, its identity carrying on
            cursor.execute("INSERT INTO monitoring_statuspoll (store_id, timestamp, active) "
                           "SELECT id, now(), true FROM monitoring_store LIMIT 1 RETURNING id")
            assert cursor.fetchone()[0] > max(row[0] for row in expected)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes("monitoring"))


def _polls() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, store_id, timestamp, active FROM monitoring_statuspoll ORDER BY id")
        return cursor.fetchall()
