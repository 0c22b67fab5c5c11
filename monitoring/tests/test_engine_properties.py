"""Properties of compute_report on random stores, hours and polls (hypothesis).

`now` is often drawn near a daylight-saving change of one of the zones, and
hours often start or end in the small hours, so gaps and folds are exercised.
Derandomized: CI runs the same examples every time.
"""
from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.engine import (
    PERIOD_KINDS,
    REPORT_COLUMNS,
    CalendarPeriod,
    Interval,
    compute_period_report,
    compute_report,
    compute_rolling_report,
    status_now,
)
from monitoring.tests.reference_engine import (
    as_utc,
    microseconds,
    observations_in,
    open_intervals,
    outage_parts,
    reference_outages,
    reference_period,
    reference_report,
    zone_or_default,
)

SETTINGS = settings(
    derandomize=True, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
ZONES = [
    "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Phoenix", "America/Santiago",
    "America/St_Johns", "Australia/Sydney", "Australia/Lord_Howe", "Europe/Dublin", "Asia/Kathmandu",
    "Pacific/Chatham", "Pacific/Apia", "UTC", "", None, "Not/A_Zone",
]
# Instants near daylight-saving changes of the zones above (UTC).
CHANGES = [
    "2023-03-12 07:00", "2023-11-05 06:00", "2023-04-01 16:00", "2023-09-30 16:00", "2023-03-26 01:00",
    "2023-10-29 01:00", "2023-04-02 03:00", "2023-09-03 04:00", "2023-04-01 15:00", "2011-12-30 10:00",
    "2024-03-10 07:00", "2022-11-06 06:00",
]
SMALL_HOURS = [0, HOUR_US, 2 * HOUR_US, 2 * HOUR_US + HOUR_US // 2, 3 * HOUR_US, 23 * HOUR_US]

nows_anywhere = st.one_of(
    st.builds(
        lambda change, shift: pd.Timestamp(change, tz="UTC") + pd.Timedelta(microseconds=shift),
        st.sampled_from(CHANGES),
        st.integers(-16 * DAY_US, 16 * DAY_US),
    ),
    st.integers(946_684_800_000_000, 2_082_758_400_000_000).map(lambda us: pd.Timestamp(us, unit="us", tz="UTC")),
)
# A whole-hour `now` with half-hour poll offsets puts polls exactly on the
# edges of business hours and windows, where "start in, end out" matters.
nows = st.one_of(nows_anywhere, nows_anywhere.map(lambda now: now.floor("h")))
times_of_day = st.one_of(
    st.sampled_from(SMALL_HOURS), st.integers(0, DAY_US - 1), st.integers(0, 23).map(lambda hour: hour * HOUR_US)
)


@st.composite
def hours_rows(draw, store: int) -> list[tuple]:
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(times_of_day)
        end = draw(st.one_of(times_of_day, st.just(start)))
        rows.append((store, draw(st.integers(0, 6)), start, end))
    return rows


@st.composite
def poll_rows(draw, store: int, now: pd.Timestamp) -> list[tuple]:
    offsets = st.one_of(
        st.integers(-15 * DAY_US, DAY_US),
        st.integers(-8 * DAY_US, 0),
        st.integers(-2 * DAY_US, 0),
        st.sampled_from([0, -14 * DAY_US, -14 * DAY_US - 1, 1, -HOUR_US, -DAY_US]),
        st.integers(-15 * 48, 0).map(lambda halves: halves * HOUR_US // 2),
    )
    instants = draw(st.lists(offsets, max_size=20))
    return [(store, now + pd.Timedelta(microseconds=shift), draw(st.booleans())) for shift in instants]


@st.composite
def datasets(draw) -> dict:
    now = draw(nows)
    count = draw(st.integers(1, 4))
    keys = draw(st.lists(st.integers(1, 10**12), min_size=count, max_size=count, unique=True))
    store_ids = st.text("0123456789aAbB=-é", min_size=1, max_size=4)
    ids = draw(st.lists(store_ids, min_size=count, max_size=count, unique=True))
    stores = pd.DataFrame({"store": keys, "store_id": ids, "timezone": [draw(st.sampled_from(ZONES)) for _ in keys]})
    hours = [row for key in keys for row in draw(hours_rows(key))]
    polls = [row for key in keys for row in draw(poll_rows(key, now))]
    return {
        "stores": stores.astype({"store": "int64"}),
        "hours": pd.DataFrame(hours, columns=["store", "weekday", "start_us", "end_us"]).astype("int64"),
        "polls": pd.DataFrame(polls, columns=["store", "ts", "active"]).astype(
            {"store": "int64", "ts": "datetime64[ns, UTC]", "active": bool}
        ),
        "now": now,
    }


def rows_of(report: pd.DataFrame) -> list[tuple]:
    return [tuple(row) for row in report.itertuples(index=False)]


@SETTINGS
@given(datasets())
def test_the_engine_agrees_with_the_plain_reference_on_every_figure(data):
    # Both count in exact integers (or Fractions) and round the same way, so
    # equality, not closeness, is expected.
    assert rows_of(compute_report(**data)) == reference_report(**data)


@SETTINGS
@given(datasets())
def test_uptime_plus_downtime_is_the_open_time_of_each_window(data):
    report = compute_report(**data).set_index("store_id")
    now = data["now"].to_pydatetime()
    for store in data["stores"].itertuples():
        row = report.loc[store.store_id]
        if not row.any():
            continue  # no observation: every figure is 0
        rows = [r for r in data["hours"].itertuples() if r.store == store.store]
        intervals = open_intervals(zone_or_default(store.timezone), rows, now)
        for name, length, unit in (("hour", 1, 60), ("day", 24, 3_600), ("week", 168, 3_600)):
            first, last = microseconds(now - timedelta(hours=length)), microseconds(now)
            open_us = sum(max(0, min(end, last) - max(start, first)) for start, end in intervals)
            total = row[f"uptime_last_{name}"] + row[f"downtime_last_{name}"]
            # Each figure is rounded on its own, so the sum may be 0.01 off.
            assert abs(total - open_us / (unit * 10**6)) <= 0.01 + 1e-9


@SETTINGS
@given(datasets(), st.randoms(use_true_random=False))
def test_the_order_of_input_rows_changes_nothing(data, random):
    shuffled = {
        name: frame.sample(frac=1, random_state=random.randrange(2**32)) if isinstance(frame, pd.DataFrame) else frame
        for name, frame in data.items()
    }
    pd.testing.assert_frame_equal(compute_report(**shuffled), compute_report(**data))


@SETTINGS
@given(datasets(), st.data())
def test_a_report_of_some_stores_is_those_rows_of_the_full_report(data, draw):
    full = compute_report(**data).set_index("store_id")
    picked = draw.draw(st.lists(st.sampled_from(list(data["stores"].index)), min_size=1, unique=True))
    part = compute_report(**{**data, "stores": data["stores"].loc[picked]}).set_index("store_id")
    pd.testing.assert_frame_equal(part, full.loc[sorted(part.index)])
    assert list(part.reset_index().columns) == REPORT_COLUMNS


def test_the_reference_agrees_on_a_dense_week_of_real_shape():
    # Larger than the random examples: 30 stores, hourly polls for 15 days,
    # hours of every kind, in zones with a change inside the week.
    rng = np.random.default_rng(7)
    now = pd.Timestamp("2023-11-08 18:13:22.479220", tz="UTC")
    keys = np.arange(1, 31)
    stores = pd.DataFrame({"store": keys, "store_id": [f"{k:04d}" for k in keys],
                           "timezone": rng.choice(["America/New_York", "America/Denver", "Europe/Dublin", ""], 30)})
    hours = pd.DataFrame([(k, d, s, e) for k in keys[5:] for d in range(7)
                          for s, e in [tuple(rng.integers(0, 48, 2) * HOUR_US // 2)]],
                         columns=["store", "weekday", "start_us", "end_us"])
    stamps = now - pd.to_timedelta(rng.integers(0, 15 * DAY_US, 30 * 360), unit="us")
    polls = pd.DataFrame({"store": np.repeat(keys, 360), "ts": stamps, "active": rng.random(30 * 360) < 0.8})
    data = {"stores": stores, "hours": hours, "polls": polls, "now": now}
    assert rows_of(compute_report(**data)) == reference_report(**data)


def outage_rows_of(data: dict) -> list[tuple]:
    """The engine's outage list as (store_id, start, end, ongoing), instants in exact microseconds."""
    outages = compute_rolling_report(**data).outages
    return [
        (row.store_id, Fraction(row.start_ns, 1_000), Fraction(row.end_ns, 1_000), bool(row.ongoing))
        for row in outages.itertuples()
    ]


@SETTINGS
@given(datasets())
def test_the_engine_finds_the_outages_the_plain_reference_finds(data):
    # Exact instants on both sides (ticks of half a microsecond, Fractions).
    assert outage_rows_of(data) == reference_outages(**data)


@SETTINGS
@given(datasets())
def test_the_outage_minutes_of_a_store_add_up_to_its_week_downtime(data):
    rolling = compute_rolling_report(**data)
    week_down = rolling.figures.set_index("store_id")["downtime_last_week"]
    minutes = rolling.outages.groupby("store_id")["minutes"].sum()
    for store_id, down_hours in week_down.items():
        # Each outage's minutes are rounded on their own (0.005 each at most), the hours once.
        outages = int((rolling.outages["store_id"] == store_id).sum())
        assert abs(minutes.get(store_id, 0.0) / 60 - down_hours) <= 0.005 + outages * 0.005 / 60 + 1e-9


@SETTINGS
@given(datasets())
def test_status_now_is_the_last_observation_of_a_store_open_at_now(data):
    now = data["now"].to_pydatetime()
    at_now = microseconds(now)
    found = status_now(**data).set_index("store_id")
    for store in data["stores"].itertuples():
        rows = [r for r in data["hours"].itertuples() if r.store == store.store]
        polls = [(as_utc(r.ts), bool(r.active)) for r in data["polls"].itertuples() if r.store == store.store]
        intervals = open_intervals(zone_or_default(store.timezone), rows, now)
        observations = observations_in(intervals, polls, now)
        row = found.loc[str(store.store_id)]
        if not any(start <= at_now < end for start, end in intervals):
            assert (row.state, row.down_since_ns) == ("closed", -1)
        elif not observations:
            assert (row.state, row.down_since_ns) == ("unknown", -1)
        elif observations[-1][1]:
            assert (row.state, row.down_since_ns) == ("up", -1)
        else:
            # Down since the start of its ongoing outage over the whole lookback (or since now).
            window = (microseconds(now - timedelta(days=14)), at_now)
            ongoing = [start for start, _, going in outage_parts(intervals, observations, window) if going]
            since_us = ongoing[0] if ongoing else at_now
            assert row.state == "down" and Fraction(int(row.down_since_ns), 1_000) == since_us


@st.composite
def periods(draw, now: pd.Timestamp):
    """An interval around now (possibly after the latest poll), or a local day, week or month near it."""
    if draw(st.booleans()):
        start = now + pd.Timedelta(microseconds=draw(st.integers(-40 * DAY_US, DAY_US)))
        length = pd.Timedelta(microseconds=draw(st.integers(1, 35 * DAY_US)))
        return Interval(start=start.to_pydatetime(), end=(start + length).to_pydatetime())
    day = (now + pd.Timedelta(days=draw(st.integers(-40, 1)))).date()
    return CalendarPeriod(kind=draw(st.sampled_from(PERIOD_KINDS)), day=day)


def period_rows_of(report) -> list[tuple]:
    return [
        (row.store_id, row.uptime_hours, row.downtime_hours,
         None if pd.isna(row.uptime_percent) else row.uptime_percent, row.outages, row.longest_outage_minutes)
        for row in report.figures.itertuples()
    ]


@SETTINGS
@given(datasets(), st.data())
def test_the_period_engine_agrees_with_the_plain_reference(data, draw):
    period = draw.draw(periods(data["now"]))
    frames = {name: data[name] for name in ("stores", "hours", "polls")}
    report = compute_period_report(**frames, period=period, latest=data["now"])
    assert period_rows_of(report) == reference_period(**frames, period=period, latest=data["now"])


@SETTINGS
@given(datasets())
def test_a_period_of_the_last_seven_days_is_the_rolling_reports_week(data):
    now = data["now"]
    frames = {name: data[name] for name in ("stores", "hours", "polls")}
    period = compute_period_report(**frames, period=Interval(start=now - pd.Timedelta(days=7), end=now), latest=now)
    rolling = compute_rolling_report(**data)
    week = rolling.figures[["store_id", "uptime_last_week", "downtime_last_week"]]
    assert period.figures[["store_id", "uptime_hours", "downtime_hours"]].to_numpy().tolist() == week.to_numpy().tolist()
    pd.testing.assert_frame_equal(period.outages, rolling.outages)
