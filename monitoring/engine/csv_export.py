"""The report (SPEC 5) and its outage list (SPEC 7) as CSV text, safe to open in a spreadsheet."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .constants import OUTAGE_COLUMNS, OUTAGE_COUNT_COLUMNS, PERIOD_COLUMNS, REPORT_COLUMNS

_NANOSECONDS_PER_SECOND = 1_000_000_000

# OWASP's advice against CSV injection: a cell starting with one of these may be
# run as a formula by a spreadsheet, so such a store_id gets a leading
# apostrophe. This is the report's one deliberate change to an id. An id that
# already starts with an apostrophe gets one too, so that "a cell starting with
# an apostrophe had one added" always holds and dropping it gives the id back.
_GUARDED_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
# Quoted like the csv module's excel dialect quotes with its own "\r\n"
# terminator. csv.writer with lineterminator="\n" would leave a bare "\r"
# unquoted (Python 3.11), which readers take for a line break.
_NEEDS_QUOTES = re.compile('[,"\r\n]')  # one search per id: a third of the time of four `in` tests


def report_to_csv(report: pd.DataFrame) -> str:
    """Header and one line per row, "\\n" line ends, figures with exactly two decimals."""
    columns = [report["store_id"].astype(str).map(_store_id_cell)]
    columns += [report[name].map("{:.2f}".format) for name in REPORT_COLUMNS[1:]]
    return _lines(REPORT_COLUMNS, columns)


def period_to_csv(figures: pd.DataFrame) -> str:
    """SPEC 8's period report: hours and percent with two decimals (an empty percent without open time)."""
    percent = figures["uptime_percent"]
    columns = [
        figures["store_id"].astype(str).map(_store_id_cell),
        figures["uptime_hours"].map("{:.2f}".format),
        figures["downtime_hours"].map("{:.2f}".format),
        np.where(percent.isna(), "", percent.map("{:.2f}".format)),
        figures["outages"].astype("int64").astype(str),
        figures["longest_outage_minutes"].map("{:.2f}".format),
    ]
    return _lines(PERIOD_COLUMNS, columns)


def outages_to_csv(outages: pd.DataFrame) -> str:
    """SPEC 7's outage list: instants rounded to the second (halves up), exact minutes to 2 decimals."""
    columns = [
        outages["store_id"].astype(str).map(_store_id_cell),
        iso_seconds(outages["start_ns"].to_numpy(dtype=np.int64)),
        iso_seconds(outages["end_ns"].to_numpy(dtype=np.int64)),
        outages["minutes"].map("{:.2f}".format),
        np.where(outages["ongoing"].to_numpy(dtype=bool), "true", "false"),
    ]
    return _lines(OUTAGE_COLUMNS, columns)


def outage_counts_to_csv(counts: pd.DataFrame) -> str:
    """The report page's per-store outage figures, ids written like the report's."""
    columns = [
        counts[OUTAGE_COUNT_COLUMNS[0]].astype(str).map(_store_id_cell),
        counts[OUTAGE_COUNT_COLUMNS[1]].astype(str),
        counts[OUTAGE_COUNT_COLUMNS[2]].astype(str),
        counts[OUTAGE_COUNT_COLUMNS[3]].map("{:.2f}".format),
    ]
    return _lines(OUTAGE_COUNT_COLUMNS, columns)


def iso_seconds(instants_ns: np.ndarray) -> np.ndarray:
    """UTC nanoseconds since the epoch as `2023-01-24T17:02:31Z`, rounded to the nearest second, halves up."""
    seconds = np.floor_divide(instants_ns + _NANOSECONDS_PER_SECOND // 2, _NANOSECONDS_PER_SECOND)
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return np.char.add(text.astype(str), "Z") if text.size else np.array([], dtype=str)


def _lines(header: list[str], columns: list) -> str:
    lines = [",".join(header)]
    lines += [",".join(cells) for cells in zip(*columns, strict=True)]
    return "\n".join(lines) + "\n"


def _store_id_cell(store_id: str) -> str:
    if store_id.startswith(_GUARDED_STARTS):
        store_id = "'" + store_id
    if _NEEDS_QUOTES.search(store_id):
        return '"' + store_id.replace('"', '""') + '"'
    return store_id
