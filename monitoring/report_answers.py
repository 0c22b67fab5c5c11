"""A report as the interfaces answer it: its status shape, its 404, its CSV download.

The JSON API (monitoring.api) and the pages (monitoring.views) both answer with
these, so a report looks the same wherever a client reads it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from ninja.responses import NinjaJSONEncoder

from monitoring.api_schemas import NO_SUCH_REPORT
from monitoring.models import Report
from monitoring.pages import StoreDetail, parse_outages_csv
from monitoring.reports.status import FleetStatus

STATES = ("closed", "up", "down", "unknown")

# ninja's own Content-Type for its answers, so every JSON answer looks alike.
JSON_TYPE = "application/json; charset=utf-8"
CSV_TYPE = "text/csv; charset=utf-8"
# Report attributes the status carries, by group (names as in the model and api_schemas.ReportStatus).
TIMES = ("as_of", "requested_at", "started_at", "finished_at")
PROGRESS = ("progress", "shards_done", "shards_total")
# What a finished report measured: its `now`, its size and where its time went.
FIGURES = ("now", "duration_seconds", "read_seconds", "compute_seconds", "store_count", "poll_count")
# What was asked for (SPEC 8), and where the stores' periods ended.
ASKED = ("kind", "start", "end", "effective_end", "periods_cut")
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
        **{name: getattr(report, name) for group in (PROGRESS, FIGURES, TIMES, ASKED) for name in group},
        "period": report.period or None,
        "date": report.period_date,
        "fleet": fleet_figures(report=report) if complete and report.kind != Report.Kind.ROLLING else None,
        "error": report.error,
        "page_url": reverse("report", args=[report.id]),
        "csv_url": csv_url(report=report) if complete else None,
        "outages_url": outages_url(report=report) if complete else None,
    }


def fleet_figures(*, report: Report) -> dict[str, Any]:
    """A period report's fleet: hours up and down and the uptime percent, this period and the previous one."""
    totals = report.period_totals
    up, down = totals.get("up_hours", 0.0), totals.get("down_hours", 0.0)
    before_up, before_down = totals.get("previous_up_hours", 0.0), totals.get("previous_down_hours", 0.0)
    return {
        "uptime_hours": round(up, 2), "downtime_hours": round(down, 2), "uptime_percent": uptime_percent(up, down),
        "previous_uptime_hours": round(before_up, 2), "previous_downtime_hours": round(before_down, 2),
        "previous_uptime_percent": uptime_percent(before_up, before_down),
    }


def uptime_percent(up: float, down: float) -> float | None:
    """100 x up / (up + down) to 2 decimals (as SPEC 8 per store); None without open time."""
    return round(100 * up / (up + down), 2) if up + down > 0 else None


def csv_url(*, report: Report) -> str:
    return reverse("api-v1:get_report_by_path", kwargs={"report_id": str(report.id)}) + "?format=csv"


def outages_url(*, report: Report) -> str:
    return reverse("api-v1:report_outages", kwargs={"report_id": str(report.id)})


def csv_download(*, report: Report) -> HttpResponse:
    response = HttpResponse(report.csv, content_type=CSV_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{csv_filename(report=report)}"'
    return response


def csv_filename(*, report: Report) -> str:
    """store-report-<now>-<id>.csv: downloads sort by the instant they report on, and the whole
    id tells two reports of the same instant apart. A report of an empty database has no `now`."""
    stamp = f"{report.now:%Y%m%dT%H%M%SZ}-" if report.now else ""
    return f"store-report-{stamp}{report.id}.csv"


def outages_download(*, report: Report) -> HttpResponse:
    """The outage list (SPEC 7) as a CSV download, named like the report's CSV."""
    response = HttpResponse(report.outages_csv, content_type=CSV_TYPE)
    name = csv_filename(report=report).replace("store-report-", "store-outages-", 1)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def outage_records(*, text: str) -> list[dict[str, Any]]:
    """The outage list's rows as JSON objects, values as in the CSV (ids unguarded, minutes as numbers)."""
    outages = parse_outages_csv(text=text)
    return [
        {"store_id": store_id, "start_utc": _utc(start), "end_utc": _utc(end), "minutes": minutes, "ongoing": ongoing}
        for store_id, start, end, minutes, ongoing in outages[["store_id", "start", "end", "minutes", "ongoing"]].itertuples(index=False)
    ]


def _utc(instant: pd.Timestamp) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def store_answer(*, detail: StoreDetail, report: Report) -> dict[str, Any]:
    """One store of a report as JSON: what was given for it, its figures and its outages."""
    outages = [
        {"store_id": detail.store.store_id, "start_utc": _utc(pd.Timestamp(o.start)), "end_utc": _utc(pd.Timestamp(o.end)),
         "minutes": o.minutes, "ongoing": o.ongoing}
        for o in detail.outages
    ]
    return {
        "report_id": report.id, "store_id": detail.store.store_id, "timezone": detail.store.timezone, "zone": detail.zone,
        "hours": [{"weekday": h.weekday, "start_local": h.start_local.isoformat(), "end_local": h.end_local.isoformat()}
                  for h in detail.hours],
        "figures": {name: value for name, value in detail.figures.items() if name != "store_id"},
        "outages": outages,
    }


def status_answer(*, fleet: FleetStatus, state: str | None) -> dict[str, Any]:
    """Status now as JSON; filtered to one state, and the down stores longest first."""
    stores = fleet.stores
    counts = {name: int((stores["state"] == name).sum()) for name in STATES}
    if state is not None:
        stores = stores[stores["state"] == state]
    if state == "down":
        stores = stores.sort_values("down_since_ns", kind="stable")
    now_ns = pd.Timestamp(fleet.now).value
    rows = [
        {"store_id": store_id, "state": store_state,
         "down_since": pd.Timestamp(since, tz="UTC").to_pydatetime() if since >= 0 else None,
         "down_minutes": round((now_ns - since) / 60e9, 2) if since >= 0 else None}
        for store_id, store_state, since in stores[["store_id", "state", "down_since_ns"]].itertuples(index=False)
    ]
    return {"now": fleet.now, "counts": counts, "stores": rows}
