"""Small report data built with the ORM, with its figures worked out by hand.

Monday 2023-01-23 (January: New York is UTC-5, and Chicago, the default zone,
UTC-6).

Store "a" (America/New_York) is open Mondays 09:00-12:00 local = 14:00-17:00
UTC. Polls at 15:14 UTC (10:14 local) active and 16:15 UTC (11:15 local)
inactive: the switch is at the midpoint 15:44:30, so on that Monday it is up
14:00-15:44:30 (1 h 44.5 min = 1.7417 h -> 1.74) and down 15:44:30-17:00
(1 h 15.5 min = 1.2583 h -> 1.26): the example of SPEC 4.

Store "b" (no timezone row, no hours: open 24/7) has polls at 17:00 active and
17:30 inactive (midpoint 17:15). Store "c" has hours but no poll: all zeros.

Default `now` = the latest poll, 17:30 UTC.
- a, last hour [16:30, 17:30): open 16:30-17:00 = 30 min, all after the
  midpoint: 0.00 up, 30.00 down (minutes). Last day [Sun 17:30, Mon 17:30)
  holds all of Monday's hours: 1.74 up, 1.26 down. Last week [Mon 16th 17:30,
  Mon 23rd 17:30): the 16th's hours ended at 17:00, before the window: same
  as the day.
- b, hour: up 16:30-17:15 = 45 min, down 17:15-17:30 = 15 min. Day: 24 h open,
  down 0.25 h, up 23.75 h. Week: 168 h open, down 0.25, up 167.75.
"""
from __future__ import annotations

from datetime import datetime, time, timezone

from monitoring.models import BusinessHours, StatusPoll, Store

MONDAY = datetime(2023, 1, 23, tzinfo=timezone.utc)
LATEST_POLL = MONDAY.replace(hour=17, minute=30)

EXPECTED_CSV = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week\n"
    "a,0.00,1.74,1.74,30.00,1.26,1.26\n"
    "b,45.00,23.75,167.75,15.00,0.25,0.25\n"
    "c,0.00,0.00,0.00,0.00,0.00,0.00\n"
)


def at(hour: int, minute: int) -> datetime:
    return MONDAY.replace(hour=hour, minute=minute)


def make_small_data() -> None:
    a = Store.objects.create(store_id="a", timezone="America/New_York")
    b = Store.objects.create(store_id="b")
    c = Store.objects.create(store_id="c", timezone="America/Denver")
    BusinessHours.objects.create(store=a, weekday=0, start_local=time(9), end_local=time(12))
    BusinessHours.objects.create(store=c, weekday=2, start_local=time(22), end_local=time(2))
    StatusPoll.objects.bulk_create(
        [
            StatusPoll(store=a, timestamp=at(15, 14), active=True),
            StatusPoll(store=a, timestamp=at(16, 15), active=False),
            StatusPoll(store=b, timestamp=at(17, 0), active=True),
            StatusPoll(store=b, timestamp=at(17, 30), active=False),
        ]
    )


def make_stores(count: int) -> None:
    """`count` stores with hours and a week of hourly polls each, in bulk."""
    stores = Store.objects.bulk_create(Store(store_id=f"s{n:04d}", timezone="America/New_York") for n in range(count))
    BusinessHours.objects.bulk_create(
        BusinessHours(store=s, weekday=day, start_local=time(8), end_local=time(20)) for s in stores for day in range(7)
    )
    StatusPoll.objects.bulk_create(
        StatusPoll(store=s, timestamp=LATEST_POLL.replace(day=16 + hour // 24, hour=hour % 24), active=(hour + n) % 5 != 0)
        for n, s in enumerate(stores)
        for hour in range(0, 7 * 24, 3)
    )
