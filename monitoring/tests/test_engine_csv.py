"""report_to_csv: the exact text, the formula guard, and quoting that reads back."""
from __future__ import annotations

import csv
import io

import pandas as pd

from monitoring.engine import REPORT_COLUMNS, report_to_csv


def test_report_to_csv_writes_the_exact_text():
    frame = pd.DataFrame(
        [["0000123", 60.0, 23.75, 167.75, 0.0, 0.25, 0.25], ["1481966498820158979", 0.0, 1.74, 1.74, 60.0, 1.26, 1.26]],
        columns=REPORT_COLUMNS,
    )
    assert report_to_csv(frame) == (
        "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
        "downtime_last_hour,downtime_last_day,downtime_last_week\n"
        "0000123,60.00,23.75,167.75,0.00,0.25,0.25\n"
        "1481966498820158979,0.00,1.74,1.74,60.00,1.26,1.26\n"
    )


def test_report_to_csv_puts_an_apostrophe_before_formula_looking_ids():
    # OWASP CSV-injection advice: = + - @ tab and CR may start a formula.
    # An id starting with an apostrophe gets one more, so that dropping one
    # leading apostrophe always gives the id back.
    ids = ["=cmd", "+1", "-2", "@sum", "\tx", "'quoted", "ok", "a=b"]
    frame = pd.DataFrame([[store_id, 1, 2, 3, 4, 5, 6] for store_id in ids], columns=REPORT_COLUMNS)
    assert report_to_csv(frame).split("\n")[1:] == [
        "'=cmd,1.00,2.00,3.00,4.00,5.00,6.00",
        "'+1,1.00,2.00,3.00,4.00,5.00,6.00",
        "'-2,1.00,2.00,3.00,4.00,5.00,6.00",
        "'@sum,1.00,2.00,3.00,4.00,5.00,6.00",
        "'\tx,1.00,2.00,3.00,4.00,5.00,6.00",
        "''quoted,1.00,2.00,3.00,4.00,5.00,6.00",
        "ok,1.00,2.00,3.00,4.00,5.00,6.00",
        "a=b,1.00,2.00,3.00,4.00,5.00,6.00",
        "",
    ]


def test_report_to_csv_quotes_ids_so_that_a_csv_reader_gets_them_back():
    # Dropping the one leading apostrophe of a defused id gives the id back.
    ids = ["a,b", 'say "hi"', "two\nlines", "cr\rinside", "\rstart", "=1,2", "'=x"]
    frame = pd.DataFrame([[store_id, 0, 0, 0, 0, 0, 0] for store_id in ids], columns=REPORT_COLUMNS)
    text = report_to_csv(frame)
    assert text.split("\n")[1] == '"a,b",0.00,0.00,0.00,0.00,0.00,0.00'
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert [row[0].removeprefix("'") for row in rows[1:]] == ids
    assert all(len(row) == len(REPORT_COLUMNS) for row in rows)
