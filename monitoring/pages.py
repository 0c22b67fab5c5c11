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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from threading import Lock
from typing import Any
from urllib.parse import quote
from uuid import UUID
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.urls import reverse

from monitoring import svg_chart
from monitoring.access import StoreScope
from monitoring.engine import (
    OUTAGE_COUNT_COLUMNS,
    REPORT_COLUMNS,
    STATES,
    StoreTimeline,
    store_period_end,
    store_timeline,
)
from monitoring.models import Report
from monitoring.report_tables import (
    ROLLING,
    WORST_STORES,
    Layout,
    layout_of,
    ordered_by,
)
from monitoring.reports import reading
from monitoring.reports.build import report_period
from monitoring.reports.state import fleet_figures
from monitoring.reports.status import fleet_status

NUMBER_COLUMNS = REPORT_COLUMNS[1:]
COUNT_COLUMNS = OUTAGE_COUNT_COLUMNS[1:]


@dataclass(frozen=True)
class ReportSummary:
    """A rolling report's summary; `period` holds a period report's instead (then the rest is empty)."""

    store_count: int
    down_last_week: int = 0  # stores with any downtime in the last week
    down_last_day: int = 0
    downtime_week_hours: float = 0.0
    uptime_week_hours: float = 0.0
    worst: list[dict] = field(default_factory=list)
    most_outages: list[dict] = field(default_factory=list)
    period: PeriodSummary | None = None

    @property
    def uptime_share(self) -> float | None:
        """Share of all open hours of the week that were up, across stores."""
        open_hours = self.uptime_week_hours + self.downtime_week_hours
        return self.uptime_week_hours / open_hours if open_hours else None


@dataclass(frozen=True)
class PeriodSummary:
    down_stores: int  # stores with any downtime in the period
    uptime_percent: float | None  # the fleet's, this period
    previous_uptime_percent: float | None  # and the period before (the day, week or month before)
    worst: list[dict] = field(default_factory=list)
    most_outages: list[dict] = field(default_factory=list)

    @property
    def change(self) -> float | None:
        """Percentage points up (+) or down (-) against the previous period."""
        if self.uptime_percent is None or self.previous_uptime_percent is None:
            return None
        return round(self.uptime_percent - self.previous_uptime_percent, 2)


@dataclass(frozen=True)
class ParsedReport:
    frame: pd.DataFrame  # the table's columns (report_tables.layout_of(kind)), in store_id order
    outages: pd.DataFrame  # the outage list: store_id, start, end (UTC), minutes, ongoing
    summary: ReportSummary
    layout: Layout = ROLLING


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
_NO_OUTAGES = pd.DataFrame({
    "store_id": pd.Series(dtype=str), "start": pd.Series(dtype="datetime64[ns, UTC]"),
    "end": pd.Series(dtype="datetime64[ns, UTC]"), "minutes": pd.Series(dtype="float64"), "ongoing": pd.Series(dtype=bool),
})


def _empty_frame(layout: Layout) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=str if name == "store_id" else "float64") for name in layout.names})


def parse_report_csv(*, text: str, layout: Layout = ROLLING) -> pd.DataFrame:
    """The report's CSV as its table's frame; a period's empty percent becomes NaN."""
    frame = read_report_csv(text)
    columns = [name for name in layout.names if name in frame.columns]
    frame = frame[columns]
    for name in columns[1:]:
        frame[name] = pd.to_numeric(frame[name].replace("", np.nan), errors="coerce").astype("float64")
    # Already in code-point order but for un-guarded ids; ordered_by relies on it.
    return frame.sort_values("store_id", kind="stable", ignore_index=True)


def parse_outages_csv(*, text: str) -> pd.DataFrame:
    """The SPEC 7 outage list, instants as UTC timestamps, in store_id then start order."""
    if not text:
        return _NO_OUTAGES  # a report finished before outage lists were kept
    frame = read_report_csv(text)
    outages = pd.DataFrame({
        "store_id": frame["store_id"].astype(str),
        "start": pd.to_datetime(frame["start_utc"], utc=True),
        "end": pd.to_datetime(frame["end_utc"], utc=True),
        "minutes": frame["minutes"].astype("float64"),
        # pandas reads true/false as booleans already; compare as text either way.
        "ongoing": frame["ongoing"].astype(str).str.lower() == "true",
    })
    return outages.sort_values(["store_id", "start"], kind="stable", ignore_index=True)


def read_report_csv(text: str, *, dtype: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One of a report's CSVs, its store ids as the stores' own (`dtype`: more columns' types)."""
    # store_id stays text exactly as written (SPEC 1): no number or NA guessing.
    frame = pd.read_csv(io.StringIO(text), dtype={"store_id": str, **(dtype or {})}, keep_default_na=False)
    # The CSVs guard ids a spreadsheet would run as formulas with a leading
    # apostrophe (engine.csv_export); the pages show and link the id itself.
    guarded = frame["store_id"].str.startswith("'")
    frame.loc[guarded, "store_id"] = frame.loc[guarded, "store_id"].str[1:]
    return frame


def _parse(report: Report) -> ParsedReport:
    """The report's rows (a rolling report's with each store's outage counts, 0 without
    outages), its outage list and its summary."""
    layout = layout_of(report.kind)
    frame = parse_report_csv(text=report.csv, layout=layout)
    outages = parse_outages_csv(text=report.outages_csv)
    if layout is not ROLLING:
        return ParsedReport(frame=frame, outages=outages, summary=period_summary(frame=frame, report=report), layout=layout)
    counts = read_report_csv(report.outage_counts_csv).set_index("store_id") if report.outage_counts_csv else None
    for column in COUNT_COLUMNS:
        frame[column] = frame["store_id"].map(counts[column]).fillna(0).astype("float64").to_numpy() if counts is not None else 0.0
    return ParsedReport(frame=frame, outages=outages, summary=report_summary(frame=frame), layout=layout)


def parsed_report(*, report: Report) -> ParsedReport:
    """A Complete report's rows and summary (an unfinished report has none)."""
    if report.state != Report.State.COMPLETE:
        layout = layout_of(report.kind)
        empty = _empty_frame(layout)
        summary = report_summary(frame=empty) if layout is ROLLING else ReportSummary(store_count=0)
        return ParsedReport(frame=empty, outages=_NO_OUTAGES, summary=summary, layout=layout)
    return _parsed.get(report)


def report_summary(*, frame: pd.DataFrame) -> ReportSummary:
    down = frame[frame["downtime_last_week"] > 0]
    worst = ordered_by(down, column="downtime_last_week", ascending=False).head(WORST_STORES)
    interrupted = frame[frame["outages_last_week"] > 0]
    most_outages = ordered_by(interrupted, column="outages_last_week", ascending=False).head(WORST_STORES)
    return ReportSummary(
        store_count=len(frame),
        down_last_week=len(down),
        down_last_day=int((frame["downtime_last_day"] > 0).sum()),
        downtime_week_hours=float(frame["downtime_last_week"].sum()),
        uptime_week_hours=float(frame["uptime_last_week"].sum()),
        worst=worst.to_dict("records"),
        most_outages=most_outages.to_dict("records"),
    )


def period_summary(*, frame: pd.DataFrame, report: Report) -> ReportSummary:
    """The fleet's uptime percent this period and the one before (computed in the same report)."""
    fleet = fleet_figures(report.period_totals)
    down = frame[frame["downtime_hours"] > 0]
    interrupted = frame[frame["outages"] > 0]
    return ReportSummary(store_count=len(frame), period=PeriodSummary(
        down_stores=len(down),
        uptime_percent=fleet["uptime_percent"],
        previous_uptime_percent=fleet["previous_uptime_percent"],
        worst=ordered_by(down, column="downtime_hours", ascending=False).head(WORST_STORES).to_dict("records"),
        most_outages=ordered_by(interrupted, column="outages", ascending=False).head(WORST_STORES).to_dict("records"),
    ))


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
    # A period report's chart shows the last week of the store's own period (all of a day or a week).
    period = report_period(report)
    end = report.now if period is None else store_period_end(period=period, timezone=given.timezone, latest=report.now)
    timeline = store_timeline(
        store_id=store_id, timezone=given.timezone, hours=data.hours, polls=data.polls,
        now=end, start=end - WEEK, end=end,
    )
    # The reader's polls are in no particular order and in epoch nanoseconds;
    # the chart wants them in time order, as instants.
    polls = data.polls.sort_values("ts", kind="stable")
    polls = pd.DataFrame({"ts": pd.to_datetime(polls["ts"], utc=True), "active": polls["active"]})
    return _store_detail(
        store=given, hours=_open_hours(data.hours), figures=figures, timeline=timeline, polls=polls, now=end,
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


@dataclass(frozen=True)
class DownStore:
    store_id: str
    since: datetime
    minutes: float
    store_url: str | None  # its page in the newest Complete rolling report that has it


@dataclass(frozen=True)
class FleetNow:
    now: datetime | None
    counts: dict[str, int]
    down: list[DownStore]  # longest first
    report: Report | None  # the report the store links go to


def fleet_now(*, scope: StoreScope) -> FleetNow:
    """Status now for the Now page: the stores in scope down, longest first, linked to the newest report in scope."""
    fleet = fleet_status(scope=scope)
    stores = fleet.stores
    counts = {state: int((stores["state"] == state).sum()) for state in STATES}
    down = stores[stores["state"] == "down"].sort_values("down_since_ns", kind="stable")
    complete = scope.reports().filter(state=Report.State.COMPLETE, kind=Report.Kind.ROLLING)
    report = complete.defer(*Report.BULKY_FIELDS).first()
    known = set(parsed_report(report=report).frame["store_id"]) if report is not None else set()
    now_ns = pd.Timestamp(fleet.now).value
    listed = [
        DownStore(
            store_id=store_id, since=pd.Timestamp(since, tz="UTC").to_pydatetime(), minutes=(now_ns - since) / 60e9,
            store_url=store_page_url(report_id=report.id, store_id=store_id) if store_id in known else None,
        )
        for store_id, since in down[["store_id", "down_since_ns"]].itertuples(index=False)
    ]
    return FleetNow(now=fleet.now if len(stores) else None, counts=counts, down=listed, report=report)


def store_page_url(*, report_id: UUID, store_id: str) -> str:
    """The page of one store of a report, for any store id.

    `{% url %}` and reverse() cannot: they leave "/" as is (an id "a/../../x" then climbs
    out of the report in the browser) and refuse ids the pattern does not match. Here
    every character but the unreserved ones is percent-encoded, so the id is one path
    segment the server decodes back to the id itself.
    """
    # Reverse with a one-character placeholder: the route stays the one place that spells the path.
    placeholder = reverse("report-store", kwargs={"report_id": report_id, "store_id": "_"})
    return placeholder[:-1] + quote(store_id, safe="")
