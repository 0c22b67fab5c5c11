"""store_timeline: the pieces the UI draws are the ones the report counted."""
from __future__ import annotations

import pandas as pd

from monitoring.engine import compute_report, store_timeline
from monitoring.tests.test_engine import MONDAY, at, clock, hours_frame, polls_frame

NOW = at("2023-01-23 18:00")  # Monday 12:00 in Chicago
SPEC_HOURS = hours_frame([(1, MONDAY, "09:00", "12:00")])
SPEC_POLLS = polls_frame([(1, "2023-01-23 16:14", True), (1, "2023-01-23 17:15", False)])


def spec_example_timeline(**window) -> object:
    return store_timeline(
        store_id="s1",
        timezone="America/Chicago",
        hours=SPEC_HOURS,
        polls=SPEC_POLLS,
        now=NOW,
        **(window or {"start": NOW - pd.Timedelta(days=1), "end": NOW}),
    )


def test_the_spec_example_splits_at_the_midpoint():
    # Open 09:00-12:00 Chicago = 15:00-18:00 UTC; midpoint of 16:14 and 17:15 is 16:44:30.
    timeline = spec_example_timeline()
    assert timeline.open_intervals.values.tolist() == [[at("2023-01-23 15:00"), at("2023-01-23 18:00")]]
    assert timeline.observations.values.tolist() == [[at("2023-01-23 16:14"), True], [at("2023-01-23 17:15"), False]]
    assert timeline.segments.values.tolist() == [
        [at("2023-01-23 15:00"), at("2023-01-23 16:44:30"), True],
        [at("2023-01-23 16:44:30"), at("2023-01-23 18:00"), False],
    ]
    # One outage of 1 h 15.5 min; 1 h 44.5 min up.
    assert timeline.outages.values.tolist() == [
        [at("2023-01-23 16:44:30"), at("2023-01-23 18:00"), False, pd.Timedelta(minutes=75.5)]
    ]
    assert timeline.uptime == pd.Timedelta(minutes=104.5)
    assert timeline.downtime == pd.Timedelta(minutes=75.5)


def test_the_window_clips_segments_and_intervals():
    # [16:00, 17:00) UTC: up 16:00-16:44:30, down 16:44:30-17:00.
    timeline = spec_example_timeline(start=at("2023-01-23 16:00"), end=at("2023-01-23 17:00"))
    assert timeline.open_intervals.values.tolist() == [[at("2023-01-23 16:00"), at("2023-01-23 17:00")]]
    assert timeline.uptime == pd.Timedelta(minutes=44.5)
    assert timeline.downtime == pd.Timedelta(minutes=15.5)
    assert timeline.observations["ts"].tolist() == [at("2023-01-23 16:14")]


def test_an_outage_across_closed_hours_is_two_outages():
    # UTC store open 09:00-12:00 and 13:00-15:00; one inactive poll at 10:00:
    # down on both stretches, which a closed hour separates.
    timeline = store_timeline(
        store_id="split",
        timezone="UTC",
        hours=hours_frame([(1, MONDAY, "09:00", "12:00"), (1, MONDAY, "13:00", "15:00")]),
        polls=polls_frame([(1, "2023-01-23 10:00", False)]),
        now=at("2023-01-23 16:00"),
        start=at("2023-01-23 00:00"),
        end=at("2023-01-23 16:00"),
    )
    assert timeline.outages["duration"].tolist() == [pd.Timedelta(hours=3), pd.Timedelta(hours=2)]
    assert timeline.uptime == pd.Timedelta(0)


def test_a_store_without_observation_has_open_time_but_no_segments():
    timeline = store_timeline(
        store_id="quiet", timezone=None, hours=SPEC_HOURS, polls=polls_frame([]),
        now=NOW, start=NOW - pd.Timedelta(days=1), end=NOW,
    )
    assert timeline.timezone == "America/Chicago"
    assert len(timeline.open_intervals) == 1
    assert timeline.segments.empty and timeline.outages.empty
    assert timeline.uptime == pd.Timedelta(0)


def test_the_week_of_a_timeline_adds_up_to_the_report():
    # Always-open store, polls every 50 minutes alternating, over 9 days: the
    # timeline's week, rounded like the report, gives the report's figures.
    stamps = pd.date_range("2023-01-14 00:07:13.5", "2023-01-23 11:59", freq="50min", tz="UTC")
    polls = pd.DataFrame({"store": 1, "ts": stamps, "active": [i % 3 != 0 for i in range(len(stamps))]})
    now = at("2023-01-23 12:00")
    timeline = store_timeline(
        store_id="busy", timezone="UTC", hours=hours_frame([]), polls=polls,
        now=now, start=now - pd.Timedelta(days=7), end=now,
    )
    row = compute_report(
        stores=pd.DataFrame({"store": [1], "store_id": ["busy"], "timezone": ["UTC"]}),
        hours=hours_frame([]), polls=polls, now=now,
    ).iloc[0]
    assert round(timeline.uptime / pd.Timedelta(hours=1), 2) == row["uptime_last_week"]
    assert round(timeline.downtime / pd.Timedelta(hours=1), 2) == row["downtime_last_week"]
    assert timeline.uptime + timeline.downtime == pd.Timedelta(days=7)


def test_clock_reads_hours_minutes_and_seconds():
    assert clock("09:00") == 9 * 3_600_000_000
    assert clock("00:00:01.5") == 1_500_000
