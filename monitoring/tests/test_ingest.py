"""Loading CSV sources into PostgreSQL (monitoring/ingest/load.py): counts, idempotency, replace rules, transactions."""
import threading
from datetime import datetime, time
from pathlib import Path

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from monitoring.ingest import poll_writes
from monitoring.ingest.load import ingest_paths
from monitoring.ingest.locks import LOAD_LOCK_KEY
from monitoring.models import BusinessHours, IngestRun, RejectedRow, StatusPoll, Store
from monitoring.tests.ingest_helpers import another_session

DATA = Path(__file__).parent / "data"
T = "2023-01-22 12:00:00"
POLLS_HEADER = "store_id,status,timestamp_utc\n"
HOURS_HEADER = "store_id,day,start_time_local,end_time_local\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load(*paths: Path, **options):
    return ingest_paths(paths=list(paths), **options)


def polls_of(store_id: str) -> list[tuple[datetime, bool]]:
    return list(StatusPoll.objects.filter(store__store_id=store_id).order_by("timestamp").values_list("timestamp", "active"))


def hours_of(store_id: str) -> list[tuple[int, time, time]]:
    rows = BusinessHours.objects.filter(store__store_id=store_id).order_by("weekday", "start_local")
    return list(rows.values_list("weekday", "start_local", "end_local"))


@pytest.mark.django_db
class TestPolls:
    def test_the_good_rows_of_a_file_load_and_every_bad_row_is_kept_with_its_line(self):
        [result] = load(DATA / "polls_bad_rows.csv")
        # monitoring/tests/data/README.md: 11 records, 4 good, 7 rejected.
        assert (result.kind, result.rows_read, result.inserted, result.rejected) == ("polls", 11, 4, 7)
        assert sorted(Store.objects.values_list("store_id", flat=True)) == ["s1", "s4", "s5", "s8"]
        stored = RejectedRow.objects.filter(run__path=str((DATA / "polls_bad_rows.csv").resolve()))
        assert list(stored.values_list("line", flat=True)) == [3, 4, 5, 6, 7, 10, 12]

    def test_a_poll_with_a_known_store_and_time_takes_the_newer_status(self, tmp_path):
        load(write(tmp_path, "a.csv", POLLS_HEADER + f"s1,active,{T}\ns1,active,2023-01-22 13:00:00\n"))
        [result] = load(write(tmp_path, "b.csv", POLLS_HEADER + f"s1,inactive,{T}\n"))
        assert (result.inserted, result.updated, result.unchanged) == (0, 1, 0)
        assert [active for _, active in polls_of("s1")] == [False, True]

    @pytest.mark.parametrize("table_already_has_polls", [False, True])
    def test_within_one_file_the_last_line_for_a_store_and_time_wins(self, tmp_path, table_already_has_polls):
        if table_already_has_polls:  # the upsert path rather than the copy into an empty table
            load(write(tmp_path, "other.csv", POLLS_HEADER + f"zz,active,{T}\n"))
        text = POLLS_HEADER + f"s1,active,{T}\ns1,inactive,2023-01-22T12:00:00Z\ns1,active,2023-01-22 12:00:00+00:00\ns1,inactive,{T} UTC\n"
        [result] = load(write(tmp_path, "dups.csv", text))
        # Four lines, one (store, time): one poll, three superseded, the last line's status.
        assert (result.inserted, result.duplicates) == (1, 3)
        assert [active for _, active in polls_of("s1")] == [False]

    def test_a_file_over_a_known_day_and_a_new_day_writes_each_its_way_with_one_outcome(self, tmp_path):
        load(write(tmp_path, "a.csv", POLLS_HEADER + f"s1,active,{T}\ns2,active,{T}\n"))
        text = POLLS_HEADER + f"s1,inactive,{T}\ns1,active,2023-01-22 13:00:00\ns3,active,{T}\ns3,active,2023-01-23 01:00:00\n"
        [result] = load(write(tmp_path, "b.csv", text))
        assert result.error == ""
        # On the 22nd (a partition already): s1 at 12:00 changes status, s1 at 13:00 and s3 are new;
        # s3 on the 23rd goes into that day's new partition; s2 is not in the file.
        assert (result.inserted, result.updated, result.unchanged) == (3, 1, 0)
        assert [active for _, active in polls_of("s1")] == [False, True]
        assert StatusPoll.objects.count() == 5
        with pytest.raises(IntegrityError), transaction.atomic():  # the new partition has the unique key
            StatusPoll.objects.create(store=Store.objects.get(store_id="s3"), timestamp=polls_of("s3")[1][0], active=True)

    def test_loading_the_same_files_again_changes_nothing(self):
        files = [DATA / "polls_bad_rows.csv", DATA / "hours_variants.csv", DATA / "timezones_mixed.csv"]
        first = load(*files)
        snapshot = _snapshot()
        again = load(*files, full=True)
        assert _snapshot() == snapshot
        assert [(r.inserted, r.updated, r.deleted) for r in again] == [(0, 0, 0)] * 3
        # Every good row is unchanged: 4 polls, 3 hours, 2 distinct timezone stores (t1 twice).
        assert [r.unchanged for r in again] == [4, 3, 2]
        assert [r.inserted for r in first] == [4, 3, 2]

    def test_an_unchanged_file_is_skipped_without_reading_it(self):
        load(DATA / "polls_bad_rows.csv")
        [result] = load(DATA / "polls_bad_rows.csv")
        assert result.mode == "skipped" and result.rows_read == 0

    def test_strict_loads_nothing_of_a_file_with_a_rejected_row(self):
        [result] = load(DATA / "polls_bad_rows.csv", strict=True)
        assert result.mode == "failed" and "7 rejected rows and --strict" in result.error
        assert not Store.objects.exists() and not StatusPoll.objects.exists()
        assert IngestRun.objects.get().succeeded is False


@pytest.mark.django_db
class TestReplaceRules:
    def test_an_hours_file_replaces_the_hours_of_the_stores_it_names_and_only_those(self, tmp_path):
        load(write(tmp_path, "h1.csv", HOURS_HEADER + "a,0,09:00,17:00\na,1,09:00,17:00\nb,0,08:00,12:00\n"))
        [result] = load(write(tmp_path, "h2.csv", HOURS_HEADER + "a,1,09:00,17:00\na,2,10:00,12:00\n"))
        # a: day 0 removed, day 1 kept, day 2 added; b is not named and keeps its hours.
        assert (result.inserted, result.unchanged, result.deleted) == (1, 1, 1)
        assert hours_of("a") == [(1, time(9), time(17)), (2, time(10), time(12))]
        assert hours_of("b") == [(0, time(8), time(12))]

    def test_a_store_whose_only_hours_rows_are_rejected_keeps_its_hours(self, tmp_path):
        load(write(tmp_path, "h1.csv", HOURS_HEADER + "a,0,09:00,17:00\nb,0,09:00,17:00\n"))
        load(write(tmp_path, "h2.csv", HOURS_HEADER + "a,9,09:00,17:00\nb,3,09:00,17:00\n"))
        assert hours_of("a") == [(0, time(9), time(17))]
        assert hours_of("b") == [(3, time(9), time(17))]

    def test_a_timezone_file_sets_the_named_stores_and_its_last_line_wins(self):
        load(DATA / "timezones_mixed.csv")
        # t2 and t3 have only rejected rows: they are not known (SPEC 2).
        assert dict(Store.objects.values_list("store_id", "timezone")) == {"t1": "America/Denver", "t4": "Asia/Kolkata"}

    def test_a_second_timezone_file_changes_only_the_stores_it_names(self, tmp_path):
        load(write(tmp_path, "z1.csv", "store_id,timezone_str\na,America/Denver\nb,Europe/Paris\n"))
        load(write(tmp_path, "p.csv", POLLS_HEADER + f"c,active,{T}\n"))
        [result] = load(write(tmp_path, "z2.csv", "store_id,timezone_str\nb,Asia/Tokyo\nc,UTC\na,America/Denver\n"))
        # b had another zone (updated), c had none (inserted), a is the same (unchanged).
        assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
        assert dict(Store.objects.values_list("store_id", "timezone")) == {"a": "America/Denver", "b": "Asia/Tokyo", "c": "UTC"}


@pytest.mark.django_db
class TestFileErrors:
    def test_unknown_header_empty_file_and_missing_path_fail_by_name_and_the_rest_still_loads(self, tmp_path):
        folder = tmp_path / "in"
        folder.mkdir()
        write(folder, "a_good.csv", POLLS_HEADER + f"s1,active,{T}\n")
        write(folder, "b_strange.csv", "id,colour\n1,red\n")
        write(folder, "c_empty.csv", "")
        results = load(folder, tmp_path / "missing.csv")
        assert [(r.path.name, r.mode) for r in results] == [
            ("missing.csv", "failed"),
            ("a_good.csv", "full"),
            ("b_strange.csv", "failed"),
            ("c_empty.csv", "failed"),
        ]
        assert "missing.csv: no such file or folder" in results[0].error
        assert "b_strange.csv: line 1: unknown header" in results[2].error
        assert "c_empty.csv: empty file" in results[3].error
        assert list(Store.objects.values_list("store_id", flat=True)) == ["s1"]

    def test_a_file_with_only_its_header_loads_nothing_and_is_no_error(self, tmp_path):
        [result] = load(write(tmp_path, "header_only.csv", POLLS_HEADER))
        assert (result.mode, result.kind, result.rows_read, result.error) == ("full", "polls", 0, "")

    def test_a_gzipped_file_loads_like_the_plain_one(self, tmp_path):
        import gzip

        path = tmp_path / "polls.csv.gz"
        path.write_bytes(gzip.compress((POLLS_HEADER + f"s1,active,{T}\ns2,inactive,{T}\n").encode()))
        [result] = load(path)
        assert (result.kind, result.inserted) == ("polls", 2)


@pytest.mark.django_db(transaction=True)
class TestTransactions:
    def test_a_failure_mid_file_leaves_nothing_and_a_rerun_completes_it(self, tmp_path, monkeypatch):
        path = write(tmp_path, "polls.csv", POLLS_HEADER + "".join(f"s{i},active,{T}\n" for i in range(50)))
        real_copy = poll_writes._bulk_insert

        def copy_then_lose_the_database(cursor, **kwargs):
            real_copy(cursor, **kwargs)  # stores created and polls copied: then the connection drops
            raise OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(poll_writes, "_bulk_insert", copy_then_lose_the_database)
        [failed] = load(path)
        assert failed.mode == "failed" and "server closed the connection" in failed.error
        assert (Store.objects.count(), StatusPoll.objects.count()) == (0, 0)
        monkeypatch.undo()
        [result] = load(path)
        assert (result.mode, result.inserted, StatusPoll.objects.count()) == ("full", 50, 50)

    def test_the_load_issues_the_same_number_of_queries_for_10_rows_and_for_10000(self, tmp_path):
        def queries_to_load(rows: int) -> list[int]:
            StatusPoll.objects.all().delete()
            Store.objects.all().delete()
            counts = []
            for name, minute in (("first.csv", "00"), ("second.csv", "30")):  # empty table, then upsert
                # Over 5 days at any size: a new day's partition is one more COPY, whatever its rows.
                text = POLLS_HEADER + "".join(f"s{i % 97},active,2023-01-{1 + i % 5:02d} {i % 24:02d}:{minute}:{i % 60:02d}\n" for i in range(rows))
                with CaptureQueriesContext(connection) as captured:
                    [result] = load(write(tmp_path, f"{rows}-{name}", text))
                assert result.inserted == rows
                counts.append(len(captured))
            return counts

        assert queries_to_load(10) == queries_to_load(10_000)

    def test_a_second_load_waits_for_the_first_instead_of_interleaving(self, tmp_path):
        path = write(tmp_path, "polls.csv", POLLS_HEADER + f"s1,active,{T}\n")
        waiting, results = threading.Event(), []

        def second_load():
            try:
                results.extend(ingest_paths(paths=[path], progress=lambda m: "another load" in m and waiting.set()))
            finally:
                connection.close()

        with another_session() as other, other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOAD_LOCK_KEY])  # a load in progress elsewhere
            thread = threading.Thread(target=second_load)
            thread.start()
            assert waiting.wait(30), "the second load did not report that it waits"
            assert not StatusPoll.objects.exists()
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOAD_LOCK_KEY])
            thread.join(30)
        assert [r.inserted for r in results] == [1]


def _snapshot():
    return (
        list(Store.objects.order_by("id").values_list("id", "store_id", "timezone")),
        list(StatusPoll.objects.order_by("id").values_list("id", "store_id", "timestamp", "active")),
        list(BusinessHours.objects.order_by("id").values_list("id", "store_id", "weekday", "start_local", "end_local")),
    )
