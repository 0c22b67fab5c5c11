"""Production WSGI server settings: `gunicorn -c gunicorn.conf.py main.wsgi`.

Two processes (one per core) with eight threads each: requests are short
database reads, so threads cover the waiting on PostgreSQL, and the report
runner's threads (REPORT_CONCURRENCY per process) compute in numpy/pandas,
which releases the GIL for the heavy parts. More processes would only multiply
the memory a report needs without adding cores.
"""
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", None)
