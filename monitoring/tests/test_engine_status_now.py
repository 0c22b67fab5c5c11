"""Status now (SPEC 9) of hand-made stores at now = Wed 2023-01-25 12:00 UTC."""
from __future__ import annotations

import pandas as pd

from monitoring.engine import status_now

HOUR_US = 3_600_000_000
NOW = pd.Timestamp("2023-01-25 12:00", tz="UTC")
WEDNESDAY, TUESDAY = 2, 1


def states(*, stores: list[tuple], hours: list[tuple], polls: list[tuple]) -> dict[str, tuple[str, str | None]]:
    frame = status_now(
        stores=pd.DataFrame(stores, columns=["store", "store_id", "timezone"]),
        hours=pd.DataFrame(
            [(store, day, start * HOUR_US, end * HOUR_US) for store, day, start, end in hours],
            columns=["store", "weekday", "start_us", "end_us"],
        ),
        polls=pd.DataFrame(
            [(store, pd.Timestamp(ts, tz="UTC"), up) for store, ts, up in polls], columns=["store", "ts", "active"]
        ),
        now=NOW,
    )
    since = [str(pd.Timestamp(ns, tz="UTC")) if ns >= 0 else None for ns in frame["down_since_ns"]]
    return dict(zip(frame["store_id"], zip(frame["state"], since, strict=True), strict=True))


def test_each_store_is_closed_up_down_or_unknown_at_now():
    found = states(
        stores=[(1, "down", "UTC"), (2, "closed", "UTC"), (3, "unknown", "UTC"), (4, "up", "UTC")],
        # Store 2 is open Wednesdays 09:00-11:00 only: closed at 12:00 whatever its polls say.
        hours=[(2, WEDNESDAY, 9, 11)],
        polls=[
            # Open all the time; 10:00 up, 11:00 down: down since the midpoint 10:30.
            (1, "2023-01-25 10:00", True), (1, "2023-01-25 11:00", False),
            (2, "2023-01-25 10:00", False),
            # Store 3 is open all the time and has no poll at all: unknown.
            (4, "2023-01-25 11:00", True),
        ],
    )
    assert found == {
        "closed": ("closed", None),
        "down": ("down", "2023-01-25 10:30:00+00:00"),
        "unknown": ("unknown", None),
        "up": ("up", None),
    }


def test_a_store_down_at_closing_is_down_since_it_opened_again():
    # Open 09:00-17:00 Tuesday and Wednesday; Tuesday 16:00 down, no poll since: the outage
    # of Tuesday ended at closing, and the one now began at Wednesday's opening, 09:00.
    found = states(
        stores=[(1, "s", "UTC")],
        hours=[(1, TUESDAY, 9, 17), (1, WEDNESDAY, 9, 17)],
        polls=[(1, "2023-01-24 15:00", True), (1, "2023-01-24 16:00", False)],
    )
    assert found == {"s": ("down", "2023-01-25 09:00:00+00:00")}


def test_a_store_opening_exactly_now_with_a_down_poll_is_down_since_now():
    # Open Wednesdays 12:00-14:00: its poll at 12:00 (now, inside the open interval) is down.
    found = states(stores=[(1, "s", "UTC")], hours=[(1, WEDNESDAY, 12, 14)], polls=[(1, "2023-01-25 12:00", False)])
    assert found == {"s": ("down", "2023-01-25 12:00:00+00:00")}


def test_a_store_closing_exactly_now_is_closed():
    # Open Wednesdays 09:00-12:00: now is the closing instant, outside [09:00, 12:00).
    found = states(stores=[(1, "s", "UTC")], hours=[(1, WEDNESDAY, 9, 12)], polls=[(1, "2023-01-25 11:00", False)])
    assert found == {"s": ("closed", None)}
