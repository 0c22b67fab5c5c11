"""The shapes of the API's answers: the OpenAPI schema and the responses come from these classes.

Field names follow SPEC 6 (`status`, `report_id`, `data`, `error`); the rest say
what a client polling a report wants to show: its state, progress and timings.
"""
from __future__ import annotations

from datetime import date as date_type
from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Schema

NO_SUCH_REPORT = "No such report Id!"


class Triggered(Schema):
    status: Literal["success"]
    report_id: UUID


class Fleet(Schema):
    uptime_hours: float
    downtime_hours: float
    uptime_percent: float | None = Field(description="100 x up / (up + down); null without open time")
    previous_uptime_hours: float
    previous_downtime_hours: float
    previous_uptime_percent: float | None = Field(description="the same for the previous period of the same kind")


class ReportStatus(Schema):
    """A report's state, progress, figures and links, wherever it is answered (the report list and
    detail, each answer of get_report, the pages' status.json): monitoring.report_answers shapes it."""

    report_id: UUID
    state: Literal["Pending", "Running", "Complete", "Failed"]
    final: bool = Field(description="Complete or Failed: it will not change any more, stop polling")
    progress: float = Field(ge=0, le=1, description="fraction of the stores done")
    shards_done: int
    shards_total: int
    now: datetime | None = Field(description="the instant the windows end at, once known")
    duration_seconds: float | None
    read_seconds: float | None = Field(description="of which reading the database (summed over shards)")
    compute_seconds: float | None = Field(description="of which computing (summed over shards)")
    store_count: int | None
    poll_count: int | None
    as_of: datetime | None = Field(description="the instant asked for; null: the latest poll")
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    kind: Literal["rolling", "interval", "period"] = Field(description="rolling windows, an interval, or local calendar periods")
    start: datetime | None = Field(description="an interval report's start")
    end: datetime | None = Field(description="an interval report's end (exclusive)")
    period: Literal["day", "week", "month"] | None = Field(description="a period report's kind")
    date: date_type | None = Field(description="the date inside a period report's period")
    owner: str | None = Field(description="the owner whose stores it holds (its client triggered it); null: every store")
    effective_end: datetime | None = Field(description="where the stores' periods ended (the latest), once Complete")
    periods_cut: bool = Field(description="some store's period was cut at the latest poll")
    fleet: Fleet | None = Field(description="a Complete period report's figures over all stores, and the previous period's")
    error: str = Field(description="why it failed; empty otherwise")
    page_url: str = Field(description="the report's web page")
    csv_url: str | None = Field(description="where the CSV downloads from, once Complete")
    outages_url: str | None = Field(description="where the outage list (SPEC 7) is, once Complete")


class ReportRunning(ReportStatus):
    status: Literal["Running"]
    state: Literal["Pending", "Running"] = Field(description="Pending: queued; Running: being computed")


class ReportComplete(ReportStatus):
    status: Literal["Complete"]
    state: Literal["Complete"]
    data: str = Field(description="the report as CSV text (SPEC 5)")


class ReportFailed(ReportStatus):
    status: Literal["Failed"]
    state: Literal["Failed"]


class ReportList(Schema):
    reports: list[ReportStatus]


class Health(Schema):
    status: Literal["ok", "unavailable"]
    database_ok: bool
    store_count: int | None
    poll_count: int | None
    latest_poll_at: datetime | None
    oldest_poll_at: datetime | None
    data_age_seconds: float | None = Field(description="seconds since the latest poll; null without polls")


class NotFound(Schema):
    status: Literal["No such report Id!"]


class RejectedRowAnswer(Schema):
    line: int = Field(description="1-based line of the file; the header is line 1")
    column: str = Field(description="the header name of the bad field; empty when the whole row is malformed")
    reason: str
    raw: str = Field(description="the row as written")


class FileLoaded(Schema):
    name: str = Field(description='"upload:<file name>", or "upload:<zip name>:<member>" for a zip\'s member')
    kind: Literal["polls", "hours", "timezones", "owners", ""]
    mode: Literal["full", "tail", "skipped", "failed", "ignored"] = Field(
        description="full; tail (only lines new since the last upload of that name); skipped (unchanged); "
        "failed (nothing of this file loaded: see error); ignored (a zip member that is no CSV file)"
    )
    read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    error: str
    rejections: list[RejectedRowAnswer] = Field(description="the first rejected rows")


class SourceLoaded(Schema):
    ok: bool = Field(description="every file loaded (rows may still be rejected one by one)")
    files: list[FileLoaded]


class Problem(Schema):
    """Every other error: `status` is the HTTP reason phrase, `error` says what to change."""

    status: str
    error: str


class Outage(Schema):
    store_id: str
    start_utc: str = Field(description="ISO 8601 UTC, rounded to the second (halves up)")
    end_utc: str
    minutes: float = Field(description="the exact length, rounded to 2 decimals")
    ongoing: bool = Field(description="still going on at the window's end (for a rolling report: down at now)")


class OutageList(Schema):
    status: Literal["Complete"]
    report_id: UUID
    count: int
    outages: list[Outage]


class OpeningHours(Schema):
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    start_local: str
    end_local: str = Field(description="before start_local: closes the next day; equal: open 24 hours")


class StoreAnswer(Schema):
    report_id: UUID
    store_id: str
    timezone: str = Field(description="as given; empty when the store has none")
    zone: str = Field(description="the zone the report used (America/Chicago by default)")
    hours: list[OpeningHours] = Field(description="as given; empty: open 24 hours, 7 days")
    figures: dict[str, float | None] = Field(description="the store's row of the report's CSV")
    outages: list[Outage]


class StoreNow(Schema):
    store_id: str
    state: Literal["closed", "up", "down", "unknown"]
    down_since: datetime | None = Field(description="a down store's outage start (exact UTC)")
    down_minutes: float | None = Field(description="now - down_since, in minutes")


class FleetStatusAnswer(Schema):
    now: datetime | None = Field(description="the latest poll: the instant the states are at")
    counts: dict[str, int] = Field(description="stores in each state (before the filter)")
    stores: list[StoreNow] = Field(description="by store_id; with ?state=down, longest down first")


class Subscription(Schema):
    """A webhook subscription (SPEC 9, 11); its secret is never answered back."""

    id: int
    url: str
    owner: str | None = Field(description="it gets the events of this owner's stores only; null: every store's (staff)")
    active: bool
    created_at: datetime


class SubscriptionList(Schema):
    subscriptions: list[Subscription]


class SubscriptionNew(Schema):
    url: str = Field(pattern=r"^https?://", max_length=2000, description="http:// or https://; an owner's client subscribes for its own stores")
    secret: str = Field(min_length=1, max_length=200, description="signs every body (X-Monitoring-Signature)")
