"""The dataset generator (monitoring/datagen.py) and `manage.py make_dataset`."""
import gzip
import re
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.datagen import (
    BENCHMARK_OWNER,
    END,
    START,
    choose_owners,
    choose_stores,
    generate_dataset,
    generate_polls,
    generate_weeks,
    read_real_sources,
)

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


def test_make_dataset_writes_the_four_files_in_the_real_formats(tmp_path, capsys):
    call_command("make_dataset", str(tmp_path), "--scale", str(SCALE), "--start", "2023-01-25T00:00:00Z", "--gzip")
    with gzip.open(tmp_path / "store_status.csv.gz", "rt") as handle:
        assert handle.readline() == "store_id,status,timestamp_utc\n"
    with gzip.open(tmp_path / "menu_hours.csv.gz", "rt") as handle:
        assert handle.readline() == "store_id,day,start_time_local,end_time_local\n"
    with gzip.open(tmp_path / "timezones.csv.gz", "rt") as handle:
        assert handle.readline() == "store_id,timezone_str\n"
    with gzip.open(tmp_path / "owners.csv.gz", "rt") as handle:
        assert handle.readline() == "store_id,owner\n"
    out = capsys.readouterr().out
    assert "stores" in out and re.search(r"owner rows \(brand-01 owns \d+ stores\)", out)


@pytest.fixture(scope="module")
def three_weeks(tmp_path_factory):
    out = tmp_path_factory.mktemp("weeks")
    return generate_weeks(out_dir=out, weeks=3, scale=SCALE, seed=7)


def week_frame(path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"store_id": "int64"})
    return frame.assign(timestamp_utc=pd.to_datetime(frame.timestamp_utc.str.removesuffix(" UTC")))


def test_weeks_are_written_oldest_first_each_in_its_own_file(three_weeks):
    assert [p.name for p in three_weeks.files] == [
        "store_status_week01.csv", "store_status_week02.csv", "store_status_week03.csv", "menu_hours.csv", "timezones.csv",
        "owners.csv",
    ]


def test_the_week_files_cover_consecutive_weeks_ending_with_the_real_one(three_weeks):
    frames = [week_frame(p) for p in three_weeks.files[:3]]
    # Week 1 is [START - 14 days, START - 7 days) = [2023-01-04, 2023-01-11); week 2 [01-11, 01-18);
    # week 3 the real one, [2023-01-18, 2023-01-25 18:13:22.479220).
    bounds = [("2023-01-04", "2023-01-11"), ("2023-01-11", "2023-01-18"), (str(START), str(END))]
    for frame, (low, high) in zip(frames, bounds, strict=True):
        assert frame.timestamp_utc.min() >= pd.Timestamp(low) and frame.timestamp_utc.max() < pd.Timestamp(high)
        # Each week starts within its first hour: no gap between two weeks' files.
        assert frame.timestamp_utc.min() < pd.Timestamp(low) + pd.Timedelta(hours=1)
    assert sum(len(f) for f in frames) == three_weeks.polls


def test_every_week_polls_the_same_stores_with_the_same_hours_and_zones(three_weeks, tmp_path):
    _, _, ids = choose_stores(scale=SCALE, seed=7)
    frames = [week_frame(p) for p in three_weeks.files[:3]]
    # At ~75% coverage over 168 hours every store polls at least once a week.
    assert all(set(f.store_id) == set(ids) for f in frames)
    one_week = generate_dataset(out_dir=tmp_path, scale=SCALE, seed=7)
    assert three_weeks.files[3].read_bytes() == one_week.files[1].read_bytes()
    assert three_weeks.files[4].read_bytes() == one_week.files[2].read_bytes()
    assert three_weeks.files[5].read_bytes() == one_week.files[3].read_bytes()


def test_the_last_week_is_byte_for_byte_the_default_polls_file(three_weeks, tmp_path):
    one_week = generate_dataset(out_dir=tmp_path, scale=SCALE, seed=7)
    assert three_weeks.files[2].read_bytes() == one_week.files[0].read_bytes()


def test_a_week_is_the_same_whatever_the_number_of_weeks_asked_for(three_weeks, tmp_path):
    two_weeks = generate_weeks(out_dir=tmp_path, weeks=2, scale=SCALE, seed=7)
    # Its own seed depends on how far back it lies, not on its file number.
    assert two_weeks.files[0].read_bytes() == three_weeks.files[1].read_bytes()


def test_earlier_weeks_are_drawn_afresh_not_copied_from_the_real_one(three_weeks):
    first, second = (week_frame(p) for p in three_weeks.files[:2])
    shifted = first.assign(timestamp_utc=first.timestamp_utc + pd.Timedelta(days=7))
    assert len(shifted.merge(second, on=["store_id", "timestamp_utc"])) < len(second) / 100


def test_make_dataset_weeks_takes_no_window(tmp_path):
    with pytest.raises(CommandError, match="takes no --start or --end"):
        call_command("make_dataset", str(tmp_path), "--weeks", "2", "--end", "2023-01-20T00:00:00Z")
    with pytest.raises(CommandError, match="weeks must be at least 1"):
        call_command("make_dataset", str(tmp_path), "--weeks", "0")


# --- Owners (SPEC 11) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_size_owners():
    _, _, ids = choose_stores(scale=1, seed=2023)
    return ids, choose_owners(store_ids=ids, seed=2023)


def test_owners_name_only_generated_stores_each_pair_once(full_size_owners):
    ids, owners = full_size_owners
    assert list(owners.columns) == ["store_id", "owner"]
    assert set(owners.store_id) <= set(ids) and not owners.duplicated().any()


def test_most_stores_have_a_brand_some_a_franchisee_too_and_about_5_percent_none(full_size_owners):
    ids, owners = full_size_owners
    per_store = owners.groupby("store_id").owner.agg(list)
    assert len(ids) == 14_399
    # Unowned: 5% of 14,399 = 720 expected (binomial sd ~26). Two owners: 25% of the 95% owned = 3,420 (sd ~50).
    assert 620 < len(ids) - len(per_store) < 820
    assert 3_220 < (per_store.map(len) == 2).sum() < 3_620
    assert per_store.map(len).max() == 2
    # Every owned store's first owner is a brand; a second one is a franchisee of that brand
    # (franchisee-001 .. -003 are brand-01's: number = 3 x (brand - 1) + 1 .. 3).
    assert per_store.map(lambda names: names[0].startswith("brand-")).all()
    pairs = per_store[per_store.map(len) == 2]
    assert pairs.map(lambda n: (int(n[1].removeprefix("franchisee-")) - 1) // 3 + 1 == int(n[0].removeprefix("brand-"))).all()
    assert owners.owner.str.startswith("brand-").sum() == len(per_store)


def test_the_benchmark_owner_holds_about_1000_of_the_full_size_stores(full_size_owners):
    _, owners = full_size_owners
    brands = owners[owners.owner.str.startswith("brand-")].owner.value_counts()
    # 0.073 x 0.95 x 14,399 = 998.6 expected (sd ~30); it is the biggest brand, 40 in all.
    assert BENCHMARK_OWNER == "brand-01" and 900 < brands[BENCHMARK_OWNER] < 1_100
    assert brands.index[0] == BENCHMARK_OWNER and len(brands) == 40


def test_owners_are_drawn_apart_from_the_other_files_so_those_stay_as_they_were(tmp_path):
    # The bundled sample was made before owners existed: the documented command makes the same
    # polls, hours and timezones byte for byte, and the same owners file as the one bundled.
    sample = Path(__file__).resolve().parents[2] / "data" / "sample"
    made = generate_dataset(out_dir=tmp_path, scale=0.02, compress=True, start=pd.Timestamp("2023-01-18T18:13:22.479220"))
    assert sorted(p.name for p in made.files) == sorted(p.name for p in sample.iterdir())
    assert all(p.read_bytes() == (sample / p.name).read_bytes() for p in made.files)
