"""Status now (SPEC 9): every store's state at the database's now (the latest poll).

One read of all stores (the shard reader with no bounds) and one engine pass: no
query per store. The answer only changes when data is loaded, so the last one is
kept per process, keyed by what a load changes: the latest poll, the latest load
recorded, and the stores (their newest key and count). An owner's client gets the
rows of its stores from it (SPEC 11): one more query, for the owner's store ids.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from django.conf import settings
from django.db import connection

from monitoring.access import StoreScope
from monitoring.engine import status_now
from monitoring.models import IngestRun, Store
from monitoring.reports import reading


@dataclass(frozen=True)
class FleetStatus:
    now: datetime
    stores: pd.DataFrame  # engine.STATUS_COLUMNS, in store_id order
    version: tuple  # what the data were when computed: answers rendered from it can be kept as long


_lock = threading.Lock()
_last: tuple[tuple, FleetStatus] | None = None


def fleet_status(*, scope: StoreScope) -> FleetStatus:
    """The state now of every store in scope; computed once per new poll or load."""
    every = _every_store_status()
    visible = scope.store_ids()
    if visible is None:
        return every
    mine = every.stores[every.stores["store_id"].isin(visible)].reset_index(drop=True)
    # The owner is part of the version: answers rendered from it are the owner's alone.
    return FleetStatus(now=every.now, stores=mine, version=(*every.version, scope.owner))


def _every_store_status() -> FleetStatus:
    global _last
    now = reading.report_now(as_of=None)
    key = (now, *_data_version())
    with _lock:
        if _last is not None and _last[0] == key:
            return _last[1]
    # Shard by shard (at scale 10 the whole fleet's two weeks of polls would be two gigabytes
    # in one frame), in key ranges, so store_id order (code points, SPEC 5) comes last.
    frames = reading.map_shards(
        lambda data: status_now(stores=data.stores, hours=data.hours, polls=data.polls, now=now),
        now=now, size=settings.FLEET_SHARD_STORES,
    )
    every = pd.concat(frames, ignore_index=True).sort_values("store_id", kind="stable", ignore_index=True)
    computed = FleetStatus(now=now, stores=every, version=key)

    with _lock:
        _last = (key, computed)
    return computed


def _data_version() -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT (SELECT max(id) FROM {IngestRun._meta.db_table}),
                       (SELECT max(id) FROM {Store._meta.db_table}), (SELECT count(*) FROM {Store._meta.db_table})"""
        )
        return cursor.fetchone()
