"""Small formatting filters of the HTML pages (durations people read at a glance), and the store link."""
from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django import template

from monitoring.pages import store_page_url

register = template.Library()


@register.filter
def duration(value: float | timedelta | None) -> str:
    """Seconds (or a timedelta) as '0.8 s', '42 s', '3 min 05 s', '2 h 04 min' or '3 d 2 h'."""
    if value is None or value == "":
        return "–"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


@register.filter
def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


@register.filter
def thousands(value: float | None, decimals: int = 0) -> str:
    """14399 -> '14,399'; with decimals, 180989.04|thousands:1 -> '180,989.0'."""
    return "–" if value is None else f"{value:,.{int(decimals)}f}"


@register.filter
def elapsed(start, end) -> str:
    """The time from one datetime to another, as `duration` writes it."""
    return "–" if start is None or end is None else duration(end - start)


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@register.filter
def weekday_name(value: int) -> str:
    """0 = Monday … 6 = Sunday, as in the business-hours files."""
    return WEEKDAYS[value] if isinstance(value, int) and 0 <= value <= 6 else str(value)


@register.filter
def hms(value: timedelta | None) -> str:
    """A timedelta to the second, as 'H:MM:SS' (days counted in the hours)."""
    if value is None:
        return "–"
    hours, rest = divmod(round(value.total_seconds()), 3_600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


@register.filter
def fixed2(value: float | None) -> str:
    """A report figure as the CSV writes it: exactly two decimals (cheaper than floatformat)."""
    return "–" if value is None else f"{value:.2f}"


@register.filter
def minutes_as_duration(value: float | None) -> str:
    """A length in minutes, as `duration` writes it."""
    return "–" if value is None else duration(float(value) * 60)


@register.simple_tag
def store_url(report_id: UUID, store_id: str) -> str:
    """The page of one store of a report; every template links a store through this tag
    (pages.store_page_url says why {% url %} cannot)."""
    return store_page_url(report_id=report_id, store_id=store_id)
