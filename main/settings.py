"""The one settings file. It runs with no configuration at all (development on an
embedded PostgreSQL); every setting can be overridden from the environment, and
README.md lists them all. `DJANGO_ENV=production` switches on the safe defaults
for exposing the service.
"""
from __future__ import annotations

import os
import zoneinfo
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from main.env import database_from_url, env_bool, env_choice, env_float, env_int, env_list, env_path

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENT = env_choice("DJANGO_ENV", "development", ("development", "production"))
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_ENV=production")
    SECRET_KEY = "development-only-key-never-used-in-production"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["*"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_extensions",
    # Only for its packaged Swagger UI files and templates: the API docs page works offline.
    "ninja",
    # Counts failed logins per user name and per client address, and locks them out (README, Security).
    "axes",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "monitoring.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "monitoring.middleware.AccessControlMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

ROOT_URLCONF = "main.urls"
WSGI_APPLICATION = "main.wsgi.application"
ASGI_APPLICATION = "main.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "monitoring.access.scope_for_templates",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# DATABASE_URL names a PostgreSQL server. Without it, an embedded PostgreSQL
# (pgserver, from pip) runs from EMBEDDED_PGDATA and starts on first connection.
EMBEDDED_PGDATA = env_path("EMBEDDED_PGDATA", BASE_DIR / "var" / "pgdata")
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "main.embedded_postgres",
            "NAME": os.environ.get("EMBEDDED_DB_NAME", "monitoring"),
            "EMBEDDED_PGDATA": str(EMBEDDED_PGDATA),
        }
    }
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Time and language ---------------------------------------------------------
# Reports convert business hours with zoneinfo. Read the IANA rules from the pinned
# `tzdata` package, not the machine's /usr/share/zoneinfo, so every machine computes
# the same DST changes and so the same figures.
zoneinfo.reset_tzpath(to=[])
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Only for `collectstatic` behind another web server; WhiteNoise needs none (below).
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
# WhiteNoise serves the static files from gunicorn too (DEBUG off). Finders let it
# serve them straight from the app and packages, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
# Not used for uploads; set so Django's live server never treats a path as a media file.
MEDIA_URL = "/media/"

# --- The monitoring service -----------------------------------------------------
# What `runscript load` and the hourly refresher ingest: a folder of CSV files, a .csv, .csv.gz
# or .zip file, or an http(s):// URL of one; several separated by commas (SPEC 10). Kept as
# text when set, since a URL is no path (monitoring/ingest/sources.py splits and reads it).
MONITORING_DATA_DIR = os.environ.get("MONITORING_DATA_DIR", "").strip() or BASE_DIR / "data" / "sample"
# The most bytes one source may download, yield after gunzip, or unzip to: a zip or gzip bomb or
# an endless file fails once past it, by name, with nothing stored. 2 GiB is about 30 million polls.
SOURCE_MAX_BYTES = env_int("SOURCE_MAX_BYTES", 2 << 30, minimum=1)
# Seconds to connect, and to wait for each part of the answer, when fetching a URL.
SOURCE_TIMEOUT_SECONDS = env_int("SOURCE_TIMEOUT_SECONDS", 30, minimum=1)
# Uploads (POST /api/v1/sources, the data page's form) go to a temporary file as they arrive,
# whatever their size: a CSV is never held whole in memory.
FILE_UPLOAD_HANDLERS = ["monitoring.middleware.CappedUploadHandler"]
# Where load logs and rejected-row CSVs are written.
MONITORING_LOG_DIR = env_path("MONITORING_LOG_DIR", BASE_DIR / "var" / "log")
# Seconds between two ingestion rounds of the refresher.
REFRESH_INTERVAL_SECONDS = env_int("REFRESH_INTERVAL_SECONDS", 3600, minimum=1)
# Days of polls kept, counted back from the latest poll (not the clock); each refresh
# round drops the older day partitions (docs/ingestion.md, "Retention"). 0 keeps everything.
POLL_RETENTION_DAYS = env_int("POLL_RETENTION_DAYS", 90, minimum=0)
# Run the refresher as a daemon thread of the web server (the design card's way).
REFRESH_IN_WEB = env_bool("REFRESH_IN_WEB", False)
# How reports run: threads of the web process, `manage.py report_worker` processes, or Celery workers.
REPORT_RUNNER = env_choice("REPORT_RUNNER", "thread", ("thread", "worker", "celery"))
# Reports computed at once by one process; the rest wait as Pending.
REPORT_CONCURRENCY = env_int("REPORT_CONCURRENCY", 2, minimum=1)
# Stores per shard: bounds memory, and is the unit of work Celery workers share.
REPORT_SHARD_STORES = env_int("REPORT_SHARD_STORES", 20000, minimum=1)
# Stores per read of the passes over the whole fleet (status now, the alert decision after a
# load): smaller than a report's, since they run inside the web and loading processes
# (scale 10, two weeks: 460 MB peak RSS for a load and its alerts, against 605 MB at 20,000).
FLEET_SHARD_STORES = env_int("FLEET_SHARD_STORES", 5000, minimum=1)
# Finished reports kept (with their CSV); older ones are deleted by the janitor.
REPORTS_KEEP = env_int("REPORTS_KEEP", 500, minimum=1)
# A Running report whose runner has not shown life for this long is run again.
REPORT_STALE_SECONDS = env_int("REPORT_STALE_SECONDS", 120, minimum=10)
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")

# --- Alerts (SPEC 9, docs/alerts.md) ------------------------------------------------
# An ongoing outage this long (minutes) is told to the webhooks as store.down.
ALERT_AFTER_MINUTES = env_int("ALERT_AFTER_MINUTES", 30, minimum=1)
# A receiver that has not answered in this many seconds is tried again later.
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0, above=0.0)
# Webhook deliveries sent at once by one process (threads); one receiver gets at most half.
WEBHOOK_CONCURRENCY = env_int("WEBHOOK_CONCURRENCY", 8, minimum=1)
# A claimed delivery whose deliverer died is sent again after this many seconds. Longer
# than the timeout, so a live deliverer's claim never expires while it waits for an answer.
WEBHOOK_CLAIM_SECONDS = env_int("WEBHOOK_CLAIM_SECONDS", 60, minimum=1)
if WEBHOOK_CLAIM_SECONDS <= WEBHOOK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("WEBHOOK_CLAIM_SECONDS must be longer than WEBHOOK_TIMEOUT_SECONDS")
# Fault tests only: a deliverer sleeps this long between claiming and sending, to be killed there.
WEBHOOK_PAUSE_AFTER_CLAIM_SECONDS = env_int("WEBHOOK_PAUSE_AFTER_CLAIM_SECONDS", 0, minimum=0)

# --- Access ------------------------------------------------------------------------
# API by token (or login) and pages by login; open in development.
REQUIRE_AUTH = env_bool("REQUIRE_AUTH", PRODUCTION)
# The pages' own login (owners are not staff: the admin's login is not theirs); / after it.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# Five wrong passwords lock that user name, and that client address, out for 15 minutes (each
# on its own: guessing many users' passwords from one address is refused as well). A success
# clears the count; `manage.py axes_reset` (or axes_reset_username NAME) lifts a lockout.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Reports one client may trigger per window (0 = no limit; development has none).
TRIGGER_RATE_LIMIT = env_int("TRIGGER_RATE_LIMIT", 30 if PRODUCTION else 0, minimum=0)
TRIGGER_RATE_WINDOW_SECONDS = env_int("TRIGGER_RATE_WINDOW_SECONDS", 3600, minimum=1)

# --- Production hardening ---------------------------------------------------------
if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO").upper()},
    # httpx logs every request at INFO: a line per webhook delivery is noise; failures are logged by delivery.py.
    "loggers": {"pgserver": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
