"""Geometry of a store's week chart, drawn server-side as inline SVG.

One row per local calendar date of the store, midnight to midnight on the
store's wall clock, so business hours line up vertically from day to day the
way an owner thinks of them. Everything arrives in UTC; each piece is cut at
the store's local midnights and placed by its local wall time. (On the night
clocks change, wall time skips or repeats an hour, so that row shows 23 or 25
hours squeezed into 24: a drawing matter only, the figures are the engine's.)

Plain Python (datetime, zoneinfo): no Django, no pandas; the template
monitoring/_week_chart.html turns these numbers into SVG elements.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

WIDTH = 960
LEFT = 96  # room for the day labels
RIGHT = 14
TOP = 26  # room for the hour labels
ROW_HEIGHT = 30
ROW_GAP = 8
BAR_TOP, BAR_HEIGHT = 9, 12  # the status bar inside a row
DOT_RADIUS = 4
PLOT_WIDTH = WIDTH - LEFT - RIGHT
SECONDS_PER_DAY = 86_400
TICK_HOURS = range(0, 25, 3)


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    title: str = ""


@dataclass(frozen=True)
class Dot:
    cx: float
    css: str  # poll-active, poll-inactive or poll-ignored
    title: str


@dataclass
class ChartRow:
    label: str
    day: date
    y: float
    open: list[Bar] = field(default_factory=list)
    outside: list[Bar] = field(default_factory=list)
    up: list[Bar] = field(default_factory=list)
    down: list[Bar] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)

    @property
    def bar_y(self) -> float:
        return self.y + BAR_TOP

    @property
    def dot_y(self) -> float:
        return self.y + BAR_TOP + BAR_HEIGHT / 2

    @property
    def label_y(self) -> float:
        return self.y + ROW_HEIGHT / 2 + 4


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class WeekChart:
    rows: list[ChartRow]
    ticks: list[Tick]
    now_x: float
    now_y: float
    now_label: str
    height: float
    width: int = WIDTH
    left: int = LEFT
    plot_width: int = PLOT_WIDTH
    row_height: int = ROW_HEIGHT
    bar_height: int = BAR_HEIGHT
    dot_radius: int = DOT_RADIUS

    @property
    def plot_bottom(self) -> float:
        return self.height - ROW_GAP


@dataclass(frozen=True)
class Poll:
    ts: datetime
    active: bool
    used: bool  # an observation of the report (inside business hours)


def week_chart(
    *,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    now: datetime,
    open_intervals: list[tuple[datetime, datetime]],
    segments: list[tuple[datetime, datetime, bool]],
    polls: list[Poll],
) -> WeekChart:
    """The chart of [start, end) (UTC instants), one row per local date it touches."""
    days = _local_days(zone=zone, start=start, end=end)
    rows = [ChartRow(label=f"{day:%a %d %b}", day=day, y=TOP + i * (ROW_HEIGHT + ROW_GAP)) for i, day in enumerate(days)]
    for row in rows:
        midnight, next_midnight = _midnight(row.day, zone), _midnight(row.day + timedelta(days=1), zone)
        row.outside = [bar for bar in (_bar(row.day, zone, midnight, start), _bar(row.day, zone, end, next_midnight)) if bar]
        row.open = _bars(row.day, zone, midnight, next_midnight, open_intervals)
        row.up = _bars(row.day, zone, midnight, next_midnight, [(s, e) for s, e, active in segments if active], "up")
        row.down = _bars(row.day, zone, midnight, next_midnight, [(s, e) for s, e, active in segments if not active], "down")
        row.dots = [_dot(row.day, zone, poll) for poll in polls if midnight <= poll.ts < next_midnight or poll.ts == next_midnight == end]
    now_row = next((row for row in rows if _midnight(row.day, zone) <= now <= _midnight(row.day + timedelta(days=1), zone)), rows[-1])
    return WeekChart(
        rows=rows,
        ticks=[Tick(x=LEFT + PLOT_WIDTH * hour / 24, label=f"{hour:02d}:00") for hour in TICK_HOURS],
        now_x=LEFT + _x(now_row.day, zone, now),
        now_y=now_row.y,
        now_label=f"now {now.astimezone(zone):%H:%M}",
        height=TOP + len(rows) * (ROW_HEIGHT + ROW_GAP),
    )


def _local_days(*, zone: ZoneInfo, start: datetime, end: datetime) -> list[date]:
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local midnight (zoneinfo's fold=0, as the engine uses)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)


def _x(day: date, zone: ZoneInfo, instant: datetime) -> float:
    """Horizontal place of an instant in the row of `day`: its local wall time, 0 to 24 h."""
    wall = instant.astimezone(zone).replace(tzinfo=None) - datetime.combine(day, time(0))
    seconds = min(max(wall.total_seconds(), 0.0), SECONDS_PER_DAY)
    return PLOT_WIDTH * seconds / SECONDS_PER_DAY


def _bar(day: date, zone: ZoneInfo, start: datetime, end: datetime, title: str = "") -> Bar | None:
    if end <= start:
        return None
    x1, x2 = _x(day, zone, start), _x(day, zone, end)
    return Bar(x=LEFT + x1, width=max(x2 - x1, 0.0), title=title)


def _bars(day: date, zone: ZoneInfo, lo: datetime, hi: datetime, intervals: list[tuple[datetime, datetime]], what: str = "") -> list[Bar]:
    """The parts of `intervals` inside [lo, hi), as bars of that day's row."""
    bars = []
    for start, end in intervals:
        start, end = max(start, lo), min(end, hi)
        title = f"{what} {_local_hm(start, zone)}–{_local_hm(end, zone)} local" if what else ""
        bar = _bar(day, zone, start, end, title)
        if bar:
            bars.append(bar)
    return bars


def _dot(day: date, zone: ZoneInfo, poll: Poll) -> Dot:
    status = "active" if poll.active else "inactive"
    css = f"poll-{status}" if poll.used else "poll-ignored"
    note = "" if poll.used else ", outside business hours: not used"
    title = f"poll {poll.ts.astimezone(zone):%a %H:%M:%S} local ({poll.ts:%H:%M:%S} UTC): {status}{note}"
    return Dot(cx=LEFT + _x(day, zone, poll.ts), css=css, title=title)


def _local_hm(instant: datetime, zone: ZoneInfo) -> str:
    return f"{instant.astimezone(zone):%H:%M}"
