"""The real Celery app for the test workers of test_celery_runner.py, plus one hook:
the first run of shard 0 of a report requested by PAUSE_REQUESTER writes its
process id to TEST_PAUSE_DIR/<report id> and sleeps, so the test can kill that
worker process mid-shard. Every other shard runs untouched.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from celery.signals import worker_process_init

from monitoring.reports.celery_app import app

__all__ = ["app"]

PAUSE_REQUESTER = "test: kill my worker mid-shard"


@worker_process_init.connect
def pause_the_first_run_of_a_marked_shard(**kwargs) -> None:
    # Django is set up once the worker process starts, not when celery imports this module.
    from monitoring.models import Report
    from monitoring.reports import build, shards

    shard_run, shard_compute = shards.shard_run, build.shard_compute
    running: dict[str, object] = {}

    def noting_shard_run(*, report_id: str, index: int, send) -> None:
        running.update(report_id=report_id, index=index)
        shard_run(report_id=report_id, index=index, send=send)

    def pausing_shard_compute(**arguments):
        # Called once the shard's run is counted: the kill lands mid-shard.
        report_id = str(running["report_id"])
        marker = Path(os.environ["TEST_PAUSE_DIR"]) / report_id
        requester = Report.objects.filter(pk=report_id).values_list("requested_by", flat=True).first()
        if requester == PAUSE_REQUESTER and running["index"] == 0 and not marker.exists():
            marker.with_suffix(".tmp").write_text(str(os.getpid()))
            marker.with_suffix(".tmp").rename(marker)
            time.sleep(60)
        return shard_compute(**arguments)

    shards.shard_run = noting_shard_run
    build.shard_compute = pausing_shard_compute
