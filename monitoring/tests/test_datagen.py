"""The dataset generator (monitoring/datagen.py) and `manage.py make_dataset`."""
import gzip
import re

import pandas as pd
import pytest
from django.core.management import call_command

from monitoring.datagen import END, choose_stores, generate_dataset, generate_polls, read_real_sources

SCALE = 0.01  # ~144 stores: quick, still every feature of the shape
REAL_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC$")


@pytest.fixture(scope="module")
def small():
    return choose_stores(scale=SCALE, seed=7)


def polls(ids, start, end, seed=7) -> set[tuple]:
    frame = generate_polls(store_ids=ids, start=pd.Timestamp(start), end=pd.Timestamp(end), seed=seed)
    return set(frame.itertuples(index=False, name=None))


def test_the_same_arguments_give_byte_identical_files(tmp_path):
    args = {"scale": SCALE, "seed": 7, "start": END - pd.Timedelta(days=1), "end": END, "compress": True}
    first = generate_dataset(out_dir=tmp_path / "a", **args)
    second = generate_dataset(out_dir=tmp_path / "b", **args)
    assert [p.read_bytes() for p in first.files] == [p.read_bytes() for p in second.files]


def test_a_windows_polls_are_exactly_the_matching_polls_of_a_wider_window(small):
    _, _, ids = small
    whole = polls(ids, "2023-01-25 10:00", "2023-01-25 14:00")
    # Each store draws from its own stream whatever the window: two halves make the whole.
    assert polls(ids, "2023-01-25 10:00", "2023-01-25 12:00") | polls(ids, "2023-01-25 12:00", "2023-01-25 14:00") == whole
    assert polls(ids, "2023-01-25 10:00", "2023-01-25 12:00").isdisjoint(polls(ids, "2023-01-25 12:00", "2023-01-25 14:00"))


def test_an_appended_hour_after_the_real_end_is_generated_on_its_own(small):
    _, _, ids = small
    next_hour = polls(ids, END, END + pd.Timedelta(hours=1))
    # About one poll per store per hour at ~75% coverage: roughly 0.75 x the store count.
    assert 0.5 * len(ids) < len(next_hour) < len(ids)
    assert all(stamp >= "2023-01-25 18:13:22.479220 UTC" for _, _, stamp in next_hour)


def test_polls_look_like_the_real_file(small):
    _, _, ids = small
    frame = generate_polls(store_ids=ids, start=END - pd.Timedelta(days=7), end=END, seed=7)
    assert list(frame.columns) == ["store_id", "status", "timestamp_utc"]
    assert set(frame.status) == {"active", "inactive"}
    assert frame.timestamp_utc.map(lambda s: bool(REAL_STAMP.match(s))).all()
    # A week is 168 hours; at ~75% coverage a store has ~126 polls, most of them active.
    per_store = len(frame) / len(ids)
    assert 90 < per_store < 160
    assert 0.7 < (frame.status == "active").mean() < 0.99


def test_hours_and_timezones_are_the_real_rows_of_the_chosen_stores(small):
    hours, zones, ids = small
    real_hours, real_zones = read_real_sources()
    assert set(hours.store_id) <= set(ids) and set(zones.store_id) <= set(ids)
    expected = real_hours[real_hours.store_id.isin(ids)]
    pd.testing.assert_frame_equal(hours.reset_index(drop=True), expected.reset_index(drop=True))
    assert set(zones.itertuples(index=False)) <= set(real_zones.itertuples(index=False))


def test_scale_above_one_adds_replicas_under_new_ids():
    _, _, base = choose_stores(scale=1, seed=7)
    hours, _, ids = choose_stores(scale=2, seed=7)
    assert len(ids) == 2 * len(base) and len(set(ids)) == len(ids)
    assert len(hours) == 2 * len(read_real_sources()[0])


def test_make_dataset_writes_the_three_files_in_the_real_formats(tmp_path, capsys):
    call_command("make_dataset", str(tmp_path), "--scale", str(SCALE), "--start", "2023-01-25T00:00:00Z", "--gzip")
    with gzip.open(tmp_path / "store_status.csv.gz", "rt") as handle:
        assert handle.readline() == "store_id,status,timestamp_utc\n"
    with gzip.open(tmp_path / "menu_hours.csv.gz", "rt") as handle:
        assert handle.readline() == "store_id,day,start_time_local,end_time_local\n"
    with gzip.open(tmp_path / "timezones.csv.gz", "rt") as handle:
        assert handle.readline() == "store_id,timezone_str\n"
    assert "stores" in capsys.readouterr().out
