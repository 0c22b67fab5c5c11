"""monitoring.engine by hand: each expected figure is worked out in the comment above it.

Dates: 2023-01-23 is a Monday. Unless a test says otherwise, stores are in UTC so
that local and UTC clocks agree and the arithmetic stays short.
"""
from __future__ import annotations

import pandas as pd
import pytest

from monitoring.engine import DEFAULT_TIMEZONE, REPORT_COLUMNS, compute_report
from monitoring.engine.report import hundredths_half_up

MONDAY, TUESDAY, WEDNESDAY, SUNDAY = 0, 1, 2, 6


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def clock(text: str) -> int:
    """Microseconds since local midnight of 'HH:MM[:SS]'."""
    return pd.Timedelta(text if text.count(":") == 2 else text + ":00") // pd.Timedelta(microseconds=1)


def report(*, stores, hours=(), polls=(), now) -> dict[str, tuple[float, ...]]:
    """{store_id: (up hour, up day, up week, down hour, down day, down week)} from tuples."""
    frame = compute_report(
        stores=pd.DataFrame(stores, columns=["store", "store_id", "timezone"]),
        hours=hours_frame(hours),
        polls=polls_frame(polls),
        now=now,
    )
    return {row[0]: tuple(row[1:]) for row in frame.itertuples(index=False)}


def hours_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(
        [(store, weekday, clock(start), clock(end)) for store, weekday, start, end in rows],
        columns=["store", "weekday", "start_us", "end_us"],
    ).astype({"store": "int64", "weekday": "int64", "start_us": "int64", "end_us": "int64"})


def polls_frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame([(store, at(ts), active) for store, ts, active in rows], columns=["store", "ts", "active"])
    return frame.astype({"store": "int64", "ts": "datetime64[ns, UTC]", "active": "bool"})


def only(figures: dict[str, tuple[float, ...]]) -> tuple[float, ...]:
    (values,) = figures.values()
    return values


def test_the_spec_example_switches_status_at_the_midpoint():
    # Chicago is UTC-6 in January: open 09:00-12:00 local = 15:00-18:00 UTC.
    # Polls 10:14 local (active) and 11:15 local (inactive): midpoint 10:44:30.
    # now = 12:00 local. Last hour 11:00-12:00: all after the midpoint, down 60 min.
    # Last day and week: up 09:00-10:44:30 = 1 h 44.5 min = 1.7417 h -> 1.74,
    # down 10:44:30-12:00 = 1 h 15.5 min = 1.2583 h -> 1.26.
    # (The Monday before closed at 12:00 local, exactly when the week window opens.)
    figures = report(
        stores=[(1, "s1", "America/Chicago")],
        hours=[(1, MONDAY, "09:00", "12:00")],
        polls=[(1, "2023-01-23 16:14", True), (1, "2023-01-23 17:15", False)],
        now=at("2023-01-23 18:00"),
    )
    assert only(figures) == (0.00, 1.74, 1.74, 60.00, 1.26, 1.26)


def test_overnight_hours_run_past_midnight_on_the_next_day():
    # Monday 22:00-02:00 is open Mon 22:00 -> Tue 02:00 (4 h).
    # Polls Mon 23:00 active, Tue 01:00 inactive: midpoint Tue 00:00.
    # now Tue 03:00. Hour 02:00-03:00: closed, 0 and 0.
    # Day and week: up 22:00-00:00 = 2 h, down 00:00-02:00 = 2 h.
    figures = report(
        stores=[(1, "night", "UTC")],
        hours=[(1, MONDAY, "22:00", "02:00")],
        polls=[(1, "2023-01-23 23:00", True), (1, "2023-01-24 01:00", False)],
        now=at("2023-01-24 03:00"),
    )
    assert only(figures) == (0.00, 2.00, 2.00, 0.00, 2.00, 2.00)


def test_a_row_whose_end_equals_its_start_is_open_24_hours():
    # Monday 10:00-10:00 is open Mon 10:00 -> Tue 10:00.
    # One active poll Mon 15:00. now Tue 12:00.
    # Hour Tue 11:00-12:00: closed. Day Mon 12:00 -> Tue 12:00: open
    # Mon 12:00 -> Tue 10:00 = 22 h, all up. Week: Mon 10:00 -> Tue 10:00 = 24 h up.
    figures = report(
        stores=[(1, "all-day", "UTC")],
        hours=[(1, MONDAY, "10:00", "10:00")],
        polls=[(1, "2023-01-23 15:00", True)],
        now=at("2023-01-24 12:00"),
    )
    assert only(figures) == (0.00, 22.00, 24.00, 0.00, 0.00, 0.00)


def test_overlapping_rows_on_one_day_count_each_moment_once():
    # 09:00-12:00, 11:00-14:00 and 13:00-13:30 merge into 09:00-14:00 = 5 h
    # (not 3 + 3 + 0.5 = 6.5 h). One active poll 10:00; now 15:00.
    figures = report(
        stores=[(1, "overlap", "UTC")],
        hours=[(1, MONDAY, "09:00", "12:00"), (1, MONDAY, "11:00", "14:00"), (1, MONDAY, "13:00", "13:30")],
        polls=[(1, "2023-01-23 10:00", True)],
        now=at("2023-01-23 15:00"),
    )
    assert only(figures) == (0.00, 5.00, 5.00, 0.00, 0.00, 0.00)


def test_a_store_is_closed_on_weekdays_it_has_no_rows_for():
    # Only Monday 09:00-17:00. now Wed 2023-01-25 12:00.
    # Polls on Tuesday and Wednesday fall in closed time and are ignored;
    # the Monday 10:00 inactive poll is the only observation.
    # Day Tue 12:00 -> Wed 12:00: no open time. Week Wed 18th 12:00 -> now:
    # only Mon 23rd 09:00-17:00 = 8 h, all down.
    figures = report(
        stores=[(1, "mondays", "UTC")],
        hours=[(1, MONDAY, "09:00", "17:00")],
        polls=[(1, "2023-01-23 10:00", False), (1, "2023-01-24 10:00", True), (1, "2023-01-25 10:00", True)],
        now=at("2023-01-25 12:00"),
    )
    assert only(figures) == (0.00, 0.00, 0.00, 0.00, 0.00, 8.00)


def test_a_store_without_hours_is_open_all_week():
    # No hours rows: open 24x7, so the one active poll 90 minutes ago covers
    # every window: 60 min, 24 h, 7 x 24 = 168 h.
    figures = report(
        stores=[(1, "always", None)],
        polls=[(1, "2023-01-23 10:30", True)],
        now=at("2023-01-23 12:00"),
    )
    assert only(figures) == (60.00, 24.00, 168.00, 0.00, 0.00, 0.00)


def test_a_store_without_timezone_keeps_hours_in_chicago():
    # No timezone: America/Chicago, UTC-6 in January, so Monday 09:00-10:00 is
    # 15:00-16:00 UTC. The 09:30 UTC poll (03:30 in Chicago) is ignored; the
    # 15:30 UTC inactive one is the only observation: 1 h down.
    assert DEFAULT_TIMEZONE == "America/Chicago"
    figures = report(
        stores=[(1, "no-zone", None), (2, "empty-zone", ""), (3, "unknown-zone", "Mars/Olympus_Mons")],
        hours=[(store, MONDAY, "09:00", "10:00") for store in (1, 2, 3)],
        polls=[(store, ts, active) for store in (1, 2, 3) for ts, active in
               (("2023-01-23 09:30", True), ("2023-01-23 15:30", False))],
        now=at("2023-01-23 18:00"),
    )
    assert set(figures.values()) == {(0.00, 0.00, 0.00, 0.00, 1.00, 1.00)}


def test_a_store_without_polls_gets_zeros():
    figures = report(stores=[(1, "silent", "UTC")], hours=[(1, MONDAY, "09:00", "17:00")], now=at("2023-01-23 18:00"))
    assert only(figures) == (0.0,) * 6


def test_polls_outside_business_hours_are_ignored():
    # Open 09:00-12:00. The 08:00 and 13:00 inactive polls are outside it;
    # the 10:00 active one alone decides: 3 h up, nothing down.
    figures = report(
        stores=[(1, "shop", "UTC")],
        hours=[(1, MONDAY, "09:00", "12:00")],
        polls=[(1, "2023-01-23 08:00", False), (1, "2023-01-23 10:00", True), (1, "2023-01-23 13:00", False)],
        now=at("2023-01-23 14:00"),
    )
    assert only(figures) == (0.00, 3.00, 3.00, 0.00, 0.00, 0.00)


def test_a_poll_at_opening_time_counts_and_one_at_closing_time_does_not():
    # Open [09:00, 12:00). The 09:00 active poll is inside; the 12:00 inactive
    # one is not (were it, the midpoint 10:30 would give 1.5 h down): 3 h up.
    figures = report(
        stores=[(1, "shop", "UTC")],
        hours=[(1, MONDAY, "09:00", "12:00")],
        polls=[(1, "2023-01-23 09:00", True), (1, "2023-01-23 12:00", False)],
        now=at("2023-01-23 14:00"),
    )
    assert only(figures) == (0.00, 3.00, 3.00, 0.00, 0.00, 0.00)


def test_a_store_with_no_observation_gets_zeros_even_with_open_time():
    # Polls exist, but none in open time: no observation, so every figure is 0
    # (not 3 h of unknown).
    figures = report(
        stores=[(1, "shop", "UTC")],
        hours=[(1, MONDAY, "09:00", "12:00")],
        polls=[(1, "2023-01-23 08:00", True), (1, "2023-01-23 13:00", True)],
        now=at("2023-01-23 14:00"),
    )
    assert only(figures) == (0.0,) * 6


def test_a_poll_exactly_at_now_is_an_observation():
    # Always open. Active at 11:30, inactive at 12:00 = now: midpoint 11:45.
    # Hour 11:00-12:00: up 45 min, down 15 min. Day and week: all before
    # 11:45 is up: 24 h - 0.25 h = 23.75 h, 168 - 0.25 = 167.75 h; down 0.25 h.
    figures = report(
        stores=[(1, "edge", "UTC")],
        polls=[(1, "2023-01-23 11:30", True), (1, "2023-01-23 12:00", False)],
        now=at("2023-01-23 12:00"),
    )
    assert only(figures) == (45.00, 23.75, 167.75, 15.00, 0.25, 0.25)


def test_a_poll_exactly_14_days_old_is_kept():
    # now - 14 days = 2023-01-09 12:00: inside [now - 14 d, now], so it is the
    # one observation and its status holds over the whole week: 168 h up.
    figures = report(
        stores=[(1, "old", "UTC")],
        polls=[(1, "2023-01-09 12:00", True)],
        now=at("2023-01-23 12:00"),
    )
    assert only(figures) == (60.00, 24.00, 168.00, 0.00, 0.00, 0.00)


def test_a_poll_older_than_14_days_is_ignored():
    # One microsecond before now - 14 days: not an observation, so zeros.
    figures = report(
        stores=[(1, "old", "UTC")],
        polls=[(1, "2023-01-09 11:59:59.999999", True)],
        now=at("2023-01-23 12:00"),
    )
    assert only(figures) == (0.0,) * 6


def test_an_interval_that_began_before_the_lookback_still_holds_observations():
    # Sunday 22:00-22:00 is open Sun 22:00 -> Mon 22:00. now Mon 23rd 12:00, so
    # now - 14 days = Mon 9th 12:00 falls in the interval opened Sun 8th 22:00:
    # the active poll at that instant is the one observation.
    # Week [Mon 16th 12:00, now): Mon 16th 12:00-22:00 (10 h) + Sun 22nd 22:00 ->
    # Mon 23rd 12:00 (14 h) = 24 h up. Day: 14 h. Hour: 60 min.
    figures = report(
        stores=[(1, "sundays", "UTC")],
        hours=[(1, SUNDAY, "22:00", "22:00")],
        polls=[(1, "2023-01-09 12:00", True)],
        now=at("2023-01-23 12:00"),
    )
    assert only(figures) == (60.00, 14.00, 24.00, 0.00, 0.00, 0.00)


def test_polls_after_now_are_ignored():
    # The 12:01 inactive poll is after now; were it used, the midpoint with
    # the 10:00 poll (11:00:30) would put 59.5 minutes of the hour down.
    figures = report(
        stores=[(1, "future", "UTC")],
        polls=[(1, "2023-01-23 10:00", True), (1, "2023-01-23 12:01", False)],
        now=at("2023-01-23 12:00"),
    )
    assert only(figures) == (60.00, 24.00, 168.00, 0.00, 0.00, 0.00)


def test_new_york_hours_starting_in_the_spring_gap_move_forward_by_the_gap():
    # 2023-03-12 (Sunday) New York jumps from 02:00 EST to 03:00 EDT.
    # 02:30 does not exist: it moves forward by the gap to 03:30 EDT = 07:30 UTC.
    # 10:00 EDT = 14:00 UTC. Open 6.5 h (not 7 h as "shift to 03:00" would give).
    figures = report(
        stores=[(1, "ny", "America/New_York")],
        hours=[(1, SUNDAY, "02:30", "10:00")],
        polls=[(1, "2023-03-12 08:00", True)],
        now=at("2023-03-12 15:00"),
    )
    assert only(figures) == (0.00, 6.50, 6.50, 0.00, 0.00, 0.00)


def test_new_york_hours_starting_in_the_autumn_fold_take_the_first_occurrence():
    # 2023-11-05 (Sunday) New York goes back from 02:00 EDT to 01:00 EST.
    # 01:30 occurs twice; the first is EDT (UTC-4) = 05:30 UTC.
    # 09:00 EST = 14:00 UTC. Open 8.5 h (the second 01:30 would give 7.5 h).
    figures = report(
        stores=[(1, "ny", "America/New_York")],
        hours=[(1, SUNDAY, "01:30", "09:00")],
        polls=[(1, "2023-11-05 10:00", True)],
        now=at("2023-11-05 15:00"),
    )
    assert only(figures) == (0.00, 8.50, 8.50, 0.00, 0.00, 0.00)


def test_hours_that_the_spring_gap_turns_backwards_hold_no_time():
    # 02:30-03:15 on 2023-03-12 in New York: 02:30 -> 03:30 EDT (07:30 UTC),
    # 03:15 EDT = 07:15 UTC. The UTC interval [07:30, 07:15) is empty, so the
    # 07:20 UTC poll is outside business hours: no observation, zeros.
    figures = report(
        stores=[(1, "ny", "America/New_York")],
        hours=[(1, SUNDAY, "02:30", "03:15")],
        polls=[(1, "2023-03-12 07:20", True)],
        now=at("2023-03-12 15:00"),
    )
    assert only(figures) == (0.0,) * 6


def test_sydney_autumn_fold_takes_the_first_occurrence():
    # 2023-04-02 (Sunday) Sydney goes back from 03:00 AEDT (UTC+11) to 02:00 AEST (UTC+10).
    # 02:30 first occurs in AEDT = 2023-04-01 15:30 UTC; 04:00 AEST = 18:00 UTC.
    # Open 2.5 h.
    figures = report(
        stores=[(1, "syd", "Australia/Sydney")],
        hours=[(1, SUNDAY, "02:30", "04:00")],
        polls=[(1, "2023-04-01 16:00", True)],
        now=at("2023-04-01 20:00"),
    )
    assert only(figures) == (0.00, 2.50, 2.50, 0.00, 0.00, 0.00)


def test_sydney_spring_gap_moves_forward_by_the_gap():
    # 2023-10-01 (Sunday) Sydney jumps from 02:00 AEST (UTC+10) to 03:00 AEDT (UTC+11).
    # 02:30 does not exist: as AEST it is 2023-09-30 16:30 UTC (03:30 AEDT);
    # 04:00 AEDT = 17:00 UTC. Open 0.5 h.
    figures = report(
        stores=[(1, "syd", "Australia/Sydney")],
        hours=[(1, SUNDAY, "02:30", "04:00")],
        polls=[(1, "2023-09-30 16:45", False)],
        now=at("2023-09-30 20:00"),
    )
    assert only(figures) == (0.00, 0.00, 0.00, 0.00, 0.50, 0.50)


def test_figures_round_half_up_at_the_hundredth():
    # Always open. Active at now - 0.6 s, inactive at now: midpoint now - 0.3 s.
    # Down 0.3 s = 0.005 min -> 0.01; up 59 min 59.7 s = 59.995 min -> 60.00.
    # In hours 0.3 s is 0.0000833 h -> 0.00.
    figures = report(
        stores=[(1, "tight", "UTC")],
        polls=[(1, "2023-01-23 11:59:59.4", True), (1, "2023-01-23 12:00", False)],
        now=at("2023-01-23 12:00"),
    )
    assert only(figures) == (60.00, 24.00, 168.00, 0.01, 0.00, 0.00)


def test_hundredths_round_half_up_in_integers():
    minute = 120_000_000  # ticks of half a microsecond
    # 0.005 min (0.3 s = 600,000 ticks) is a half: up to 1 hundredth;
    # one tick less stays at 0.
    assert hundredths_half_up(pd.Series([600_000, 599_999]).to_numpy(), unit=minute).tolist() == [1, 0]


def test_store_ids_are_kept_exactly_and_sorted_by_code_point():
    # Code-point order: digits < upper case < lower case < accented letters;
    # "10" < "9" because "1" < "9".
    ids = ["b", "B", "9", "10", "0000123", "1481966498820158979", "123e4567-e89b-12d3-a456-426614174000", "é", "a"]
    figures = report(stores=[(key, store_id, "UTC") for key, store_id in enumerate(ids)], now=at("2023-01-23 12:00"))
    assert list(figures) == sorted(ids)
    assert list(figures) == [
        "0000123", "10", "123e4567-e89b-12d3-a456-426614174000", "1481966498820158979", "9", "B", "a", "b", "é",
    ]


def test_the_report_has_one_row_per_store_and_exactly_the_report_columns():
    frame = compute_report(
        stores=pd.DataFrame({"store": [7, 3], "store_id": ["x", "y"], "timezone": ["UTC", "UTC"]}),
        hours=hours_frame([]),
        polls=polls_frame([]),
        now=at("2023-01-23 12:00"),
    )
    assert list(frame.columns) == REPORT_COLUMNS
    assert frame["store_id"].tolist() == ["x", "y"]


@pytest.mark.parametrize(
    "as_column",
    [
        lambda stamps: stamps,  # datetime64[ns, UTC]
        lambda stamps: stamps.dt.tz_localize(None),  # naive, taken as UTC
        lambda stamps: stamps.astype("datetime64[us, UTC]"),
        lambda stamps: stamps.dt.tz_convert("Asia/Tokyo"),  # any zone: the instant counts
        lambda stamps: stamps.astype("int64"),  # nanoseconds since the epoch
    ],
)
def test_poll_timestamps_are_accepted_in_every_form(as_column):
    # Same store as the midnight-crossing case: 2 h up, 2 h down.
    polls = polls_frame([(1, "2023-01-23 23:00", True), (1, "2023-01-24 01:00", False)])
    frame = compute_report(
        stores=pd.DataFrame({"store": [1], "store_id": ["night"], "timezone": ["UTC"]}),
        hours=hours_frame([(1, MONDAY, "22:00", "02:00")]),
        polls=polls.assign(ts=as_column(polls["ts"])),
        now=pd.Timestamp("2023-01-24 03:00").to_pydatetime(),  # naive now is UTC too
    )
    assert tuple(frame.iloc[0, 1:]) == (0.00, 2.00, 2.00, 0.00, 2.00, 2.00)


@pytest.mark.parametrize("unit", ["datetime64[ns, UTC]", "datetime64[us, UTC]", "datetime64[us]", "int64"])
def test_the_input_frames_are_left_unchanged(unit):
    # The engine works in place on its own copies only.
    frames = {
        "stores": pd.DataFrame({"store": [1, 2], "store_id": ["b", "a"], "timezone": ["UTC", None]}),
        "hours": hours_frame([(1, MONDAY, "22:00", "02:00")]),
        "polls": polls_frame([(1, "2023-01-23 23:00", True), (2, "2023-01-24 01:00", False)]),
    }
    frames["polls"]["ts"] = frames["polls"]["ts"].dt.tz_localize(None).astype(unit.replace(", UTC]", "]"))
    if "UTC" in unit:
        frames["polls"]["ts"] = frames["polls"]["ts"].dt.tz_localize("UTC")
    before = {name: frame.copy() for name, frame in frames.items()}
    compute_report(**frames, now=at("2023-01-24 03:00"))
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, before[name])


def test_the_worked_example_of_docs_method_md():
    # docs/method.md, "A worked example": New York, across the 2023-03-12 DST change.
    # Open (UTC): Mon 6th 14:00-22:00 (EST), Sun 12th 14:00-18:00 and Mon 13th
    # 13:00-21:00 (EDT). Status switches: active -> inactive 6th 18:25,
    # -> active 12th 15:05, -> inactive 13th 15:12:30.
    # Week [6th 18:00, 13th 18:00): up 0:25 + 2:55 + 2:12:30 = 5.5417 h -> 5.54,
    # down 3:35 + 1:05 + 2:47:30 = 7.4583 h -> 7.46. Day: up 2:12:30 -> 2.21,
    # down 2:47:30 -> 2.79. Hour 17:00-18:00: down 60 min.
    figures = report(
        stores=[(1, "ny-1", "America/New_York")],
        hours=[(1, MONDAY, "09:00", "17:00"), (1, SUNDAY, "10:00", "14:00")],
        polls=[
            (1, "2023-03-06 15:10", True), (1, "2023-03-06 21:40", False), (1, "2023-03-10 15:00", False),
            (1, "2023-03-12 14:05", False), (1, "2023-03-12 16:05", True), (1, "2023-03-13 12:00", True),
            (1, "2023-03-13 13:20", True), (1, "2023-03-13 17:05", False),
        ],
        now=at("2023-03-13 18:00"),
    )
    assert only(figures) == (0.00, 2.21, 5.54, 60.00, 2.79, 7.46)
