"""The report as CSV text (SPEC 5), safe to open in a spreadsheet."""
from __future__ import annotations

import pandas as pd

from .constants import REPORT_COLUMNS

# OWASP's advice against CSV injection: a cell starting with one of these may be
# run as a formula by a spreadsheet, so such a store_id gets a leading
# apostrophe. This is the report's one deliberate change to an id. An id that
# already starts with an apostrophe gets one too, so that "a cell starting with
# an apostrophe had one added" always holds and dropping it gives the id back.
_GUARDED_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
# Quoted like the csv module's excel dialect quotes with its own "\r\n"
# terminator. csv.writer with lineterminator="\n" would leave a bare "\r"
# unquoted (Python 3.11), which readers take for a line break.
_NEEDS_QUOTES = (",", '"', "\r", "\n")


def report_to_csv(report: pd.DataFrame) -> str:
    """Header and one line per row, "\\n" line ends, figures with exactly two decimals."""
    columns = [report["store_id"].astype(str).map(_store_id_cell)]
    columns += [report[name].map("{:.2f}".format) for name in REPORT_COLUMNS[1:]]
    lines = [",".join(REPORT_COLUMNS)]
    lines += [",".join(cells) for cells in zip(*columns, strict=True)]
    return "\n".join(lines) + "\n"


def _store_id_cell(store_id: str) -> str:
    if store_id.startswith(_GUARDED_STARTS):
        store_id = "'" + store_id
    if any(mark in store_id for mark in _NEEDS_QUOTES):
        return '"' + store_id.replace('"', '""') + '"'
    return store_id
