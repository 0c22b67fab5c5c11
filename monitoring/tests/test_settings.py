import pytest
from django.core.exceptions import ImproperlyConfigured

from main.env import database_from_url, env_bool, env_choice, env_int


def test_a_junk_boolean_is_an_error_not_false(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG='ture' is not a boolean"):
        env_bool("SOME_FLAG", False)


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("YES", True), (" on ", True), ("0", False), ("false", False), ("", False)])
def test_booleans_accept_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env_bool("SOME_FLAG", not expected) is expected


def test_an_unset_boolean_takes_its_default(monkeypatch):
    monkeypatch.delenv("SOME_FLAG", raising=False)
    assert env_bool("SOME_FLAG", True) is True


def test_a_number_below_its_minimum_is_an_error(monkeypatch):
    monkeypatch.setenv("REPORT_CONCURRENCY", "0")
    with pytest.raises(ImproperlyConfigured, match="below its minimum 1"):
        env_int("REPORT_CONCURRENCY", 2, minimum=1)


def test_a_choice_outside_the_list_is_an_error(monkeypatch):
    monkeypatch.setenv("REPORT_RUNNER", "cron")
    with pytest.raises(ImproperlyConfigured, match="not one of thread, celery"):
        env_choice("REPORT_RUNNER", "thread", ("thread", "celery"))


def test_a_database_url_becomes_a_postgresql_database():
    entry = database_from_url("postgres://app:s%40cret@db.internal:6543/monitoring")
    assert entry == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "monitoring",
        "USER": "app",
        "PASSWORD": "s@cret",
        "HOST": "db.internal",
        "PORT": "6543",
    }


def test_a_database_url_may_name_a_socket_folder():
    assert database_from_url("postgresql://postgres@/monitoring?host=/run/postgresql")["HOST"] == "/run/postgresql"


def test_a_non_postgres_database_url_is_an_error():
    with pytest.raises(ImproperlyConfigured, match="must be a postgres:// URL"):
        database_from_url("mysql://app@db.internal/monitoring")


def test_production_refuses_to_start_without_a_secret_key():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env.update(DJANGO_ENV="production", DJANGO_SETTINGS_MODULE="main.settings")
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def settings_in_a_fresh_process(**environ: str):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "main.settings", **environ}
    code = "import django; django.setup(); from django.conf import settings; print(settings.POLL_RETENTION_DAYS)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_poll_retention_is_90_days_unless_told_and_0_keeps_everything():
    assert settings_in_a_fresh_process(POLL_RETENTION_DAYS="").stdout.strip() == "90"
    assert settings_in_a_fresh_process(POLL_RETENTION_DAYS="0").stdout.strip() == "0"


@pytest.mark.parametrize(
    ("raw", "message"),
    [("ninety", "POLL_RETENTION_DAYS='ninety' is not a whole number"), ("-1", "POLL_RETENTION_DAYS=-1 is below its minimum 0")],
)
def test_a_junk_poll_retention_stops_the_start(raw, message):
    result = settings_in_a_fresh_process(POLL_RETENTION_DAYS=raw)
    assert result.returncode != 0 and message in result.stderr
