"""The stores of one report, one lane each, and the lookup from store key to lane."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .zones import resolve_zone_name

# A dense key -> lane array is used when the keys (database primary keys) are
# compact; beyond this many slots per store a hash lookup is cheaper in memory.
_DENSE_SLOTS_PER_STORE = 8


@dataclass(frozen=True)
class StoreTable:
    """The stores of a report in ascending key order; a store's position is its lane.

    Key order, not store_id order, so that polls read in the database's
    (store, timestamp) index order arrive already sorted by lane and time.
    """

    keys: np.ndarray  # int64 store keys, ascending
    ids: np.ndarray  # object array of str, lane order
    zone_codes: np.ndarray  # int64 index into zone_names, lane order
    zone_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.keys)

    def report_order(self) -> np.ndarray:
        """Lanes sorted by store_id in code-point order (Python's str order, SPEC 5).

        Equal ids (not expected) stay in key order, whatever the input's row order.
        """
        return np.array(sorted(range(len(self)), key=self.ids.__getitem__), dtype=np.int64)

    def lanes_of(self, keys: np.ndarray) -> np.ndarray:
        """The lane of each key, or -1 for a key that is not one of these stores."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(self) == 0:
            return np.full(keys.shape, -1, dtype=np.int64)
        low, high = int(self.keys[0]), int(self.keys[-1])
        if high - low < _DENSE_SLOTS_PER_STORE * len(self) + 1_024:
            return self._dense_lanes(keys, low, high)
        return pd.Index(self.keys).get_indexer(keys).astype(np.int64, copy=False)

    def _dense_lanes(self, keys: np.ndarray, low: int, high: int) -> np.ndarray:
        # One slot per key from low - 1 to high + 1; keys outside the range are
        # clipped onto the two end slots, which hold -1.
        lane_at = np.full(high - low + 3, -1, dtype=np.int64)
        lane_at[self.keys - (low - 1)] = np.arange(len(self), dtype=np.int64)
        slots = keys - (low - 1)
        np.clip(slots, 0, high - low + 2, out=slots)
        return lane_at[slots]

    def slice(self, first: int, stop: int) -> StoreTable:
        return StoreTable(
            keys=self.keys[first:stop],
            ids=self.ids[first:stop],
            zone_codes=self.zone_codes[first:stop],
            zone_names=self.zone_names,
        )


def store_table(stores: pd.DataFrame) -> StoreTable:
    """Read the `stores` frame (columns store, store_id, timezone) into key order."""
    keys = stores["store"].to_numpy(dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    if np.any(keys[1:] == keys[:-1]):
        raise ValueError("stores: the `store` column must hold each key once")
    ids = stores["store_id"].astype(str).to_numpy(dtype=object)[order]
    zone_codes, zone_names = _zone_codes(stores.get("timezone"), len(keys))
    return StoreTable(keys=keys, ids=ids, zone_codes=zone_codes[order], zone_names=zone_names)


def _zone_codes(column: pd.Series | None, count: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Resolve each distinct timezone text once; unknown or empty ones become the default."""
    if column is None:
        return np.zeros(count, dtype=np.int64), (resolve_zone_name(None),)
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    resolved = [resolve_zone_name(name) for name in distinct]
    names = tuple(sorted(set(resolved)))
    code_of = np.array([names.index(name) for name in resolved], dtype=np.int64)
    return code_of[codes], names
