"""The fixed numbers of the report (SPEC sections 2, 4 and 5)."""
from __future__ import annotations

import pandas as pd

REPORT_COLUMNS = [
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
]

# SPEC 8: a period report.
PERIOD_COLUMNS = ["store_id", "uptime_hours", "downtime_hours", "uptime_percent", "outages", "longest_outage_minutes"]

# SPEC 7: the outage list of a report.
OUTAGE_COLUMNS = ["store_id", "start_utc", "end_utc", "minutes", "ongoing"]
# The report page's outage figures per store (not part of the SPEC 5 CSV).
OUTAGE_COUNT_COLUMNS = ["store_id", "outages_last_day", "outages_last_week", "longest_outage_minutes"]

# SPEC 2: a store without a (valid) timezone row is in Chicago.
DEFAULT_TIMEZONE = "America/Chicago"

# SPEC 4: observations are the polls of [now - 14 days, now]: the week window and
# one week before it, so the first status of the week can come from an older poll.
LOOKBACK = pd.Timedelta(days=14)

MICROSECONDS_PER_SECOND = 1_000_000
MICROSECONDS_PER_HOUR = 3_600 * MICROSECONDS_PER_SECOND
MICROSECONDS_PER_DAY = 24 * MICROSECONDS_PER_HOUR
