"""Admin: stores and hours are editable; loaded facts and reports are read-only records."""
from django.contrib import admin

from monitoring.models import BusinessHours, IngestRun, RejectedRow, Report, ReportShard, StatusPoll, Store


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the loader or the report runner: look, never edit."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["store_id", "timezone"]
    search_fields = ["store_id"]
    list_filter = ["timezone"]
    inlines = [BusinessHoursInline]


@admin.register(BusinessHours)
class BusinessHoursAdmin(admin.ModelAdmin):
    list_display = ["store", "weekday", "start_local", "end_local"]
    list_filter = ["weekday"]
    search_fields = ["store__store_id"]
    raw_id_fields = ["store"]


@admin.register(StatusPoll)
class StatusPollAdmin(ReadOnlyAdmin):
    list_display = ["store", "timestamp", "active"]
    list_filter = ["active"]
    search_fields = ["store__store_id"]
    date_hierarchy = "timestamp"
    list_select_related = ["store"]
    show_full_result_count = False  # counting 2M rows on every page view is slow


class RejectedRowInline(admin.TabularInline):
    model = RejectedRow
    extra = 0
    can_delete = False
    readonly_fields = ["line", "column", "reason", "raw"]


@admin.register(IngestRun)
class IngestRunAdmin(ReadOnlyAdmin):
    list_display = ["path", "kind", "started_at", "succeeded", "rows_read", "inserted", "updated", "rejected"]
    list_filter = ["kind", "succeeded"]
    inlines = [RejectedRowInline]


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "state", "as_of", "now", "requested_at", "finished_at", "store_count"]
    list_filter = ["state"]
    exclude = ["csv"]  # up to megabytes of text; download it from the report page


@admin.register(ReportShard)
class ReportShardAdmin(ReadOnlyAdmin):
    list_display = ["report", "index", "done", "store_count", "poll_count"]
    exclude = ["csv_rows"]
