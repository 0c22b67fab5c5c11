"""The project's own dataset generator: realistic store-monitoring CSVs of any size.

Business hours and timezones are the real 2023 files bundled gzipped in
data/loop-2023/. The real polls file (about 1.85 million polls of about 14,000
stores over one week) is too large to ship, so polls are synthesised with the
same shape: roughly one poll per store per hour, a few minutes past the hour,
with gaps, and outages that last a few hours (a two-state Markov chain). Owners
(SPEC 11) are drawn too: a few dozen brands, some franchisees, a few stores with none.

Deterministic: the same arguments always give byte-identical files. Each store's
random draws come from its own stream, whatever the time window, so the polls of
a window are exactly the matching polls of any wider window: one more hour of
polls can be generated on its own and appended, like the real hourly feed.

Pure pandas/numpy/pyarrow: no Django, so benchmarks and tools can use it directly.
"""
from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

REAL_DIR = Path(__file__).resolve().parent.parent / "data" / "loop-2023"
# The real data's first day and latest poll: the default window.
START = pd.Timestamp("2023-01-18 00:00:00")
END = pd.Timestamp("2023-01-25 18:13:22.479220")
# Polls can be generated up to this long after END (the hourly refresh benchmark appends hours).
HORIZON = pd.Timedelta(days=30)
WEEK = pd.Timedelta(days=7)
# Like the real data, about 6% of the polled stores appear in neither hours nor timezones.
UNLISTED_SHARE = 0.06
POLL_OFFSET_US = 15 * 60 * 1_000_000  # polls land in the first quarter of each hour
# Owners: each owned store has one of BRANDS brands, and some also a franchisee, each of whom
# runs stores of one brand; a few stores have no owner (staff alone see them). The first brand
# holds about 1,000 of the 14,399 full-size stores (0.073 x 0.95 x 14,399): the owner the
# benchmarks scope to; the others hold fewer and fewer (about 870 down to 200).
BRANDS = 40
FRANCHISEES_PER_BRAND = 3  # franchisee-001 .. -003 run brand-01's stores, -004 .. -006 brand-02's, ...
UNOWNED_SHARE = 0.05
FRANCHISED_SHARE = 0.25  # of the owned stores
BENCHMARK_OWNER = "brand-01"
BENCHMARK_OWNER_SHARE = 0.073  # of the owned stores
# A seed of its own ("owners" in ASCII): the polls' draws, and so their files, stay as they were.
_OWNERS_STREAM = 0x6F776E657273


@dataclass(frozen=True)
class DatasetSummary:
    stores: int
    polls: int
    hours_rows: int
    timezone_rows: int
    owner_rows: int
    benchmark_owner_stores: int  # the stores of BENCHMARK_OWNER
    files: tuple[Path, ...]


def generate_dataset(
    *,
    out_dir: Path,
    scale: float = 1.0,
    seed: int = 2023,
    start: pd.Timestamp = START,
    end: pd.Timestamp = END,
    compress: bool = False,
) -> DatasetSummary:
    """Write store_status.csv, menu_hours.csv, timezones.csv and owners.csv (".gz" added when compress) to out_dir.

    `scale` is the share of the real store count (0.02: a few hundred stores; 3: three
    times the stores under derived ids); polls are those with start <= timestamp < end (UTC).
    """
    if not start < end <= END + HORIZON:
        raise ValueError(f"need start < end <= {END + HORIZON}, got {start} .. {end}")
    hours, zones, ids = choose_stores(scale=scale, seed=seed)
    polls = generate_polls(store_ids=ids, start=start, end=end, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".csv.gz" if compress else ".csv"
    path = out_dir / f"store_status{suffix}"
    _write_frame(polls, path, compress=compress)
    return _write_store_files(out_dir=out_dir, ids=ids, hours=hours, zones=zones, seed=seed, compress=compress,
                              polls=len(polls), poll_files=(path,))


def generate_weeks(
    *, out_dir: Path, weeks: int, scale: float = 1.0, seed: int = 2023, compress: bool = False
) -> DatasetSummary:
    """Like generate_dataset, but `weeks` weeks of polls ending at END, one file per week.

    Files store_status_week01.csv (the oldest) ... store_status_weekNN.csv (the real
    week, [START, END), byte for byte generate_dataset's store_status.csv), so a
    benchmark can load them week by week; week NN-k is [START - k weeks, START - (k-1) weeks).
    """
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    hours, zones, ids = choose_stores(scale=scale, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".csv.gz" if compress else ".csv"
    width = max(2, len(str(weeks)))
    files, poll_count = [], 0
    # One week at a time: memory stays that of one week whatever `weeks` is.
    for number in range(1, weeks + 1):
        back = weeks - number  # weeks before the real one
        if back == 0:
            polls = generate_polls(store_ids=ids, start=START, end=END, seed=seed)
        else:
            polls = _earlier_week_polls(store_ids=ids, back=back, seed=seed)
        files.append(out_dir / f"store_status_week{number:0{width}d}{suffix}")
        _write_frame(polls, files[-1], compress=compress)
        poll_count += len(polls)
    return _write_store_files(out_dir=out_dir, ids=ids, hours=hours, zones=zones, seed=seed, compress=compress,
                              polls=poll_count, poll_files=tuple(files))


def _write_store_files(
    *, out_dir: Path, ids: np.ndarray, hours: pd.DataFrame, zones: pd.DataFrame, seed: int, compress: bool,
    polls: int, poll_files: tuple[Path, ...],
) -> DatasetSummary:
    """Write the hours, timezones and owners files after the polls files; the summary of all."""
    suffix = ".csv.gz" if compress else ".csv"
    owners = choose_owners(store_ids=ids, seed=seed)
    files = (out_dir / f"menu_hours{suffix}", out_dir / f"timezones{suffix}", out_dir / f"owners{suffix}")
    for frame, path in zip((hours, zones, owners), files, strict=True):
        _write_frame(frame, path, compress=compress)
    return DatasetSummary(
        stores=len(ids), polls=polls, hours_rows=len(hours), timezone_rows=len(zones), owner_rows=len(owners),
        benchmark_owner_stores=int((owners.owner == BENCHMARK_OWNER).sum()), files=poll_files + files,
    )


def week_seed(*, seed: int, back: int) -> int:
    """The seed of the week `back` weeks before the real one (SeedSequence mixes both numbers)."""
    return int(np.random.SeedSequence([seed, back]).generate_state(1)[0])


def _earlier_week_polls(*, store_ids: np.ndarray, back: int, seed: int) -> pd.DataFrame:
    start = START - back * WEEK
    hours = pd.date_range(start, start + WEEK, freq="h", inclusive="left").values
    window = (start.to_datetime64(), (start + WEEK).to_datetime64())
    return _block_polls(store_ids=store_ids, hours=hours, window=window, seed=week_seed(seed=seed, back=back))


def read_real_sources() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bundled real business hours and timezones, store ids as 64-bit integers."""
    hours = pd.read_csv(REAL_DIR / "menu_hours.csv.gz", dtype={"store_id": np.int64, "day": np.int64}).astype(
        {"start_time_local": str, "end_time_local": str}
    )
    zones = pd.read_csv(REAL_DIR / "timezones.csv.gz", dtype={"store_id": np.int64, "timezone_str": str})
    return hours, zones


def choose_stores(*, scale: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Hours, timezones and the polled store ids for `scale` times the real store count."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    rng = np.random.default_rng(seed)
    hours, zones = read_real_sources()
    real_ids = np.array(sorted(set(hours.store_id) | set(zones.store_id)), dtype=np.int64)
    unlisted = rng.integers(1, 2**62, size=int(len(real_ids) * UNLISTED_SHARE), dtype=np.int64)
    base_ids = np.concatenate([real_ids, unlisted])
    if scale <= 1:
        keep = rng.random(len(base_ids)) < scale if scale < 1 else np.ones(len(base_ids), bool)
        ids = base_ids[keep]
        return hours[hours.store_id.isin(ids)], zones[zones.store_id.isin(ids)], ids
    # Beyond the real count: replicas of every store under stable derived ids.
    all_hours, all_zones, all_ids = [hours], [zones], [base_ids]
    for copy in range(1, int(np.ceil(scale))):
        mapping = pd.Series([_derived_id(int(base), copy) for base in base_ids], index=base_ids)
        all_hours.append(hours.assign(store_id=hours.store_id.map(mapping)))
        all_zones.append(zones.assign(store_id=zones.store_id.map(mapping)))
        all_ids.append(mapping.to_numpy(dtype=np.int64))
    return pd.concat(all_hours), pd.concat(all_zones), np.concatenate(all_ids)


def choose_owners(*, store_ids: np.ndarray, seed: int) -> pd.DataFrame:
    """store_id,owner rows of `store_ids` (see BRANDS): a store's brand line, then its franchisee's."""
    rng = np.random.default_rng([seed, _OWNERS_STREAM])
    count = len(store_ids)
    # Every draw is made for every store, so that one draw never shifts another.
    owned = rng.random(count) >= UNOWNED_SHARE
    brand = rng.choice(BRANDS, size=count, p=brand_shares())
    franchised = owned & (rng.random(count) < FRANCHISED_SHARE)
    franchisee = brand * FRANCHISEES_PER_BRAND + rng.integers(0, FRANCHISEES_PER_BRAND, count)
    brands = np.array([f"brand-{number:02d}" for number in range(1, BRANDS + 1)])
    franchisees = np.array([f"franchisee-{number:03d}" for number in range(1, BRANDS * FRANCHISEES_PER_BRAND + 1)])
    position = np.concatenate([np.flatnonzero(owned), np.flatnonzero(franchised)])
    names = np.concatenate([brands[brand[owned]], franchisees[franchisee[franchised]]])
    order = np.argsort(position, kind="stable")
    return pd.DataFrame({"store_id": store_ids[position[order]], "owner": names[order]})


def brand_shares() -> np.ndarray:
    """Each brand's share of the owned stores: BENCHMARK_OWNER's, then slowly falling (1/sqrt(rank))."""
    rest = np.arange(2, BRANDS + 1) ** -0.5
    return np.concatenate([[BENCHMARK_OWNER_SHARE], (1 - BENCHMARK_OWNER_SHARE) * rest / rest.sum()])


def generate_polls(*, store_ids: np.ndarray, start: pd.Timestamp, end: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Polls in [start, end) as the real file has them: store_id, status, timestamp_utc, unsorted."""
    hours = pd.date_range(START.floor("h"), END.ceil("h") + HORIZON, freq="h").values
    return _block_polls(store_ids=store_ids, hours=hours, window=(start.to_datetime64(), end.to_datetime64()), seed=seed)


def _block_polls(*, store_ids: np.ndarray, hours: np.ndarray, window: tuple, seed: int) -> pd.DataFrame:
    """The polls in `window` of a block of hours, each store drawn from its own stream of `seed`."""
    parts = [_store_polls(int(store_id), hours=hours, window=window, seed=seed) for store_id in store_ids]
    ids = np.concatenate([np.full(len(ts), store_id, np.int64) for store_id, (ts, _) in zip(store_ids, parts, strict=True)])
    stamps = np.concatenate([ts for ts, _ in parts]).astype("datetime64[us]")
    up = np.concatenate([up for _, up in parts])
    order = np.random.default_rng(seed).permutation(len(ids))  # the real file is unsorted
    return pd.DataFrame(
        {
            "store_id": ids[order],
            "status": np.where(up[order], "active", "inactive"),
            "timestamp_utc": _format_utc(stamps[order]),
        }
    )


def _store_polls(store_id: int, *, hours: np.ndarray, window: tuple, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One store's poll times and states; the draws depend only on (seed, store_id)."""
    r = np.random.default_rng([seed, store_id & 0x7FFFFFFF, store_id >> 31])
    n = len(hours)
    coverage = r.beta(6, 2)  # share of hours with a poll, mean 0.75
    p_fail = r.beta(1, 40)  # hourly chance to go down, mean ~2.4%
    p_back = r.beta(4, 6)  # hourly chance to come back, mean 0.4
    if r.random() < 0.01:  # a few stores that are mostly down
        p_fail, p_back = 0.5, 0.05
    # Alternate up and down runs of geometric length.
    runs = np.empty(2 * n, np.int64)
    runs[0::2] = r.geometric(p_fail, n)
    runs[1::2] = r.geometric(p_back, n)
    starts_up = r.random() > 0.05
    # Hour k lies in run number searchsorted(run ends, k): even runs have the first state.
    run_of_hour = np.searchsorted(np.cumsum(runs), np.arange(n), side="right")
    up = (run_of_hour % 2 == 0) == starts_up
    has_poll = r.random(n) < coverage
    stamps = hours + r.integers(0, POLL_OFFSET_US, n).astype("timedelta64[us]")
    keep = has_poll & (stamps >= window[0]) & (stamps < window[1])
    return stamps[keep], up[keep]


def _format_utc(stamps: np.ndarray) -> pd.Series:
    """'2023-01-22 12:09:39.388884 UTC', the real file's format, without a per-row Python loop."""
    iso = pa.array(np.datetime_as_string(stamps, unit="us"))
    text = pc.binary_join_element_wise(pc.replace_substring(iso, "T", " "), " UTC", "")
    return text.to_pandas(types_mapper=pd.ArrowDtype)


def _derived_id(base: int, copy: int) -> int:
    """A stable 63-bit store id for the copy-th replica of a real store."""
    digest = hashlib.blake2b(f"{base}:{copy}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _write_frame(frame: pd.DataFrame, path: Path, *, compress: bool) -> None:
    _write_csv(pa.Table.from_pandas(frame, preserve_index=False), path, compress=compress)


def _write_csv(table: pa.Table, path: Path, *, compress: bool) -> None:
    # pyarrow quotes header names whatever the style: the real files' plain header is written by hand.
    header = (",".join(table.column_names) + "\n").encode()
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(path, "wb") as raw:
        if not compress:
            raw.write(header)
            pacsv.write_csv(table, raw, write_options=options)
            return
        # mtime=0 keeps the gzip bytes identical from run to run.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
            packed.write(header)
            pacsv.write_csv(table, packed, write_options=options)
