"""Three stores whose figures are worked out by hand, shared by the page tests.

now = the latest poll = Wed 2023-01-25 12:00:00 UTC. Week = [Wed 18 Jan 12:00, Wed 25 Jan 12:00) UTC.

Store "A" (America/New_York, UTC-5 in January), open Mondays 09:00-12:00 local
= 14:00-17:00 UTC. Polls Mon 23 Jan 10:14 local (15:14 UTC) active and 11:15
local (16:15 UTC) inactive, plus Sat 21 Jan 03:00 local (08:00 UTC) inactive,
outside business hours, so not used. Midpoint of the two used polls:
15:14 + (16:15 - 15:14) / 2 = 15:14 + 30 min 30 s = 15:44:30 UTC (10:44:30 local).
  up   14:00:00-15:44:30 = 1 h 44 min 30 s = 1.7417 h -> 1.74
  down 15:44:30-17:00:00 = 1 h 15 min 30 s = 1.2583 h -> 1.26   (one outage)
  last day and last hour: no open time -> 0.

Store "B" (no timezone row: America/Chicago; no hours: open 24/7). Polls
Wed 25 Jan 11:00 UTC inactive and 12:00 UTC active; midpoint 11:30.
  week: down 18 Jan 12:00 -> 25 Jan 11:30 = 7 d - 30 min = 167.5 h, up 0.5 h
  day:  down 23.5 h, up 0.5 h;  hour: down 30 min, up 30 min.

Store "c" (Asia/Tokyo, hours given, no poll at all): every figure 0.
"""
from datetime import datetime, time, timezone

from monitoring.models import BusinessHours, StatusPoll, Store

NOW = datetime(2023, 1, 25, 12, 0, tzinfo=timezone.utc)
EXPECTED_CSV = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week\n"
    "A,0.00,0.00,1.74,0.00,0.00,1.26\n"
    "B,30.00,0.50,0.50,30.00,23.50,167.50\n"
    "c,0.00,0.00,0.00,0.00,0.00,0.00\n"
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def make_three_stores() -> None:
    a = Store.objects.create(store_id="A", timezone="America/New_York")
    b = Store.objects.create(store_id="B")
    c = Store.objects.create(store_id="c", timezone="Asia/Tokyo")
    BusinessHours.objects.create(store=a, weekday=0, start_local=time(9), end_local=time(12))
    BusinessHours.objects.create(store=c, weekday=2, start_local=time(22), end_local=time(2))
    StatusPoll.objects.bulk_create(
        [
            StatusPoll(store=a, timestamp=utc(2023, 1, 21, 8, 0), active=False),
            StatusPoll(store=a, timestamp=utc(2023, 1, 23, 15, 14), active=True),
            StatusPoll(store=a, timestamp=utc(2023, 1, 23, 16, 15), active=False),
            StatusPoll(store=b, timestamp=utc(2023, 1, 25, 11, 0), active=False),
            StatusPoll(store=b, timestamp=NOW, active=True),
        ]
    )
