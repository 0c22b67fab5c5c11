"""The Celery application of REPORT_RUNNER=celery, configured from Django settings.

Run workers with `celery -A monitoring.reports.celery_app worker` (or `make worker`);
docs/architecture.md explains the set-up. Tasks are acknowledged only when done
(acks_late) and given back to the broker when their worker process dies
(reject_on_worker_lost), so a killed worker's shard runs again elsewhere. The
report rows in the database are the results: no result backend is used.
"""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")

app = Celery("monitoring", include=["monitoring.reports.tasks"])
# CELERY_BROKER_URL and any other CELERY_* setting come from main/settings.py.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    # One task at a time per worker process: a long shard never holds back
    # another shard that an idle worker could take.
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
