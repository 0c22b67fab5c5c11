"""Admin: stores, hours and owners are editable; loaded facts and reports are read-only records.

Staff only: the middleware answers an owner's user 404 here, whatever its is_staff says (SPEC 11).
"""
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.html import format_html, format_html_join

from monitoring.access import IdentityRefused, api_token_create, owner_name
from monitoring.ingest.overview import REJECTED_ROWS_SHOWN
from monitoring.models import (
    OWNER_MAX_CHARS,
    AlertEvent,
    ApiToken,
    BusinessHours,
    IngestRun,
    RejectedRow,
    Report,
    ReportShard,
    RetentionDrop,
    StatusPoll,
    Store,
    StoreOwner,
    UserOwner,
    WebhookDelivery,
    WebhookSubscription,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the loader or the report runner: look, never edit."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


class StoreOwnerInline(admin.TabularInline):
    model = StoreOwner
    extra = 0


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["store_id", "timezone"]
    search_fields = ["store_id", "owners__owner"]
    list_filter = ["timezone"]
    inlines = [StoreOwnerInline, BusinessHoursInline]


@admin.register(StoreOwner)
class StoreOwnerAdmin(admin.ModelAdmin):
    list_display = ["owner", "store"]
    search_fields = ["owner", "store__store_id"]
    raw_id_fields = ["store"]
    list_select_related = ["store"]


class UserOwnerInline(admin.StackedInline):
    """A user with an owner sees only the owner's stores; without one, every store (staff)."""

    model = UserOwner
    can_delete = True
    verbose_name = "owner"
    verbose_name_plural = "owner (SPEC 11): leave empty for staff, who see every store"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserWithOwnerAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, UserOwnerInline]
    list_display = [*UserAdmin.list_display, "owner"]

    @admin.display(description="owner", ordering="owner_of__owner")
    def owner(self, user) -> str:
        link = getattr(user, "owner_of", None)
        return link.owner if link is not None else "staff"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner_of")


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


@admin.register(RetentionDrop)
class RetentionDropAdmin(ReadOnlyAdmin):
    list_display = ["dropped_at", "first_day", "last_day", "partitions", "rows", "default_rows", "keep_days", "latest_poll_at"]
    date_hierarchy = "dropped_at"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of what history went: deleting it would hide that


@admin.register(IngestRun)
class IngestRunAdmin(ReadOnlyAdmin):
    list_display = ["path", "kind", "started_at", "succeeded", "rows_read", "inserted", "updated", "rejected"]
    list_filter = ["kind", "succeeded"]
    readonly_fields = ["first_rejected_rows"]

    # A run can hold millions of rejected rows: the page shows the first ones, as the data page does.
    @admin.display(description="first rejected rows")
    def first_rejected_rows(self, run: IngestRun) -> str:
        rows = RejectedRow.objects.filter(run=run).order_by("line")[:REJECTED_ROWS_SHOWN]
        lines = format_html_join("\n", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (row.line, row.column, row.reason, row.raw) for row in rows
        ))
        if not lines:
            return "none"
        more = f"and {run.rejected - REJECTED_ROWS_SHOWN:,} more: the load logs hold them all" if run.rejected > REJECTED_ROWS_SHOWN else ""
        return format_html("<table><tr><th>line</th><th>column</th><th>reason</th><th>raw</th></tr>{}</table>{}", lines, more)


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "state", "owner", "as_of", "now", "requested_at", "finished_at", "store_count"]
    list_filter = ["state", "owner"]
    exclude = list(Report.BULKY_FIELDS)  # up to megabytes of text; download it from the report page


@admin.register(ReportShard)
class ReportShardAdmin(ReadOnlyAdmin):
    list_display = ["report", "index", "done", "store_count", "poll_count"]
    exclude = ["csv_rows"]


class OwnerNameForm(forms.ModelForm):
    """The owner as one line, checked as the commands check it (access.owner_name)."""

    owner = forms.CharField(required=False, max_length=OWNER_MAX_CHARS, help_text="blank: staff, sees every store")

    def clean_owner(self) -> str:
        try:
            return owner_name(self.cleaned_data["owner"])
        except IdentityRefused as refused:
            raise forms.ValidationError(str(refused)) from None


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Create a token here; its secret is shown once, in the message after saving."""

    form = OwnerNameForm

    list_display = ["name", "owner", "prefix", "active", "created_at", "last_used_at"]
    list_filter = ["active", "owner"]
    fields = ["name", "owner", "active", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = api_token_create(name=obj.name, owner=obj.owner)
        obj.pk, obj.key_hash, obj.prefix = issued.token.pk, issued.token.key_hash, issued.token.prefix
        messages.warning(request, f"Token for {obj.name}: {issued.secret}  (copy it now: it is not shown again)")


@admin.register(AlertEvent)
class AlertEventAdmin(ReadOnlyAdmin):
    """Decided by ingestion rounds; never edited (the id and body are what receivers saw)."""

    list_display = ["kind", "store", "since", "until", "minutes", "now", "created_at"]
    list_filter = ["kind"]
    search_fields = ["store__store_id"]
    list_select_related = ["store"]
    raw_id_fields = ["store"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = OwnerNameForm
    list_display = ["url", "owner", "active", "created_at"]
    list_filter = ["active", "owner"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery queue: state, tries, next try, last answer."""

    list_display = ["event", "subscription", "state", "attempts", "next_attempt_at", "last_status", "last_error", "delivered_at"]
    list_filter = ["state", "subscription"]
    list_select_related = ["event__store", "subscription"]
    raw_id_fields = ["event", "subscription"]
