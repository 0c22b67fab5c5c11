"""The hourly refresher (monitoring/ingest/refresher.py) and incremental loading (monitoring/ingest/plan.py)."""
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.ingest import refresher
from monitoring.ingest.locks import REFRESH_LOCK_KEY
from monitoring.ingest.refresher import (
    refresh_round,
    run_refresher,
    start_web_refresher,
)
from monitoring.models import BusinessHours, IngestRun, StatusPoll
from monitoring.tests.ingest_helpers import another_session

POLLS_HEADER = "store_id,status,timestamp_utc\n"

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(tmp_path, settings) -> Path:
    settings.MONITORING_DATA_DIR = tmp_path / "sources"
    settings.MONITORING_LOG_DIR = tmp_path / "log"
    settings.MONITORING_DATA_DIR.mkdir()
    (settings.MONITORING_DATA_DIR / "polls.csv").write_text(
        POLLS_HEADER + "a,active,2023-01-22 10:00:00\nb,active,2023-01-22 10:00:00\n"
    )
    (settings.MONITORING_DATA_DIR / "hours.csv").write_text("store_id,day,start_time_local,end_time_local\na,0,09:00,17:00\n")
    return settings.MONITORING_DATA_DIR


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def by_name(outcome) -> dict:
    return {r.path.name: r for r in outcome.results}


def test_a_round_where_nothing_changed_skips_every_file(folder):
    refresh_round()
    second = by_name(refresh_round())
    assert {name: r.mode for name, r in second.items()} == {"hours.csv": "skipped", "polls.csv": "skipped"}


def test_a_polls_file_that_only_grew_is_read_from_where_the_last_load_stopped(folder):
    refresh_round()
    append(folder / "polls.csv", "a,inactive,2023-01-22 11:00:00\nb,bogus,2023-01-22 11:00:00\n")
    polls = by_name(refresh_round())["polls.csv"]
    # Only the 2 new lines are read; they are lines 4 and 5 of the file (header, a, b, then these).
    assert (polls.mode, polls.rows_read, polls.inserted, polls.unchanged) == ("tail", 2, 1, 0)
    assert [(r.line, r.column) for r in polls.rejections] == [(5, "status")]
    run = IngestRun.objects.filter(path=str(folder / "polls.csv"), succeeded=True).first()
    assert run.lines_loaded == 5 and run.bytes_loaded == (folder / "polls.csv").stat().st_size
    assert StatusPoll.objects.count() == 3


def test_a_line_still_being_written_is_read_again_once_complete(folder):
    append(folder / "polls.csv", "c,active,2023-01-22 1")  # a writer stopped mid-line
    first = by_name(refresh_round())["polls.csv"]
    assert [r.line for r in first.rejections] == [4]
    append(folder / "polls.csv", "1:00:00\n")
    polls = by_name(refresh_round())["polls.csv"]
    assert (polls.mode, polls.rows_read, polls.inserted, polls.rejected) == ("tail", 1, 1, 0)
    assert StatusPoll.objects.filter(store__store_id="c").count() == 1


def test_a_rewritten_polls_file_is_loaded_whole_again(folder):
    refresh_round()
    (folder / "polls.csv").write_text(POLLS_HEADER + "a,inactive,2023-01-22 10:00:00\nb,active,2023-01-22 10:00:00\nb,active,2023-01-22 11:00:00\n")
    polls = by_name(refresh_round())["polls.csv"]
    # The old prefix changed (a's status), so every line is read: 1 updated, 1 unchanged, 1 new.
    assert (polls.mode, polls.rows_read, polls.updated, polls.unchanged, polls.inserted) == ("full", 3, 1, 1, 1)


def test_an_hours_file_that_grew_is_loaded_whole_since_it_is_the_truth_for_its_stores(folder):
    refresh_round()
    append(folder / "hours.csv", "a,1,09:00,17:00\n")
    hours = by_name(refresh_round())["hours.csv"]
    assert (hours.mode, hours.rows_read, hours.inserted, hours.unchanged) == ("full", 2, 1, 1)
    assert BusinessHours.objects.count() == 2


def test_full_reads_every_file_whole_even_when_unchanged(folder):
    refresh_round()
    outcome = by_name(refresh_round(full=True))
    assert {name: (r.mode, r.unchanged) for name, r in outcome.items()} == {"hours.csv": ("full", 1), "polls.csv": ("full", 2)}


def test_a_round_is_skipped_while_another_refresher_works(folder):
    with another_session() as other, other.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [REFRESH_LOCK_KEY])
        outcome = refresh_round()
    assert outcome.busy and not outcome.failed
    assert outcome.line() == "refresh round skipped: another refresher is working"
    assert not StatusPoll.objects.exists()


def test_the_loop_runs_a_round_at_once_and_stops_when_asked(folder):
    stop, rounds = threading.Event(), []

    def on_round(outcome):
        rounds.append(outcome)
        stop.set()  # as SIGTERM does

    run_refresher(stop=stop, interval=3600, on_round=on_round)
    assert len(rounds) == 1 and StatusPoll.objects.count() == 2


def test_refresh_once_fails_with_exit_code_1_when_a_file_cannot_load(folder, capsys):
    (folder / "strange.csv").write_text("id,colour\n1,red\n")
    with pytest.raises(CommandError) as failure:
        call_command("refresh", once=True)
    assert failure.value.returncode == 1
    assert "strange.csv: line 1: unknown header" in capsys.readouterr().err


def test_refresh_once_prints_one_line_of_counts(folder, capsys):
    call_command("refresh", once=True)
    out = capsys.readouterr().out
    counts, alerts = out.strip().split("; alerts: ")
    assert counts == (
        "refresh round: 2 files: 2 loaded, 0 unchanged, 0 failed; "
        f"3 read, 3 inserted, 0 updated, 0 unchanged, 0 rejected in {counts.split(' in ')[1]}"
    )
    # New polls were stored, so the round decided the alert events (none: nobody is down).
    assert alerts.startswith("0 store.down, 0 store.recovered, 0 deliveries queued in ")


def test_the_web_refresher_starts_only_when_enabled_and_only_once(settings, monkeypatch):
    started = threading.Event()
    release = threading.Event()
    monkeypatch.setattr(refresher, "run_refresher", lambda **kwargs: (started.set(), release.wait(10)))
    monkeypatch.setattr(refresher, "_web_thread", None)
    settings.REFRESH_IN_WEB = False
    assert start_web_refresher() is None
    settings.REFRESH_IN_WEB = True
    try:
        thread = start_web_refresher()
        assert started.wait(10) and thread.daemon
        assert start_web_refresher() is thread
    finally:
        release.set()
        thread.join(10)


def test_a_round_that_stored_new_polls_decides_the_alerts_and_an_unchanged_one_does_not(folder):
    # b (no hours: always open): up at 10:00, down at 11:00 and 11:30: down since 10:30,
    # 60 minutes at now 11:30 (>= 30). a is open Mondays only; 2023-01-22 is a Sunday.
    append(folder / "polls.csv", "b,inactive,2023-01-22 11:00:00\nb,inactive,2023-01-22 11:30:00\n")
    first = refresh_round()
    assert (first.alerts.down, first.alerts.recovered) == (1, 0)
    assert "alerts: 1 store.down" in first.line()
    assert refresh_round().alerts is None  # nothing new stored: nothing to decide
