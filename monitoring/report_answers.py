"""A report as the interfaces answer it: its status shape, its 404, its CSV download.

The JSON API (monitoring.api) and the pages (monitoring.views) both answer with
these, so a report looks the same wherever a client reads it.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from ninja.responses import NinjaJSONEncoder

from monitoring.api.schemas import NO_SUCH_REPORT
from monitoring.engine import STATES, iso_seconds
from monitoring.models import Report
from monitoring.pages import StoreDetail, read_report_csv
from monitoring.reports.state import fleet_figures
from monitoring.reports.status import FleetStatus


# ninja's own Content-Type for its answers, so every JSON answer looks alike.
JSON_TYPE = "application/json; charset=utf-8"
CSV_TYPE = "text/csv; charset=utf-8"
# Report attributes the status carries, by group (names as in the model and api.schemas.ReportStatus).
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
        "owner": report.owner or None,
        "fleet": fleet_figures(report.period_totals) if complete and report.kind != Report.Kind.ROLLING else None,
        "error": report.error,
        "page_url": reverse("report", args=[report.id]),
        "csv_url": csv_url(report=report) if complete else None,
        "outages_url": outages_url(report=report) if complete else None,
    }


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


def outages_json(*, report_id: object, text: str) -> bytes:
    """A Complete report's outage list as its JSON answer: the CSV's own values (instants as
    written, ids unguarded, minutes as numbers), encoded by pandas in one pass."""
    frame = _read_outages_as_written(text)
    records = frame.to_json(orient="records", double_precision=2)
    head = json.dumps({"status": "Complete", "report_id": str(report_id), "count": len(frame)})
    return (head[:-1] + ', "outages": ' + records + "}").encode()


def _read_outages_as_written(text: str) -> pd.DataFrame:
    columns = {"store_id": str, "start_utc": str, "end_utc": str, "minutes": "float64", "ongoing": str}
    frame = read_report_csv(text, dtype=columns) if text else pd.DataFrame(
        {name: pd.Series(dtype=kind) for name, kind in columns.items()}
    )
    frame["ongoing"] = frame["ongoing"].str.lower() == "true"
    return frame


def store_answer(*, detail: StoreDetail, report: Report) -> dict[str, Any]:
    """One store of a report as JSON: what was given for it, its figures and its outages."""
    rows = [(detail.store.store_id, o.start, o.end, o.minutes, o.ongoing) for o in detail.outages]
    outages = pd.DataFrame(rows, columns=["store_id", "start", "end", "minutes", "ongoing"])
    return {
        "report_id": report.id, "store_id": detail.store.store_id, "timezone": detail.store.timezone, "zone": detail.zone,
        "hours": [{"weekday": h.weekday, "start_local": h.start_local.isoformat(), "end_local": h.end_local.isoformat()}
                  for h in detail.hours],
        "figures": {name: value for name, value in detail.figures.items() if name != "store_id"},
        "outages": [
            {"store_id": store_id, "start_utc": _second(start), "end_utc": _second(end), "minutes": minutes, "ongoing": ongoing}
            for store_id, start, end, minutes, ongoing in outages.itertuples(index=False)
        ],
    }


def _second(instant) -> str:
    return pd.Timestamp(instant).strftime("%Y-%m-%dT%H:%M:%SZ")


# Each (data version, owner, filter) answer, oldest first: a few owners' and staff's, per filter.
STATUS_ANSWERS_KEPT = 32
_status_answers: dict[tuple, bytes] = {}
_status_answers_lock = threading.Lock()


def status_json(*, fleet: FleetStatus, state: str | None) -> bytes:
    """Status now as its JSON answer, filtered to one state (the down stores longest first);
    rendered once per data version and filter, as the status itself is computed once."""
    key = (fleet.version, state)
    with _status_answers_lock:
        kept = _status_answers.get(key)
    if kept is not None:
        return kept
    rendered = _render_status(fleet=fleet, state=state)
    with _status_answers_lock:
        if len(_status_answers) >= STATUS_ANSWERS_KEPT:
            # Older data versions are never asked again; owners' answers of this version may be.
            _status_answers.pop(next(iter(_status_answers)))
        _status_answers[key] = rendered
    return rendered


def _render_status(*, fleet: FleetStatus, state: str | None) -> bytes:
    stores = fleet.stores
    counts = {name: int((stores["state"] == name).sum()) for name in STATES}
    if state is not None:
        stores = stores[stores["state"] == state]
    if state == "down":
        stores = stores.sort_values("down_since_ns", kind="stable")
    since = stores["down_since_ns"].to_numpy()
    down = since >= 0
    rows = pd.DataFrame({
        "store_id": stores["store_id"].to_numpy(),
        "state": stores["state"].to_numpy(),
        # Instants as the outage list writes them (SPEC 7: to the second, halves up).
        "down_since": np.where(down, iso_seconds(np.where(down, since, 0)), None),
        "down_minutes": np.where(down, np.floor((pd.Timestamp(fleet.now).value - since) / 600_000_000 + 0.5) / 100, np.nan),
    })
    head = json.dumps({"now": fleet.now, "counts": counts}, cls=PreciseJSONEncoder)
    return (head[:-1] + ', "stores": ' + rows.to_json(orient="records", double_precision=2) + "}").encode()
