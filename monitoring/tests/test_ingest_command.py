"""`manage.py runscript load` (scripts/load.py): the bundled sample, exit codes, output and log files."""
import csv
import gzip
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.models import BusinessHours, StatusPoll, Store, StoreOwner

DATA = Path(__file__).parent / "data"
SAMPLE = Path(settings.BASE_DIR) / "data" / "sample"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def log_dir(tmp_path, settings):
    settings.MONITORING_LOG_DIR = tmp_path / "log"
    return settings.MONITORING_LOG_DIR


def read_sample(name: str) -> list[dict]:
    with gzip.open(SAMPLE / name, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_runscript_load_loads_the_bundled_sample_from_the_data_folder(capsys, settings):
    settings.MONITORING_DATA_DIR = SAMPLE  # the default, whatever this machine's environment says
    call_command("runscript", "load")
    # A second, simpler reading of the same files with the csv module agrees on every count.
    polls, hours, zones = read_sample("store_status.csv.gz"), read_sample("menu_hours.csv.gz"), read_sample("timezones.csv.gz")
    owners = read_sample("owners.csv.gz")
    known = {row["store_id"] for row in polls + hours + zones + owners}
    assert Store.objects.count() == len(known)
    assert StatusPoll.objects.count() == len(polls)
    assert BusinessHours.objects.count() == len(hours)
    assert dict(Store.objects.exclude(timezone="").values_list("store_id", "timezone")) == {z["store_id"]: z["timezone_str"] for z in zones}
    assert set(StoreOwner.objects.values_list("store__store_id", "owner")) == {(o["store_id"], o["owner"]) for o in owners}
    latest = max(row["timestamp_utc"] for row in polls)
    assert latest < "2023-01-25 18:13:22.479220 UTC"  # the window ends at the real data's latest poll
    out = capsys.readouterr().out
    assert f"store_status.csv.gz (polls, full): {len(polls):,} read, {len(polls):,} inserted" in out
    assert f"owners.csv.gz (owners, full): {len(owners):,} read, {len(owners):,} inserted" in out


def test_the_bundled_sample_lets_a_newcomer_try_owner_logins():
    # SPEC 11 on the sample: at least two owners, a store of two owners (brand and franchisee),
    # and stores of none, which only staff see.
    owners = read_sample("owners.csv.gz")
    stores = {row["store_id"] for row in read_sample("store_status.csv.gz")}
    per_store: dict[str, set[str]] = {}
    for row in owners:
        per_store.setdefault(row["store_id"], set()).add(row["owner"])
    assert len({row["owner"] for row in owners}) >= 2
    assert any(len(names) == 2 for names in per_store.values())
    assert set(per_store) < stores and len(stores - set(per_store)) >= 3
    assert sum(1 for names in per_store.values() if "brand-01" in names) >= 5


def test_runscript_load_names_files_and_folders_and_writes_rejected_rows_beside_its_log(capsys, log_dir):
    call_command("runscript", "load", script_args=[str(DATA / "polls_bad_rows.csv"), str(DATA / "hours_variants.csv")])
    out = capsys.readouterr().out
    assert "polls_bad_rows.csv (polls, full): 11 read, 4 inserted, 0 updated, 0 unchanged, 7 rejected" in out
    assert "polls_bad_rows.csv line 3 column status: unknown status 'actve'" in out
    [log] = log_dir.glob("load-*.log")
    [rejected] = log_dir.glob("load-*-rejected.csv")
    assert rejected.name == log.name.replace(".log", "-rejected.csv")
    rows = list(csv.DictReader(rejected.open(encoding="utf-8")))
    # 7 rejected polls rows + 4 rejected hours rows (monitoring/tests/data/README.md).
    assert len(rows) == 11
    assert rows[0] == {"file": str(DATA / "polls_bad_rows.csv"), "line": "3", "column": "status", "reason": "unknown status 'actve'", "raw": "s1,actve,2023-01-22 13:09:39 UTC"}
    assert "7 rejected" in log.read_text()


def test_a_file_that_cannot_load_makes_the_command_fail_with_exit_code_1(tmp_path, capsys):
    strange = tmp_path / "strange.csv"
    strange.write_text("id,colour\n1,red\n")
    with pytest.raises(CommandError) as failure:
        call_command("runscript", "load", script_args=[str(strange), str(DATA / "timezones_mixed.csv")])
    assert failure.value.returncode == 1
    assert "strange.csv: line 1: unknown header" in capsys.readouterr().err
    assert Store.objects.filter(store_id="t1").exists()  # the other file still loaded


def test_options_pass_through_runscript_inside_one_argument(capsys):
    with pytest.raises(CommandError):
        call_command("runscript", "load", script_args=[f"--strict {DATA / 'polls_bad_rows.csv'}"])
    assert not StatusPoll.objects.exists()


def test_an_unknown_option_is_a_usage_error(capsys):
    with pytest.raises(CommandError) as failure:
        call_command("runscript", "load", script_args=["--bogus"])
    assert failure.value.returncode == 2


def test_verbosity_0_prints_nothing_on_success(capsys):
    call_command("runscript", "load", verbosity=0, script_args=[str(DATA / "timezones_mixed.csv")])
    assert capsys.readouterr().out == ""
    assert Store.objects.count() == 2
