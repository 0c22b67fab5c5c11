"""The alert decision's short read (events.decision_inputs): every round decides exactly the events
a read of every store's whole 14 days decides, round after round, as the alerted outages grow.

The second implementation is the whole read itself (`short_first=False`), on generated data:
stores in many zones, outages, gaps between polls, and stores closed for days.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from monitoring.alerts import events
from monitoring.datagen import generate_dataset
from monitoring.ingest.digests import digests_refresh
from monitoring.ingest.load import ingest_paths
from monitoring.reports import reading

pytestmark = pytest.mark.django_db
AFTER_NS = 30 * 60 * 1_000_000_000  # ALERT_AFTER_MINUTES' default
T = datetime(2023, 1, 25, 18, tzinfo=timezone.utc)  # about the generated data's latest poll


def decided_with(*, now, short_first: bool) -> events.Decided:
    parts, alerted = events.decision_inputs(now=now, short_first=short_first)
    return events.decide_events(parts=parts, alerted=alerted, now_ns=pd.Timestamp(now).value, after_ns=AFTER_NS)


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["store", "since_ns"], ignore_index=True)


def hand_made_stores() -> str:
    """Polls (open all week: no hours given) of stores whose decision reaches back past a short read.

    long-down: hourly, inactive from T - 6 days to T - 4.5 days, active otherwise: a round
    after the 3-day gap below must still find the outage's true end, before the short read.
    went-silent: hourly until T - 3 days, the last ones inactive, then no poll: down since
    then by the last observation, which no short read sees.
    """
    lines = []
    for hour in range(7 * 24):
        at = T - timedelta(days=7) + timedelta(hours=hour)
        down = T - timedelta(days=6) <= at < T - timedelta(days=4, hours=12)
        lines.append(f"long-down,{'inactive' if down else 'active'},{at:%Y-%m-%d %H:%M:%S}")
        if at < T - timedelta(days=3):
            lines.append(f"went-silent,{'inactive' if at >= T - timedelta(days=3, hours=5) else 'active'},{at:%Y-%m-%d %H:%M:%S}")
    return "\n".join(lines) + "\n"


def test_the_short_read_decides_what_the_whole_lookback_decides_round_after_round(tmp_path):
    generate_dataset(out_dir=tmp_path, scale=0.05)
    with (tmp_path / "store_status.csv").open("a") as polls:
        polls.write(hand_made_stores())
    assert all(result.ok for result in ingest_paths(paths=[tmp_path]))
    digests_refresh()
    latest = reading.latest_poll()
    told = 0
    # Rounds every 5 h 17 min, with a gap of 3 days after the fourth: each at a new `now`,
    # its events inserted, so the next round compares with the outages alerted so far.
    for round_number in range(14):
        gap = timedelta(days=3) if round_number >= 4 else timedelta(0)
        now = latest - timedelta(days=6) + round_number * timedelta(hours=5, minutes=17) + gap
        short, whole = decided_with(now=now, short_first=True), decided_with(now=now, short_first=False)
        pd.testing.assert_frame_equal(sorted_rows(short.down), sorted_rows(whole.down))
        pd.testing.assert_frame_equal(sorted_rows(short.recovered), sorted_rows(whole.recovered))
        down, recovered, _ = events._insert(whole, now=now, now_ns=pd.Timestamp(now).value)
        told += down + recovered
    assert told > 100  # the rounds had outages to tell and to close
