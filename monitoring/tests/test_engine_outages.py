"""Outages (SPEC 7) of hand-made stores, each worked out by hand in its comments."""
from __future__ import annotations

import pandas as pd

from monitoring.engine import compute_rolling_report, outages_to_csv

HOUR_US = 3_600_000_000
EVERY_DAY = range(7)


def hours_of(store: int, rows: list[tuple[int, str, str]]) -> list[tuple]:
    """(weekday, "HH:MM", "HH:MM") -> engine rows in microseconds after local midnight."""
    def us(text: str) -> int:
        hour, minute = text.split(":")
        return (int(hour) * 60 + int(minute)) * 60_000_000
    return [(store, day, us(start), us(end)) for day, start, end in rows]


def outage_csv(*, stores: list[tuple], hours: list[tuple], polls: list[tuple], now: str) -> str:
    frames = {
        "stores": pd.DataFrame(stores, columns=["store", "store_id", "timezone"]),
        "hours": pd.DataFrame(hours, columns=["store", "weekday", "start_us", "end_us"]).astype("int64"),
        "polls": pd.DataFrame(
            [(store, pd.Timestamp(ts, tz="UTC"), active) for store, ts, active in polls],
            columns=["store", "ts", "active"],
        ),
    }
    return outages_to_csv(compute_rolling_report(**frames, now=pd.Timestamp(now, tz="UTC")).outages)


def test_closing_time_ends_an_outage_and_reopening_starts_a_new_one():
    # Open 09:00-17:00 UTC daily. Tue 14:00 up, Tue 16:00 down, Wed 10:00 down, Wed 11:00 up.
    # Down from the midpoint 15:00 (Tue) to the midpoint 10:30 (Wed), cut by the night:
    # Tue 15:00-17:00 = 120 min, Wed 09:00-10:30 = 90 min.
    csv = outage_csv(
        stores=[(1, "s", "UTC")], hours=hours_of(1, [(d, "09:00", "17:00") for d in EVERY_DAY]),
        polls=[(1, "2023-01-24 14:00", True), (1, "2023-01-24 16:00", False),
               (1, "2023-01-25 10:00", False), (1, "2023-01-25 11:00", True)],
        now="2023-01-25 12:00",
    )
    assert csv == (
        "store_id,start_utc,end_utc,minutes,ongoing\n"
        "s,2023-01-24T15:00:00Z,2023-01-24T17:00:00Z,120.00,false\n"
        "s,2023-01-25T09:00:00Z,2023-01-25T10:30:00Z,90.00,false\n"
    )


def test_an_outage_runs_past_midnight_in_overnight_hours():
    # Open 22:00-02:00 UTC daily. Mon 22:30 up, Mon 23:30 down, Tue 01:30 down, Tue 22:30 up.
    # Down from 23:00 (Mon) to the midpoint 12:00 (Tue), inside Mon 22:00-Tue 02:00:
    # one outage 23:00-02:00 = 180 min; from Tue 22:00 the last poll (up) holds.
    csv = outage_csv(
        stores=[(1, "s", "UTC")], hours=hours_of(1, [(d, "22:00", "02:00") for d in EVERY_DAY]),
        polls=[(1, "2023-01-23 22:30", True), (1, "2023-01-23 23:30", False),
               (1, "2023-01-24 01:30", False), (1, "2023-01-24 22:30", True)],
        now="2023-01-25 00:00",
    )
    assert csv.splitlines()[1:] == ["s,2023-01-23T23:00:00Z,2023-01-24T02:00:00Z,180.00,false"]


def test_an_outage_across_the_spring_forward_change_lasts_the_real_time():
    # New York, Sunday 2023-03-12, open 00:00-06:00 local: 00:00 EST = 05:00 UTC to
    # 06:00 EDT = 10:00 UTC (clocks jump 02:00 -> 03:00 at 07:00 UTC). 05:30 up, 06:30 down,
    # 09:30 down: down from 06:00 UTC to closing at 10:00 UTC = 240 min (not 300).
    csv = outage_csv(
        stores=[(1, "s", "America/New_York")], hours=hours_of(1, [(6, "00:00", "06:00")]),
        polls=[(1, "2023-03-12 05:30", True), (1, "2023-03-12 06:30", False), (1, "2023-03-12 09:30", False)],
        now="2023-03-12 12:00",
    )
    assert csv.splitlines()[1:] == ["s,2023-03-12T06:00:00Z,2023-03-12T10:00:00Z,240.00,false"]


def test_an_outage_across_the_fall_back_change_lasts_the_real_time():
    # New York, Sunday 2023-11-05, open 00:00-06:00 local: 00:00 EDT = 04:00 UTC to
    # 06:00 EST = 11:00 UTC (clocks go 02:00 -> 01:00 at 06:00 UTC). 04:30 up, 05:30 down,
    # 10:30 down: down from 05:00 UTC to closing at 11:00 UTC = 360 min (not 300).
    csv = outage_csv(
        stores=[(1, "s", "America/New_York")], hours=hours_of(1, [(6, "00:00", "06:00")]),
        polls=[(1, "2023-11-05 04:30", True), (1, "2023-11-05 05:30", False), (1, "2023-11-05 10:30", False)],
        now="2023-11-05 12:00",
    )
    assert csv.splitlines()[1:] == ["s,2023-11-05T05:00:00Z,2023-11-05T11:00:00Z,360.00,false"]


def test_an_outage_older_than_the_week_counts_from_the_weeks_start():
    # Open all the time. Jan 17 12:00 down (it holds back to the lookback's start), Jan 19 12:00
    # down, Jan 20 12:00 up: down until the midpoint Jan 20 00:00. The week starts Jan 18 12:00:
    # the part is Jan 18 12:00-Jan 20 00:00 = 36 h = 2160 min.
    csv = outage_csv(
        stores=[(1, "s", "UTC")], hours=[],
        polls=[(1, "2023-01-17 12:00", False), (1, "2023-01-19 12:00", False), (1, "2023-01-20 12:00", True)],
        now="2023-01-25 12:00",
    )
    assert csv.splitlines()[1:] == ["s,2023-01-18T12:00:00Z,2023-01-20T00:00:00Z,2160.00,false"]


def test_a_store_still_down_at_now_has_an_ongoing_outage():
    # Open all the time. 10:00 up, 11:00 down, now 11:00: down from 10:30 to now, 30 min, ongoing.
    csv = outage_csv(
        stores=[(1, "s", "UTC")], hours=[],
        polls=[(1, "2023-01-25 10:00", True), (1, "2023-01-25 11:00", False)],
        now="2023-01-25 11:00",
    )
    assert csv.splitlines()[1:] == ["s,2023-01-25T10:30:00Z,2023-01-25T11:00:00Z,30.00,true"]


def test_a_store_closing_exactly_at_now_is_not_ongoing():
    # Open 09:00-17:00 UTC. 15:00 up, 16:00 down, now 17:00 = closing time:
    # down 15:30-17:00 = 90 min, over because the store closed, not cut by the window.
    csv = outage_csv(
        stores=[(1, "s", "UTC")], hours=hours_of(1, [(d, "09:00", "17:00") for d in EVERY_DAY]),
        polls=[(1, "2023-01-25 15:00", True), (1, "2023-01-25 16:00", False)],
        now="2023-01-25 17:00",
    )
    assert csv.splitlines()[1:] == ["s,2023-01-25T15:30:00Z,2023-01-25T17:00:00Z,90.00,false"]


def test_a_status_change_exactly_at_opening_time_starts_or_ends_no_empty_outage():
    # Open 09:00-12:00 and 13:00-17:00 UTC. Store a: 10:00 up, 11:00 down, 15:00 up; the
    # midpoint 13:00 is the second opening: down 10:30-12:00 = 90 min and nothing at 13:00.
    # Store b: 11:00 up, 15:00 down, 16:00 up: down from the opening at 13:00 to 15:30 = 150 min.
    hours = [(d, "09:00", "12:00") for d in EVERY_DAY] + [(d, "13:00", "17:00") for d in EVERY_DAY]
    csv = outage_csv(
        stores=[(1, "a", "UTC"), (2, "b", "UTC")], hours=hours_of(1, hours) + hours_of(2, hours),
        polls=[(1, "2023-01-25 10:00", True), (1, "2023-01-25 11:00", False), (1, "2023-01-25 15:00", True),
               (2, "2023-01-25 11:00", True), (2, "2023-01-25 15:00", False), (2, "2023-01-25 16:00", True)],
        now="2023-01-25 18:00",
    )
    assert csv.splitlines()[1:] == [
        "a,2023-01-25T10:30:00Z,2023-01-25T12:00:00Z,90.00,false",
        "b,2023-01-25T13:00:00Z,2023-01-25T15:30:00Z,150.00,false",
    ]


def test_two_stores_with_interleaved_polls_keep_their_own_outages():
    # Open all the time. a: 10:00 up, 10:20 down, 10:40 up -> down 10:10-10:30 = 20 min.
    # b: 10:10 down (holds back past the week's start), 10:30 up, 10:50 down -> down from the
    # week's start Jan 18 11:00 to 10:20 = 7 days - 40 min = 10040 min, and from 10:40 to now
    # 11:00 = 20 min, ongoing.
    csv = outage_csv(
        stores=[(2, "b", "UTC"), (1, "a", "UTC")], hours=[],
        polls=[(1, "2023-01-25 10:00", True), (2, "2023-01-25 10:10", False), (1, "2023-01-25 10:20", False),
               (2, "2023-01-25 10:30", True), (1, "2023-01-25 10:40", True), (2, "2023-01-25 10:50", False)],
        now="2023-01-25 11:00",
    )
    assert csv.splitlines()[1:] == [
        "a,2023-01-25T10:10:00Z,2023-01-25T10:30:00Z,20.00,false",
        "b,2023-01-18T11:00:00Z,2023-01-25T10:20:00Z,10040.00,false",
        "b,2023-01-25T10:40:00Z,2023-01-25T11:00:00Z,20.00,true",
    ]


def test_instants_round_to_the_nearest_second_with_halves_up():
    # Open all the time. 10:00:00 up, 10:00:01 down: down from the midpoint 10:00:00.5, shown
    # as 10:00:01; half a second is 0.0083 min, shown as 0.01.
    csv = outage_csv(
        stores=[(1, "s", "UTC")], hours=[],
        polls=[(1, "2023-01-25 10:00:00", True), (1, "2023-01-25 10:00:01", False)],
        now="2023-01-25 10:00:01",
    )
    assert csv.splitlines()[1:] == ["s,2023-01-25T10:00:01Z,2023-01-25T10:00:01Z,0.01,true"]


def test_a_store_without_observations_has_no_outage():
    csv = outage_csv(stores=[(1, "s", "UTC")], hours=[], polls=[], now="2023-01-25 10:00")
    assert csv == "store_id,start_utc,end_utc,minutes,ongoing\n"


def test_the_outage_counts_give_the_last_day_the_week_and_the_longest():
    # The first case again: outages Tue 15:00-17:00 (120 min) and Wed 09:00-10:30 (90 min),
    # both within the day [Tue 12:00, Wed 12:00). One day later the day is [Wed 12:00,
    # Thu 12:00): both ended before it (and the last poll, up, holds), so the day has none.
    frames = {
        "stores": pd.DataFrame([(1, "s", "UTC")], columns=["store", "store_id", "timezone"]),
        "hours": pd.DataFrame(hours_of(1, [(d, "09:00", "17:00") for d in EVERY_DAY]),
                              columns=["store", "weekday", "start_us", "end_us"]),
        "polls": pd.DataFrame(
            [(1, pd.Timestamp(ts, tz="UTC"), up) for ts, up in
             [("2023-01-24 14:00", True), ("2023-01-24 16:00", False),
              ("2023-01-25 10:00", False), ("2023-01-25 11:00", True)]],
            columns=["store", "ts", "active"],
        ),
    }
    today = compute_rolling_report(**frames, now=pd.Timestamp("2023-01-25 12:00", tz="UTC")).outage_counts
    assert today.to_dict("records") == [
        {"store_id": "s", "outages_last_day": 2, "outages_last_week": 2, "longest_outage_minutes": 120.0}
    ]
    later = compute_rolling_report(**frames, now=pd.Timestamp("2023-01-26 12:00", tz="UTC")).outage_counts
    assert later.to_dict("records") == [
        {"store_id": "s", "outages_last_day": 0, "outages_last_week": 2, "longest_outage_minutes": 120.0}
    ]
