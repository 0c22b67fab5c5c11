"""Which zone names count (monitoring/engine/zones.py): the one check ingestion and reports share."""
import pytest

from monitoring.engine import DEFAULT_TIMEZONE
from monitoring.engine.zones import is_timezone_name, resolve_zone_name


@pytest.mark.parametrize("name", ["America/Chicago", "Asia/Kolkata", "UTC", "Etc/GMT+5"])
def test_a_zone_zoneinfo_knows_is_a_timezone_name(name):
    assert is_timezone_name(name)


@pytest.mark.parametrize("name", ["", "Mars/Olympus_Mons", "america/chicago ", "../etc/passwd", "a" * 300, None, 42])
def test_an_empty_unknown_malformed_or_non_text_name_is_not(name):
    assert not is_timezone_name(name)


def test_a_store_keeps_its_own_zone_when_it_is_a_timezone_name_and_gets_chicago_otherwise():
    assert resolve_zone_name("Asia/Kolkata") == "Asia/Kolkata"
    assert [resolve_zone_name(name) for name in ("Mars/Olympus_Mons", "", None)] == [DEFAULT_TIMEZONE] * 3

