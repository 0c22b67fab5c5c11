"""What the HTML pages show, fetched and shaped apart from the views.

A finished report's CSV is the single source of the report page: it is parsed
once into a DataFrame (kept for a few reports, since a Complete report never
changes), then summed, filtered, sorted and paged as whole columns, so a 14,000-
row report answers each page of its table in milliseconds. The store page reads
one store's row, hours and polls through the report's own reader
(reports/reading.py, one query each) and asks the engine for the same timeline
a report computes.
"""
from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from threading import Lock
from typing import Mapping
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from monitoring import svg_chart
from monitoring.engine import OUTAGE_COUNT_COLUMNS, REPORT_COLUMNS, StoreTimeline, store_timeline
from monitoring.models import Report
from monitoring.reports import reading

NUMBER_COLUMNS = REPORT_COLUMNS[1:]
COUNT_COLUMNS = OUTAGE_COUNT_COLUMNS[1:]
# The report table: the SPEC 5 figures, then each store's outages (from the outage list).
TABLE_COLUMNS = REPORT_COLUMNS + COUNT_COLUMNS
COLUMN_LABELS = {
    "store_id": "Store",
    "uptime_last_hour": "Last hour (min)",
    "uptime_last_day": "Last day (h)",
    "uptime_last_week": "Last week (h)",
    "downtime_last_hour": "Last hour (min)",
    "downtime_last_day": "Last day (h)",
    "downtime_last_week": "Last week (h)",
    "outages_last_day": "Last day",
    "outages_last_week": "Last week",
    "longest_outage_minutes": "Longest (min)",
}
COLUMN_GROUPS = {column: column.split("_")[0].capitalize() for column in NUMBER_COLUMNS} | {
    column: "Outages" for column in COUNT_COLUMNS
}
PAGE_SIZES = (50, 100, 500)
# Quick filters of the report table: name -> (label, column that must be > 0).
QUICK_FILTERS: dict[str, tuple[str, str | None]] = {
    "all": ("All stores", None),
    "down_hour": ("Down in the last hour", "downtime_last_hour"),
    "down_day": ("Down in the last day", "downtime_last_day"),
    "down_week": ("Down in the last week", "downtime_last_week"),
}
WORST_STORES = 5


@dataclass(frozen=True)
class TableQuery:
    """The report table's controls, read leniently: a bad value is its default, never an error."""

    q: str = ""
    show: str = "all"
    sort: str = "store_id"
    order: str = "asc"
    page: int = 1
    per: int = PAGE_SIZES[0]

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> TableQuery:
        sort = params.get("sort", "store_id")
        sort = sort if sort in TABLE_COLUMNS else "store_id"
        default_order = "asc" if sort == "store_id" else "desc"
        order = params.get("order", default_order)
        return cls(
            q=params.get("q", "").strip()[:200],
            show=params.get("show", "all") if params.get("show") in QUICK_FILTERS else "all",
            sort=sort,
            order=order if order in ("asc", "desc") else default_order,
            page=_positive_int(params.get("page"), 1),
            per=int(params["per"]) if params.get("per") in [str(size) for size in PAGE_SIZES] else PAGE_SIZES[0],
        )

    def link(self, **changes) -> str:
        """The query string of this table with some controls changed (defaults left out)."""
        values = {"q": self.q, "show": self.show, "sort": self.sort, "order": self.order, "page": self.page, "per": self.per}
        values.update(changes)
        defaults = {"q": "", "show": "all", "page": 1, "per": PAGE_SIZES[0]}
        if values["sort"] == "store_id" and values["order"] == "asc":
            defaults.update(sort="store_id", order="asc")
        return "?" + urlencode({key: value for key, value in values.items() if defaults.get(key) != value})

    def sort_link(self, column: str) -> str:
        """Clicking a header sorts by it; clicking the sorted header again flips the order.
        Numbers start with the largest first: the worst stores are what an owner looks for."""
        if column == self.sort:
            order = "desc" if self.order == "asc" else "asc"
        else:
            order = "asc" if column == "store_id" else "desc"
        return self.link(sort=column, order=order, page=1)


def _positive_int(raw: str | None, default: int) -> int:
    try:
        value = int(raw or "")
    except ValueError:
        return default
    return value if value >= 1 else default


@dataclass(frozen=True)
class TablePage:
    query: TableQuery
    rows: list[dict]
    total: int  # stores in the report
    matched: int  # stores left by the filters
    page: int
    pages: int

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.query.per + 1 if self.matched else 0

    @property
    def last_index(self) -> int:
        return min(self.page * self.query.per, self.matched)

    @property
    def headers(self) -> list[dict]:
        """Each column's label, sort link and aria-sort state."""
        aria = {"asc": "ascending", "desc": "descending"}
        return [
            {
                "column": column,
                "label": COLUMN_LABELS[column],
                "group": COLUMN_GROUPS.get(column, ""),
                "href": self.query.sort_link(column),
                "aria_sort": aria[self.query.order] if column == self.query.sort else "none",
            }
            for column in TABLE_COLUMNS
        ]

    @property
    def pager(self) -> dict[str, str | None]:
        """Links to the first, previous, next and last pages (None where there is none)."""
        before, after = self.page > 1, self.page < self.pages
        return {
            "first": self.query.link(page=1) if before else None,
            "previous": self.query.link(page=self.page - 1) if before else None,
            "next": self.query.link(page=self.page + 1) if after else None,
            "last": self.query.link(page=self.pages) if after else None,
        }


@dataclass(frozen=True)
class ReportSummary:
    store_count: int
    down_last_week: int  # stores with any downtime in the last week
    down_last_day: int
    downtime_week_hours: float
    uptime_week_hours: float
    worst: list[dict] = field(default_factory=list)
    most_outages: list[dict] = field(default_factory=list)

    @property
    def uptime_share(self) -> float | None:
        """Share of all open hours of the week that were up, across stores."""
        open_hours = self.uptime_week_hours + self.downtime_week_hours
        return self.uptime_week_hours / open_hours if open_hours else None


@dataclass(frozen=True)
class ParsedReport:
    frame: pd.DataFrame  # TABLE_COLUMNS, in store_id order
    outages: pd.DataFrame  # the outage list: store_id, start, end (UTC), minutes, ongoing
    summary: ReportSummary


class _ParsedCache:
    """The last few Complete reports, parsed and summed (they never change, so never stale)."""

    def __init__(self, size: int) -> None:
        self._size, self._reports, self._lock = size, OrderedDict(), Lock()

    def get(self, report: Report) -> ParsedReport:
        key = str(report.id)
        with self._lock:
            if key in self._reports:
                self._reports.move_to_end(key)
                return self._reports[key]
        parsed = _parse(report)
        with self._lock:
            self._reports[key] = parsed
            while len(self._reports) > self._size:
                self._reports.popitem(last=False)
        return parsed


_parsed = _ParsedCache(size=4)
_EMPTY = pd.DataFrame({column: pd.Series(dtype=str if column == "store_id" else "float64") for column in TABLE_COLUMNS})
_NO_OUTAGES = pd.DataFrame({
    "store_id": pd.Series(dtype=str), "start": pd.Series(dtype="datetime64[ns, UTC]"),
    "end": pd.Series(dtype="datetime64[ns, UTC]"), "minutes": pd.Series(dtype="float64"), "ongoing": pd.Series(dtype=bool),
})


def report_for_page(*, report_id: UUID) -> Report | None:
    """The report without its CSV (a megabyte for 14,000 stores): the parsed
    frame is cached, so the text is fetched only when the cache misses."""
    return Report.objects.defer(*Report.BULKY_FIELDS).filter(pk=report_id).first()


def parse_report_csv(*, text: str) -> pd.DataFrame:
    frame = _read_csv(text)
    frame = frame[REPORT_COLUMNS].astype({column: "float64" for column in NUMBER_COLUMNS})
    # Already in code-point order but for un-guarded ids; _ordered relies on it.
    return frame.sort_values("store_id", kind="stable", ignore_index=True)


def parse_outages_csv(*, text: str) -> pd.DataFrame:
    """The SPEC 7 outage list, instants as UTC timestamps, in store_id then start order."""
    if not text:
        return _NO_OUTAGES  # a report finished before outage lists were kept
    frame = _read_csv(text)
    outages = pd.DataFrame({
        "store_id": frame["store_id"].astype(str),
        "start": pd.to_datetime(frame["start_utc"], utc=True),
        "end": pd.to_datetime(frame["end_utc"], utc=True),
        "minutes": frame["minutes"].astype("float64"),
        # pandas reads true/false as booleans already; compare as text either way.
        "ongoing": frame["ongoing"].astype(str).str.lower() == "true",
    })
    return outages.sort_values(["store_id", "start"], kind="stable", ignore_index=True)


def _read_csv(text: str) -> pd.DataFrame:
    # store_id stays text exactly as written (SPEC 1): no number or NA guessing.
    frame = pd.read_csv(io.StringIO(text), dtype={"store_id": str}, keep_default_na=False)
    # The CSVs guard ids a spreadsheet would run as formulas with a leading
    # apostrophe (engine.csv_export); the pages show and link the id itself.
    guarded = frame["store_id"].str.startswith("'")
    frame.loc[guarded, "store_id"] = frame.loc[guarded, "store_id"].str[1:]
    return frame


def _parse(report: Report) -> ParsedReport:
    """The report's rows with each store's outage counts (0 without outages), and its outage list."""
    frame = parse_report_csv(text=report.csv)
    if report.outage_counts_csv:
        counts = _read_csv(report.outage_counts_csv).set_index("store_id")
        for column in COUNT_COLUMNS:
            frame[column] = frame["store_id"].map(counts[column]).fillna(0).astype("float64").to_numpy()
    else:
        for column in COUNT_COLUMNS:
            frame[column] = 0.0
    return ParsedReport(frame=frame, outages=parse_outages_csv(text=report.outages_csv), summary=report_summary(frame=frame))


def parsed_report(*, report: Report) -> ParsedReport:
    """A Complete report's rows and summary (an unfinished report has none)."""
    if report.state != Report.State.COMPLETE:
        return ParsedReport(frame=_EMPTY, outages=_NO_OUTAGES, summary=report_summary(frame=_EMPTY))
    return _parsed.get(report)


def report_summary(*, frame: pd.DataFrame) -> ReportSummary:
    down = frame[frame["downtime_last_week"] > 0]
    worst = _ordered(down, column="downtime_last_week", ascending=False).head(WORST_STORES)
    interrupted = frame[frame["outages_last_week"] > 0]
    most_outages = _ordered(interrupted, column="outages_last_week", ascending=False).head(WORST_STORES)
    return ReportSummary(
        store_count=len(frame),
        down_last_week=len(down),
        down_last_day=int((frame["downtime_last_day"] > 0).sum()),
        downtime_week_hours=float(frame["downtime_last_week"].sum()),
        uptime_week_hours=float(frame["uptime_last_week"].sum()),
        worst=worst.to_dict("records"),
        most_outages=most_outages.to_dict("records"),
    )


def report_table(*, frame: pd.DataFrame, query: TableQuery) -> TablePage:
    matched = frame
    if query.q:
        matched = matched[matched["store_id"].str.contains(query.q, case=False, regex=False)]
    column = QUICK_FILTERS[query.show][1]
    if column:
        matched = matched[matched[column] > 0]
    ordered = _ordered(matched, column=query.sort, ascending=query.order == "asc")
    pages = max(1, -(-len(ordered) // query.per))
    page = min(query.page, pages)
    rows = ordered.iloc[(page - 1) * query.per : page * query.per].to_dict("records")
    return TablePage(query=query, rows=rows, total=len(frame), matched=len(ordered), page=page, pages=pages)


def _ordered(frame: pd.DataFrame, *, column: str, ascending: bool) -> pd.DataFrame:
    """The frame (in store_id order) sorted by one column; ties stay in store_id order,
    so a page never reshuffles between two requests. One stable argsort of one
    float column is several times faster than a two-key sort with strings."""
    if column == "store_id":
        return frame if ascending else frame.iloc[::-1]
    values = frame[column].to_numpy()
    return frame.iloc[np.argsort(values if ascending else -values, kind="stable")]


def report_row(*, frame: pd.DataFrame, store_id: str) -> dict | None:
    found = frame[frame["store_id"] == store_id]
    return found.iloc[0].to_dict() if len(found) else None


WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Outage:
    """One row of the report's outage list, with the store's wall-clock times."""

    start: datetime
    end: datetime
    minutes: float
    ongoing: bool
    start_local: datetime  # naive, the store's wall clock
    end_local: datetime

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.minutes)


@dataclass(frozen=True)
class StoreGiven:
    store_id: str
    timezone: str  # as given; empty for the default zone


@dataclass(frozen=True)
class OpenHours:
    weekday: int  # 0 = Monday
    start_local: time
    end_local: time  # before start_local: closes the next day; equal: open 24 hours


@dataclass(frozen=True)
class StoreDetail:
    """One store of one report: its inputs as given, and the week the report counted."""

    store: StoreGiven
    zone: str  # the zone the report used (the default when none was given)
    hours: list[OpenHours]
    figures: dict | None  # the store's row of the report
    timeline: StoreTimeline
    chart: svg_chart.WeekChart
    outages: list[Outage]
    week_polls: int
    week_observations: int

    @property
    def chart_uptime_hours(self) -> float:
        return self.timeline.uptime / timedelta(hours=1)

    @property
    def chart_downtime_hours(self) -> float:
        return self.timeline.downtime / timedelta(hours=1)


def store_detail(*, report: Report, store_id: str) -> StoreDetail | None:
    """None when the report is not Complete or does not know the store.

    The store's inputs come through the report's own reader, so the page's
    timeline is computed from exactly what a report of it reads.
    """
    if report.state != Report.State.COMPLETE or report.now is None:
        return None
    parsed = parsed_report(report=report)
    figures = report_row(frame=parsed.frame, store_id=store_id)
    if figures is None:
        return None
    data = reading.read_shard(now=report.now, store_id=store_id)
    if data.stores.empty:
        return None  # the store was deleted since the report
    given = StoreGiven(store_id=store_id, timezone=data.stores["timezone"].iloc[0])
    timeline = store_timeline(
        store_id=store_id, timezone=given.timezone, hours=data.hours, polls=data.polls,
        now=report.now, start=report.now - WEEK, end=report.now,
    )
    # The reader's polls are in no particular order and in epoch nanoseconds;
    # the chart wants them in time order, as instants.
    polls = data.polls.sort_values("ts", kind="stable")
    polls = pd.DataFrame({"ts": pd.to_datetime(polls["ts"], utc=True), "active": polls["active"]})
    return _store_detail(
        store=given, hours=_open_hours(data.hours), figures=figures, timeline=timeline, polls=polls, now=report.now,
        outages=store_outages(parsed=parsed, store_id=store_id),
    )


def store_outages(*, parsed: ParsedReport, store_id: str) -> pd.DataFrame:
    """The report's outage list rows of one store: what the store page lists."""
    outages = parsed.outages
    return outages[outages["store_id"] == store_id]


def _open_hours(hours: pd.DataFrame) -> list[OpenHours]:
    """The reader's hours (microseconds after local midnight) as wall-clock times, by day and opening."""
    ordered = hours.sort_values(["weekday", "start_us"], kind="stable")
    return [
        OpenHours(weekday=int(day), start_local=_clock(start), end_local=_clock(end))
        for day, start, end in ordered[["weekday", "start_us", "end_us"]].itertuples(index=False)
    ]


def _clock(microseconds: int) -> time:
    return (datetime.min + timedelta(microseconds=int(microseconds))).time()


def _store_detail(
    *, store: StoreGiven, hours: list[OpenHours], figures: dict, timeline: StoreTimeline, polls: pd.DataFrame,
    now: datetime, outages: pd.DataFrame,
) -> StoreDetail:
    zone = ZoneInfo(timeline.timezone)
    start, end = timeline.start.to_pydatetime(), timeline.end.to_pydatetime()
    used = set(timeline.observations["ts"])
    in_week = polls[(polls["ts"] >= start) & (polls["ts"] <= end)]
    chart_polls = [svg_chart.Poll(ts=ts, active=bool(active), used=pd.Timestamp(ts) in used) for ts, active in in_week.itertuples(index=False)]
    chart = svg_chart.week_chart(
        zone=zone, start=start, end=end, now=now,
        open_intervals=[(s.to_pydatetime(), e.to_pydatetime()) for s, e in timeline.open_intervals.itertuples(index=False)],
        segments=[(s.to_pydatetime(), e.to_pydatetime(), bool(a)) for s, e, a in timeline.segments.itertuples(index=False)],
        polls=chart_polls,
    )
    listed = [
        Outage(start=s.to_pydatetime(), end=e.to_pydatetime(), minutes=float(m), ongoing=bool(o),
               start_local=_wall(s, zone), end_local=_wall(e, zone))
        for s, e, m, o in outages[["start", "end", "minutes", "ongoing"]].itertuples(index=False)
    ]
    return StoreDetail(
        store=store, zone=timeline.timezone, hours=hours, figures=figures, timeline=timeline, chart=chart,
        outages=listed, week_polls=len(chart_polls), week_observations=sum(poll.used for poll in chart_polls),
    )


def _wall(instant: pd.Timestamp, zone: ZoneInfo) -> datetime:
    """The store's wall-clock time, naive, so templates print it as it is (not in UTC)."""
    return instant.tz_convert(zone).to_pydatetime().replace(tzinfo=None)
