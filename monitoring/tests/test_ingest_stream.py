"""Reading sources block by block (monitoring/ingest/stream.py): blocks cut at record ends, hostile input capped."""
import gzip
import os

import pytest
from django.db import connection

from monitoring.ingest import partitions, stream
from monitoring.ingest.load import ingest_paths
from monitoring.ingest.parse import RECORD_MAX_BYTES, TOO_LONG
from monitoring.models import BusinessHours, IngestRun, StatusPoll, Store

HEADER = "store_id,status,timestamp_utc\n"
T = "2023-01-22 12:00:00"


def write(tmp_path, name: str, body: str):
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def load_one(path):
    [result] = ingest_paths(paths=[path])
    return result


@pytest.mark.django_db
class TestBlocks:
    @pytest.fixture(autouse=True)
    def small_blocks(self, monkeypatch):
        monkeypatch.setattr(stream, "BLOCK_BYTES", 64)  # a few records a block

    def test_a_file_of_many_blocks_keeps_its_line_numbers_and_quoted_line_ends(self, tmp_path):
        # A note column (ignored, SPEC 1) holds the quoted line breaks: a store id may not.
        rows = [f's{i},active,{T},"two\nlines"' if i % 7 == 0 else f"s{i},active,{T}," for i in range(40)]
        rows[25] = f"s25,bogus,{T},"
        path = tmp_path / "polls.csv"
        path.write_text(HEADER.rstrip("\n") + ",note\n" + "\n".join(rows) + "\n")
        result = load_one(path)
        # Rows 0, 7, ..., 21 take two lines each before row 25: line 2 + 25 + 4 = 31.
        assert [(r.line, r.reason) for r in result.rejections] == [(31, "unknown status 'bogus'")]
        assert (result.inserted, StatusPoll.objects.count()) == (39, 39)

    def test_a_stray_quote_file_is_cut_where_the_csv_module_ends_records(self, tmp_path):
        path = tmp_path / "polls.csv"
        path.write_text(HEADER + f'Joe"s,active,{T}\n' + "".join(f"s{i},active,{T}\n" for i in range(20)))
        result = load_one(path)
        assert (result.rejected, result.inserted) == (0, 21)
        assert Store.objects.filter(store_id='Joe"s').exists()

    def test_a_pair_repeated_in_two_blocks_of_a_fresh_load_keeps_the_later_line(self, tmp_path):
        path = tmp_path / "polls.csv"
        path.write_text(HEADER + f"s1,active,{T}\n" + "".join(f"s{i},active,{T}\n" for i in range(2, 12)) + f"s1,inactive,{T}\n")
        result = load_one(path)
        assert (result.inserted, result.duplicates, StatusPoll.objects.count()) == (11, 1, 11)
        assert StatusPoll.objects.get(store__store_id="s1").active is False

    def test_a_shuffled_file_over_two_days_builds_each_day_once_and_a_reload_changes_nothing(self, tmp_path):
        path = tmp_path / "polls.csv"
        path.write_text(HEADER + "".join(f"s{i},{'active' if i % 3 else 'inactive'},2023-01-{22 + i % 2} 12:00:00\n" for i in range(30)))
        first = load_one(path)
        assert (first.inserted, first.duplicates) == (30, 0)
        with connection.cursor() as cursor:
            assert [p.name for p in partitions.day_partitions(cursor)] == ["monitoring_statuspoll_20230122", "monitoring_statuspoll_20230123"]
            cursor.execute(f"SELECT count(*) FROM {partitions.DEFAULT}")
            assert cursor.fetchone()[0] == 0
        stored = sorted(StatusPoll.objects.values_list("id", "store__store_id", "timestamp", "active"))
        [again] = ingest_paths(paths=[path], full=True)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, 30)
        assert sorted(StatusPoll.objects.values_list("id", "store__store_id", "timestamp", "active")) == stored

    def test_a_pair_repeated_in_a_later_block_over_a_stored_day_takes_the_later_line(self, tmp_path):
        load_one(write(tmp_path, "a.csv", f"s1,active,{T}\n"))  # the 22nd is stored: its polls are compared
        others = "".join(f"s{i},active,2023-01-{22 + i % 2} 13:00:00\n" for i in range(2, 12))
        result = load_one(write(tmp_path, "b.csv", f"s1,active,{T}\n{others}s1,inactive,{T}\n"))
        # s1 at 12:00 is unchanged in the first block, then takes the last line's status;
        # s2..s11 are new: five on the stored 22nd, five on the 23rd, built as a new day.
        assert (result.inserted, result.updated, result.unchanged) == (10, 1, 1)
        assert StatusPoll.objects.get(store__store_id="s1").active is False
        assert StatusPoll.objects.count() == 11

    def test_an_hours_file_of_many_blocks_replaces_a_store_with_all_its_rows(self, tmp_path):
        path = tmp_path / "hours.csv"
        path.write_text("store_id,day,start_time_local,end_time_local\n" + "".join(f"a,{d},09:00,17:00\n" for d in range(7)))
        result = load_one(path)
        assert (result.inserted, BusinessHours.objects.count()) == (7, 7)

    def test_a_timezone_named_twice_in_two_blocks_takes_the_later_line(self, tmp_path):
        path = tmp_path / "zones.csv"
        path.write_text("store_id,timezone_str\na,UTC\n" + "".join(f"b{i},UTC\n" for i in range(10)) + "a,Asia/Tokyo\n")
        result = load_one(path)
        assert (result.inserted, result.duplicates) == (11, 1)
        assert Store.objects.get(store_id="a").timezone == "Asia/Tokyo"


@pytest.mark.django_db
class TestHostileInput:
    def test_a_gzip_bomb_fails_by_name_past_the_size_cap_and_stores_nothing(self, tmp_path, settings):
        settings.SOURCE_MAX_BYTES = 1 << 20
        path = tmp_path / "bomb.csv.gz"
        with gzip.open(path, "wb") as handle:  # 64 MiB of NUL bytes after a good header, streamed
            handle.write(HEADER.encode())
            for _ in range(64):
                handle.write(bytes(1 << 20))
        result = load_one(path)
        assert result.mode == "failed" and "bomb.csv.gz" in result.error and "SOURCE_MAX_BYTES" in result.error
        assert not Store.objects.exists() and IngestRun.objects.get().succeeded is False

    def test_a_plain_file_past_the_size_cap_fails_before_it_is_read(self, tmp_path, settings):
        settings.SOURCE_MAX_BYTES = 100
        path = tmp_path / "big.csv"
        path.write_text(HEADER + "".join(f"s{i},active,{T}\n" for i in range(10)))
        result = load_one(path)
        assert result.mode == "failed" and "big.csv: more than 100 bytes" in result.error
        assert not Store.objects.exists()

    def test_a_sparse_file_with_no_line_end_fails_at_its_header_without_reading_it_all(self, tmp_path):
        path = tmp_path / "sparse.csv"
        with open(path, "wb") as handle:
            handle.truncate(1 << 30)  # 1 GiB of NUL bytes, no disk used
        result = load_one(path)
        # Only the first 16 MiB are read: they hold no known header.
        assert result.mode == "failed" and "sparse.csv: line 1: unknown header" in result.error
        assert result.seconds < 5 and not Store.objects.exists()

    def test_a_known_header_longer_than_the_record_cap_fails_the_file(self, tmp_path):
        path = tmp_path / "wide.csv"
        path.write_bytes(HEADER.rstrip().encode() + b",note" + b"x" * RECORD_MAX_BYTES + f"\ns1,active,{T},n\n".encode())
        result = load_one(path)
        assert result.mode == "failed" and "wide.csv: line 1: the header is longer than" in result.error

    def test_a_record_past_the_cap_is_rejected_with_its_line_and_the_rest_loads(self, tmp_path):
        path = tmp_path / "polls.csv"
        with open(path, "wb") as handle:
            handle.write(f"{HEADER}s1,active,{T}\n".encode())
            handle.write(b"s2,active," + b"x" * (RECORD_MAX_BYTES + stream.BLOCK_BYTES) + b"\n")  # longer than a block, too
            handle.write(f"s3,active,{T}\n".encode())
        result = load_one(path)
        assert result.ok, result.error
        assert [(r.line, r.reason) for r in result.rejections] == [(3, TOO_LONG)]
        assert len(result.rejections[0].raw) <= 1000
        assert sorted(Store.objects.values_list("store_id", flat=True)) == ["s1", "s3"]

    def test_a_record_past_the_cap_inside_a_block_is_rejected_too(self, tmp_path, monkeypatch):
        monkeypatch.setattr(stream, "BLOCK_BYTES", 4 * RECORD_MAX_BYTES)
        path = tmp_path / "polls.csv"
        long_line = b'"s2' + b"x" * (RECORD_MAX_BYTES + 10) + b'",active,' + T.encode()
        path.write_bytes(f"{HEADER}s1,active,{T}\n".encode() + long_line + f"\ns3,active,{T}\n".encode())
        result = load_one(path)
        assert [(r.line, r.reason) for r in result.rejections] == [(3, TOO_LONG)]
        assert StatusPoll.objects.count() == 2


def test_the_default_size_cap_is_2_gib_and_junk_is_refused(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from main.env import env_int

    monkeypatch.setitem(os.environ, "SOURCE_MAX_BYTES", "2GB")
    with pytest.raises(ImproperlyConfigured):
        env_int("SOURCE_MAX_BYTES", 2 << 30, minimum=1)
    from django.conf import settings

    assert settings.SOURCE_MAX_BYTES == 2 << 30
