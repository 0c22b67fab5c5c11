"""How a report runs once created: threads of the web process, or Celery workers.

REPORT_RUNNER=thread (the default): a bounded pool of REPORT_CONCURRENCY
threads per process. Each thread takes the oldest Pending report from the
database (the queue every process shares, so any process can run any report),
builds it, and takes the next; reports beyond the pool's size simply wait as
Pending rows, in request order.

REPORT_RUNNER=worker: web processes only queue reports; `manage.py report_worker`
processes build them with the same thread pool. A report's numpy and pandas work
then never competes with requests for a web process's GIL.

REPORT_RUNNER=celery: the report's shards become tasks for
`celery -A monitoring.reports.celery_app worker` processes (shards.py).

Either way a janitor thread, started with the runner (on the first report of
the process, or by `manage.py serve`; never at import), runs every
JANITOR_SECONDS: it sends Running reports whose runner stopped beating back
to Pending (or fails them after a second death), expires old reports, and
hands any Pending report to the runner.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.db import DatabaseError, connection

from monitoring.reports import build, state

logger = logging.getLogger(__name__)

JANITOR_SECONDS = 30.0


class Runner(Protocol):
    def submit(self) -> None:
        """Start the Pending reports this runner has room for."""

    def stop(self) -> None: ...


class ThreadRunner:
    """At most `concurrency` reports computing at once in this process."""

    def __init__(self, *, concurrency: int) -> None:
        self.concurrency = concurrency
        self._changed = threading.Condition()
        self._generation = 0  # bumped by submit(), so no wake-up is ever missed
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def submit(self) -> None:
        with self._changed:
            if self._stopping:
                return
            while len(self._threads) < self.concurrency:
                thread = threading.Thread(target=self._work, name=f"report-{len(self._threads) + 1}", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._generation += 1
            self._changed.notify_all()

    def stop(self) -> None:
        """Let the threads finish the report they are building, then end them."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        try:
            while True:
                with self._changed:
                    if self._stopping:
                        return
                    seen = self._generation
                if not self._build_next():
                    connection.close()  # idle: hold no connection
                    with self._changed:
                        self._changed.wait_for(lambda: self._stopping or self._generation != seen)
        finally:
            connection.close()

    def _build_next(self) -> bool:
        """Build the oldest Pending report; False when the queue is empty (or unreachable)."""
        try:
            report = state.report_next_pending()
            if report is None:
                return False
            build.report_build(report=report)  # another process may claim it first: then a no-op
            return True
        except Exception:
            logger.exception("report runner %s: could not take a report", threading.current_thread().name)
            return False


class CeleryRunner:
    """Hands every Pending report's shards to the Celery workers."""

    def submit(self) -> None:
        from monitoring.reports import (  # the celery package is needed only here
            shards,
            tasks,
        )

        while (report := state.report_next_pending()) is not None:
            shards.report_dispatch(report=report, send=tasks.send_shard)

    def stop(self) -> None:
        """Nothing runs here: the workers are other processes."""


class QueueOnly:
    """REPORT_RUNNER=worker, in a web process: Pending rows wait for a report_worker process."""

    def submit(self) -> None:
        """Nothing to start here: report_worker processes poll the queue."""

    def stop(self) -> None:
        """Nothing runs here."""


class Janitor:
    """Recovers reports whose runner died, expires old ones, restarts waiting ones."""

    def __init__(self, *, runner: Runner, interval: float = JANITOR_SECONDS) -> None:
        self.runner = runner
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> None:
        """One round; the thread runs it at start (recovery after a restart) and every interval."""
        stale_after = timedelta(seconds=settings.REPORT_STALE_SECONDS)
        state.reports_recover_stale(older_than=stale_after)
        state.reports_expire(keep=settings.REPORTS_KEEP)
        self.runner.submit()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="report-janitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            try:
                self.step()
            except Exception:
                logger.exception("report janitor: this round failed; trying again in %.0f s", self.interval)
            finally:
                connection.close()
            if self._stop.wait(self.interval):
                return


class ReportWorker:
    """A process that builds queued reports (`manage.py report_worker`): a thread pool and a janitor."""

    def __init__(self, *, concurrency: int | None = None) -> None:
        self.concurrency = concurrency or settings.REPORT_CONCURRENCY
        self.pool = ThreadRunner(concurrency=self.concurrency)
        self.janitor = Janitor(runner=self.pool)

    def step(self) -> None:
        """Wake the pool when reports wait (one indexed query)."""
        if state.report_next_pending() is not None:
            self.pool.submit()

    def run(self, *, stop: threading.Event, poll_seconds: float) -> None:
        self.janitor.start()
        try:
            while not stop.wait(poll_seconds):
                try:
                    self.step()
                except DatabaseError:
                    logger.warning("report worker: the database did not answer; trying again", exc_info=True)
                    connection.close()
        finally:
            self.janitor.stop()
            self.pool.stop()
            connection.close()


_lock = threading.Lock()
_runner: Runner | None = None
_janitor: Janitor | None = None


def runner() -> Runner:
    """This process's runner (made on first use, with its janitor)."""
    global _runner, _janitor
    with _lock:
        if _runner is None:
            if settings.REPORT_RUNNER == "celery":
                _runner = CeleryRunner()
            elif settings.REPORT_RUNNER == "worker":
                _runner = QueueOnly()
            else:
                _runner = ThreadRunner(concurrency=settings.REPORT_CONCURRENCY)
            _janitor = Janitor(runner=_runner)
            _janitor.start()
        return _runner


def report_submitted() -> None:
    """A report was created: let the runner start it (or queue it)."""
    runner().submit()


def start_background() -> None:
    """Start the runner and janitor now (`serve`), to resume reports a restart left behind."""
    runner()


def shutdown() -> None:
    """Stop the janitor and runner threads (each finishes its current report)."""
    global _runner, _janitor
    with _lock:
        janitor, current = _janitor, _runner
        _runner = _janitor = None
    if janitor is not None:
        janitor.stop()
    if current is not None:
        current.stop()
