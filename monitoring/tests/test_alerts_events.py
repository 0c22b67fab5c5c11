"""Alert events (SPEC 9) decided round after round, with hand-computed outages.

Every store below is in UTC. A store without business hours is open all the time
(SPEC 2). 2023-01-25 is a Wednesday. ALERT_AFTER_MINUTES is the default 30.
An outage starts and ends at the midpoint between an up poll and a down poll (SPEC 4).
"""
from __future__ import annotations

import json
from datetime import datetime, time, timezone

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.alerts.events import alerts_decide, decide_events
from monitoring.engine import LOOKBACK
from monitoring.models import AlertEvent, BusinessHours, StatusPoll, Store, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db

WEDNESDAY = 2


def at(clock: str, day: str = "2023-01-25") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=timezone.utc)


def polls(store_id: str, *stamps: tuple[str, bool]) -> None:
    store, _ = Store.objects.get_or_create(store_id=store_id, defaults={"timezone": "UTC"})
    StatusPoll.objects.bulk_create(StatusPoll(store=store, timestamp=at(clock), active=up) for clock, up in stamps)


def events() -> list[tuple]:
    rows = AlertEvent.objects.order_by("store__store_id", "since", "kind")
    return [(e.kind, e.store.store_id, e.since.strftime("%H:%M"), e.until and e.until.strftime("%H:%M"), e.minutes) for e in rows]


def test_an_outage_shorter_than_the_threshold_is_never_told():
    # 10:00 up, 10:20 down, 10:40 up: down from 10:10 to 10:30, 20 minutes < 30, and over.
    polls("a", ("10:00", True), ("10:20", False), ("10:40", True))
    assert (alerts_decide().down, alerts_decide().recovered) == (0, 0)
    polls("a", ("11:00", True))
    alerts_decide()
    assert events() == []


def test_an_outage_crossing_the_threshold_at_the_second_round_is_told_once():
    # Round 1, now 10:40: 10:00 up, 10:40 down, so down since 10:20 for 20 minutes < 30.
    polls("a", ("10:00", True), ("10:40", False))
    assert alerts_decide().down == 0
    # Round 2, now 11:00: still down, since 10:20 for 40 minutes >= 30: one store.down.
    polls("a", ("11:00", False))
    second = alerts_decide()
    assert (second.down, second.recovered) == (1, 0)
    assert events() == [("store.down", "a", "10:20", None, 40.0)]
    # Round 3, now 11:30, still down: the same outage, told already.
    polls("a", ("11:30", False))
    assert alerts_decide().down == 0
    assert len(events()) == 1


def test_the_body_is_spec_9s_json_with_a_stable_id():
    polls("a", ("10:00", True), ("10:40", False), ("11:00", False))
    alerts_decide()
    event = AlertEvent.objects.get()
    assert json.loads(event.body) == {
        "id": str(event.id), "event": "store.down", "store_id": "a",
        "since": "2023-01-25T10:20:00Z", "minutes": 40.0, "now": "2023-01-25T11:00:00Z",
    }
    # The id derives from (kind, store, since): deciding again from scratch gives the same one.
    first_id = event.id
    AlertEvent.objects.all().delete()
    alerts_decide()
    assert AlertEvent.objects.get().id == first_id


def test_an_outage_ended_by_closing_time_recovers_at_the_closing_time():
    # b is open Wednesdays 09:00-12:00; "clock" is always open and up, and sets `now`.
    polls("b", ("10:00", True), ("10:30", False), ("11:00", False))
    BusinessHours.objects.create(store=Store.objects.get(store_id="b"), weekday=WEDNESDAY, start_local=time(9), end_local=time(12))
    polls("clock", ("11:00", True))
    # Round 1, now 11:00: b down since 10:15 (between 10:00 and 10:30), for 45 minutes.
    assert alerts_decide().down == 1
    # Round 2, now 12:30: b closed at 12:00 with no new poll: the outage ran 10:15-12:00,
    # 105 minutes, and ended; b is closed now, not down.
    polls("clock", ("12:30", True))
    second = alerts_decide()
    assert (second.down, second.recovered) == (0, 1)
    assert events() == [
        ("store.down", "b", "10:15", "12:00", 45.0),  # its until is filled in when it recovers
        ("store.recovered", "b", "10:15", "12:00", 105.0),
    ]
    recovered = json.loads(AlertEvent.objects.get(kind="store.recovered").body)
    assert (recovered["since"], recovered["until"], recovered["minutes"], recovered["now"]) == (
        "2023-01-25T10:15:00Z", "2023-01-25T12:00:00Z", 105.0, "2023-01-25T12:30:00Z",
    )
    # Round 3 at 13:00: nothing more to tell about b (closed), nothing twice.
    polls("clock", ("13:00", True))
    assert (alerts_decide().down, alerts_decide().recovered) == (0, 0)


def test_a_store_coming_back_up_recovers_at_the_midpoint():
    # Down since 10:20 (told at 11:00 after 40 minutes); 12:00 up: back at 11:30, 70 minutes.
    polls("a", ("10:00", True), ("10:40", False), ("11:00", False))
    alerts_decide()
    polls("a", ("12:00", True))
    assert alerts_decide().recovered == 1
    assert events()[-1] == ("store.recovered", "a", "10:20", "11:30", 70.0)


def test_a_store_down_at_the_first_load_of_two_weeks_of_history_is_told_once_at_that_round():
    store = Store.objects.create(store_id="c", timezone="UTC")
    first, now = at("12:00", "2023-01-11"), at("12:00")
    hours = pd.date_range(first, now, freq="h")
    # Hourly polls for 14 days, all up but 2023-01-20 06:00 (an outage 05:30-06:30, long
    # over: never told) and the last three, 10:00-12:00: down since 09:30, 150 minutes.
    down = {at("06:00", "2023-01-20"), at("10:00"), at("11:00"), at("12:00")}
    StatusPoll.objects.bulk_create(StatusPoll(store=store, timestamp=h.to_pydatetime(), active=h not in down) for h in hours)
    first_round = alerts_decide()
    assert (first_round.down, first_round.recovered) == (1, 0)
    assert events() == [("store.down", "c", "09:30", None, 150.0)]
    StatusPoll.objects.create(store=store, timestamp=at("13:00"), active=False)
    assert alerts_decide().down == 0


def test_the_same_round_run_twice_decides_nothing_new():
    polls("a", ("10:00", True), ("10:40", False), ("11:00", False))
    WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", secret="s")
    first, again = alerts_decide(), alerts_decide()
    assert (first.down, first.queued) == (1, 1)
    assert (again.down, again.recovered, again.queued) == (0, 0, 0)
    assert AlertEvent.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_each_new_event_is_queued_once_per_active_subscription():
    WebhookSubscription.objects.create(url="http://127.0.0.1:9/one", secret="s")
    WebhookSubscription.objects.create(url="http://127.0.0.1:9/two", secret="s")
    WebhookSubscription.objects.create(url="http://127.0.0.1:9/paused", secret="s", active=False)
    polls("a", ("10:00", True), ("10:40", False), ("11:00", False))
    polls("b", ("10:00", True), ("10:40", False), ("11:00", False))
    # 2 events x 2 active subscriptions.
    assert alerts_decide().queued == 4
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"pending"}


def test_an_alert_is_decided_with_the_same_number_of_queries_for_1_store_and_for_50():
    def decide(count: int) -> int:
        StatusPoll.objects.all().delete()
        for n in range(count):
            polls(f"s{n:02d}", ("10:00", True), ("10:40", False), ("11:00", False))
        with CaptureQueriesContext(connection) as queries:
            assert alerts_decide().down == count
        AlertEvent.objects.all().delete()
        return len(queries)

    assert decide(1) == decide(50)


def test_an_alerted_outage_older_than_the_lookback_is_not_told_again():
    # The engine clips an outage at the lookback's origin, so its start moves every
    # round; the alerted outage is found by containing its start, not by equal starts.
    now = 1_000 * LOOKBACK.value
    since = now - LOOKBACK.value - 3_600_000_000_000  # an hour before the origin
    parts = pd.DataFrame({"store": [1], "store_id": ["a"], "start_ns": [now - LOOKBACK.value], "end_ns": [now], "ongoing": [True]})
    alerted = pd.DataFrame({"store": [1], "store_id": ["a"], "since_ns": [since]})
    decided = decide_events(parts=parts, alerted=alerted, now_ns=now, after_ns=30 * 60_000_000_000)
    assert (len(decided.down), len(decided.recovered)) == (0, 0)


def test_an_alerted_outage_whose_polls_were_corrected_recovers_at_now():
    # The down polls became up: no part contains the alerted start any more. The store.down
    # still gets its store.recovered, until the round's now (10:00 to 11:00: 60 minutes).
    hour = 3_600_000_000_000
    now, since = 20 * hour + LOOKBACK.value, 19 * hour + LOOKBACK.value
    parts = pd.DataFrame({"store": pd.Series([], dtype="int64"), "store_id": [], "start_ns": pd.Series([], dtype="int64"),
                          "end_ns": pd.Series([], dtype="int64"), "ongoing": pd.Series([], dtype=bool)})
    alerted = pd.DataFrame({"store": [1], "store_id": ["a"], "since_ns": [since]})
    decided = decide_events(parts=parts, alerted=alerted, now_ns=now, after_ns=30 * 60_000_000_000)
    assert decided.recovered[["until_ns", "minutes"]].values.tolist() == [[now, 60.0]]


def test_after_minutes_follows_the_setting(settings):
    # Down since 10:20, 40 minutes at 11:00: under a 45-minute threshold, nothing yet.
    settings.ALERT_AFTER_MINUTES = 45
    polls("a", ("10:00", True), ("10:40", False), ("11:00", False))
    assert alerts_decide().down == 0
    settings.ALERT_AFTER_MINUTES = 40
    assert alerts_decide().down == 1


def test_stores_read_in_shards_are_decided_as_in_one(settings):
    # Three stores, each 10:00 up then 10:40 and 11:00 down: down since 10:20, 40 minutes >= 30 at now 11:00.
    # One store per shard: three reads in the round's one snapshot, the same three events.
    settings.FLEET_SHARD_STORES = 1
    for store_id in ("a", "b", "c"):
        polls(store_id, ("10:00", True), ("10:40", False), ("11:00", False))
    assert alerts_decide().down == 3
    assert events() == [("store.down", store_id, "10:20", None, 40.0) for store_id in ("a", "b", "c")]
