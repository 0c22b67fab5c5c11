"""What the service knows: stores, their hours, their polls, loads, and reports.

Store ids are opaque text kept exactly as given (19-digit numbers, UUIDs, ...);
the integer primary key is only an internal join key that keeps the 2-million
row poll table narrow.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


# Control characters (C0, DEL, C1) are refused in a store id and an owner's name: PostgreSQL
# text cannot hold NUL, and a tab or line break is never part of a real name but breaks what
# shows and links it (a newline made every report page fail to build its store links). The same
# pattern in RE2 (pyarrow, ingest/validate.py) and Python (access.owner_name).
CONTROL_CHARACTER = r"[\x00-\x1f\x7f-\x9f]"
# An owner (SPEC 11) is a brand or franchisee name and a key of the (owner, store) index every
# scoped read goes through: 200 characters is far beyond a real name, far below the index's cap.
OWNER_MAX_CHARS = 200


class Store(models.Model):
    # COLLATE "C" makes ORDER BY store_id the code-point order of SPEC 5.
    store_id = models.TextField(unique=True, db_collation="C")
    # IANA name; empty means the default zone (America/Chicago, SPEC 2).
    timezone = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["store_id"]
        constraints = [models.CheckConstraint(condition=~Q(store_id=""), name="store_id_not_empty")]

    def __str__(self) -> str:
        return self.store_id


class BusinessHours(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday … 6 = Sunday")
    start_local = models.TimeField()
    end_local = models.TimeField(help_text="Before start: runs past midnight. Equal to start: 24 hours.")

    class Meta:
        verbose_name_plural = "business hours"
        ordering = ["store", "weekday", "start_local"]
        constraints = [models.CheckConstraint(condition=Q(weekday__lte=6), name="weekday_0_to_6")]

    def __str__(self) -> str:
        return f"{self.store} day {self.weekday} {self.start_local}-{self.end_local}"


class StoreOwner(models.Model):
    """A store's owner (SPEC 11): a brand or franchisee, an opaque name from the owners source.

    A store may have several (a brand and its franchisee): each of them sees it. A store
    with none is seen by staff only.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="owners")
    owner = models.TextField(db_collation="C")

    class Meta:
        ordering = ["owner", "store"]
        constraints = [
            models.UniqueConstraint(fields=["store", "owner"], name="one_row_per_store_and_owner"),
            models.CheckConstraint(condition=~Q(owner=""), name="owner_not_empty"),
        ]
        # An owner's stores: what every scoped read looks up (monitoring/access.py).
        indexes = [models.Index(fields=["owner", "store"], name="owner_stores")]

    def __str__(self) -> str:
        return f"{self.store} owned by {self.owner}"


class UserOwner(models.Model):
    """The owner a login user belongs to (SPEC 11). A user without one is staff."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="owner_of")
    owner = models.TextField(db_collation="C")

    class Meta:
        ordering = ["owner", "user"]
        constraints = [models.CheckConstraint(condition=~Q(owner=""), name="user_owner_not_empty")]

    def __str__(self) -> str:
        return f"{self.user} of {self.owner}"


class StatusPoll(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="polls", db_index=False)
    timestamp = models.DateTimeField()
    active = models.BooleanField()

    class Meta:
        ordering = ["store", "timestamp"]
        constraints = [
            # Also the index for one store's polls in a time range. Carrying the
            # status makes a report shard's read an index-only scan per store.
            models.UniqueConstraint(
                fields=["store", "timestamp"], include=["active"], name="one_poll_per_store_and_time"
            ),
        ]
        # All stores' polls in [now - 14 days, now] and the latest poll (default `now`).
        indexes = [models.Index(fields=["timestamp"], name="poll_timestamp")]

    def __str__(self) -> str:
        return f"{self.store} {self.timestamp:%Y-%m-%d %H:%M:%S} {'active' if self.active else 'inactive'}"


class PollDigest(models.Model):
    """One store's polls of one closed UTC day, packed for reading (monitoring/ingest/digests.py).

    A report reads about 15 of these per store instead of its 250 polls: `stamps` is the
    (length, value) pairs of the day's timestamps in PostgreSQL's binary array format, in
    order, and `inactive` those of its inactive polls (NULL when none). A digest counts only
    while its day's DigestedDay row says it is current. Partitioned by day (migration 0016).
    """

    pk = models.CompositePrimaryKey("store", "day")  # each day's index a report's read merges, store by store
    # No foreign key: digests are a copy of the polls, kept or dropped with their day.
    store = models.ForeignKey(Store, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    day = models.DateField()
    stamps = models.BinaryField()
    inactive = models.BinaryField(null=True)



class DigestedDay(models.Model):
    """A day whose digests were built from its polls after poll change `seen` (digests.py).

    The digests are current while no PollChange of the day has a higher id.
    """

    day = models.DateField(primary_key=True)
    seen = models.BigIntegerField(help_text="The highest poll change id visible when the day was digested")
    stores = models.PositiveIntegerField(help_text="Stores with a digest of the day")
    polls = models.BigIntegerField(help_text="Polls the digests hold")
    digested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["day"]


class PollChange(models.Model):
    """A UTC day whose polls a statement changed: written by a trigger on the poll table
    (migration 0016) and by the loader for the day tables it attaches."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["day", "id"], name="poll_change_day")]


class IngestRun(models.Model):
    """One file loaded once: what it held, what changed, and where it stopped."""

    class Kind(models.TextChoices):
        POLLS = "polls", "Status polls"
        HOURS = "hours", "Business hours"
        TIMEZONES = "timezones", "Timezones"
        OWNERS = "owners", "Owners"

    path = models.TextField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    rows_read = models.BigIntegerField(default=0)
    inserted = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    unchanged = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # What of the file is already in the database, so a file that only grew
    # can be read from where the last load stopped.
    file_size = models.BigIntegerField(default=0)
    file_mtime_ns = models.BigIntegerField(default=0)
    head_sha256 = models.CharField(max_length=64, blank=True, default="")
    bytes_loaded = models.BigIntegerField(default=0)
    lines_loaded = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["path", "-started_at"], name="ingest_path_latest")]

    def __str__(self) -> str:
        return f"{self.path} ({self.kind}) {self.started_at:%Y-%m-%d %H:%M}"


class RemoteSource(models.Model):
    """A URL the loader fetches: the validators of its last complete load, for the next
    conditional GET, and how its last fetch went (shown on the data page)."""

    url = models.TextField(unique=True)
    etag = models.TextField(blank=True, default="")
    last_modified = models.TextField(blank=True, default="")
    loaded_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="", help_text="why the last fetch failed; blank when it worked")

    class Meta:
        ordering = ["url"]

    def __str__(self) -> str:
        return self.url


class RejectedRow(models.Model):
    # No index of its own: the (run, line) one below serves the foreign key too.
    run = models.ForeignKey(IngestRun, on_delete=models.CASCADE, related_name="rejected_rows", db_index=False)
    line = models.BigIntegerField(help_text="1-based line number in the file; the header is line 1")
    column = models.TextField(blank=True, default="")
    reason = models.TextField()
    raw = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["run", "line"]
        # A run's rows read back in line order (the load log's CSV, `runscript load -v 2`)
        # stream from this index, however many millions, with no sort.
        indexes = [models.Index(fields=["run", "line"], name="rejected_run_line")]

    def __str__(self) -> str:
        return f"line {self.line} {self.column}: {self.reason}"


class RetentionDrop(models.Model):
    """One retention pass that removed polls (monitoring/ingest/retention.py)."""

    dropped_at = models.DateTimeField(default=timezone.now)
    keep_days = models.PositiveIntegerField(help_text="POLL_RETENTION_DAYS at the time")
    latest_poll_at = models.DateTimeField(help_text="The latest poll, from which the days kept were counted")
    kept_from = models.DateTimeField(help_text="Polls before this UTC midnight were removed")
    first_day = models.DateField(null=True, blank=True, help_text="Oldest day partition dropped")
    last_day = models.DateField(null=True, blank=True, help_text="Newest day partition dropped")
    partitions = models.PositiveIntegerField(default=0, help_text="Day partitions dropped")
    rows = models.BigIntegerField(default=0, help_text="Polls the dropped partitions held")
    default_rows = models.BigIntegerField(default=0, help_text="Polls deleted from the DEFAULT partition")

    class Meta:
        ordering = ["-dropped_at"]

    def __str__(self) -> str:
        return f"{self.dropped_at:%Y-%m-%d %H:%M}: {self.summary()}"

    def summary(self) -> str:
        parts = []
        if self.partitions:
            days = f"{self.first_day}" if self.first_day == self.last_day else f"{self.first_day} .. {self.last_day}"
            parts.append(f"{self.partitions} day partition{'s' if self.partitions != 1 else ''} dropped ({days}, {self.rows:,} polls)")
        if self.default_rows:
            parts.append(f"{self.default_rows:,} polls before {self.kept_from:%Y-%m-%d} deleted from DEFAULT")
        return "; ".join(parts)


class Report(models.Model):
    """A report and the job that builds it: the row is the job's whole state."""

    class State(models.TextChoices):
        PENDING = "Pending"
        RUNNING = "Running"
        COMPLETE = "Complete"
        FAILED = "Failed"

    class Kind(models.TextChoices):
        ROLLING = "rolling", "Last hour, day and week"
        INTERVAL = "interval", "An interval"
        PERIOD = "period", "A local day, week or month"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ROLLING)
    # The instant asked for (None: the latest poll) and the one actually used; for a
    # period report `now` is the latest poll, where periods are cut.
    as_of = models.DateTimeField(null=True, blank=True)
    now = models.DateTimeField(null=True, blank=True)
    # The load generation every shard was read at (reports/reading.py: report_basis).
    data_generation = models.BigIntegerField(default=0)
    # An interval report's [start, end), or a period report's kind and date (SPEC 8).
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    period = models.CharField(max_length=8, blank=True, default="")
    period_date = models.DateField(null=True, blank=True)
    # Where the stores' periods ended (the latest of them), and whether any was cut at `now`.
    effective_end = models.DateTimeField(null=True, blank=True)
    periods_cut = models.BooleanField(default=False)
    # A period report's fleet figures, this period and the previous one (hours up and down).
    period_totals = models.JSONField(default=dict, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Who runs it and when it last showed life: a Running row whose runner
    # stopped beating is recovered at start-up and by the periodic check.
    runner = models.CharField(max_length=200, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Celery's shards started over because a load committed while they ran (reports/shards.py).
    data_restarts = models.PositiveSmallIntegerField(default=0)
    shards_total = models.PositiveIntegerField(default=0)
    shards_done = models.PositiveIntegerField(default=0)
    store_count = models.PositiveIntegerField(null=True, blank=True)
    poll_count = models.BigIntegerField(null=True, blank=True)
    requested_by = models.CharField(max_length=200, blank=True, default="")
    # The owner whose client triggered it: the report holds that owner's stores only and is
    # seen by that owner's clients and staff (SPEC 11). Blank: a staff report of every store.
    owner = models.TextField(blank=True, default="", db_collation="C")
    error = models.TextField(blank=True, default="")
    csv = models.TextField(blank=True, default="")
    # SPEC 7's outage list, and the report page's outage figures per store (engine.OUTAGE_COUNT_COLUMNS).
    outages_csv = models.TextField(blank=True, default="")
    outage_counts_csv = models.TextField(blank=True, default="")
    # Where the time went: reading the database vs computing (summed over shards).
    read_seconds = models.FloatField(null=True, blank=True)
    compute_seconds = models.FloatField(null=True, blank=True)

    # Up to megabytes each: lists and status answers leave them in the database until read.
    BULKY_FIELDS = ("csv", "outages_csv", "outage_counts_csv")

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            models.Index(fields=["state", "requested_at"], name="report_queue"),
            models.Index(fields=["owner", "-requested_at"], name="report_owner_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.state}"

    @property
    def progress(self) -> float:
        """Fraction of the work done, 0 to 1."""
        if self.state == self.State.COMPLETE:
            return 1.0
        return self.shards_done / self.shards_total if self.shards_total else 0.0

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class ReportShard(models.Model):
    """One slice of a report's stores, computed by one worker; joined in shard order."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    # Stores with first_store_id <= store_id < next shard's first (code-point order).
    first_store_id = models.TextField(db_collation="C")
    last_store_id = models.TextField(db_collation="C")
    done = models.BooleanField(default=False)
    store_count = models.PositiveIntegerField(default=0)
    poll_count = models.BigIntegerField(default=0)
    csv_rows = models.TextField(blank=True, default="")
    outage_rows = models.TextField(blank=True, default="")
    outage_count_rows = models.TextField(blank=True, default="")
    period_totals = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Workers that started it: a shard whose worker keeps dying fails its report.
    attempts = models.PositiveSmallIntegerField(default=0)
    read_seconds = models.FloatField(default=0.0)
    compute_seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["report", "index"]
        constraints = [models.UniqueConstraint(fields=["report", "index"], name="one_shard_per_index")]

    def __str__(self) -> str:
        return f"{self.report_id} shard {self.index}"


class ApiToken(models.Model):
    """A client's key to the API in production. Only a hash is stored: the token
    is shown once, when it is created (`manage.py api_token create NAME`)."""

    name = models.CharField(max_length=100, unique=True, help_text="who uses it, e.g. 'billing-dashboard'")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False, help_text="first characters, to recognise it")
    active = models.BooleanField(default=True, help_text="untick to revoke")
    owner = models.TextField(
        blank=True, default="", db_collation="C", help_text="the owner whose stores it sees (SPEC 11); blank: staff, every store"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AlertEvent(models.Model):
    """A store.down or store.recovered event (SPEC 9), decided once per outage and kind.

    The unique (kind, store, since) is what makes a repeated round or a restart send
    nothing twice: rounds insert with ON CONFLICT DO NOTHING (monitoring/alerts/events.py).
    """

    class Kind(models.TextChoices):
        DOWN = "store.down"
        RECOVERED = "store.recovered"

    # Derived from (kind, store_id, since), so the same outage always has the same id.
    id = models.UUIDField(primary_key=True, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="alerts")
    since = models.DateTimeField(help_text="the outage's start")
    # A recovery's outage end; on a store.down, filled in when its recovery is decided
    # (NULL: the outage is still going on, as far as alerts know).
    until = models.DateTimeField(null=True, blank=True)
    now = models.DateTimeField(help_text="the round's now: the latest poll")
    minutes = models.FloatField()
    # The exact bytes POSTed and signed, so every retry sends the same body.
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-since", "store"]
        constraints = [models.UniqueConstraint(fields=["kind", "store", "since"], name="one_event_per_outage_and_kind")]
        indexes = [
            # The alerted outages not yet recovered: what each round must look up.
            models.Index(fields=["store"], condition=Q(kind="store.down", until__isnull=True), name="alert_open_outages"),
            models.Index(fields=["-created_at"], name="alert_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.store} since {self.since:%Y-%m-%d %H:%M:%S}"


class WebhookSubscription(models.Model):
    """A receiver of the alert events of its owner's stores (every store's, for staff): POSTed JSON signed with its secret."""

    # Only http and https: the deliverer speaks nothing else (URLField alone also allows ftp).
    url = models.URLField(max_length=2000, validators=[URLValidator(schemes=["http", "https"])], help_text="http:// or https://")
    # Unique per owner, not overall: a refused URL must not tell one owner that another subscribed it.
    owner = models.TextField(
        blank=True, default="", db_collation="C", help_text="events of this owner's stores only (SPEC 11); blank: staff, every store"
    )
    # Kept as given: the HMAC needs it in clear. Anyone reading the database could sign.
    secret = models.CharField(max_length=200)
    active = models.BooleanField(default=True, help_text="untick to stop sending (queued deliveries wait)")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "url"], name="one_subscription_per_owner_and_url")]

    def __str__(self) -> str:
        return self.url if not self.owner else f"{self.url} ({self.owner})"


class WebhookDelivery(models.Model):
    """One event to one subscription; the row is the delivery's whole state (retries, claim, outcome)."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    # Sent as X-Monitoring-Delivery, the same on every retry: a receiver drops duplicates by it.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # Claiming a delivery moves this past the claim's expiry: a deliverer that dies
    # before recording the outcome leaves the row due again then (delivery.py).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.PositiveIntegerField(null=True, blank=True, help_text="HTTP status of the last answer")
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "subscription"], name="one_delivery_per_event_and_subscription")]
        # Each subscription's due deliveries, oldest first: the claim's index, small because sent rows leave it.
        indexes = [
            models.Index(fields=["subscription", "next_attempt_at"], condition=Q(state="pending"), name="delivery_due")
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.subscription} ({self.state})"
