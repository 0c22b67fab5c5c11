"""Owners by hand (SPEC 11): whose reports hold which stores, moves, empty and deleted owners,
subscriptions, tokens, users and the staff-only doors. The data: owner_cases.py."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from monitoring.access import STAFF, api_token_create, owner_scope
from monitoring.models import ApiToken, Report, StoreOwner, UserOwner, WebhookDelivery, WebhookSubscription
from monitoring.reports import shards
from monitoring.reports.build import report_build
from monitoring.reports.service import report_create
from monitoring.tests.owner_cases import (
    ALPHA,
    ALPHA_ONLY,
    BETA,
    BETA_ONLY,
    EVERY_STORE,
    NOBODYS,
    SHARED,
    VISIBLE,
    make_owner_world,
)

pytestmark = pytest.mark.django_db

CSV_HEADER = "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,downtime_last_hour,downtime_last_day,downtime_last_week"


@pytest.fixture
def world(settings):
    settings.REQUIRE_AUTH = True
    settings.TRIGGER_RATE_LIMIT = 0
    return make_owner_world()


def rows_by_store(csv: str) -> dict[str, str]:
    lines = csv.splitlines()
    assert lines[0] == CSV_HEADER
    return {line.split(",", 1)[0]: line for line in lines[1:]}


def stores_of(report: Report) -> set[str]:
    return set(rows_by_store(report.csv))


def as_token(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def built(owner: str | None) -> Report:
    return report_build(report=report_create(scope=owner_scope(owner), build_here=True))


def test_an_owners_report_holds_its_stores_with_the_figures_of_the_staff_report(world):
    staff_rows = rows_by_store(world.reports[None].csv)
    assert set(staff_rows) == set(EVERY_STORE)
    for owner in (ALPHA, BETA):
        report = world.reports[owner]
        assert (report.state, report.owner, report.store_count) == (Report.State.COMPLETE, owner, len(VISIBLE[owner]))
        # The same lines, byte for byte: scoping chooses stores, it never changes a figure.
        assert rows_by_store(report.csv) == {store: staff_rows[store] for store in VISIBLE[owner]}
        outage_stores = {line.split(",", 1)[0] for line in report.outages_csv.splitlines()[1:]}
        assert outage_stores == VISIBLE[owner]  # each store is down since 08:30: one outage each


def test_the_shard_workers_compute_an_owners_report_as_the_thread_runner_does(world, settings):
    settings.REPORT_SHARD_STORES = 1  # Alphafoods' 3 stores in 3 shards
    report = Report.objects.create(owner=ALPHA)
    sent: list[tuple[str, int]] = []
    shards.report_dispatch(report=report, send=lambda report_id, index: sent.append((report_id, index)))
    assert [index for _id, index in sent] == [0, 1, 2]
    for report_id, index in sent:
        shards.shard_run(report_id=report_id, index=index, send=lambda *_: None)
    report.refresh_from_db()
    assert (report.state, report.csv) == (Report.State.COMPLETE, world.reports[ALPHA].csv)


def test_a_store_that_changes_owner_stays_in_the_reports_computed_before(world):
    # Alphafoods sells qalphaonezq to Betaburgers between two rounds of reports.
    StoreOwner.objects.filter(store__store_id=ALPHA_ONLY[0], owner=ALPHA).update(owner=BETA)
    alpha_after, beta_after = built(ALPHA), built(BETA)
    assert stores_of(alpha_after) == {ALPHA_ONLY[1], SHARED}
    assert stores_of(beta_after) == {ALPHA_ONLY[0], *BETA_ONLY, SHARED}
    # Each report keeps the stores it was computed for, and stays its owner's alone.
    alpha_before = world.reports[ALPHA]
    assert stores_of(alpha_before) == {*ALPHA_ONLY, SHARED}
    alpha, beta = as_token(world.tokens[ALPHA]), as_token(world.tokens[BETA])
    assert alpha.get(f"/api/v1/reports/{alpha_before.id}/stores/{ALPHA_ONLY[0]}").status_code == 200
    assert beta.get(f"/api/v1/reports/{alpha_before.id}").json() == {"status": "No such report Id!"}


def test_an_owner_with_no_store_gets_empty_answers_never_everyones(world):
    nobody = as_token(api_token_create(name="gamma", owner="Gammagrill").secret)
    triggered = nobody.post("/trigger_report").json()
    report = report_build(report=Report.objects.get(pk=triggered["report_id"]))
    assert (report.state, report.store_count, report.csv) == (Report.State.COMPLETE, 0, CSV_HEADER + "\n")
    status = nobody.get("/api/v1/status").json()
    assert (status["stores"], sum(status["counts"].values())) == ([], 0)
    assert [r["report_id"] for r in nobody.get("/api/v1/reports").json()["reports"]] == [str(report.id)]
    assert nobody.get("/api/v1/webhooks").json() == {"subscriptions": []}


def test_a_token_whose_owner_lost_every_store_sees_none_and_stays_an_owner(world):
    StoreOwner.objects.filter(owner=ALPHA).delete()  # the owners file no longer names Alphafoods
    alpha = as_token(world.tokens[ALPHA])
    assert alpha.get("/api/v1/status").json()["stores"] == []
    assert stores_of(built(ALPHA)) == set()
    # Never staff: the staff-only doors stay shut, as for any owner.
    unknown = alpha.post("/api/v1/no-such-endpoint")
    refused = alpha.post("/api/v1/sources")
    assert (refused.status_code, refused.content) == (404, unknown.content.replace(b"no-such-endpoint", b"sources"))


def test_each_subscription_is_queued_the_events_of_its_owners_stores(world):
    def queued_stores(owner: str | None) -> set[str]:
        deliveries = WebhookDelivery.objects.filter(subscription=world.subscriptions[owner])
        return set(deliveries.values_list("event__store__store_id", flat=True))

    # One store.down per store (down 210 minutes at now, owner_cases.py).
    assert queued_stores(ALPHA) == {*ALPHA_ONLY, SHARED}
    assert queued_stores(BETA) == {*BETA_ONLY, SHARED}
    assert queued_stores(None) == set(EVERY_STORE)
    assert NOBODYS in queued_stores(None)


def test_owners_manage_their_own_subscriptions_through_the_api(world):
    alpha, beta = as_token(world.tokens[ALPHA]), as_token(world.tokens[BETA])
    url = "https://example.org/hook"
    made = alpha.post("/api/v1/webhooks", {"url": url, "secret": "s"}, content_type="application/json")
    assert made.status_code == 201 and made.json()["owner"] == ALPHA and "secret" not in made.json()
    # The same URL for another owner is its own subscription: a refusal would tell it that Alphafoods has one.
    assert beta.post("/api/v1/webhooks", {"url": url, "secret": "t"}, content_type="application/json").status_code == 201
    twice = alpha.post("/api/v1/webhooks", {"url": url, "secret": "s"}, content_type="application/json")
    assert twice.status_code == 422
    mine = made.json()["id"]
    assert [s["url"] for s in alpha.get("/api/v1/webhooks").json()["subscriptions"]] == ["https://hooks.example/Alphafoods", url]
    assert beta.delete(f"/api/v1/webhooks/{mine}").status_code == 404
    assert alpha.delete(f"/api/v1/webhooks/{mine}").status_code == 204
    assert not WebhookSubscription.objects.filter(pk=mine).exists()


def test_a_logged_in_browser_deletes_a_subscription_only_with_the_csrf_token(world):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.users[ALPHA])
    mine = world.subscriptions[ALPHA].pk
    assert browser.delete(f"/api/v1/webhooks/{mine}").status_code == 403
    browser.get("/")  # sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    assert browser.delete(f"/api/v1/webhooks/{mine}", HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="http://testserver").status_code == 204


def test_an_owners_user_is_kept_out_of_the_admin_even_when_marked_staff(world):
    user = world.users[ALPHA]
    user.is_staff = user.is_superuser = True
    user.save()
    browser = Client()
    browser.force_login(user)
    assert browser.get("/admin/monitoring/store/").status_code == 404
    staff = Client()
    staff.force_login(world.users[None])
    assert staff.get("/admin/monitoring/store/").status_code == 200


def test_an_owners_user_sees_its_stores_on_the_now_page_and_no_data_page(world):
    browser = Client()
    browser.force_login(world.users[BETA])
    now = browser.get("/now/").content.decode()
    assert all(store in now for store in VISIBLE[BETA]) and not any(store in now for store in (*ALPHA_ONLY, NOBODYS))
    assert browser.get("/data/").status_code == 404
    assert 'href="/data/"' not in browser.get("/").content.decode()


def test_the_commands_give_tokens_and_users_an_owner(world, capsys):
    call_command("api_token", "create", "franchise-app", owner=BETA)
    assert ApiToken.objects.get(name="franchise-app").owner == BETA
    call_command("api_token", "list")
    assert f"\tactive\t{BETA}\tnever used" in capsys.readouterr().out
    call_command("owner_user", "add", "newcomer", owner=ALPHA)
    out = capsys.readouterr().out
    assert out.startswith(f"created newcomer (owner {ALPHA}); password: ")
    password = out.rsplit(" ", 1)[1].strip()
    browser = Client()
    assert browser.post("/accounts/login/", {"username": "newcomer", "password": password})["Location"] == "/"
    assert {row["store_id"] for row in browser.get("/api/v1/status").json()["stores"]} == VISIBLE[ALPHA]
    call_command("owner_user", "remove", "newcomer")
    assert not UserOwner.objects.filter(user__username="newcomer").exists()
    with pytest.raises(CommandError, match="--owner"):
        call_command("owner_user", "add", "someone")


def test_a_command_warns_when_the_owner_has_no_store_yet(world, capsys):
    call_command("api_token", "create", "typo-app", owner="Alphafods")
    assert "no store belongs to 'Alphafods' yet" in capsys.readouterr().err


def test_manage_py_report_builds_an_owners_report(world, tmp_path):
    out = tmp_path / "alpha.csv"
    call_command("report", owner=ALPHA, output=out)
    assert out.read_text() == world.reports[ALPHA].csv
    assert STAFF.reports().filter(owner=ALPHA).count() == 2
