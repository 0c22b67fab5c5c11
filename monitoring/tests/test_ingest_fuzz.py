"""Hostile CSV input (issue #7): random bytes, wrong encodings, a BOM, CRLF and lone CR,
quoted commas and newlines, missing and extra columns, NUL bytes, 10 MB lines, a
million empty lines, formula-looking store ids.

Each file either loads, every rejected row named by its line and a reason, or fails
with a message naming the file: never an exception out of the load, a hang, or part
of a file. What loads is checked against a second, simpler reading written here:
Python's csv module and SPEC 1's rules (`read_like_the_spec`).
"""
from __future__ import annotations

import csv
import io
import itertools
import random
import re
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.engine.constants import REPORT_COLUMNS
from monitoring.ingest import validate
from monitoring.ingest.load import FileResult, ingest_paths
from monitoring.models import Report, StatusPoll, Store
from monitoring.reports.build import report_build
from monitoring.reports.service import report_create

pytestmark = pytest.mark.django_db
# Many files in one test: each commits on its own, as in production, and the tables are
# emptied between files (in one transaction, deferred key checks would block a bulk load).
many_files = pytest.mark.django_db(transaction=True)

HEADER = "store_id,status,timestamp_utc"
T = "2023-01-22 12:00:00"
AT_T = datetime(2023, 1, 22, 12, tzinfo=UTC)
MB = 1 << 20
SECONDS_PER_LOAD = 30  # far above any load here: only a hang gets there
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
_file_numbers = itertools.count()


class Hang(Exception):
    pass


@contextmanager
def no_hang(seconds: int = SECONDS_PER_LOAD):
    """Stop a load that never ends (SIGALRM interrupts the main thread's wait)."""

    def stop(signum, frame):
        raise Hang(f"the load was still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def load_bytes(folder: Path, data: bytes) -> FileResult:
    """One file with these bytes, loaded into an empty database under the hang guard."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE monitoring_statuspoll, monitoring_store, monitoring_ingestrun CASCADE")
    path = folder / f"file-{next(_file_numbers)}.csv"
    path.write_bytes(data)
    with no_hang():
        [result] = ingest_paths(paths=[path])
    return result


def load_text(folder: Path, text: str) -> FileResult:
    return load_bytes(folder, text.encode())


def stored_polls() -> set[tuple[str, datetime, bool]]:
    return set(StatusPoll.objects.values_list("store__store_id", "timestamp", "active"))


def rejected(result: FileResult) -> list[tuple[int, str]]:
    return [(r.line, r.reason) for r in result.rejections]


# --- The second reading: the csv module and SPEC 1, written out again ---------------

_INSTANT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
                      r"[ \t]*(?:[Zz]|([+-])([0-9]{2}):?([0-9]{2}))?")
_UTC_SUFFIX = re.compile(r"[ \t]*UTC$", re.IGNORECASE)


def spec_instant(text: str) -> datetime | None:
    """SPEC 1's timestamp formats, read with datetime; None when the text is not one."""
    match = _INSTANT.fullmatch(_UTC_SUFFIX.sub("", text.strip(" \t")))
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, offset_hours, offset_minutes = match.groups()
    try:
        naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), int((fraction or "0").ljust(6, "0")))
    except ValueError:
        return None
    offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes)) * (-1 if sign == "-" else 1) if sign else timedelta(0)
    return naive.replace(tzinfo=UTC) - offset


@dataclass
class Reading:
    good: list[tuple[int, str, datetime, bool]]  # line, store id, instant, active
    rejected_lines: list[int]

    @property
    def stores(self) -> set[str]:
        return {store for _, store, _, _ in self.good}

    @property
    def polls(self) -> set[tuple[str, datetime, bool]]:
        last = {(store, instant): active for _, store, instant, active in self.good}  # the last line wins
        return {(store, instant, active) for (store, instant), active in last.items()}


def read_like_the_spec(body: bytes, *, columns: list[str], first_line: int = 2) -> Reading:
    """A polls body as Python's csv module reads it, each record checked by SPEC 1's rules."""
    reader = csv.reader(io.StringIO(body.decode("utf-8", "surrogateescape"), newline=""))
    good, rejected_lines, lines_before = [], [], 0
    for record in reader:
        line, lines_before = first_line + lines_before, reader.line_num
        if not record:
            continue  # a blank line is no row
        row = dict(zip(columns, record, strict=False))
        store, status = row.get("store_id", ""), row.get("status", "").strip(" \t").lower()
        instant = spec_instant(row.get("timestamp_utc", ""))
        if (
            len(record) != len(columns)
            or any("\udc80" <= char <= "\udcff" for char in "".join(record))  # bytes that were not UTF-8
            or not store.strip()
            or any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in store)  # control characters
            or store in (".", "..")
            or len(store) > 255
            or status not in ("active", "inactive")
            or instant is None
        ):
            rejected_lines.append(line)
        else:
            good.append((line, store, instant, status == "active"))
    return Reading(good=good, rejected_lines=rejected_lines)


def assert_loaded_as_the_spec_reads(result: FileResult, body: bytes, *, columns: list[str], header_names: list[str]) -> None:
    expected = read_like_the_spec(body, columns=columns)
    assert result.ok, result.error
    assert [r.line for r in result.rejections] == expected.rejected_lines
    assert all(r.reason and r.column in ("", *header_names) for r in result.rejections)
    assert result.rows_read == len(expected.good) + len(expected.rejected_lines)
    assert set(Store.objects.values_list("store_id", flat=True)) == expected.stores
    assert stored_polls() == expected.polls


# --- Property tests ------------------------------------------------------------------

def csv_line(record: list[str], *, quote_all: bool) -> str:
    """RFC 4180 quoting, written independently of the csv module."""
    return ",".join(
        '"' + value.replace('"', '""') + '"' if quote_all or any(mark in value for mark in ',"\r\n') else value
        for value in record
    )


_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x1c\x1d\x1e\x1f\ufeff"), max_size=12)


def mostly(good: list[str], bad: list[str]) -> st.SearchStrategy[str]:
    """Good values two times in three, so that files hold good rows among the bad."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad), _TEXT)


_STORE_IDS = mostly(
    ["s1", "0012", "8419537941919820732", "a b", " padded ", "=SUM(A1)", "+1", "-1", "@x", "'quoted", 'say "hi"', "a,b",
     "two\nlines", "cr\rinside", "\tTab", "é-ü", "ж" * 255],
    ["", "   ", "s\x00nul", "x" * 256],
)
_STATUSES = mostly(["active", "inactive", "ACTIVE", " Inactive "], ["actve", "", "yes"])
_STAMPS = mostly(
    ["2023-01-22 12:09:39.388884 UTC", "2023-01-22 12:09:39", "2024-09-21T10:00:00Z", "2024-09-21T12:00:00+02:00",
     "2023-01-22 12:09:39.5", " 2023-01-22 12:09:39 utc "],
    ["2023-13-45 99:00:00 UTC", "now", "2023", "2023-01-22", ""],
)
_ROW = st.fixed_dictionaries({"store_id": _STORE_IDS, "status": _STATUSES, "timestamp_utc": _STAMPS, "note": _TEXT})
_HOSTILE_LINES = st.sampled_from([
    f'Joe"s,active,{T}', f'"unclosed,active,{T}', f'a"b,c"d,active,{T}', f'"x" ,active,{T}', f'"a""b",active,{T}',
    "\x00\x00\x00", "   ", f"s9,active,{T},", "s9,active",
]).map(str.encode) | st.binary(max_size=40)


@st.composite
def polls_files(draw):
    """A polls file as bytes, with its columns, as an untidy exporter might write it."""
    columns = draw(st.permutations(["store_id", "status", "timestamp_utc", *draw(st.sampled_from([[], ["note"]]))]))
    header_names = [draw(st.sampled_from([name, name.upper(), f" {name.title()} "])) for name in columns]
    terminator = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "utf-16"]))
    quote_all = draw(st.booleans())
    lines = []
    for kind in draw(st.lists(st.sampled_from(["row"] * 6 + ["short", "long", "blank", "hostile"]), max_size=14)):
        record = [draw(_ROW)[column] for column in columns]
        if kind == "hostile":
            lines.append(draw(_HOSTILE_LINES).decode("utf-8", "replace"))
            continue
        record = {"row": record, "short": record[:-1], "long": [*record, "extra"], "blank": []}[kind]
        lines.append(csv_line(record, quote_all=quote_all))
    text = terminator.join([",".join(header_names), *lines]) + (terminator if draw(st.booleans()) else "")
    data = text.encode(encoding, "replace")
    if encoding == "utf-8" and draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data, columns, header_names, encoding


@many_files
@settings(FUZZ, max_examples=150)
@given(polls_files())
def test_every_untidy_polls_file_loads_exactly_what_the_csv_module_and_the_spec_read(tmp_path, file):
    data, columns, header_names, encoding = file
    result = load_bytes(tmp_path, data)
    if encoding == "utf-16":
        assert result.mode == "failed" and result.path.name in result.error and "UTF-16" in result.error
        assert not StatusPoll.objects.exists() and not Store.objects.exists()
        return
    header_end = len(",".join(header_names).encode(encoding)) + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
    header_end += 2 if data[header_end : header_end + 2] == b"\r\n" else 1
    assert_loaded_as_the_spec_reads(result, data[header_end:], columns=columns, header_names=header_names)


@many_files
@settings(FUZZ, max_examples=150)
@given(body=st.binary(max_size=3000), with_header=st.booleans())
def test_random_bytes_load_as_the_csv_module_reads_them_or_fail_by_name(tmp_path, body, with_header):
    data = f"{HEADER}\n".encode() + body if with_header else body
    result = load_bytes(tmp_path, data)
    if with_header:
        assert_loaded_as_the_spec_reads(result, body, columns=HEADER.split(","), header_names=HEADER.split(","))
    else:  # random bytes are never a known header
        assert result.mode == "failed" and result.path.name in result.error
        assert not StatusPoll.objects.exists() and not Store.objects.exists()


# --- Explicit cases --------------------------------------------------------------------

@pytest.mark.parametrize("quoted", [False, True])
def test_a_10_mb_line_is_one_rejected_row_and_the_rows_around_it_load(tmp_path, quoted):
    huge = "x" * (10 * MB)
    field = f'"{huge}"' if quoted else huge
    result = load_text(tmp_path, f"{HEADER}\ns1,active,{T}\n{field},active,{T}\ns2,active,{T}\n")
    assert result.ok, result.error
    [(line, reason)] = rejected(result)
    # The header is line 1, s1 line 2, the huge row line 3. Its reason quotes 80 characters, not 10 MB.
    assert line == 3 and reason == f"store id longer than 255 characters: {'x' * 80!r}... (10,485,760 characters)"
    assert stored_polls() == {("s1", AT_T, True), ("s2", AT_T, True)}


def test_a_10_mb_field_with_a_stray_quote_is_read_by_the_csv_module_without_its_field_limit(tmp_path):
    # One stray quote sends the file to Python's csv module, whose fields stop at 128 KiB by default.
    result = load_text(tmp_path, f'{HEADER}\ns1,active,{T}\ns2,{"x" * (10 * MB)}"y,{T}\ns3,active,{T}\n')
    assert result.ok, result.error
    assert [(r.line, r.column, r.reason[:16]) for r in result.rejections] == [(3, "status", "unknown status '")]
    assert {store for store, _, _ in stored_polls()} == {"s1", "s3"}


def test_a_10_mb_file_of_one_line_with_no_line_end_fails_with_a_short_message(tmp_path):
    result = load_text(tmp_path, "x" * (10 * MB))
    assert result.mode == "failed" and result.path.name in result.error
    assert "line 1: unknown header (not shown: 10,485,760 characters that are not a CSV header)" in result.error
    assert len(result.error) < 1000


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_a_million_empty_lines_are_skipped_and_the_rows_after_them_keep_their_line_numbers(tmp_path, line_end):
    blank = line_end * 1_000_000
    text = line_end.join([HEADER, f"s1,active,{T}", f"{blank}s2,inactive,{T}", f"s3,bogus,{T}", ""])
    result = load_text(tmp_path, text)
    # s1 is line 2, the million blank lines are 3 to 1,000,002, s2 is 1,000,003 and s3 1,000,004.
    assert rejected(result) == [(1_000_004, "unknown status 'bogus'")]
    assert (result.rows_read, result.inserted) == (3, 2)
    assert stored_polls() == {("s1", AT_T, True), ("s2", AT_T, False)}


def test_a_byte_order_mark_before_the_header_is_not_part_of_the_first_column(tmp_path):
    result = load_bytes(tmp_path, b"\xef\xbb\xbf" + f"{HEADER}\ns1,active,{T}\n".encode())
    assert (result.kind, result.inserted) == ("polls", 1)


def test_a_byte_order_mark_character_inside_the_data_is_kept_as_written(tmp_path):
    # Not at the start of the file, U+FEFF is a character of the store id, as in the csv module.
    load_text(tmp_path, f"{HEADER}\n\ufeffs1,active,{T}\n")
    assert list(Store.objects.values_list("store_id", flat=True)) == ["\ufeffs1"]


@pytest.mark.parametrize("line_end", ["\r\n", "\r"], ids=["crlf", "lone-cr"])
def test_crlf_and_old_mac_lone_cr_files_load_with_their_line_numbers(tmp_path, line_end):
    text = line_end.join([HEADER, f"s1,active,{T}", f'"two{line_end}lines",inactive,{T}', f"s3,actve,{T}", f"s4,active,{T}", ""])
    result = load_text(tmp_path, text)
    # s1 line 2; the quoted id holds a line end (refused), so it takes lines 3-4; s3 is line 5.
    assert rejected(result) == [
        (3, f"control character (NUL, tab, line break, ...) in store id {f'two{line_end}lines'!r}"),
        (5, "unknown status 'actve'"),
    ]
    assert stored_polls() == {("s1", AT_T, True), ("s4", AT_T, True)}


def test_a_lone_cr_inside_a_crlf_file_ends_a_line_as_in_the_csv_module(tmp_path):
    result = load_text(tmp_path, f"{HEADER}\r\ns0\rs1,active,{T}\r\ns2,active,{T}\r\n")
    # "s0" is line 2 (one field), s1 line 3, s2 line 4.
    assert rejected(result) == [(2, "wrong column count: expected 3 fields, found 1")]
    assert {store for store, _, _ in stored_polls()} == {"s1", "s2"}


STRANGE_IDS = ["a b", " padded ", "=SUM(A1)", "+1", "-1", "@x", "'quoted", 'say "hi"', "a,b", "a/../b", "%2e", "0012"]


def test_store_ids_with_spaces_quotes_commas_and_formula_characters_load_exactly_as_written(tmp_path):
    rows = "".join(f"{csv_line([store, 'active', T], quote_all=False)}\n" for store in STRANGE_IDS)
    result = load_text(tmp_path, f"{HEADER}\n{rows}")
    assert (result.rejected, result.inserted) == (0, len(STRANGE_IDS))
    assert sorted(Store.objects.values_list("store_id", flat=True)) == sorted(STRANGE_IDS)


def test_a_utf16_file_fails_with_a_message_naming_the_file_and_the_likely_encoding(tmp_path):
    result = load_bytes(tmp_path, f"{HEADER}\ns1,active,{T}\n".encode("utf-16"))
    assert result.mode == "failed"
    assert result.error == f"{result.path}: line 1: the header is not UTF-8 text (is it UTF-16? save the file as UTF-8)"


def test_latin1_rows_are_rejected_one_by_one_as_not_utf8(tmp_path):
    result = load_bytes(tmp_path, f"{HEADER}\nsé,active,{T}\ns2,active,{T}\n".encode("latin-1"))
    assert rejected(result) == [(2, "undecodable bytes: the row is not UTF-8 text")]
    assert result.inserted == 1


def test_missing_and_extra_columns_are_rejected_by_line(tmp_path):
    result = load_text(tmp_path, f"{HEADER}\ns1,active\ns2,active,{T},extra\ns3,active,{T}\n")
    assert rejected(result) == [
        (2, "wrong column count: expected 3 fields, found 2"),
        (3, "wrong column count: expected 3 fields, found 4"),
    ]
    assert result.inserted == 1


# --- Regressions: bugs found by the tests above ------------------------------------------

def test_a_nul_character_in_a_store_id_rejects_its_row_not_the_file(tmp_path):
    # PostgreSQL text cannot hold NUL: the COPY used to fail and the error escaped the load.
    result = load_text(tmp_path, f"{HEADER}\ns\x001,active,{T}\ns2,active,{T}\n")
    assert rejected(result) == [(2, "control character (NUL, tab, line break, ...) in store id 's\\x001'")]
    assert stored_polls() == {("s2", AT_T, True)}


def test_control_characters_in_a_store_id_reject_their_rows_with_the_reason(tmp_path):
    # A quoted field may hold a line break; a tab, DEL or C1 character may come from anywhere.
    ids = ["a\nb", "a\rb", "t\tb", "d\x7f", "c\x85"]
    lines = "".join(f'"{store_id}",active,{T}\n' for store_id in ids)
    result = load_text(tmp_path, f"{HEADER}\n{lines}ok,active,{T}\n")
    assert [reason for _, reason in rejected(result)] == [
        f"control character (NUL, tab, line break, ...) in store id {store_id!r}" for store_id in ids
    ]
    assert stored_polls() == {("ok", AT_T, True)}


def test_a_store_id_that_is_a_url_dot_segment_is_rejected_and_other_dots_load(tmp_path):
    result = load_text(tmp_path, f"{HEADER}\n.,active,{T}\n..,active,{T}\n...,active,{T}\na/../b,active,{T}\n")
    assert rejected(result) == [
        (2, "store id '.' is a URL dot segment: no link can name it"),
        (3, "store id '..' is a URL dot segment: no link can name it"),
    ]
    assert {store_id for store_id, _, _ in stored_polls()} == {"...", "a/../b"}


def test_a_store_id_too_long_for_the_index_rejects_its_row_and_255_characters_still_load(tmp_path):
    # 256 characters are refused; 255 of 4-byte characters (1,020 bytes) fit the unique index.
    longest, too_long = "\U0001f600" * 255, "y" * 256
    result = load_text(tmp_path, f"{HEADER}\n{longest},active,{T}\n{too_long},active,{T}\n")
    assert [(r.line, r.column) for r in result.rejections] == [(3, "store_id")]
    assert list(Store.objects.values_list("store_id", flat=True)) == [longest]


def test_a_database_error_during_a_copy_fails_the_file_by_name_instead_of_escaping(tmp_path, monkeypatch):
    # Without the length check, 1,000 CJK characters in no order (3,000 bytes that do not
    # compress) break the unique index inside the COPY.
    monkeypatch.setattr(validate, "STORE_ID_MAX_CHARS", 10**9)
    shuffled = random.Random(7)
    too_long = "".join(chr(shuffled.randrange(0x4E00, 0x9FFF)) for _ in range(1000))
    result = load_text(tmp_path, f"{HEADER}\ns1,active,{T}\n{too_long},active,{T}\n")
    assert result.mode == "failed" and "index row" in result.error
    assert not Store.objects.exists() and not StatusPoll.objects.exists()


def test_two_stray_quotes_cost_only_their_own_rows(tmp_path):
    # An even number of stray quotes used to pair up across lines and fail the whole file.
    result = load_text(tmp_path, f'{HEADER}\nJoe"s,active,{T}\ns2,actve,{T}\nAnn"s,active,{T}\ns4,active,{T}\n')
    assert rejected(result) == [(3, "unknown status 'actve'")]
    assert {store for store, _, _ in stored_polls()} == {'Joe"s', 'Ann"s', "s4"}


def test_quotes_inside_unquoted_fields_are_characters_even_when_they_pair_up(tmp_path):
    # a"b,c"d is three fields for the csv module; the quote scan used to see two.
    result = load_text(tmp_path, 'store_id,timezone_str\na"b,c"d,UTC\nok,UTC\n')
    assert rejected(result) == [(2, "wrong column count: expected 2 fields, found 3")]
    assert list(Store.objects.values_list("store_id", flat=True)) == ["ok"]


@pytest.mark.parametrize("stamp", ["now", "today", "2023", "2023-01", "2023-01-22", "20230122"])
def test_words_and_bare_dates_are_not_timestamps(tmp_path, stamp):
    # pandas reads "now" as the current time and "2023" as its New Year's midnight.
    result = load_text(tmp_path, f"{HEADER}\ns1,active,{stamp}\n")
    assert rejected(result) == [(2, f"unparsable timestamp {stamp!r}")]
    assert not StatusPoll.objects.exists()


def test_an_unclosed_quote_is_one_rejected_record_that_says_which_lines_it_swallowed(tmp_path):
    result = load_text(tmp_path, f'{HEADER}\ns1,active,{T}\n"s2,active,{T}\ns3,active,{T}\ns4,active,{T}\n')
    # The quote opened on line 3 is never closed: lines 3 to 5 (the last) are one field.
    assert rejected(result) == [(3, "wrong column count: expected 3 fields, found 1 (one record over lines 3-5: a quote left open?)")]
    assert {store for store, _, _ in stored_polls()} == {"s1"}


# --- Report CSVs neutralise formula-looking store ids --------------------------------------

def test_report_cells_of_formula_looking_store_ids_get_one_apostrophe_that_gives_the_id_back(tmp_path):
    ids = [*STRANGE_IDS, "plain"]
    rows = "".join(f"{csv_line([store, 'active', T], quote_all=False)}\n" for store in ids)
    assert load_text(tmp_path, f"{HEADER}\n{rows}").inserted == len(ids)
    report = report_build(report=report_create(build_here=True))
    assert report.state == Report.State.COMPLETE, report.error
    header, *lines = csv.reader(io.StringIO(report.csv, newline=""))
    assert header == list(REPORT_COLUMNS)
    cells = [line[0] for line in lines]
    # docs/method.md: an id starting with = + - @ or ' is written with one apostrophe before it (TAB and CR
    # too, which ingestion now refuses: engine tests keep them).
    guarded = {"=SUM(A1)", "+1", "-1", "@x", "'quoted"}
    assert {cell[1:] for cell in cells if cell.startswith("'")} == guarded
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    recovered = [cell[1:] if cell.startswith("'") else cell for cell in cells]
    assert recovered == sorted(ids)  # every id exactly, in code-point order (SPEC 5)


def test_a_time_with_no_zone_stays_utc_after_a_time_with_an_offset_in_the_same_column(tmp_path):
    # pandas 2.3 read a time with no zone in the offset of the aware time before it.
    load_text(tmp_path, f"{HEADER}\ns1,active,2024-09-21T12:00:00+02:00\ns2,active,{T}\n")
    # 12:00 at +02:00 is 10:00 UTC; s2's time has no zone, so it is UTC as written.
    assert stored_polls() == {("s1", datetime(2024, 9, 21, 10, tzinfo=UTC), True), ("s2", AT_T, True)}


def test_new_lines_of_a_file_with_a_lone_cr_are_read_with_the_line_numbers_a_full_read_gives(tmp_path):
    path = tmp_path / "growing.csv"
    path.write_bytes(f"{HEADER}\ns0\rs1,active,{T}\n".encode())
    [first] = ingest_paths(paths=[path])
    with path.open("ab") as handle:
        handle.write(f"s2,bogus,{T}\n".encode())
    [tail] = ingest_paths(paths=[path])
    # Line 2 is "s0", line 3 s1 (the CR ends line 2), so the appended row is line 4.
    assert (first.mode, rejected(first)) == ("full", [(2, "wrong column count: expected 3 fields, found 1")])
    assert (tail.mode, rejected(tail)) == ("tail", [(4, "unknown status 'bogus'")])
