"""Celery tasks: one shard of a report (the work itself is in shards.py)."""
from __future__ import annotations

from monitoring.reports import shards
from monitoring.reports.celery_app import app


@app.task(name="monitoring.report_shard", acks_late=True, reject_on_worker_lost=True)
def report_shard(report_id: str, index: int) -> None:
    shards.shard_run(report_id=report_id, index=index, send=send_shard)


def send_shard(report_id: str, index: int) -> None:
    report_shard.delay(report_id, index)
