from datetime import datetime, timezone

import pytest
from django.db import IntegrityError, connection

from monitoring.models import BusinessHours, Report, StatusPoll, Store

pytestmark = pytest.mark.django_db

T0 = datetime(2023, 1, 22, 12, 9, 39, 388884, tzinfo=timezone.utc)


def test_a_second_poll_for_the_same_store_and_time_is_refused_by_the_database():
    store = Store.objects.create(store_id="1")
    StatusPoll.objects.create(store=store, timestamp=T0, active=True)
    with pytest.raises(IntegrityError):
        StatusPoll.objects.create(store=store, timestamp=T0, active=False)


def test_store_ids_are_kept_as_text_with_leading_zeros_and_full_length():
    ids = ["000123", "8419537941919820732", "12345678901234567890123", "7f1c0d2e-3a4b-4c5d-8e9f-001122334455"]
    for store_id in ids:
        Store.objects.create(store_id=store_id)
    assert sorted(Store.objects.values_list("store_id", flat=True)) == sorted(ids)


def test_store_ids_sort_in_code_point_order_in_the_database():
    for store_id in ["b", "B", "a", "10", "9", "é"]:
        Store.objects.create(store_id=store_id)
    # Python's sorted() on str is code-point order: digits < upper case < lower case < accented.
    assert list(Store.objects.values_list("store_id", flat=True)) == ["10", "9", "B", "a", "b", "é"]


def test_an_empty_store_id_is_refused():
    with pytest.raises(IntegrityError):
        Store.objects.create(store_id="")


def test_a_weekday_outside_0_to_6_is_refused():
    store = Store.objects.create(store_id="1")
    with pytest.raises(IntegrityError):
        BusinessHours.objects.create(store=store, weekday=7, start_local="09:00", end_local="17:00")


def test_a_new_report_is_pending_with_a_random_uuid_and_no_progress():
    first, second = Report.objects.create(), Report.objects.create()
    assert first.state == Report.State.PENDING
    assert first.id != second.id and first.id.version == 4
    assert first.progress == 0.0


def test_a_report_progress_counts_finished_shards():
    report = Report(state=Report.State.RUNNING, shards_total=4, shards_done=1)
    assert report.progress == 0.25


def test_the_poll_table_has_an_index_on_timestamp_for_range_reads():
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, StatusPoll._meta.db_table)
    assert any(info["index"] and info["columns"] == ["timestamp"] for info in indexes.values())
