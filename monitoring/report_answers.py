"""A report as the interfaces answer it: its status shape, its 404, its CSV download.

The JSON API (monitoring.api) and the pages (monitoring.views) both answer with
these, so a report looks the same wherever a client reads it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from ninja.responses import NinjaJSONEncoder

from monitoring.api_schemas import NO_SUCH_REPORT
from monitoring.models import Report

# ninja's own Content-Type for its answers, so every JSON answer looks alike.
JSON_TYPE = "application/json; charset=utf-8"
CSV_TYPE = "text/csv; charset=utf-8"
# Report attributes the status carries, by group (names as in the model and api_schemas.ReportStatus).
TIMES = ("as_of", "requested_at", "started_at", "finished_at")
PROGRESS = ("progress", "shards_done", "shards_total")
# What a finished report measured: its `now`, its size and where its time went.
FIGURES = ("now", "duration_seconds", "read_seconds", "compute_seconds", "store_count", "poll_count")
FINAL_STATES = (Report.State.COMPLETE, Report.State.FAILED)


class PreciseJSONEncoder(NinjaJSONEncoder):
    """Keeps microseconds, which Django's encoder cuts to milliseconds: a report's `now` is
    a poll's exact instant, and `as_of=<now>` must give the same report again."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat().replace("+00:00", "Z")
        return super().default(o)


def json_answer(*, data: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, content_type=JSON_TYPE, encoder=PreciseJSONEncoder)


def no_such_report() -> JsonResponse:
    """SPEC 6's answer for an unknown or malformed id, wherever the id was sent."""
    return json_answer(data={"status": NO_SUCH_REPORT}, status=404)


def report_status(*, report: Report) -> dict[str, Any]:
    """The report's state, progress, figures and links: the one shape of a report's status."""
    complete = report.state == Report.State.COMPLETE
    return {
        "report_id": report.id,
        "state": report.state,
        "final": report.state in FINAL_STATES,  # a poller stops here
        **{name: getattr(report, name) for group in (PROGRESS, FIGURES, TIMES) for name in group},
        "error": report.error,
        "page_url": reverse("report", args=[report.id]),
        "csv_url": csv_url(report=report) if complete else None,
    }


def csv_url(*, report: Report) -> str:
    return reverse("api-v1:get_report_by_path", kwargs={"report_id": str(report.id)}) + "?format=csv"


def csv_download(*, report: Report) -> HttpResponse:
    response = HttpResponse(report.csv, content_type=CSV_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{csv_filename(report=report)}"'
    return response


def csv_filename(*, report: Report) -> str:
    """store-report-<now>-<id>.csv: downloads sort by the instant they report on, and the whole
    id tells two reports of the same instant apart. A report of an empty database has no `now`."""
    stamp = f"{report.now:%Y%m%dT%H%M%SZ}-" if report.now else ""
    return f"store-report-{stamp}{report.id}.csv"
