from django.urls import path, register_converter

from monitoring import views


class StoreIdConverter:
    """Any text, line breaks included (Django's `path` stops at one): a store page for every
    stored id. Links to it are built by the `store_url` tag (templatetags/ui.py)."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(StoreIdConverter, "store_id")

urlpatterns = [
    path("", views.index, name="index"),
    # The HTML pages (docs/ui.md); the JSON API is mounted in main/urls.py.
    path("reports/", views.report_trigger, name="report-trigger"),
    path("reports/find", views.report_lookup, name="report-lookup"),
    path("reports/<uuid:report_id>/", views.report_detail, name="report"),
    path("reports/<uuid:report_id>/status.json", views.report_status, name="report-status"),
    path("reports/<uuid:report_id>/csv", views.report_csv, name="report-csv"),
    path("reports/<uuid:report_id>/stores/<store_id:store_id>", views.report_store, name="report-store"),
    path("now/", views.status_now, name="now"),
    path("alerts/", views.alerts, name="alerts"),
    path("data/", views.data_status, name="data"),
    path("data/upload", views.data_upload, name="data-upload"),
]
