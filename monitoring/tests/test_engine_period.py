"""Period reports (SPEC 8) of hand-made stores, each worked out by hand in its comments."""
from __future__ import annotations

from datetime import date

import pandas as pd

from monitoring.engine import CalendarPeriod, Interval, compute_period_report, outages_to_csv, period_to_csv

HEADER = "store_id,uptime_hours,downtime_hours,uptime_percent,outages,longest_outage_minutes"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def period_report(*, stores: list[tuple], polls: list[tuple], period, latest: str, hours: list[tuple] = ()):
    return compute_period_report(
        stores=pd.DataFrame(stores, columns=["store", "store_id", "timezone"]),
        hours=pd.DataFrame(list(hours), columns=["store", "weekday", "start_us", "end_us"]).astype("int64"),
        polls=pd.DataFrame([(s, utc(ts), up) for s, ts, up in polls], columns=["store", "ts", "active"]),
        period=period, latest=utc(latest),
    )


def rows(report) -> list[str]:
    return period_to_csv(report.figures).splitlines()[1:]


def test_a_spring_forward_day_has_23_hours():
    # New York, Sunday 2023-03-12: 00:00 EST = 05:00 UTC to Monday 00:00 EDT = 04:00 UTC: 23 h,
    # open all the time, one active poll: 23.00 up.
    report = period_report(
        stores=[(1, "ny", "America/New_York")], polls=[(1, "2023-03-12 10:00", True)],
        period=CalendarPeriod(kind="day", day=date(2023, 3, 12)), latest="2023-03-14 00:00",
    )
    assert rows(report) == ["ny,23.00,0.00,100.00,0,0.00"]
    assert report.cut is False


def test_a_fall_back_day_has_25_hours():
    # New York, Sunday 2023-11-05: 00:00 EDT = 04:00 UTC to Monday 00:00 EST = 05:00 UTC: 25 h.
    report = period_report(
        stores=[(1, "ny", "America/New_York")], polls=[(1, "2023-11-05 10:00", False)],
        period=CalendarPeriod(kind="day", day=date(2023, 11, 5)), latest="2023-11-07 00:00",
    )
    # Down all 25 h: one outage of 1500 min, still going on at the day's end (nothing after it).
    assert rows(report) == ["ny,0.00,25.00,0.00,1,1500.00"]
    assert outages_to_csv(report.outages).splitlines()[1:] == ["ny,2023-11-05T04:00:00Z,2023-11-06T05:00:00Z,1500.00,true"]


def test_a_day_whose_midnight_does_not_exist_starts_when_the_clocks_land():
    # Santiago, 2023-09-03: clocks jump from 00:00 (-04) to 01:00 (-03), so local midnight does not
    # exist and moves forward by the gap: 01:00 -03 = 04:00 UTC. The next midnight, 00:00 -03, is
    # 03:00 UTC on the 4th: a 23-hour day, all down from the one inactive poll.
    report = period_report(
        stores=[(1, "scl", "America/Santiago")], polls=[(1, "2023-09-03 10:00", False)],
        period=CalendarPeriod(kind="day", day=date(2023, 9, 3)), latest="2023-09-05 00:00",
    )
    assert rows(report) == ["scl,0.00,23.00,0.00,1,1380.00"]
    assert outages_to_csv(report.outages).splitlines()[1:] == ["scl,2023-09-03T04:00:00Z,2023-09-04T03:00:00Z,1380.00,true"]


def test_a_day_in_kathmandu_and_one_on_lord_howe_follow_their_odd_offsets():
    # Kathmandu (+05:45): 2023-10-01 local is 2023-09-30 18:15 UTC to 2023-10-01 18:15 UTC, 24 h.
    # Lord Howe: +10:30 until 02:00 local on 2023-10-01, then +11 (a half-hour change): the day
    # runs from 2023-09-30 13:30 UTC to 2023-10-01 13:00 UTC, 23.5 h. Both open all the time, up.
    report = period_report(
        stores=[(1, "ktm", "Asia/Kathmandu"), (2, "lhi", "Australia/Lord_Howe")],
        polls=[(1, "2023-10-01 06:00", True), (2, "2023-10-01 06:00", True)],
        period=CalendarPeriod(kind="day", day=date(2023, 10, 1)), latest="2023-10-03 00:00",
    )
    assert rows(report) == ["ktm,24.00,0.00,100.00,0,0.00", "lhi,23.50,0.00,100.00,0,0.00"]


def test_a_month_is_cut_at_the_latest_poll():
    # January 2023 in UTC, latest poll Jan 25 12:00: the period is [Jan 1, Jan 25 12:00) = 24.5 days
    # = 588 h, all up from one active poll; the report says the period was cut.
    report = period_report(
        stores=[(1, "s", "UTC")], polls=[(1, "2023-01-10 00:00", True), (1, "2023-01-25 12:00", True)],
        period=CalendarPeriod(kind="month", day=date(2023, 1, 17)), latest="2023-01-25 12:00",
    )
    assert rows(report) == ["s,588.00,0.00,100.00,0,0.00"]
    assert report.cut is True and report.end == utc("2023-01-25 12:00")


def test_an_iso_week_crosses_the_month_and_the_year():
    # 2023-01-01 is a Sunday: its ISO week is Monday 2022-12-26 00:00 to Monday 2023-01-02 00:00 UTC.
    # Open 09:00-17:00 daily; Dec 28 12:00 up, Dec 28 14:00 down, no later poll in the week: down from
    # 13:00 on the 28th; the days after are down too, each its own outage (closed nights end them):
    # Dec 28 13:00-17:00 (4 h) and 8 h on each of Dec 29, 30, 31 and Jan 1 = 36 h down; up Dec 26, 27
    # (16 h) and Dec 28 09:00-13:00 (4 h) = 20 h; 20 / 56 = 35.714% -> 35.71; 5 outages, longest 480 min.
    hours = [(1, day, 9 * 3_600_000_000, 17 * 3_600_000_000) for day in range(7)]
    report = period_report(
        stores=[(1, "s", "UTC")], hours=hours,
        polls=[(1, "2022-12-28 12:00", True), (1, "2022-12-28 14:00", False), (1, "2023-01-05 12:00", False)],
        period=CalendarPeriod(kind="week", day=date(2023, 1, 1)), latest="2023-01-10 00:00",
    )
    assert rows(report) == ["s,20.00,36.00,35.71,5,480.00"]
    assert outages_to_csv(report.outages).splitlines()[1] == "s,2022-12-28T13:00:00Z,2022-12-28T17:00:00Z,240.00,false"
    assert outages_to_csv(report.outages).splitlines()[-1] == "s,2023-01-01T09:00:00Z,2023-01-01T17:00:00Z,480.00,false"


def test_observations_from_the_seven_days_before_the_period_count_and_older_ones_do_not():
    # Day 2023-01-25 UTC, open all the time. Store a's only poll (Jan 18 12:00, down) lies 6.5 days
    # before the day: it holds over the whole day, 24 h down. Store b's only poll (Jan 17 12:00) is
    # 7.5 days before: no observation, every figure 0 and no percent. The poll after the day (Jan 26)
    # does not exist for the period.
    report = period_report(
        stores=[(1, "a", "UTC"), (2, "b", "UTC")],
        polls=[(1, "2023-01-18 12:00", False), (2, "2023-01-17 12:00", True), (1, "2023-01-26 01:00", True)],
        period=CalendarPeriod(kind="day", day=date(2023, 1, 25)), latest="2023-01-27 00:00",
    )
    assert rows(report) == ["a,0.00,24.00,0.00,1,1440.00", "b,0.00,0.00,,0,0.00"]


def test_an_interval_is_the_same_instants_for_every_store_and_the_fleet_totals_add_up():
    # [Jan 25 10:00, Jan 25 12:00) UTC for both; a (New York) and b (Tokyo) open all the time.
    # a: 10:00 up, 11:00 down -> up 10:00-10:30, down 10:30-12:00. b: 11:00 up all the time.
    report = period_report(
        stores=[(1, "a", "America/New_York"), (2, "b", "Asia/Tokyo")],
        polls=[(1, "2023-01-25 10:00", True), (1, "2023-01-25 11:00", False), (2, "2023-01-25 11:00", True)],
        period=Interval(start=utc("2023-01-25 10:00"), end=utc("2023-01-25 12:00")), latest="2023-01-25 12:00",
    )
    # a: 0.5 h up, 1.5 h down, 25.00 %, one outage of 90 min (going on at the end). b: 2 h up.
    assert rows(report) == ["a,0.50,1.50,25.00,1,90.00", "b,2.00,0.00,100.00,0,0.00"]
    assert (report.up_hours, report.down_hours) == (2.5, 1.5)


def test_the_previous_period_is_the_day_week_month_or_interval_before():
    assert CalendarPeriod(kind="day", day=date(2023, 3, 1)).previous() == CalendarPeriod(kind="day", day=date(2023, 2, 28))
    assert CalendarPeriod(kind="week", day=date(2023, 1, 1)).previous().first_day == date(2022, 12, 19)
    assert CalendarPeriod(kind="month", day=date(2023, 3, 31)).previous().first_day == date(2023, 2, 1)
    interval = Interval(start=utc("2023-01-25 10:00"), end=utc("2023-01-25 12:00"))
    assert interval.previous() == Interval(start=utc("2023-01-25 08:00"), end=utc("2023-01-25 10:00"))
