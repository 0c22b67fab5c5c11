"""Uploading a source: POST /api/v1/sources and the data page's form (SPEC 10)."""
from __future__ import annotations

import gzip

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from monitoring.access import api_token_create
from monitoring.models import IngestRun, RemoteSource, StatusPoll
from monitoring.tests.test_sources import POLLS, REAL_NAMES, make_zip

pytestmark = pytest.mark.django_db


def upload(client: Client, name: str, data: bytes, **headers):
    return client.post("/api/v1/sources", {"file": SimpleUploadedFile(name, data)}, **headers)


def test_an_uploaded_csv_is_loaded_and_answered_with_its_summary(client):
    answer = upload(client, "store_status.csv", POLLS)
    assert answer.status_code == 200
    [loaded] = answer.json()["files"]
    # 3 rows: a and b good, c's status "maybe" rejected on line 4.
    assert {k: loaded[k] for k in ("name", "kind", "mode", "read", "inserted", "updated", "unchanged", "rejected")} == {
        "name": "upload:store_status.csv", "kind": "polls", "mode": "full",
        "read": 3, "inserted": 2, "updated": 0, "unchanged": 0, "rejected": 1,
    }
    assert loaded["rejections"][0]["line"] == 4 and loaded["rejections"][0]["column"] == "status"
    assert StatusPoll.objects.count() == 2


def test_an_uploaded_zip_loads_each_member(client):
    answer = upload(client, "data.zip", make_zip(REAL_NAMES)).json()
    assert answer["ok"] and sorted(f["kind"] for f in answer["files"]) == ["hours", "polls", "timezones"]
    assert "upload:data.zip:store status.csv" in [f["name"] for f in answer["files"]]


def test_an_uploaded_csv_gz_is_loaded_and_the_same_upload_again_is_unchanged(client):
    assert upload(client, "polls.csv.gz", gzip.compress(POLLS)).json()["files"][0]["inserted"] == 2
    assert upload(client, "polls.csv.gz", gzip.compress(POLLS)).json()["files"][0]["unchanged"] == 2


def test_an_upload_with_an_unknown_header_is_refused_naming_the_file(client):
    answer = upload(client, "odd.csv", b"a,b\n1,2\n")
    assert answer.status_code == 422
    [failed] = answer.json()["files"]
    assert failed["mode"] == "failed" and failed["error"].startswith("upload:odd.csv: line 1: unknown header")


def test_an_upload_without_a_file_is_refused(client):
    answer = client.post("/api/v1/sources", {"other": "x"})
    assert answer.status_code == 422 and "field 'file'" in answer.json()["error"]


def test_an_upload_over_the_cap_is_refused_unread(client, settings):
    settings.SOURCE_MAX_BYTES = 100
    assert upload(client, "polls.csv", POLLS * 5).status_code == 413
    assert not IngestRun.objects.exists()


def test_with_auth_on_the_upload_needs_a_staff_identity(client, settings):
    settings.REQUIRE_AUTH = True
    assert upload(client, "polls.csv", POLLS).status_code == 401  # no credentials: the middleware says so
    token = api_token_create(name="ops").secret
    assert upload(client, "polls.csv", POLLS, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_the_data_page_offers_an_upload_form_with_csrf(client):
    page = client.get("/data/").content.decode()
    assert 'enctype="multipart/form-data"' in page and "csrfmiddlewaretoken" in page


def test_the_data_page_form_loads_the_file_and_shows_the_summary():
    client = Client(enforce_csrf_checks=True)
    token = client.get("/data/").cookies["csrftoken"].value
    page = client.post("/data/upload", {"file": SimpleUploadedFile("data.zip", make_zip(REAL_NAMES)), "csrfmiddlewaretoken": token})
    assert page.status_code == 200
    html = page.content.decode()
    assert "upload:data.zip:store status.csv" in html and "unknown status" in html
    assert StatusPoll.objects.count() == 2


def test_the_data_page_form_stops_an_upload_over_the_cap_and_says_so(settings):
    settings.SOURCE_MAX_BYTES = 100
    client = Client(enforce_csrf_checks=True)
    token = client.get("/data/").cookies["csrftoken"].value
    # The token first, as the page's form sends it: parsing stops at the file.
    page = client.post("/data/upload", {"csrfmiddlewaretoken": token, "file": SimpleUploadedFile("p.csv", POLLS * 5)})
    assert page.status_code == 413 and "larger than SOURCE_MAX_BYTES (100 bytes)" in page.content.decode()
    assert not IngestRun.objects.exists()


def test_the_data_page_form_refuses_a_post_without_csrf():
    client = Client(enforce_csrf_checks=True)
    assert client.post("/data/upload", {"file": SimpleUploadedFile("p.csv", POLLS)}).status_code == 403
    assert not StatusPoll.objects.exists()


def test_the_data_page_form_with_auth_on_needs_a_login(client, settings):
    settings.REQUIRE_AUTH = True
    assert client.post("/data/upload", {"file": SimpleUploadedFile("p.csv", POLLS)}).status_code == 302  # to the login
    client.force_login(User.objects.create_user("ops"))
    assert client.post("/data/upload", {"file": SimpleUploadedFile("p.csv", POLLS)}).status_code == 200


def test_the_data_page_shows_a_failed_fetch(client):
    RemoteSource.objects.create(url="https://example.org/data.zip", error="https://example.org/data.zip: the server answered 500")
    assert "the server answered 500" in client.get("/data/").content.decode()
