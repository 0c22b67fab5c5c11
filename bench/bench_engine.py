"""How fast is the report engine on frames of the real data's shape, held in memory?

Builds synthetic stores, business hours and polls like the 2023 data (14,400
stores, ~86,000 hours rows, hourly polls over 8 days at ~75% coverage, ~100
timezones), times compute_report alone, and writes one JSON line last:

    {"stores": ..., "polls": ..., "engine_seconds": ..., "peak_rss_mb": ...}

engine_seconds is the median of --repeat runs; peak_rss_mb is the process's
peak memory while the engine runs, input frames included (the generator's own
peak is reported apart as generator_peak_rss_mb).

    .venv/bin/python bench/bench_engine.py             # real scale
    .venv/bin/python bench/bench_engine.py --scale 10  # 144,000 stores, ~20M polls
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitoring.engine import compute_report

STORES = 14_400
NOW = pd.Timestamp("2023-01-25 18:13:22.479220", tz="UTC")
HOUR_US = 3_600_000_000
# The real data is mostly US; the rest gives the engine ~100 zones to convert.
US_ZONES = [
    "America/New_York", "America/Los_Angeles", "America/Chicago", "America/Phoenix", "America/Denver",
    "America/Detroit", "America/Indiana/Indianapolis", "America/Boise", "Pacific/Honolulu", "America/Anchorage",
]
WORLD_ZONES = """Africa/Cairo Africa/Johannesburg Africa/Lagos Africa/Nairobi Africa/Casablanca America/Bogota
America/Buenos_Aires America/Caracas America/Halifax America/Havana America/Lima America/Mexico_City
America/Montevideo America/Regina America/Santiago America/Sao_Paulo America/St_Johns America/Toronto
America/Vancouver America/Winnipeg America/Edmonton America/Puerto_Rico America/Guatemala America/Panama
America/Asuncion America/La_Paz America/Managua America/Tijuana America/Juneau America/Nome
America/Kentucky/Louisville America/Indiana/Knox America/North_Dakota/Center America/Menominee
Asia/Baghdad Asia/Bangkok Asia/Beirut Asia/Dhaka Asia/Dubai Asia/Gaza Asia/Hong_Kong Asia/Jakarta
Asia/Jerusalem Asia/Karachi Asia/Kathmandu Asia/Kolkata Asia/Manila Asia/Seoul Asia/Shanghai
Asia/Singapore Asia/Taipei Asia/Tehran Asia/Tokyo Asia/Yangon Asia/Almaty Asia/Tashkent Asia/Riyadh
Atlantic/Azores Atlantic/Reykjavik Australia/Adelaide Australia/Brisbane Australia/Darwin
Australia/Lord_Howe Australia/Perth Australia/Sydney Australia/Hobart Europe/Amsterdam Europe/Athens
Europe/Berlin Europe/Dublin Europe/Helsinki Europe/Istanbul Europe/Lisbon Europe/London Europe/Madrid
Europe/Moscow Europe/Paris Europe/Rome Europe/Warsaw Europe/Kyiv Europe/Zurich Pacific/Auckland
Pacific/Chatham Pacific/Fiji Pacific/Guam Pacific/Apia Pacific/Tongatapu Pacific/Kiritimati
Indian/Maldives Indian/Mauritius UTC""".split()


def synthetic_frames(scale: float, seed: int = 2023) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    count = int(STORES * scale)
    keys = np.arange(1, count + 1, dtype=np.int64)
    return {
        "stores": _stores(keys, rng),
        "hours": _hours(keys, rng),
        "polls": _polls(keys, rng),
    }


def _stores(keys: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    zones = np.array(US_ZONES + WORLD_ZONES + [""], dtype=object)
    weights = np.r_[[60, 24, 11, 3, 1, 0.5, 0.2, 0.1, 0.1, 0.1], np.full(len(WORLD_ZONES), 0.05), 2.0]
    ids = rng.integers(10**18, 2**63 - 1, size=keys.size, dtype=np.int64).astype(str)
    timezones = rng.choice(zones, keys.size, p=weights / weights.sum())
    return pd.DataFrame({"store": keys, "store_id": ids.astype(object), "timezone": timezones})


def _hours(keys: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """~6 rows a store: day shops, late shops past midnight, split days, 24-hour days; 20% 24x7."""
    kind = rng.choice(5, keys.size, p=[0.20, 0.60, 0.10, 0.05, 0.05])
    parts = []
    for shape, segments in ((1, [(6, 11, 17, 23)]), (2, [(16, 19, 0, 3)]), (3, [(6, 9, 11, 14), (16, 17, 21, 23)])):
        stores = np.repeat(keys[kind == shape], 7)
        days = np.tile(np.arange(7), stores.size // 7)
        for first_low, first_high, last_low, last_high in segments:
            start = rng.integers(first_low * 4, first_high * 4, stores.size) * HOUR_US // 4
            end = rng.integers(last_low * 4, last_high * 4, stores.size) * HOUR_US // 4
            parts.append(pd.DataFrame({"store": stores, "weekday": days, "start_us": start, "end_us": end}))
    all_day = np.repeat(keys[kind == 4], 7)
    start = rng.integers(0, 24, all_day.size) * HOUR_US
    parts.append(pd.DataFrame({"store": all_day, "weekday": np.tile(np.arange(7), all_day.size // 7),
                               "start_us": start, "end_us": start}))
    return pd.concat(parts, ignore_index=True).astype("int64")


def _polls(keys: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """About one poll per store per hour over 8 days, 75% of them present, in shuffled order."""
    hours = 8 * 24
    first_hour = (NOW.value // 1_000 // HOUR_US - hours) * HOUR_US
    # Built a block of stores at a time so the generator's own temporaries stay small.
    parts = [_poll_block(block, hours, first_hour, rng) for block in np.array_split(keys, max(1, keys.size // STORES))]
    store = np.concatenate([part[0] for part in parts])
    stamps_us = np.concatenate([part[1] for part in parts])
    del parts
    order = rng.permutation(store.size)
    return pd.DataFrame({
        "store": store[order],
        "ts": pd.to_datetime(stamps_us[order] * 1_000, unit="ns", utc=True),
        "active": rng.random(store.size) < 0.9,
    })


def _poll_block(
    keys: np.ndarray, hours: int, first_hour: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    present = (rng.random((keys.size, hours)) < 0.75).ravel()
    store = np.repeat(keys, hours)[present]
    slot = np.tile(np.arange(hours, dtype=np.int64), keys.size)[present]
    return store, first_hour + slot * HOUR_US + rng.integers(0, HOUR_US, slot.size)


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def _reset_peak_rss() -> None:
    # Linux: writing 5 to clear_refs resets VmHWM, so the peak measured next
    # is the engine's (with the input frames held in memory), not the generator's.
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the 14,400 stores (and their polls)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the median is reported")
    parser.add_argument(
        "--sorted-polls", action="store_true", help="polls in (store, ts) order, as the database index reads them"
    )
    args = parser.parse_args()
    frames = synthetic_frames(args.scale)
    if args.sorted_polls:
        frames["polls"] = frames["polls"].sort_values(["store", "ts"], ignore_index=True)
    generator_peak = _peak_rss_mb()
    _reset_peak_rss()
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        compute_report(**frames, now=NOW)
        seconds.append(time.perf_counter() - started)
    figures = {
        "stores": len(frames["stores"]),
        "polls": len(frames["polls"]),
        "hours_rows": len(frames["hours"]),
        "engine_seconds": round(statistics.median(seconds), 3),
        "engine_seconds_each": [round(s, 3) for s in seconds],
        "peak_rss_mb": round(_peak_rss_mb()),
        "generator_peak_rss_mb": round(generator_peak),
        "sorted_polls": args.sorted_polls,
    }
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
