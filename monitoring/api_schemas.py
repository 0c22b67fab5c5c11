"""The shapes of the API's answers: the OpenAPI schema and the responses come from these classes.

Field names follow SPEC 6 (`status`, `report_id`, `data`, `error`); the rest say
what a client polling a report wants to show: its state, progress and timings.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Schema

NO_SUCH_REPORT = "No such report Id!"


class Triggered(Schema):
    status: Literal["success"]
    report_id: UUID


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
    error: str = Field(description="why it failed; empty otherwise")
    page_url: str = Field(description="the report's web page")
    csv_url: str | None = Field(description="where the CSV downloads from, once Complete")


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


class Problem(Schema):
    """Every other error: `status` is the HTTP reason phrase, `error` says what to change."""

    status: str
    error: str
