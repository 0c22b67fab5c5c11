"""HTML pages. Thin: read the request, call a service, render a template.

Every button is a plain form (POST for what changes state, CSRF-protected; GET
for look-ups), so the pages work without JavaScript; static/monitoring/app.js
only improves them: it polls report_status for a live progress bar, and swaps
in parts of the server-rendered report page (the result, a sorted or filtered
table page) instead of reloading it.
"""
from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from monitoring import pages, report_answers, report_tables
from monitoring.access import client_identity, is_staff_request, request_scope
from monitoring.alerts.listing import events_recent
from monitoring.http_errors import unknown_path
from monitoring.ingest.overview import data_overview, history_kept, latest_loads, remote_sources
from monitoring.ingest.sources import upload_round
from monitoring.ingest.summary import load_answer
from monitoring.models import Report
from monitoring.reports.requests import RequestError, report_request
from monitoring.reports.service import (
    TriggerLimitReached,
    report_create,
    report_get,
    report_list,
)

RECENT_REPORTS = 20
# The Now page reloads itself this often: polls arrive about hourly, loads every few minutes at most.
NOW_REFRESH_SECONDS = 60
# A pasted id is often a whole URL or JSON answer: the first UUID in it is the id.
UUID_IN_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class PageForm(forms.Form):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")  # "Report id", not "Report id:"
        super().__init__(*args, **kwargs)


class TriggerForm(PageForm):
    """What to report on: the rolling windows (optionally as of an instant), a local day, week or
    month, or an interval. The fields travel as text to reports.requests, the API's own check."""

    KINDS = (
        ("rolling", "Last hour, day and week"),
        ("day", "A day"),
        ("week", "A week (Monday to Sunday)"),
        ("month", "A month"),
        ("interval", "From … to …"),
    )
    report = forms.ChoiceField(choices=KINDS, initial="rolling", required=False, label="Report on", widget=forms.RadioSelect)
    as_of = forms.CharField(
        required=False, label="As of (UTC, optional)",
        help_text="Leave empty for the latest poll. Polls after this instant are ignored.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
    )
    date = forms.CharField(
        required=False, label="Date", help_text="Any date inside the day, week or month, in each store's own calendar.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    start = forms.CharField(required=False, label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}))
    end = forms.CharField(required=False, label="To (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}))

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("report") or "rolling"
        # Only the fields of the chosen kind count: a date typed before switching back is ignored.
        fields = {
            "rolling": {"as_of": cleaned.get("as_of")},
            "interval": {"start": cleaned.get("start"), "end": cleaned.get("end")},
        }.get(kind, {"period": kind, "day": cleaned.get("date") or ""})
        try:
            cleaned["request"] = report_request(**fields)
        except RequestError as error:
            shown = {"day": "date", "period": "report"}.get(error.field, error.field)
            self.add_error(shown if shown in self.fields else None, str(error).partition(": ")[2] or str(error))
        return cleaned


class LookupForm(PageForm):
    report_id = forms.CharField(
        label="Report id",
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "e.g. 3f2b9c1e-…", "autocomplete": "off", "spellcheck": "false"}),
    )


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return _index_page(request, trigger_form=TriggerForm(), lookup_form=LookupForm())


@require_POST
def report_trigger(request: HttpRequest) -> HttpResponse:
    form = TriggerForm(request.POST)
    if not form.is_valid():
        return _trigger_refused(request, form, status=400)
    try:
        report = report_create(
            request=form.cleaned_data["request"], requested_by=client_identity(request), scope=request_scope(request)
        )
    except TriggerLimitReached:
        form.add_error(None, "Too many reports asked for recently from here; please try again later.")
        return _trigger_refused(request, form, status=429)
    if _wants_json(request):
        # 202 Accepted points to where its progress is followed (RFC 9110 15.3.3).
        answer = report_answers.json_answer(data=report_answers.report_status(report=report), status=202)
        answer["Location"] = reverse("report-status", args=[report.id])
        return answer
    return redirect("report", report_id=report.id)


@require_GET
def report_lookup(request: HttpRequest) -> HttpResponse:
    form = LookupForm(request.GET)
    if not form.is_valid():
        return _index_page(request, trigger_form=TriggerForm(), lookup_form=form, status=400)
    typed = form.cleaned_data["report_id"].strip()
    found = UUID_IN_TEXT.search(typed)
    report = report_get(report_id=found.group(0) if found else typed, scope=request_scope(request))
    if report is None:
        return _not_found(request, f"There is no report with the id “{typed}”.", lookup_form=form)
    return redirect("report", report_id=report.id)


@require_GET
def report_detail(request: HttpRequest, report_id: UUID) -> HttpResponse:
    report = report_get(report_id=report_id, scope=request_scope(request), with_csv=False)
    if report is None:
        return _not_found(request, f"There is no report with the id “{report_id}”.")
    context = {"report": report, "status": report_answers.report_status(report=report), **_result_context(report, request)}
    return render(request, "monitoring/report.html", context)


@require_GET
def report_status(request: HttpRequest, report_id: UUID) -> HttpResponse:
    report = report_get(report_id=str(report_id), scope=request_scope(request), with_csv=False)
    if report is None:
        return report_answers.no_such_report()
    return report_answers.json_answer(data=report_answers.report_status(report=report))


@require_GET
def report_csv(request: HttpRequest, report_id: UUID) -> HttpResponse:
    report = report_get(report_id=str(report_id), scope=request_scope(request))
    if report is None or report.state != Report.State.COMPLETE:
        return _not_found(request, "This report has no CSV: it does not exist or is not complete.")
    return report_answers.csv_download(report=report)


@require_GET
def report_store(request: HttpRequest, report_id: UUID, store_id: str) -> HttpResponse:
    report = report_get(report_id=report_id, scope=request_scope(request), with_csv=False)
    detail = pages.store_detail(report=report, store_id=store_id) if report is not None else None
    if detail is None:
        return _not_found(request, f"This report has no store “{store_id}”.")
    return render(request, "monitoring/store.html", {"report": report, "detail": detail})


@require_GET
def status_now(request: HttpRequest) -> HttpResponse:
    """Stores down right now, longest first, and how the fleet stands (SPEC 9's status now)."""
    context = {"now": pages.fleet_now(scope=request_scope(request)), "refresh_seconds": NOW_REFRESH_SECONDS}
    return render(request, "monitoring/now.html", context)


class UploadForm(PageForm):
    file = forms.FileField(label="A CSV, CSV.gz or zip of CSV files", help_text="Each file is recognised by its header.")


@require_GET
def alerts(request: HttpRequest) -> HttpResponse:
    """The alert events (SPEC 9), newest first, with how their webhook deliveries stand."""
    context = {"events": events_recent(scope=request_scope(request)), "after_minutes": settings.ALERT_AFTER_MINUTES, "refresh_seconds": NOW_REFRESH_SECONDS}
    return render(request, "monitoring/alerts.html", context)


@require_GET
def data_status(request: HttpRequest) -> HttpResponse:
    """The loads, the history kept and the upload form: staff only (an owner's login gets the 404 of
    an unknown page), since the loads' rejected rows quote every store's lines."""
    if not is_staff_request(request):
        return unknown_path(request)
    return _data_page(request, upload_form=UploadForm())


@require_POST
def data_upload(request: HttpRequest) -> HttpResponse:
    """Load an uploaded source and show its per-file summary (the answer of POST /api/v1/sources)."""
    if not is_staff_request(request):
        return unknown_path(request)
    form = UploadForm(request.POST, request.FILES)
    if getattr(request, "upload_over_cap", False):
        form.add_error("file", f"The file is larger than SOURCE_MAX_BYTES ({settings.SOURCE_MAX_BYTES:,} bytes): nothing was loaded.")
        return _data_page(request, upload_form=form, status=413)
    if not form.is_valid():
        return _data_page(request, upload_form=form, status=400)
    upload = form.cleaned_data["file"]
    answer = load_answer(upload_round(path=Path(upload.temporary_file_path()), filename=upload.name).results)
    return _data_page(request, upload_form=UploadForm(), loaded=answer, status=200 if answer["ok"] else 422)


def _data_page(request: HttpRequest, *, upload_form: UploadForm, status: int = 200, loaded: dict | None = None) -> HttpResponse:
    context = {
        "overview": data_overview(), "history": history_kept(), "loads": latest_loads(), "remote": remote_sources(),
        "upload_form": upload_form, "loaded": loaded,
    }
    return render(request, "monitoring/data.html", context, status=status)


def _index_page(request: HttpRequest, *, trigger_form: TriggerForm, lookup_form: LookupForm, status: int = 200) -> HttpResponse:
    scope = request_scope(request)
    context = {
        "trigger_form": trigger_form,
        "lookup_form": lookup_form,
        "reports": report_list(scope=scope, limit=RECENT_REPORTS),
        "overview": data_overview(),
        # An owner's page counts its own stores; the fleet's totals are staff's (the data page's).
        "own_store_count": None if scope.is_staff else scope.stores().count(),
    }
    return render(request, "monitoring/index.html", context, status=status)


def _trigger_refused(request: HttpRequest, form: TriggerForm, *, status: int) -> HttpResponse:
    if _wants_json(request):
        messages = [message for errors in form.errors.values() for message in errors]
        return JsonResponse({"error": " ".join(messages)}, status=status)
    return _index_page(request, trigger_form=form, lookup_form=LookupForm(), status=status)


def _not_found(request: HttpRequest, message: str, *, lookup_form: LookupForm | None = None) -> HttpResponse:
    """A friendly 404 that helps to find the right report, whatever DEBUG says."""
    context = {
        "message": message, "lookup_form": lookup_form or LookupForm(), "reports": report_list(scope=request_scope(request), limit=5),
    }
    return render(request, "404.html", context, status=404)


def _result_context(report: Report, request: HttpRequest) -> dict:
    if report.state != Report.State.COMPLETE:
        return {}
    parsed = pages.parsed_report(report=report)
    query = report_tables.TableQuery.from_params(request.GET, layout=parsed.layout)
    return {
        "summary": parsed.summary,
        "table": report_tables.report_table(frame=parsed.frame, query=query, layout=parsed.layout),
        "quick_filters": parsed.layout.filters,
        "page_sizes": report_tables.PAGE_SIZES,
    }


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")

