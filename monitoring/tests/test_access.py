from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from monitoring.access import IdentityRefused, api_token_create, api_token_revoke, api_token_rotate, trigger_allowed
from monitoring.models import ApiToken, Report

pytestmark = pytest.mark.django_db


@pytest.fixture
def locked_down(settings):
    settings.REQUIRE_AUTH = True
    return settings


def test_only_a_hash_of_the_token_is_stored():
    issued = api_token_create(name="dashboard")
    stored = ApiToken.objects.get(name="dashboard")
    assert issued.secret not in (stored.key_hash, stored.prefix) and stored.prefix == issued.secret[:8]


def test_the_api_refuses_a_request_without_a_token_when_locked_down(client, locked_down):
    response = client.get("/api/v1/reports")
    assert response.status_code == 401
    assert response.json()["status"] == "Unauthorized"


def test_the_api_lets_a_valid_bearer_token_through_and_records_its_use(client, locked_down):
    issued = api_token_create(name="dashboard")
    response = client.get("/api/v1/reports", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert response.status_code != 401
    assert ApiToken.objects.get(name="dashboard").last_used_at is not None


def test_a_tokens_last_use_is_written_at_most_once_a_minute(client, locked_down):
    issued = api_token_create(name="dashboard")
    client.get("/api/v1/health", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")  # warm up: first use written
    first_use = ApiToken.objects.get(name="dashboard").last_used_at
    client.get("/api/v1/reports", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert ApiToken.objects.get(name="dashboard").last_used_at == first_use  # seconds later: not rewritten
    ApiToken.objects.filter(name="dashboard").update(last_used_at=first_use - timedelta(minutes=2))
    client.get("/api/v1/reports", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert ApiToken.objects.get(name="dashboard").last_used_at > first_use


def test_a_revoked_token_is_refused_at_once(client, locked_down):
    issued = api_token_create(name="dashboard")
    assert api_token_revoke(name="dashboard")
    assert client.get("/get_report?report_id=x", HTTP_X_API_TOKEN=issued.secret).status_code == 401


def test_revoking_an_unknown_name_says_so_and_leaves_the_other_tokens_working():
    api_token_create(name="dashboard")
    assert not api_token_revoke(name="billing")
    assert ApiToken.objects.get(name="dashboard").active


def test_rotating_a_revoked_token_is_refused_so_a_revocation_is_not_undone_by_routine():
    api_token_create(name="dashboard")
    api_token_revoke(name="dashboard")
    with pytest.raises(IdentityRefused, match="revoked"):
        api_token_rotate(name="dashboard")
    assert not ApiToken.objects.get(name="dashboard").active


def test_rotating_a_revoked_token_with_reactivate_lets_the_client_back_in_with_a_new_secret(client, locked_down):
    old = api_token_create(name="dashboard")
    api_token_revoke(name="dashboard")
    new = api_token_rotate(name="dashboard", reactivate=True)
    assert client.get("/api/v1/reports", HTTP_AUTHORIZATION=f"Bearer {old.secret}").status_code == 401
    assert client.get("/api/v1/reports", HTTP_AUTHORIZATION=f"Bearer {new.secret}").status_code != 401


def test_rotating_a_token_kills_the_old_secret(client, locked_down):
    old = api_token_create(name="dashboard")
    new = api_token_rotate(name="dashboard")
    assert client.get("/api/v1/reports", HTTP_AUTHORIZATION=f"Bearer {old.secret}").status_code == 401
    assert client.get("/api/v1/reports", HTTP_AUTHORIZATION=f"Bearer {new.secret}").status_code != 401


def test_pages_redirect_to_the_login_when_locked_down(client, locked_down):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_health_stays_open_for_probes_when_locked_down(client, locked_down):
    assert client.get("/api/v1/health").status_code != 401


def test_everything_is_open_in_development(client, settings):
    settings.REQUIRE_AUTH = False
    assert client.get("/").status_code == 200


def test_the_trigger_rate_limit_counts_a_clients_recent_reports(settings):
    settings.TRIGGER_RATE_LIMIT = 2
    settings.TRIGGER_RATE_WINDOW_SECONDS = 60
    Report.objects.create(requested_by="ip:10.0.0.1")
    assert trigger_allowed(client="ip:10.0.0.1")  # 1 of 2 used
    Report.objects.create(requested_by="ip:10.0.0.1")
    assert not trigger_allowed(client="ip:10.0.0.1")  # 2 of 2 used
    assert trigger_allowed(client="ip:10.0.0.2")  # another client has its own budget


def test_reports_older_than_the_window_do_not_count(settings):
    settings.TRIGGER_RATE_LIMIT = 1
    settings.TRIGGER_RATE_WINDOW_SECONDS = 60
    Report.objects.create(requested_by="ip:10.0.0.1", requested_at=timezone.now() - timedelta(seconds=61))
    assert trigger_allowed(client="ip:10.0.0.1")


def test_the_token_command_creates_rotates_and_revokes(capsys):
    call_command("api_token", "create", "billing")
    first = capsys.readouterr().out.strip()
    call_command("api_token", "rotate", "billing")
    second = capsys.readouterr().out.strip()
    assert first != second and len(second) >= 40
    call_command("api_token", "revoke", "billing")
    assert not ApiToken.objects.get(name="billing").active


def test_the_token_command_refuses_to_revoke_a_token_that_does_not_exist():
    with pytest.raises(CommandError, match="no token named 'billing'"):
        call_command("api_token", "revoke", "billing")


def test_the_token_command_refuses_to_rotate_a_revoked_token_and_says_how_to_reactivate(capsys):
    call_command("api_token", "create", "billing")
    call_command("api_token", "revoke", "billing")
    with pytest.raises(CommandError, match="--reactivate"):
        call_command("api_token", "rotate", "billing")
    call_command("api_token", "rotate", "billing", "--reactivate")
    assert "active again" in capsys.readouterr().err
    assert ApiToken.objects.get(name="billing").active


def test_the_token_command_refuses_a_name_longer_than_its_column_with_a_clear_error():
    with pytest.raises(CommandError, match="at most 100 characters, not 101"):
        call_command("api_token", "create", "x" * 101)
    assert not ApiToken.objects.exists()
