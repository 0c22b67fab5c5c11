"""REPORT_RUNNER=worker: web processes only queue; `manage.py report_worker` builds."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings

from monitoring.models import Report
from monitoring.reports import runners, service
from monitoring.tests.processes import env_for_test_database, wait_until
from monitoring.tests.report_cases import EXPECTED_CSV, make_small_data

# The worker is another process: the test data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_mode(settings):
    settings.REPORT_RUNNER = "worker"
    runners.shutdown()
    yield
    runners.shutdown()


def test_in_worker_mode_a_web_process_queues_the_report_and_builds_nothing(worker_mode):
    make_small_data()
    report = service.report_create(requested_by="test")
    time.sleep(0.5)  # the thread runner would have claimed it by now
    report.refresh_from_db()
    assert report.state == Report.State.PENDING and isinstance(runners.runner(), runners.QueueOnly)


def test_a_report_worker_process_builds_queued_reports_and_stops_cleanly_on_sigterm(worker_mode, tmp_path):
    make_small_data()
    first, second = service.report_create(), service.report_create()
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "report_worker", "--concurrency", "1"],
        cwd=django_settings.BASE_DIR, env=env_for_test_database(), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        for report in (first, second):
            wait_until(lambda: Report.objects.get(pk=report.pk).state == Report.State.COMPLETE, what="the worker")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, (tmp_path / "worker.log").read_text()
    for report in (first, second):
        report.refresh_from_db()
        assert report.csv == EXPECTED_CSV
        assert f":{worker.pid}:" in report.runner  # built by the worker process, not this one
