"""Production WSGI server settings: `gunicorn -c gunicorn.conf.py main.wsgi`.

Two processes (one per core) with eight threads each: requests are short
database reads, so threads cover the waiting on PostgreSQL, and a second
process keeps answering while the first is busy. More processes would add no
cores. Reports are built by `manage.py report_worker` (REPORT_RUNNER=worker), so
their numpy/pandas work never competes with requests for these processes' GIL.
"""
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", None)
