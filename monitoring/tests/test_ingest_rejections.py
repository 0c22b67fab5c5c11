"""A file's rejected rows (monitoring/ingest/rejections.py): stored block by block, a bounded head
in memory, all of them read back for the log's CSV and `runscript load -v 2`."""
import csv
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.urls import reverse

from monitoring import admin as admin_module

from monitoring.ingest import load as load_module
from monitoring.ingest import poll_writes, rejections, stream
from monitoring.ingest.load import ingest_paths
from monitoring.ingest.summary import LoadLog, rejection_lines
from monitoring.models import IngestRun, RejectedRow, StatusPoll, Store

HEADER = "store_id,status,timestamp_utc\n"
T = "2023-01-22 12:00:00"
# Row i of the body is on line i + 2 (the header is line 1). Odd rows are bad, in turn an
# unknown status (i = 1, 5, 9, ...) and a missing field (i = 3, 7, 11, ...): of 40 rows, the 20
# odd ones are rejected, on lines 3, 5, 7, ..., 41; the 20 even ones load.
ROWS = 40
REJECTED_LINES = list(range(3, ROWS + 2, 2))
HEAD = 5  # the in-memory head in these tests: a quarter of the rejected rows


def body_row(i: int) -> str:
    if i % 2 == 0:
        return f"s{i},active,{T}\n"
    return f"s{i},maybe,{T}\n" if i % 4 == 1 else f"s{i},active\n"


@pytest.fixture(autouse=True)
def small_blocks_and_head(monkeypatch, tmp_path, settings):
    monkeypatch.setattr(stream, "BLOCK_BYTES", 200)  # about six rows a block: the file spans seven blocks
    monkeypatch.setattr(rejections, "HEAD_KEPT", HEAD)
    settings.MONITORING_LOG_DIR = tmp_path / "log"


@pytest.fixture
def bad_file(tmp_path) -> Path:
    path = tmp_path / "polls.csv"
    path.write_text(HEADER + "".join(body_row(i) for i in range(ROWS)))
    return path


def stored_lines(path: Path) -> list[int]:
    return list(RejectedRow.objects.filter(run__path=str(path.resolve())).order_by("line").values_list("line", flat=True))


@pytest.mark.django_db
class TestStoredBlockByBlock:
    def test_every_rejected_row_past_the_head_is_stored_with_its_line_and_counted(self, bad_file, monkeypatch):
        copies = []
        real_copy = load_module.copy_rejections

        def copy_and_note(cursor, *, run_id, rejections):
            copies.append([r.line for r in rejections])
            real_copy(cursor, run_id=run_id, rejections=rejections)

        monkeypatch.setattr(load_module, "copy_rejections", copy_and_note)
        [result] = ingest_paths(paths=[bad_file])
        assert (result.mode, result.rows_read, result.inserted, result.rejected) == ("full", 40, 20, 20)
        assert [r.line for r in result.rejections] == [3, 5, 7, 9, 11]  # the head: the first five only
        assert stored_lines(bad_file) == REJECTED_LINES
        run = IngestRun.objects.get(pk=result.run_id)
        assert (run.succeeded, run.rejected, run.rows_read) == (True, 20, 40)
        # One COPY per block as it comes, never one of the whole file's rejected rows.
        assert len(copies) > 1 and sum(copies, []) == REJECTED_LINES

    def test_every_rejection_reads_all_of_them_back_in_line_order_with_their_reasons(self, bad_file):
        [result] = ingest_paths(paths=[bad_file])
        every = list(result.every_rejection())
        assert [r.line for r in every] == REJECTED_LINES
        assert (every[0].column, every[0].reason, every[0].raw) == ("status", "unknown status 'maybe'", f"s1,maybe,{T}")
        assert (every[1].column, every[1].reason) == ("", "wrong column count: expected 3 fields, found 2")

    def test_the_head_keeps_a_row_as_the_table_does_raw_cut_and_nul_replaced(self, tmp_path):
        path = tmp_path / "notes.csv"
        long_note = "n" * 2000
        path.write_text(HEADER.rstrip("\n") + ",note\n" + f"s1,\x00on,{T},x\ns2,maybe,{T},{long_note}\n")
        [result] = ingest_paths(paths=[path])
        stored = list(RejectedRow.objects.filter(run_id=result.run_id).order_by("line").values_list("line", "raw"))
        assert [(r.line, r.raw) for r in result.rejections] == stored
        assert stored[0] == (2, f"s1,\ufffdon,{T},x")
        assert len(stored[1][1]) == 1000 and stored[1][1].startswith(f"s2,maybe,{T},nnn")

    def test_a_later_tail_load_stores_its_rejected_rows_under_its_own_run_with_their_lines(self, bad_file):
        ingest_paths(paths=[bad_file])
        with open(bad_file, "a") as handle:  # lines 42 (good) and 43 (bad)
            handle.write(f"s40,active,{T}\ns41,maybe,{T}\n")
        [result] = ingest_paths(paths=[bad_file])
        assert (result.mode, result.rejected, [r.line for r in result.every_rejection()]) == ("tail", 1, [43])
        assert stored_lines(bad_file) == [*REJECTED_LINES, 43]


@pytest.mark.django_db
class TestTheLogAndTheCommand:
    def test_the_load_logs_csv_holds_every_rejected_row(self, bad_file, tmp_path):
        # A second file, named with a comma and a quote, whose one rejected row is all in its head.
        other = tmp_path / 'other, "b".csv'
        other.write_text(HEADER + f"t1,active,{T}\nt2,maybe,{T}\n")
        results = ingest_paths(paths=[bad_file, other])
        log = LoadLog(log_dir=tmp_path / "log", prefix="test")
        assert log.write_rejections(results) == 21
        rows = list(csv.DictReader(log.rejected_path.open(encoding="utf-8", newline="")))
        # bad_file's 20 (copied from the table: more than the head), then other's line 3 (from memory).
        assert [(row["file"], int(row["line"])) for row in rows] == [(str(bad_file), n) for n in REJECTED_LINES] + [(str(other), 3)]
        assert rows[0] == {"file": str(bad_file), "line": "3", "column": "status", "reason": "unknown status 'maybe'", "raw": f"s1,maybe,{T}"}
        assert rows[19] == {"file": str(bad_file), "line": "41", "column": "", "reason": "wrong column count: expected 3 fields, found 2", "raw": "s39,active"}
        assert rows[20]["raw"] == f"t2,maybe,{T}"

    def test_runscript_load_v2_prints_every_rejection_and_v1_the_first_ten(self, bad_file, capsys, settings):
        call_command("runscript", "load", verbosity=2, script_args=[str(bad_file)])
        out = capsys.readouterr().out
        assert [int(line.split(" line ")[1].split(" ")[0].rstrip(":")) for line in out.splitlines() if "polls.csv line " in line] == REJECTED_LINES
        assert "more rejected rows" not in out
        [rejected_csv] = settings.MONITORING_LOG_DIR.glob("load-*-rejected.csv")
        assert len(list(csv.DictReader(rejected_csv.open(encoding="utf-8")))) == 20

        call_command("runscript", "load", verbosity=1, script_args=[f"--full {bad_file}"])
        out = capsys.readouterr().out
        # Ten shown (lines 3 to 21), five of them past the head, so read back from the table.
        assert out.count("polls.csv line ") == 10 and "polls.csv line 21:" in out and "polls.csv line 23" not in out
        assert "... and 10 more rejected rows of polls.csv" in out

    def test_strict_still_loads_nothing_of_a_file_whose_only_rejected_row_is_in_a_later_block(self, tmp_path, capsys):
        path = tmp_path / "polls.csv"
        # Rows 0-19 good, row 20 (line 22, in the fourth block) bad.
        path.write_text(HEADER + "".join(f"s{i},active,{T}\n" for i in range(20)) + f"s20,maybe,{T}\n")
        with pytest.raises(CommandError):
            call_command("runscript", "load", script_args=[f"--strict {path}"])
        assert "1 rejected rows and --strict: nothing loaded" in capsys.readouterr().err
        assert not Store.objects.exists() and not StatusPoll.objects.exists()
        run = IngestRun.objects.get()
        assert (run.succeeded, run.rejected, stored_lines(path)) == (False, 1, [22])


@pytest.mark.django_db(transaction=True)
class TestAFailedFile:
    def test_a_file_failing_after_its_blocks_keeps_its_failure_record_with_the_head_and_the_true_count(self, bad_file, monkeypatch):
        def lose_the_database(self):
            raise OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(poll_writes.PollWriter, "finish", lose_the_database)
        [result] = ingest_paths(paths=[bad_file])
        assert result.mode == "failed" and "server closed the connection" in result.error
        assert not StatusPoll.objects.exists()
        # The load's own run and its 20 stored rows rolled back; the failure record has the
        # true counts and the head of five (lines 3-11), all that was still in memory.
        run = IngestRun.objects.get()
        assert (run.pk, run.succeeded, run.rows_read, run.rejected) == (result.run_id, False, 40, 20)
        assert stored_lines(bad_file) == [3, 5, 7, 9, 11]
        assert [r.line for r in result.every_rejection()] == [3, 5, 7, 9, 11]
        lines = list(rejection_lines(result, limit=result.rejected))
        assert len(lines) == 6 and lines[-1] == "  ... and 15 more rejected rows of polls.csv (not kept: the file failed to load)"


def test_the_admin_page_of_a_run_shows_its_first_rejected_rows_and_counts_the_rest(admin_client, bad_file, monkeypatch):
    monkeypatch.setattr(admin_module, "REJECTED_ROWS_SHOWN", 15)
    [result] = ingest_paths(paths=[bad_file])
    page = admin_client.get(reverse("admin:monitoring_ingestrun_change", args=[result.run_id])).content.decode()
    # 20 rejected rows on lines 3, 5, ..., 41: the first 15 end at line 31, so 33 to 41 are not shown.
    assert "<td>31</td>" in page and "<td>33</td>" not in page
    assert "and 5 more: the load logs hold them all" in page
