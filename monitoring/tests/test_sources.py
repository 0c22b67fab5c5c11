"""Sources beyond a folder (monitoring/ingest/sources.py, fetch.py): zip archives and URLs
served by a real HTTP server on 127.0.0.1 (monitoring/tests/http_fixtures.py)."""
from __future__ import annotations

import gzip
import io
import socket
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from monitoring.ingest.refresher import refresh_round
from monitoring.ingest.sources import ingest_sources, split_sources
from monitoring.models import BusinessHours, RemoteSource, StatusPoll, Store
from monitoring.tests.http_fixtures import source_server

pytestmark = pytest.mark.django_db

POLLS = b"store_id,status,timestamp_utc\na,active,2023-01-22 10:00:00 UTC\nb,inactive,2023-01-22 10:00:00 UTC\nc,maybe,2023-01-22 10:00:00 UTC\n"
HOURS = b"store_id,dayOfWeek,start_time_local,end_time_local\na,0,09:00:00,17:00:00\n"
ZONES = b"store_id,timezone_str\na,America/New_York\n"
# As in the published archive: spaces in the names, and the timezones file under BigQuery's name.
REAL_NAMES = {"store status.csv": POLLS, "Menu hours.csv": HOURS, "bq-results-20230125-202210-1674678181880.csv": ZONES}


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def stored_data() -> tuple:
    """Row counts and a checksum of every poll: equal before and after means nothing changed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), md5(coalesce(string_agg(s.store_id || '|' || p.timestamp::text || '|' || p.active::text, ','"
            " ORDER BY s.store_id, p.timestamp), '')) FROM monitoring_statuspoll p JOIN monitoring_store s ON s.id = p.store_id"
        )
        polls = cursor.fetchone()
    return polls, Store.objects.count(), BusinessHours.objects.count()


@pytest.fixture(autouse=True)
def quick(settings, tmp_path):
    settings.SOURCE_TIMEOUT_SECONDS = 0.5  # the stall test waits this long, not 30 s
    settings.MONITORING_LOG_DIR = tmp_path / "log"


@pytest.fixture
def server():
    with source_server() as running:
        yield running


@pytest.fixture
def loaded(server):
    """Some data already stored, so that a failed source can be shown to change none of it."""
    server.files["base.csv"] = b"store_id,status,timestamp_utc\nz,active,2023-01-21 10:00:00\n"
    [result] = ingest_sources(sources=[server.file_url("base.csv")])
    assert result.ok and StatusPoll.objects.count() == 1
    return stored_data()


# --- Zip archives ------------------------------------------------------------------


def test_it_loads_every_member_of_a_zip_recognised_by_its_header(tmp_path):
    archive = tmp_path / "data.zip"
    archive.write_bytes(make_zip(REAL_NAMES))
    results = ingest_sources(sources=[archive])
    assert {r.source.split(":", 1)[1]: (r.kind, r.inserted) for r in results} == {
        "store status.csv": ("polls", 2), "Menu hours.csv": ("hours", 1), "bq-results-20230125-202210-1674678181880.csv": ("timezones", 1),
    }
    assert Store.objects.get(store_id="a").timezone == "America/New_York"


def test_a_rejected_row_of_a_zip_member_names_the_archive_and_the_member(tmp_path):
    archive = tmp_path / "data.zip"
    archive.write_bytes(make_zip(REAL_NAMES))
    polls = next(r for r in ingest_sources(sources=[archive]) if r.kind == "polls")
    assert polls.source == f"{archive}:store status.csv"
    assert [(r.line, r.reason[:14]) for r in polls.rejections] == [(4, "unknown status")]


def test_an_unchanged_zip_loads_nothing_the_second_time(tmp_path):
    archive = tmp_path / "data.zip"
    archive.write_bytes(make_zip(REAL_NAMES))
    ingest_sources(sources=[archive])
    assert {r.mode for r in ingest_sources(sources=[archive])} == {"skipped"}


def test_a_non_csv_member_is_reported_and_skipped(tmp_path):
    archive = tmp_path / "data.zip"
    archive.write_bytes(make_zip({"README.txt": b"hello", "store status.csv": POLLS}))
    results = {r.source.rsplit(":", 1)[1]: r for r in ingest_sources(sources=[archive])}
    assert results["README.txt"].mode == "ignored" and results["README.txt"].ok
    assert results["store status.csv"].inserted == 2


def test_a_member_with_an_unknown_header_fails_alone_naming_the_member(tmp_path):
    archive = tmp_path / "data.zip"
    archive.write_bytes(make_zip({"odd.csv": b"a,b\n1,2\n", "store status.csv": POLLS}))
    results = {r.source.rsplit(":", 1)[1]: r for r in ingest_sources(sources=[archive])}
    assert results["odd.csv"].mode == "failed"
    assert results["odd.csv"].error.startswith(f"{archive}:odd.csv: line 1: unknown header")
    assert results["store status.csv"].inserted == 2


def test_a_zip_bomb_stops_at_the_cap_and_loads_nothing(tmp_path, settings):
    settings.SOURCE_MAX_BYTES = 1 << 20
    archive = tmp_path / "bomb.zip"
    # 8 MiB of one repeated line deflate to about 8 KiB.
    archive.write_bytes(make_zip({"store status.csv": POLLS + b"a,active,2023-01-22 11:00:00\n" * 300_000}))
    [result] = ingest_sources(sources=[archive])
    assert result.mode == "failed" and "more than SOURCE_MAX_BYTES" in result.error
    assert StatusPoll.objects.count() == 0


def test_a_zip_member_is_never_unpacked_into_the_project_folder(tmp_path, settings):
    archive = tmp_path / "data.zip"
    archive.write_bytes(make_zip(REAL_NAMES))
    [result, *_] = ingest_sources(sources=[archive])
    assert not result.path.is_relative_to(Path(settings.BASE_DIR)) and not result.path.exists()  # deleted after the load


# --- URLs --------------------------------------------------------------------------


def test_a_url_is_fetched_then_asked_conditionally_and_not_read_when_unchanged(server):
    server.files["data.zip"] = make_zip(REAL_NAMES)
    url = server.file_url("data.zip")
    first = ingest_sources(sources=[url])
    assert sum(r.inserted for r in first) == 4 and RemoteSource.objects.get(url=url).etag
    [again] = ingest_sources(sources=[url])
    assert again.mode == "skipped" and again.source == url
    assert server.requests[-1] == ("/files/data.zip", RemoteSource.objects.get(url=url).etag)


def test_a_changed_url_is_loaded_again(server):
    url = server.file_url("polls.csv")
    server.files["polls.csv"] = POLLS
    ingest_sources(sources=[url])
    server.files["polls.csv"] = POLLS + b"d,active,2023-01-22 11:00:00\n"
    [result] = ingest_sources(sources=[url])
    assert (result.mode, result.inserted) == ("tail", 1)  # a polls file that grew: its new line only


def test_a_gzipped_csv_url_loads(server):
    server.files["polls.csv.gz"] = gzip.compress(POLLS)
    [result] = ingest_sources(sources=[server.file_url("polls.csv.gz")])
    assert (result.kind, result.inserted) == ("polls", 2)


def test_five_redirects_are_followed(server):
    server.files["polls.csv"] = POLLS
    [result] = ingest_sources(sources=[f"{server.url}/redirect/5/polls.csv"])
    assert result.inserted == 2


def refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again at once: nothing listens there


FAILURES = {
    "six redirects": ("/redirect/6/polls.csv", "more than 5 redirects"),
    "404": ("/status/404", "answered 404 Not Found"),
    "500": ("/status/500", "answered 500 Internal Server Error"),
    "stall": ("/stall", "timeout"),
    "cut halfway": ("/cut/polls.csv", "RemoteProtocolError"),
    "oversize": ("/files/big.csv", "more than SOURCE_MAX_BYTES"),
    "not a zip": ("/files/fake.zip", "not a zip archive"),
    "zip bomb": ("/files/bomb.zip", "more than SOURCE_MAX_BYTES"),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_fetch_is_reported_changes_nothing_and_is_tried_next_round(server, loaded, settings, failure):
    settings.SOURCE_MAX_BYTES = 4096
    server.files.update({
        "polls.csv": POLLS, "big.csv": POLLS + b"a,active,2023-01-22 11:00:00\n" * 200, "fake.zip": POLLS,
        "bomb.zip": make_zip({"store status.csv": POLLS + b"a,active,2023-01-22 11:00:00\n" * 1000}),
    })
    path, expected = FAILURES[failure]
    url = f"{server.url}{path}"
    for _round in range(2):
        [result] = ingest_sources(sources=[url])
        assert result.mode == "failed" and expected in result.error
        assert RemoteSource.objects.get(url=url).error == result.error
        assert stored_data() == loaded
    assert sum(1 for requested, _ in server.requests if requested == path) == 2


def test_a_refused_connection_is_a_failed_fetch(loaded):
    [result] = ingest_sources(sources=[f"http://127.0.0.1:{refused_port()}/polls.csv"])
    assert result.mode == "failed" and "ConnectError" in result.error
    assert stored_data() == loaded


def test_a_name_that_does_not_resolve_is_a_failed_fetch(loaded):
    [result] = ingest_sources(sources=["http://no-such-host.invalid/polls.csv"])
    assert result.mode == "failed" and "ConnectError" in result.error
    assert stored_data() == loaded


def test_the_refresher_takes_a_comma_separated_list_of_sources(server, settings, tmp_path):
    server.files["polls.csv"] = POLLS
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "hours.csv").write_bytes(HOURS)
    settings.MONITORING_DATA_DIR = f"{server.file_url('polls.csv')}, {tmp_path / 'folder'}"
    outcome = refresh_round()
    assert not outcome.failed and sorted(r.kind for r in outcome.results) == ["hours", "polls"]
    assert {r.mode for r in refresh_round().results} == {"skipped"}


def test_split_sources_reads_a_path_a_url_and_a_list():
    assert split_sources(Path("/data")) == ["/data"]
    assert split_sources(" https://x/d.zip , /data ,") == ["https://x/d.zip", "/data"]


def test_runscript_load_takes_a_url_of_a_zip(server, capsys):
    server.files["data.zip"] = make_zip({**REAL_NAMES, "notes.md": b"#"})
    call_command("runscript", "load", "--script-args", server.file_url("data.zip"))
    out = capsys.readouterr().out
    assert f"{server.file_url('data.zip')}:store status.csv (polls, full): 3 read, 2 inserted" in out
    assert f"{server.file_url('data.zip')}:store status.csv line 4 column status" in out
    assert "notes.md: skipped: not a .csv or .csv.gz file" in out
    assert "downloading" in out  # plain progress lines: pytest's output is no terminal


def test_runscript_load_fails_with_code_1_on_a_failed_fetch(server):
    with pytest.raises(CommandError) as failed:
        call_command("runscript", "load", "--script-args", f"{server.url}/status/404")
    assert failed.value.returncode == 1
