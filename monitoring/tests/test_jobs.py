"""The thread runner: reports run in the background, a bounded few at a time,
in request order, and survive the death of their runner."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import Report
from monitoring.reports import build, runners, service
from monitoring.tests.report_cases import EXPECTED_CSV, make_small_data

# Runner threads use their own connections: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_runner():
    runners.shutdown()
    yield
    runners.shutdown()


def wait_for(report: Report, *states: str, seconds: float = 30) -> Report:
    deadline = time.monotonic() + seconds
    while True:
        report.refresh_from_db()
        if report.state in states or time.monotonic() > deadline:
            return report
        time.sleep(0.05)


def test_a_triggered_report_completes_in_the_background():
    make_small_data()
    report = wait_for(service.report_create(requested_by="test"), Report.State.COMPLETE, Report.State.FAILED)
    assert report.state == Report.State.COMPLETE, report.error
    assert report.csv == EXPECTED_CSV
    assert ":report-" in report.runner  # one of this process's runner threads


def state_of(report: Report) -> str:
    report.refresh_from_db()
    return report.state


@pytest.fixture
def held_engine(monkeypatch):
    """The engine waits for `release` on its first call, to hold one report Running."""
    from monitoring.engine import compute_rolling_report

    release, first_started = threading.Event(), threading.Event()

    def engine(**frames):
        if not first_started.is_set():
            first_started.set()
            assert release.wait(30), "the test never released the first report"
        return compute_rolling_report(**frames)

    monkeypatch.setattr(build, "compute_rolling_report", engine)
    return release, first_started


def test_with_a_concurrency_of_one_the_second_report_waits_for_the_first(settings, held_engine):
    release, first_started = held_engine
    settings.REPORT_CONCURRENCY = 1
    make_small_data()
    first = service.report_create()
    assert first_started.wait(30)
    second = service.report_create()
    time.sleep(0.5)  # room for a wrongly started second report to show
    assert state_of(first) == Report.State.RUNNING
    assert state_of(second) == Report.State.PENDING
    release.set()
    first, second = (wait_for(r, Report.State.COMPLETE, Report.State.FAILED) for r in (first, second))
    assert first.state == second.state == Report.State.COMPLETE
    assert second.started_at >= first.finished_at
    assert first.csv == second.csv == EXPECTED_CSV


def test_waiting_reports_start_in_request_order(settings, held_engine):
    release, first_started = held_engine
    settings.REPORT_CONCURRENCY = 1
    make_small_data()
    first = service.report_create()
    assert first_started.wait(30)
    later = [service.report_create() for _ in range(3)]
    release.set()
    done = [wait_for(r, Report.State.COMPLETE) for r in [first, *later]]
    starts = [r.started_at for r in done]
    assert starts == sorted(starts)


def test_two_runner_threads_build_two_reports_at_once(settings, monkeypatch):
    settings.REPORT_CONCURRENCY = 2
    make_small_data()
    from monitoring.engine import compute_rolling_report

    both_inside = threading.Barrier(2, timeout=30)

    def engine(**frames):
        both_inside.wait()  # returns only when two reports compute at the same time
        return compute_rolling_report(**frames)

    monkeypatch.setattr(build, "compute_rolling_report", engine)
    pair = [service.report_create(), service.report_create()]
    assert [wait_for(r, Report.State.COMPLETE, Report.State.FAILED).state for r in pair] == ["Complete"] * 2


def stale_running(*, attempts: int) -> Report:
    """A report whose runner was killed (kill -9, restart) 10 minutes ago."""
    return Report.objects.create(
        state=Report.State.RUNNING, runner="web-1:4242:report-1", attempts=attempts,
        started_at=timezone.now() - timedelta(minutes=11), heartbeat_at=timezone.now() - timedelta(minutes=10),
    )


def test_after_a_restart_the_janitor_reruns_a_report_whose_runner_died():
    make_small_data()
    report = stale_running(attempts=1)
    janitor = runners.Janitor(runner=runners.ThreadRunner(concurrency=1))
    janitor.step()
    report = wait_for(report, Report.State.COMPLETE, Report.State.FAILED)
    janitor.runner.stop()
    assert report.state == Report.State.COMPLETE, report.error
    assert report.csv == EXPECTED_CSV and report.attempts == 2


def test_a_report_whose_runner_died_twice_fails_with_a_clear_error():
    report = stale_running(attempts=2)
    runners.Janitor(runner=runners.ThreadRunner(concurrency=1)).step()
    report.refresh_from_db()
    assert report.state == Report.State.FAILED
    assert report.error == "runner died twice; gave up"


def test_the_janitor_starts_pending_reports_nobody_handed_over():
    make_small_data()
    orphan = Report.objects.create()  # its web process died before handing it over
    runner = runners.ThreadRunner(concurrency=1)
    runners.Janitor(runner=runner).step()
    assert wait_for(orphan, Report.State.COMPLETE).csv == EXPECTED_CSV
    runner.stop()


def test_the_janitor_expires_old_finished_reports(settings):
    settings.REPORTS_KEEP = 1
    for _ in range(3):
        Report.objects.create(state=Report.State.COMPLETE)
    runner = runners.ThreadRunner(concurrency=1)
    runners.Janitor(runner=runner).step()
    runner.stop()
    assert Report.objects.count() == 1


def test_a_running_report_beats_while_it_computes(monkeypatch, held_engine):
    release, first_started = held_engine
    monkeypatch.setattr(build, "HEARTBEAT_SECONDS", 0.05)
    make_small_data()
    report = service.report_create()
    assert first_started.wait(30)
    report.refresh_from_db()
    first_beat = report.heartbeat_at
    time.sleep(0.3)
    report.refresh_from_db()
    release.set()
    assert report.heartbeat_at > first_beat
    assert wait_for(report, Report.State.COMPLETE).state == Report.State.COMPLETE
