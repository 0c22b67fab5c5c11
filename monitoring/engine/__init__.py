"""The report engine: business hours and status polls in, uptime and downtime out.

Pure computation on pandas frames (numpy, pandas, zoneinfo): no Django import,
no clock of its own (`now` is always passed in). docs/method.md explains the
method; SPEC sections 2-5 are the contract.
"""
from .constants import (
    DEFAULT_TIMEZONE,
    LOOKBACK,
    OUTAGE_COLUMNS,
    OUTAGE_COUNT_COLUMNS,
    PERIOD_COLUMNS,
    REPORT_COLUMNS,
)
from .csv_export import iso_seconds, outage_counts_to_csv, outages_to_csv, period_to_csv, report_to_csv
from .period import (
    PERIOD_KINDS,
    CalendarPeriod,
    Interval,
    Period,
    PeriodReport,
    compute_period_report,
    period_reading_range,
    store_period_end,
)
from .report import RollingReport, compute_report, compute_rolling_report
from .status_now import LOOKBACK_OUTAGE_COLUMNS, STATES, STATUS_COLUMNS, Lookback, lookback, status_now
from .timeline import StoreTimeline, store_timeline

__all__ = [
    "PERIOD_COLUMNS",
    "PERIOD_KINDS",
    "CalendarPeriod",
    "Interval",
    "Period",
    "PeriodReport",
    "compute_period_report",
    "iso_seconds",
    "period_reading_range",
    "store_period_end",
    "period_to_csv",
    "DEFAULT_TIMEZONE",
    "LOOKBACK",
    "OUTAGE_COLUMNS",
    "OUTAGE_COUNT_COLUMNS",
    "REPORT_COLUMNS",
    "LOOKBACK_OUTAGE_COLUMNS",
    "STATES",
    "STATUS_COLUMNS",
    "RollingReport",
    "StoreTimeline",
    "compute_report",
    "compute_rolling_report",
    "outage_counts_to_csv",
    "outages_to_csv",
    "report_to_csv",
    "Lookback",
    "lookback",
    "status_now",
    "store_timeline",
]
