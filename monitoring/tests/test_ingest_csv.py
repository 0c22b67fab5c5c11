"""Reading and validating CSV sources, without a database (monitoring/ingest/parse.py, validate.py)."""
import csv
import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.engine.zones import is_timezone_name, resolve_zone_name
from monitoring.ingest.parse import (
    SourceError,
    parse_body,
    parse_header,
)
from monitoring.ingest.stream import SourceStream
from monitoring.ingest.validate import parse_local_times, parse_utc, validate_columns
from monitoring.models import IngestRun

DATA = Path(__file__).parent / "data"


def parse_file(path: Path):
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    header = parse_header(data, path=path)
    return header, parse_body(data[header.end :], header=header, first_line=2)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("store_id,status,timestamp_utc", IngestRun.Kind.POLLS),
        ("timestamp_utc,STATUS,Store_Id,extra", IngestRun.Kind.POLLS),
        ("store_id,day,start_time_local,end_time_local", IngestRun.Kind.HOURS),
        ("store_id,dayOfWeek,start_time_local,end_time_local", IngestRun.Kind.HOURS),
        ("store_id,day_of_week,start_time_local,end_time_local", IngestRun.Kind.HOURS),
        ("end_time_local,dayofweek,store_id,start_time_local", IngestRun.Kind.HOURS),
        ("store_id,timezone_str", IngestRun.Kind.TIMEZONES),
        (" timezone_str , store_id ", IngestRun.Kind.TIMEZONES),
    ],
)
def test_it_recognises_each_kind_by_its_header_in_any_order_and_case(line, kind):
    # `is`: the kind is the model's own choice, what the load's IngestRun row stores.
    assert parse_header(f"{line}\n".encode(), path=Path("x.csv")).kind is kind


def test_it_rejects_an_unknown_header_naming_the_file_and_line():
    with pytest.raises(SourceError, match=r"x\.csv: line 1: unknown header 'store_id,colour'"):
        parse_header(b"store_id,colour\n1,red\n", path=Path("x.csv"))


def test_an_unknown_header_lists_the_columns_each_kind_expects_under_its_stored_name():
    with pytest.raises(SourceError, match=r"expected the columns of polls: store_id, status, timestamp_utc; hours: "):
        parse_header(b"store_id,colour\n", path=Path("x.csv"))


def test_it_rejects_an_empty_file_naming_it():
    with pytest.raises(SourceError, match=r"empty\.csv: empty file"):
        parse_header(b"  \n", path=Path("empty.csv"))


def test_it_rejects_a_header_naming_one_column_twice():
    with pytest.raises(SourceError, match="'day' appears 2 times"):
        parse_header(b"store_id,day,dayOfWeek,start_time_local,end_time_local\n", path=Path("x.csv"))


def test_a_missing_file_is_a_source_error_naming_it(tmp_path):
    with pytest.raises(SourceError, match="nothing.csv: no such file"):
        SourceStream(tmp_path / "nothing.csv", start=0, first_line=2, header=None, max_bytes=1 << 20)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-22 12:09:39.388884 UTC", utc(2023, 1, 22, 12, 9, 39, 388884)),
        ("2023-01-22 12:09:39 UTC", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22 12:09:39", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22 12:09:39.5", utc(2023, 1, 22, 12, 9, 39, 500000)),
        ("2024-09-21T10:00:00Z", utc(2024, 9, 21, 10)),
        ("2024-09-21T10:00:00.123Z", utc(2024, 9, 21, 10, 0, 0, 123000)),
        ("2024-09-21T10:00:00+00:00", utc(2024, 9, 21, 10)),
        ("2024-09-21 10:00:00.000001+00:00", utc(2024, 9, 21, 10, 0, 0, 1)),
        # Another offset is converted: 12:00 at +02:00 is 10:00 UTC.
        ("2024-09-21T12:00:00+02:00", utc(2024, 9, 21, 10)),
        ("  2023-01-22 12:09:39 utc  ", utc(2023, 1, 22, 12, 9, 39)),
    ],
)
def test_it_reads_every_timestamp_format_of_the_spec_as_utc(text, expected):
    assert parse_utc(pa.array([text])).to_pylist() == [expected]


def test_the_fast_utc_path_and_the_general_one_agree_on_a_mixed_column():
    # All " UTC": the pyarrow cast; one other format in the column: pandas for all of them.
    same = ["2023-01-22 12:09:39.388884 UTC", "2023-01-25 18:13:22 UTC"]
    assert parse_utc(pa.array(same)).to_pylist() == parse_utc(pa.array(same + ["2023-01-22T00:00:00Z"])).to_pylist()[:2]


@pytest.mark.parametrize("text", ["", "yesterday", "2023-13-01 00:00:00", "2023-01-22 25:00:00 UTC", "2023-01-22 12:09:39 UTCX"])
def test_it_gives_no_instant_for_an_unparsable_timestamp(text):
    assert parse_utc(pa.array([text])).to_pylist() == [None]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", "09:00:00.000000"),
        ("9:05:30", "09:05:30.000000"),
        ("23:59:59.5", "23:59:59.500000"),
        (" 00:00:00.000001 ", "00:00:00.000001"),
        ("24:00:00", None),
        ("12:60", None),
        ("12:00:60", None),
        ("noon", None),
        ("", None),
        ("12:00:00.1234567", None),
    ],
)
def test_it_reads_local_times_as_hh_mm_with_optional_seconds_and_fraction(text, expected):
    assert parse_local_times(pa.array([text])).to_pylist() == [expected]


def test_each_bad_poll_row_is_rejected_with_its_line_column_and_reason():
    _, parsed = parse_file(DATA / "polls_bad_rows.csv")
    found = [(r.line, r.column, r.reason.split(" ")[0]) for r in parsed.rejections]
    # Lines from monitoring/tests/data/README.md: 3 status, 4 timestamp, 5 store id, 6 and 7 width, 10 bytes,
    # 12 a line break in the store id.
    assert found == [
        (3, "status", "unknown"),
        (4, "timestamp_utc", "unparsable"),
        (5, "store_id", "empty"),
        (6, "", "wrong"),
        (7, "", "wrong"),
        (10, "", "undecodable"),
        (12, "store_id", "control"),
    ]
    assert parsed.rejections[0].reason == "unknown status 'actve'"
    assert parsed.rejections[3].reason == "wrong column count: expected 3 fields, found 2"
    assert parsed.rejections[4].raw == "s3,active,2023-01-22 12:00:00,extra"


def test_the_good_rows_of_a_file_with_bad_rows_keep_their_real_line_numbers():
    _, parsed = parse_file(DATA / "polls_bad_rows.csv")
    rows = parsed.rows.to_pylist()
    # The quoted newline makes s7's (rejected) record lines 12-13, so s8 is line 14; line 11 is blank.
    assert [(r["store_id"], r["line"], r["active"]) for r in rows] == [
        ("s1", 2, True),
        ("s4", 8, True),
        ("s5", 9, False),
        ("s8", 14, True),
    ]
    # 11 records (lines 2-10, 12 and 14): 4 good + 7 rejected; the blank line is no row.
    assert parsed.rows_read == 11


def test_hours_read_any_column_order_day_variant_crlf_and_time_format():
    header, parsed = parse_file(DATA / "hours_variants.csv")
    assert header.kind == IngestRun.Kind.HOURS
    assert [(r["store_id"], r["weekday"], r["start_local"], r["end_local"], r["line"]) for r in parsed.rows.to_pylist()] == [
        ("h1", 0, "09:00:00.000000", "17:00:00.000000", 2),
        ("h1", 4, "18:30:00.000000", "02:00:00.000000", 3),
        ("h1", 5, "00:00:00.000000", "23:59:59.999999", 4),
    ]


def test_bad_hours_rows_name_the_column_as_the_file_writes_it():
    _, parsed = parse_file(DATA / "hours_variants.csv")
    assert [(r.line, r.column, r.reason) for r in parsed.rejections] == [
        (5, "dayOfWeek", "day outside 0-6: '7'"),
        (6, "dayOfWeek", "unparsable day 'Mon'"),
        (7, "end_time_local", "unparsable time '5pm'"),
        (8, "start_time_local", "unparsable time '25:00:00'"),
    ]


def test_timezones_reject_unknown_and_empty_names_and_accept_a_byte_order_mark():
    _, parsed = parse_file(DATA / "timezones_mixed.csv")
    assert [(r.line, r.reason) for r in parsed.rejections] == [
        (3, "unknown timezone name 'Mars/Olympus_Mons'"),
        (4, "unknown timezone name ''"),
    ]
    assert [(r["store_id"], r["timezone"]) for r in parsed.rows.to_pylist()] == [
        ("t1", "America/New_York"),
        ("t4", "Asia/Kolkata"),
        ("t1", "America/Denver"),
    ]


def test_store_ids_are_kept_exactly_as_written():
    header = parse_header(b"store_id,timezone_str\n", path=Path("x.csv"))
    body = b"0012,UTC\n8419537941919820732,UTC\n12345678901234567890123,UTC\n"
    parsed = parse_body(body, header=header, first_line=2)
    assert parsed.rows.column("store_id").to_pylist() == ["0012", "8419537941919820732", "12345678901234567890123"]


def test_a_body_read_from_the_middle_numbers_its_lines_from_where_it_starts():
    header = parse_header(b"store_id,status,timestamp_utc\n", path=Path("x.csv"))
    parsed = parse_body(b"a,active,2023-01-22 12:00:00\nb,bogus,2023-01-22 12:00:00\n", header=header, first_line=101)
    assert parsed.rows.column("line").to_pylist() == [101]
    assert parsed.rejections[0].line == 102


def test_an_unterminated_last_line_is_read_but_not_counted_as_complete():
    header = parse_header(b"store_id,timezone_str\n", path=Path("x.csv"))
    body = b"a,UTC\nb,UTC"
    parsed = parse_body(body, header=header, first_line=2)
    assert parsed.rows.num_rows == 2
    # Only "a,UTC\n" (6 bytes, 1 line) is safe to skip when the file grows later.
    assert (parsed.complete_end, parsed.complete_lines) == (6, 1)


def test_a_plain_file_with_a_row_of_the_wrong_width_still_reports_it_with_its_line():
    # No quotes, blank lines or non-ASCII: the fast path first, then the record scan for the bad row.
    header = parse_header(b"store_id,status,timestamp_utc\n", path=Path("x.csv"))
    body = b"a,active,2023-01-22 12:00:00\nb,active\nc,inactive,2023-01-22 12:00:00\n"
    parsed = parse_body(body, header=header, first_line=2)
    assert [(r.line, r.raw) for r in parsed.rejections] == [(3, "b,active")]
    assert parsed.rows.column("line").to_pylist() == [2, 4]


def test_a_semantic_rejection_in_a_plain_file_keeps_the_rows_raw_text():
    header = parse_header(b"store_id,status,timestamp_utc\n", path=Path("x.csv"))
    parsed = parse_body(b"a,active,2023-01-22 12:00:00\nb,maybe,2023-01-22 12:00:00\n", header=header, first_line=2)
    assert [(r.line, r.raw) for r in parsed.rejections] == [(3, "b,maybe,2023-01-22 12:00:00")]


_FIELD = st.sampled_from(["s1", "s,2", 's"3', "s\n4", "a b", "", "UTC", "Asia/Kolkata", "Mars/Base", " UTC "])


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.lists(_FIELD, min_size=0, max_size=3), max_size=12),
    quote_all=st.booleans(),
    crlf=st.booleans(),
)
def test_records_and_line_numbers_agree_with_pythons_csv_module(rows, quote_all, crlf):
    """A second, simpler reading: csv.reader, its line_num telling where each record ends."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    text = buffer.getvalue()
    expected_good, expected_bad, previous_end = [], [], 1
    reader = csv.reader(io.StringIO(text))
    for record in reader:
        line, previous_end = previous_end + 1, reader.line_num + 1
        if not record:
            continue  # a blank line is no row
        if len(record) != 2:
            expected_bad.append(line)
        elif not record[0].strip() or record[0] in (".", ".."):
            expected_bad.append(line)
        elif any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in record[0]):  # control characters
            expected_bad.append(line)
        elif not is_timezone_name(record[1].strip()):
            expected_bad.append(line)
        else:
            expected_good.append((line, record[0], record[1].strip()))
    header = parse_header(b"store_id,timezone_str\n", path=Path("x.csv"))
    parsed = parse_body(text.encode(), header=header, first_line=2)
    good = [(r["line"], r["store_id"], r["timezone"]) for r in parsed.rows.to_pylist()]
    assert good == expected_good
    assert [r.line for r in parsed.rejections] == expected_bad


def test_a_stray_quote_inside_a_field_costs_only_its_own_row():
    # Unpaired quotes: read as Python's csv module does, where a quote inside an
    # unquoted field is a plain character; the rows after it still load.
    header = parse_header(b"store_id,timezone_str,note\n", path=Path("x.csv"))
    body = b'a,UTC,Joe"s diner\nb,Mars/Base,x\nc,UTC,y\nd,UTC\n'
    parsed = parse_body(body, header=header, first_line=2)
    assert [(r["line"], r["store_id"]) for r in parsed.rows.to_pylist()] == [(2, "a"), (4, "c")]
    assert [(r.line, r.reason) for r in parsed.rejections] == [
        (3, "unknown timezone name 'Mars/Base'"),
        (5, "wrong column count: expected 3 fields, found 2"),
    ]
    assert parsed.rejections[0].raw == "b,Mars/Base,x"


def test_the_forgiving_reading_still_rejects_bytes_that_are_not_utf8():
    header = parse_header(b"store_id,timezone_str\n", path=Path("x.csv"))
    parsed = parse_body(b'a",UTC\nb\xff,UTC\nc,UTC\n', header=header, first_line=2)
    assert [r["store_id"] for r in parsed.rows.to_pylist()] == ['a"', "c"]
    assert [(r.line, r.reason, r.raw) for r in parsed.rejections] == [(3, "undecodable bytes: the row is not UTF-8 text", "b\ufffd,UTC")]


def test_ingestion_rejects_exactly_the_zone_names_reports_would_not_use():
    names = ["America/Chicago", "Mars/Olympus_Mons", "Asia/Kolkata", "Not/AZone"]
    table = pa.table({"store_id": ["s1", "s2", "s3", "s4"], "timezone_str": names})
    rejected = [row for row, _, _ in validate_columns(table, kind="timezones").rejected]
    assert rejected == [row for row, name in enumerate(names) if resolve_zone_name(name) != name] == [1, 3]


@pytest.mark.parametrize("first_line", [
    "-----BEGIN OPENSSH PRIVATE KEY-----",  # a symlinked key: no comma
    "root:x:0:0:root,,,:/root:/bin/bash\x07",  # a comma, but a control character
    "secret," + "x" * 1000,  # a comma, but no header is that long
])
def test_an_unknown_first_line_that_is_not_a_csv_header_is_never_echoed(first_line):
    with pytest.raises(SourceError) as failure:
        parse_header(f"{first_line}\nmore secret text\n".encode(), path=Path("x.csv"))
    message = str(failure.value)
    assert "x.csv: line 1: unknown header (not shown: " in message
    assert first_line[:10] not in message and "secret" not in message


def test_a_long_unknown_csv_header_is_shown_escaped_and_cut():
    header = "store_id,<b>" + ",column" * 40
    with pytest.raises(SourceError) as failure:
        parse_header(f"{header}\n".encode(), path=Path("x.csv"))
    assert f"unknown header {header[:120]!r}... ({len(header):,} characters)" in str(failure.value)
