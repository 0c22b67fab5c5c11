"""The hourly refresher: re-ingest the sources on a schedule, as they grow.

It runs as `manage.py refresh` (a loop that stops cleanly on SIGTERM) or, with
settings.REFRESH_IN_WEB, as a daemon thread of the web server. However many run,
only one works at a time: a round first takes a PostgreSQL advisory lock and a
round that cannot get it is skipped. A round where nothing changed costs a stat()
per file, or one conditional GET answered 304 per URL; a polls file that only grew
costs its new lines (monitoring/ingest/plan.py). settings.MONITORING_DATA_DIR may
name several sources, separated by commas (monitoring/ingest/sources.py).
A round that stored new polls then decides the alert events (monitoring/alerts/events.py);
after the files, a round drops the history older than POLL_RETENTION_DAYS (retention.py).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from monitoring.alerts.events import RoundAlerts
from monitoring.ingest.digests import DigestOutcome
from monitoring.ingest.load import FileResult
from monitoring.ingest.locks import REFRESH_LOCK_KEY, session_lock
from monitoring.ingest.retention import RetentionOutcome, retention_apply
from monitoring.ingest.sources import ingest_round, split_sources
from monitoring.ingest.summary import round_line

logger = logging.getLogger(__name__)

_web_thread_guard = threading.Lock()
_web_thread: threading.Thread | None = None


@dataclass
class RoundOutcome:
    """One round: the files it loaded, or why it did not run."""

    results: list[FileResult] = field(default_factory=list)
    alerts: RoundAlerts | None = None  # the events decided after it stored new polls
    digests: DigestOutcome = field(default_factory=DigestOutcome)  # the days that closed since
    retention: RetentionOutcome = field(default_factory=RetentionOutcome)
    busy: bool = False  # another refresher was working: this round left the files to it
    error: str = ""  # the database could not be reached
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.error) or any(not r.ok for r in self.results)

    def line(self) -> str:
        if self.busy:
            return "refresh round skipped: another refresher is working"
        if self.error:
            return f"refresh round failed: {self.error}"
        after = [self.digests.line(), self.alerts.line() if self.alerts is not None else "", self.retention.line()]
        return "; ".join([f"refresh round: {round_line(self.results)}", *filter(None, after)])


def refresh_round(*, data_dir: Path | str | None = None, full: bool = False) -> RoundOutcome:
    """Ingest the sources once, unless another refresher is working right now."""
    started = time.monotonic()
    if not connection.in_atomic_block:  # (a caller's transaction, e.g. a test's, is left alone)
        close_old_connections()  # a connection the database dropped since the last round is replaced
    try:
        with session_lock(key=REFRESH_LOCK_KEY, wait=False) as held:
            if not held:
                return RoundOutcome(busy=True)
            loaded = ingest_round(sources=split_sources(data_dir or settings.MONITORING_DATA_DIR), full=full)
            retention = retention_apply(keep_days=settings.POLL_RETENTION_DAYS)
    except DatabaseError as error:
        # The database may be restarting: report it and try again next round.
        return RoundOutcome(error=f"database error: {error}".strip(), seconds=time.monotonic() - started)
    return RoundOutcome(
        results=loaded.results, alerts=loaded.alerts, digests=loaded.digests, retention=retention,
        seconds=time.monotonic() - started,
    )


def run_refresher(
    *,
    stop: threading.Event,
    interval: float,
    on_round: Callable[[RoundOutcome], None],
    data_dir: Path | str | None = None,
    full_first: bool = False,
    once: bool = False,
) -> None:
    """Rounds every `interval` seconds (first one at once) until `stop` is set."""
    full = full_first
    while not stop.is_set():
        on_round(refresh_round(data_dir=data_dir, full=full))
        full = False
        if once or stop.wait(interval):
            return


def start_web_refresher() -> threading.Thread | None:
    """Start the refresher as a daemon thread of this web process, once, if settings ask for it."""
    global _web_thread
    if not settings.REFRESH_IN_WEB:
        return None
    with _web_thread_guard:
        if _web_thread is None or not _web_thread.is_alive():
            _web_thread = threading.Thread(
                target=run_refresher,
                kwargs={"stop": threading.Event(), "interval": settings.REFRESH_INTERVAL_SECONDS, "on_round": _log_round},
                name="monitoring-refresher",
                daemon=True,
            )
            _web_thread.start()
    return _web_thread


def _log_round(outcome: RoundOutcome) -> None:
    logger.log(logging.WARNING if outcome.failed else logging.INFO, "%s", outcome.line())
    for result in outcome.results:
        if not result.ok:
            logger.warning("%s", result.error)
