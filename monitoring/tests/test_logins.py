"""The pages' own login and logout (any user, not only staff), and the lockout after failed logins."""
import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase"


@pytest.fixture
def owner(django_user_model):
    """A store owner: a plain user, not staff."""
    return django_user_model.objects.create_user("owner", password=PASSWORD)


def log_in(client: Client, *, password: str = PASSWORD, next_page: str = "", address: str = "10.0.0.1"):
    data = {"username": "owner", "password": password, **({"next": next_page} if next_page else {})}
    return client.post("/accounts/login/", data, REMOTE_ADDR=address)


def test_a_locked_down_page_sends_to_the_pages_own_login_which_extends_the_site(client, owner, settings):
    settings.REQUIRE_AUTH = True
    assert client.get("/data/")["Location"] == "/accounts/login/?next=/data/"
    page = client.get("/accounts/login/?next=/data/")
    assert page.status_code == 200 and "Store monitoring" in page.content.decode()
    assert [template.name for template in page.templates][:2] == ["registration/login.html", "base.html"]


def test_a_non_staff_owner_logs_in_and_lands_on_the_reports(client, owner, settings):
    settings.REQUIRE_AUTH = True
    assert log_in(client)["Location"] == "/"
    assert client.get("/").status_code == 200


def test_login_follows_a_safe_next_and_ignores_another_sites(client, owner):
    assert log_in(client, next_page="/data/")["Location"] == "/data/"
    client.logout()
    assert log_in(client, next_page="https://evil.example/")["Location"] == "/"


def test_logout_is_a_post_and_a_get_changes_nothing(client, owner):
    log_in(client)
    assert client.get("/accounts/logout/").status_code == 405
    assert "_auth_user_id" in client.session
    assert client.post("/accounts/logout/")["Location"] == "/"
    assert "_auth_user_id" not in client.session


def test_five_wrong_passwords_lock_the_user_out_even_with_the_right_one(client, owner, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(4):
        assert log_in(client, password="wrong").status_code == 200  # the form again, with its error
    assert log_in(client, password="wrong").status_code == 429  # the fifth failure locks
    refused = log_in(client)
    assert refused.status_code == 429 and "_auth_user_id" not in client.session
    # From another address too: the lockout is per user name as well as per address.
    assert log_in(client, address="10.0.0.2").status_code == 429


def test_one_address_guessing_many_users_is_locked_out(client, django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        client.post("/accounts/login/", {"username": f"user{n}", "password": "guess"}, REMOTE_ADDR="10.0.0.9")
    django_user_model.objects.create_user("fresh", password=PASSWORD)
    answer = client.post("/accounts/login/", {"username": "fresh", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")
    assert answer.status_code == 429


def test_the_reset_command_lifts_a_lockout(client, owner, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        log_in(client, password="wrong")
    assert log_in(client).status_code == 429
    call_command("axes_reset")
    assert log_in(client)["Location"] == "/"


def test_a_lockout_ends_after_the_cool_off(client, owner, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        log_in(client, password="wrong")
    assert log_in(client).status_code == 429
    # The failures are dated: move them back past the cool-off, as time would.
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time - settings.AXES_COOLOFF_TIME * 2)
    assert log_in(client)["Location"] == "/"
