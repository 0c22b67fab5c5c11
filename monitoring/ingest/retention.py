"""Retention: the poll history older than settings.POLL_RETENTION_DAYS goes, a day partition at a time.

The days are counted back from the latest poll stored, not from the clock: what is
kept is the last POLL_RETENTION_DAYS days of the data, so the 2023 sample (or a feed
that stopped a month ago) does not vanish on the first round. The day the cutoff
falls in is kept whole: with the latest poll on day D and 90 days, days D-90 .. D are
kept (between 90 and 91 days of polls) and day D-91 and older are dropped. Why DROP
TABLE rather than DETACH PARTITION ... CONCURRENTLY: docs/ingestion.md, "Retention".
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.db.models import Max

from monitoring.ingest import digests, partitions
from monitoring.ingest.locks import LOAD_LOCK_KEY, session_lock
from monitoring.models import RetentionDrop, StatusPoll

# DROP TABLE waits for every running query of the poll table (a report's read) and,
# while it waits, queues every new one behind it. Waiting longer than this gives up:
# the next round tries again, and nobody waits on retention more than this.
LOCK_TIMEOUT = "3s"
_LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class RetentionOutcome:
    drop: RetentionDrop | None = None  # what went; None when nothing was old enough
    postponed: bool = False  # the poll table stayed in use past LOCK_TIMEOUT

    def line(self) -> str:
        """What retention did, for the round's line; "" when it had nothing to do (most rounds)."""
        if self.postponed:
            return "retention postponed: the poll table was busy, next round tries again"
        return f"retention: {self.drop.summary()}" if self.drop else ""


def keep_from(*, latest: datetime, keep_days: int) -> datetime:
    """The first instant kept: UTC midnight of the day `keep_days` days before the latest poll."""
    return partitions.utc_midnight(latest - timedelta(days=keep_days))


def retention_apply(*, keep_days: int) -> RetentionOutcome:
    """Drop the day partitions wholly before keep_from, delete DEFAULT's older rows, record it.

    Under the load lock, so that no load writes (or creates) a day being dropped.
    """
    if keep_days <= 0:  # 0 keeps everything
        return RetentionOutcome()
    with session_lock(key=LOAD_LOCK_KEY, wait=True):
        try:
            with transaction.atomic():
                return RetentionOutcome(drop=_drop_old_days(keep_days=keep_days))
        except OperationalError as error:
            if getattr(error.__cause__, "pgcode", None) == _LOCK_NOT_AVAILABLE:
                return RetentionOutcome(postponed=True)
            raise


def _drop_old_days(*, keep_days: int) -> RetentionDrop | None:
    latest = StatusPoll.objects.aggregate(latest=Max("timestamp"))["latest"]
    if latest is None:
        return None
    cutoff = keep_from(latest=latest, keep_days=keep_days)
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        old = [part for part in partitions.day_partitions(cursor) if part.end <= cutoff]
        rows = _row_count(cursor, names=[part.name for part in old])
        # Rows written outside the loader (admin, shell) may sit in DEFAULT on any day: a
        # partition cannot be dropped for them, so they go by one set-based DELETE on the
        # timestamp index (empty, and so free, unless such writes happened).
        cursor.execute(f"DELETE FROM {partitions.DEFAULT} WHERE timestamp < %s", [cutoff])
        default_rows = cursor.rowcount
        if old:
            cursor.execute(f"DROP TABLE {', '.join(part.name for part in old)}")
        # No trigger sees a DROP: the dropped days' digests must not outlive their polls.
        digests.forget_days_before(cursor, day=cutoff.date())
    if not old and not default_rows:
        return None
    return RetentionDrop.objects.create(
        keep_days=keep_days,
        latest_poll_at=latest,
        kept_from=cutoff,
        first_day=old[0].day if old else None,
        last_day=old[-1].day if old else None,
        partitions=len(old),
        rows=rows,
        default_rows=default_rows,
    )


def _row_count(cursor, *, names: list[str]) -> int:
    """Rows of these partitions, in one statement whatever their number."""
    if not names:
        return 0
    cursor.execute(" UNION ALL ".join(f"SELECT count(*) FROM {name}" for name in names))
    return sum(count for (count,) in cursor.fetchall())
