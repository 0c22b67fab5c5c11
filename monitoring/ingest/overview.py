"""What the database holds, for the home page, the data page and health checks."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count
from django.utils import timezone

from monitoring.ingest import digests, partitions
from monitoring.models import IngestRun, RejectedRow, RemoteSource, RetentionDrop, StatusPoll, Store

logger = logging.getLogger(__name__)

POLL_COUNT_ESTIMATE_ABOVE = 1_000_000
REJECTED_ROWS_SHOWN = 200
RETENTION_DROPS_SHOWN = 20


@dataclass(frozen=True)
class DataOverview:
    store_count: int
    poll_count: int
    latest_poll_at: datetime | None
    oldest_poll_at: datetime | None
    database_ok: bool
    # Seconds from the latest poll to now: how stale a default report would be.
    data_age_seconds: float | None


def _poll_count() -> int:
    """Exact below POLL_COUNT_ESTIMATE_ABOVE polls; above, PostgreSQL's own row estimate.

    Counting 20 million rows takes a second, on every home page view and health check;
    the estimate (kept current by autovacuum and the ANALYZE after each bulk load) is
    free and, for a table that size, off by a fraction of a percent at most. The table
    is partitioned by day: the parent's own reltuples stays stale (the loader and
    autovacuum analyze the partitions), so the estimate is the partitions' sum; a
    partition never analyzed says -1 and counts as empty.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass""",
            [StatusPoll._meta.db_table],
        )
        estimate = cursor.fetchone()[0]
    return estimate if estimate >= POLL_COUNT_ESTIMATE_ABOVE else StatusPoll.objects.count()


def data_overview() -> DataOverview:
    """What the database holds, for the home page and health checks; never raises."""
    try:
        store_count = Store.objects.count()
        polls = StatusPoll.objects.order_by()
        poll_count = _poll_count()
        latest = polls.order_by("-timestamp").values_list("timestamp", flat=True).first()
        oldest = polls.order_by("timestamp").values_list("timestamp", flat=True).first()
    except DatabaseError:
        logger.warning("data overview: the database did not answer", exc_info=True)
        return DataOverview(0, 0, None, None, database_ok=False, data_age_seconds=None)
    age = (timezone.now() - latest).total_seconds() if latest else None
    return DataOverview(store_count, poll_count, latest, oldest, database_ok=True, data_age_seconds=age)


@dataclass(frozen=True)
class LoadStatus:
    """The last load of each source file and the rows it turned away."""

    runs: list[IngestRun]
    rejected: list[RejectedRow]
    rejected_total: int


def latest_loads(*, files: int = 10) -> LoadStatus:
    # The newest run of each file path (PostgreSQL DISTINCT ON), newest first.
    latest_ids = IngestRun.objects.order_by("path", "-started_at").distinct("path").values("id")
    runs = list(IngestRun.objects.filter(id__in=latest_ids).order_by("-started_at")[:files])
    rejected = RejectedRow.objects.filter(run__in=runs).select_related("run").order_by("-run__started_at", "line")
    total = rejected.aggregate(n=Count("id"))["n"]
    return LoadStatus(runs=runs, rejected=list(rejected[:REJECTED_ROWS_SHOWN]), rejected_total=total)


@dataclass(frozen=True)
class HistoryKept:
    """The poll history the day partitions hold, and what retention removed."""

    keep_days: int  # settings.POLL_RETENTION_DAYS; 0 keeps everything
    day_partitions: int
    first_day: date | None
    last_day: date | None
    digested_days: int  # closed days whose digests are current (what reports read instead of their polls)
    drops: list[RetentionDrop]
    drop_total: int


def history_kept(*, drops: int = RETENTION_DROPS_SHOWN) -> HistoryKept:
    with connection.cursor() as cursor:
        days = partitions.day_partitions(cursor)  # one catalog query
        digested = digests.current_days(cursor, first_day=days[0].day, last_day=days[-1].day) if days else []
    shown = list(RetentionDrop.objects.all()[:drops])
    total = len(shown) if len(shown) < drops else RetentionDrop.objects.count()
    return HistoryKept(
        keep_days=settings.POLL_RETENTION_DAYS,
        day_partitions=len(days),
        first_day=days[0].day if days else None,
        last_day=days[-1].day if days else None,
        digested_days=len(digested),
        drops=shown,
        drop_total=total,
    )


def remote_sources() -> list[RemoteSource]:
    """The URLs fetched so far and how their last fetch went (a failure stays shown until one works)."""
    return list(RemoteSource.objects.all())
