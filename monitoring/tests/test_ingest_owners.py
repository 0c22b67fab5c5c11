"""The owners source (SPEC 11): `store_id,owner`, the full truth of the owners of the stores it names."""
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.ingest import stream
from monitoring.ingest.parse import parse_body, parse_header
from monitoring.ingest.sources import ingest_sources
from monitoring.models import IngestRun, RejectedRow, Store, StoreOwner
from monitoring.tests.test_api_sources import upload
from monitoring.tests.test_ingest import load, write
from monitoring.tests.test_sources import POLLS, make_zip

HEADER = "store_id,owner\n"


def owners() -> dict[str, list[str]]:
    """Every stored store's owners, sorted; stores with none left out."""
    found: dict[str, list[str]] = {}
    for store_id, owner in StoreOwner.objects.order_by("store__store_id", "owner").values_list("store__store_id", "owner"):
        found.setdefault(store_id, []).append(owner)
    return found


def counts(result) -> tuple[int, int, int, int, int]:
    return result.inserted, result.updated, result.unchanged, result.deleted, result.duplicates


# --- Reading and validating (no database) --------------------------------------------


@pytest.mark.parametrize("line", ["store_id,owner", "Owner,STORE_ID", " owner , store_id ,note"])
def test_an_owners_header_is_recognised_in_any_order_case_and_with_extra_columns(line):
    header = parse_header(f"{line}\n".encode(), path=Path("x.csv"))
    assert header.kind == IngestRun.Kind.OWNERS
    assert header.names[header.columns["owner"]].strip().lower() == "owner"


def test_the_extra_columns_of_an_owners_file_are_ignored():
    header = parse_header(b"region,Owner,store_id\n", path=Path("x.csv"))
    parsed = parse_body(b"north,brand-01,s1\nsouth,brand-02,s2\n", header=header, first_line=2)
    assert [(r["store_id"], r["owner"], r["line"]) for r in parsed.rows.to_pylist()] == [("s1", "brand-01", 2), ("s2", "brand-02", 3)]


def test_bad_owner_rows_are_rejected_with_line_column_reason_and_raw_text_and_good_rows_kept():
    header = parse_header(b"store_id,Owner\n", path=Path("x.csv"))
    lines = [
        "s1,brand-01",  # 2 ok
        "s1, franchisee-07 ",  # 3 ok: trimmed to 'franchisee-07'
        ",brand-01",  # 4 empty store id: the store id checks come first
        "s2,",  # 5 empty owner
        's3,"   "',  # 6 only spaces: empty once trimmed
        's4,"brand\t01"',  # 7 a tab inside the name
        's5,"two\nlines"',  # 8-9 a quoted line break: one record over two lines
        f"s6,{'x' * 201}",  # 10 one character too long
        f"s7,{'y' * 200}",  # 11 ok: exactly 200 characters
        ".,brand-01",  # 12 a URL dot segment, as for any store id
        "s8,brand-01,extra",  # 13 three fields
        "s9,Brand 01 / Café",  # 14 ok: spaces, slash, non-ASCII letters are a name's own
    ]
    parsed = parse_body(("\n".join(lines) + "\n").encode(), header=header, first_line=2)
    assert [(r.line, r.column, r.reason) for r in parsed.rejections] == [
        (4, "store_id", "empty store id"),
        (5, "Owner", "empty owner"),
        (6, "Owner", "empty owner"),
        (7, "Owner", "control character (NUL, tab, line break, ...) in owner 'brand\\t01'"),
        (8, "Owner", "control character (NUL, tab, line break, ...) in owner 'two\\nlines'"),
        (10, "Owner", f"owner longer than 200 characters: {'x' * 80!r}... (201 characters)"),
        (12, "store_id", "store id '.' is a URL dot segment: no link can name it"),
        (13, "", "wrong column count: expected 2 fields, found 3"),
    ]
    assert parsed.rejections[1].raw == "s2," and parsed.rejections[7].raw == "s8,brand-01,extra"
    good = [(r["line"], r["store_id"], r["owner"]) for r in parsed.rows.to_pylist()]
    assert good == [(2, "s1", "brand-01"), (3, "s1", "franchisee-07"), (11, "s7", "y" * 200), (14, "s9", "Brand 01 / Café")]
    # 12 records (the two-line one counts once): 4 good + 8 rejected.
    assert parsed.rows_read == 12


# --- Loading ----------------------------------------------------------------------------


@pytest.mark.django_db
class TestFullTruth:
    def test_an_owners_file_replaces_the_owners_of_the_stores_it_names_and_only_those(self, tmp_path):
        [first] = load(write(tmp_path, "o1.csv", HEADER + "a,brand-01\na,franchisee-01\nb,brand-02\nc,brand-01\n"))
        # 4 new pairs, 3 new stores.
        assert counts(first) == (4, 0, 0, 0, 0) and first.stores_created == 3
        [second] = load(write(tmp_path, "o2.csv", HEADER + "b,brand-02\na,brand-03\na,brand-01\n"))
        # a: brand-01 kept, franchisee-01 removed, brand-03 added; b kept; c not named: untouched.
        # inserted 1 (a/brand-03), unchanged 2 (a/brand-01, b/brand-02), deleted 1 (a/franchisee-01).
        assert counts(second) == (1, 0, 2, 1, 0) and second.stores_created == 0
        assert owners() == {"a": ["brand-01", "brand-03"], "b": ["brand-02"], "c": ["brand-01"]}

    def test_a_store_may_belong_to_several_owners_and_each_repeated_row_counts_once(self, tmp_path):
        text = HEADER + "a,brand-01\na,franchisee-01\na, brand-01 \nb,brand-01\na,brand-01\n"
        [result] = load(write(tmp_path, "o.csv", text))
        # 5 good rows, 3 distinct pairs (" brand-01 " trims to brand-01): a twice more is 2 duplicates.
        assert (result.rows_read, *counts(result)) == (5, 3, 0, 0, 0, 2)
        assert owners() == {"a": ["brand-01", "franchisee-01"], "b": ["brand-01"]}

    def test_loading_the_same_owners_file_again_changes_nothing(self, tmp_path):
        path = write(tmp_path, "o.csv", HEADER + "a,brand-01\na,franchisee-01\nb,brand-02\nb,brand-02\n")
        load(path)
        before = list(StoreOwner.objects.order_by("id").values_list("id", "store_id", "owner"))
        [again] = load(path, full=True)
        # No row rewritten: 3 distinct pairs unchanged, the repeated b row still a duplicate.
        assert counts(again) == (0, 0, 3, 0, 1)
        assert list(StoreOwner.objects.order_by("id").values_list("id", "store_id", "owner")) == before
        [skipped] = load(path)  # and unforced, an unchanged file is not even read
        assert (skipped.mode, skipped.kind, skipped.rows_read) == ("skipped", "owners", 0)

    def test_a_store_the_owners_file_names_first_is_created_with_the_default_zone(self, tmp_path):
        load(write(tmp_path, "z.csv", "store_id,timezone_str\nold,Asia/Tokyo\n"))
        [result] = load(write(tmp_path, "o.csv", HEADER + "old,brand-01\nnew,brand-01\nnew,franchisee-02\n"))
        # "new" is not known yet: created; "old" keeps its zone.
        assert (result.stores_created, result.inserted) == (1, 3)
        assert dict(Store.objects.values_list("store_id", "timezone")) == {"old": "Asia/Tokyo", "new": ""}

    def test_a_store_whose_only_owner_rows_are_rejected_is_not_named_and_keeps_its_owners(self, tmp_path):
        load(write(tmp_path, "o1.csv", HEADER + "a,brand-01\nb,brand-01\n"))
        [result] = load(write(tmp_path, "o2.csv", HEADER + "a,\nb,brand-02\nc,\n"))
        # Lines 2 and 4 rejected: a keeps brand-01, c is not created (SPEC 2), b changes owner.
        assert [(r.line, r.reason) for r in result.rejections] == [(2, "empty owner"), (4, "empty owner")]
        assert owners() == {"a": ["brand-01"], "b": ["brand-02"]}
        assert not Store.objects.filter(store_id="c").exists()
        run = IngestRun.objects.get(path=str((tmp_path / "o2.csv").resolve()))
        assert (run.kind, run.rows_read, run.inserted, run.rejected) == ("owners", 3, 1, 2)
        assert list(RejectedRow.objects.filter(run=run).values_list("line", "column", "raw")) == [(2, "owner", "a,"), (4, "owner", "c,")]

    def test_the_owners_of_a_store_split_over_two_blocks_are_replaced_as_one_set(self, tmp_path, monkeypatch):
        load(write(tmp_path, "o1.csv", HEADER + "a,old-owner\n"))
        monkeypatch.setattr(stream, "BLOCK_BYTES", 32)  # a couple of records a block
        rows = [f"a,owner-{i:02d}" for i in range(10)] + [f"b{i},brand-01" for i in range(10)] + ["a,owner-00"]
        [result] = load(write(tmp_path, "o2.csv", HEADER + "\n".join(rows) + "\n"))
        # a's ten owners from the first blocks and its repeat in the last: 20 pairs, 1 duplicate, old-owner gone.
        assert counts(result) == (20, 0, 0, 1, 1)
        assert owners()["a"] == [f"owner-{i:02d}" for i in range(10)]

    def test_an_owners_load_issues_the_same_queries_for_10_rows_as_for_10000(self, tmp_path):
        def queries_to_load(rows: int) -> int:
            text = HEADER + "".join(f"s{i % 997},brand-{i % 37:02d}\n" for i in range(rows))
            with CaptureQueriesContext(connection) as captured:
                [result] = load(write(tmp_path, f"{rows}.csv", text))
            assert result.rows_read == rows
            return len(captured)

        assert queries_to_load(10) == queries_to_load(10_000)


# --- Everywhere a file comes in ----------------------------------------------------------


@pytest.mark.django_db
class TestSources:
    def test_a_zip_member_is_recognised_as_owners_by_its_header(self, tmp_path):
        archive = tmp_path / "data.zip"
        archive.write_bytes(make_zip({"store status.csv": POLLS, "Store owners (2024).csv": b"store_id,owner\na,brand-01\nz,brand-02\n"}))
        results = {r.source.rsplit(":", 1)[1]: r for r in ingest_sources(sources=[archive])}
        member = results["Store owners (2024).csv"]
        assert (member.kind, member.inserted, member.source) == ("owners", 2, f"{archive}:Store owners (2024).csv")
        assert owners() == {"a": ["brand-01"], "z": ["brand-02"]}

    def test_an_uploaded_owners_file_is_answered_with_its_kind_and_counts(self, client):
        answer = upload(client, "owners.csv", b"store_id,owner\na,brand-01\na,\n")
        assert answer.status_code == 200
        [loaded] = answer.json()["files"]
        # 2 rows: line 2 good, line 3's empty owner rejected.
        assert {k: loaded[k] for k in ("name", "kind", "read", "inserted", "rejected")} == {
            "name": "upload:owners.csv", "kind": "owners", "read": 2, "inserted": 1, "rejected": 1,
        }
        assert loaded["rejections"][0] == {"line": 3, "column": "owner", "reason": "empty owner", "raw": "a,"}

    def test_runscript_load_and_the_data_page_report_an_owners_file(self, tmp_path, capsys, client, settings):
        settings.MONITORING_LOG_DIR = tmp_path / "log"
        path = write(tmp_path, "owners.csv", HEADER + "a,brand-01\na,franchisee-01\nb,brand-01\nb,\n")
        call_command("runscript", "load", script_args=[str(path)])
        out = capsys.readouterr().out
        # 4 rows: 3 good, all new, of 2 new stores; line 5 rejected.
        assert "owners.csv (owners, full): 4 read, 3 inserted, 0 updated, 0 unchanged, 1 rejected" in out
        assert "2 new stores" in out and "owners.csv line 5 column owner: empty owner" in out
        page = client.get("/data/").content.decode()
        assert "<td>Owners</td>" in page and "empty owner" in page
