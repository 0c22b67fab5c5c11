"""The stores of one report, in report order, and the lookup from store key to lane."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .zones import resolve_zone_name

# A dense key -> rank array is used when the keys (database primary keys) are
# compact; beyond this many slots per store a hash lookup is cheaper in memory.
_DENSE_SLOTS_PER_STORE = 8


@dataclass(frozen=True)
class StoreTable:
    """Stores sorted by store_id in code-point order; a store's rank is its lane."""

    keys: np.ndarray  # int64 store keys, rank order
    ids: np.ndarray  # object array of str, rank order
    zone_codes: np.ndarray  # int64 index into zone_names, rank order
    zone_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.keys)

    def ranks_of(self, keys: np.ndarray) -> np.ndarray:
        """The rank of each key, or -1 for a key that is not one of these stores."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(self) == 0:
            return np.full(keys.shape, -1, dtype=np.int64)
        low, high = int(self.keys.min()), int(self.keys.max())
        if high - low < _DENSE_SLOTS_PER_STORE * len(self) + 1_024:
            return self._dense_ranks(keys, low, high)
        return pd.Index(self.keys).get_indexer(keys).astype(np.int64, copy=False)

    def _dense_ranks(self, keys: np.ndarray, low: int, high: int) -> np.ndarray:
        rank_at = np.full(high - low + 1, -1, dtype=np.int64)
        rank_at[self.keys - low] = np.arange(len(self), dtype=np.int64)
        inside = (keys >= low) & (keys <= high)
        ranks = np.full(keys.shape, -1, dtype=np.int64)
        ranks[inside] = rank_at[keys[inside] - low]
        return ranks

    def slice(self, first: int, stop: int) -> StoreTable:
        return StoreTable(
            keys=self.keys[first:stop],
            ids=self.ids[first:stop],
            zone_codes=self.zone_codes[first:stop],
            zone_names=self.zone_names,
        )


def store_table(stores: pd.DataFrame) -> StoreTable:
    """Read the `stores` frame (columns store, store_id, timezone) into report order."""
    keys = stores["store"].to_numpy(dtype=np.int64)
    if len(np.unique(keys)) != len(keys):
        raise ValueError("stores: the `store` column must hold each key once")
    ids = stores["store_id"].astype(str).to_numpy(dtype=object)
    # Python's str order is code-point order (SPEC 5). Sorting by key first makes
    # the order of equal ids independent of the input's row order.
    by_key = np.argsort(keys, kind="stable")
    order = np.array(sorted(by_key, key=ids.__getitem__), dtype=np.int64)
    zone_codes, zone_names = _zone_codes(stores["timezone"] if "timezone" in stores else None, len(keys))
    return StoreTable(
        keys=keys[order], ids=ids[order], zone_codes=zone_codes[order], zone_names=zone_names
    )


def _zone_codes(column: pd.Series | None, count: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Resolve each distinct timezone text once; unknown or empty ones become the default."""
    if column is None:
        return np.zeros(count, dtype=np.int64), (resolve_zone_name(None),)
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    resolved = [resolve_zone_name(name) for name in distinct]
    names = tuple(sorted(set(resolved)))
    code_of = np.array([names.index(name) for name in resolved], dtype=np.int64)
    return code_of[codes], names
