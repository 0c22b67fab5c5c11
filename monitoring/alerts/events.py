"""store.down and store.recovered events, decided for all stores at once after an ingestion round.

A round that stored new polls calls `alerts_decide`. In one REPEATABLE READ
snapshot it reads every store at the new `now` (the latest poll), asks the engine
for each store's outage parts over the lookback (14 days), and compares them
with the outages already alerted and not yet recovered (one indexed query):

- an ongoing part that has lasted ALERT_AFTER_MINUTES, of a store with no alerted
  outage still going on, is a new store.down;
- an alerted outage is found again as the part that contains its start (the start
  clipped to the lookback's origin: an outage older than 14 days starts there now).
  Ongoing: still down, nothing to say. Ended: store.recovered, until the part's end
  (closing time, or the status turning active). No part contains it any more (the
  polls that showed it were corrected): store.recovered until this round's `now`,
  the first instant the service knows the store is not in that outage, so every
  store.down still gets its store.recovered.

Events are inserted set-based with ON CONFLICT DO NOTHING on (kind, store, since),
and each new one is queued for every active subscription in the same statement:
a round run twice, or two processes deciding at once, send nothing twice.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import OperationalError, connection

from monitoring.access import store_owned_sql
from monitoring.engine import LOOKBACK, lookback
from monitoring.engine.csv_export import iso_seconds
from monitoring.ingest import partitions
from monitoring.models import AlertEvent, WebhookDelivery, WebhookSubscription
from monitoring.reports import reading

_NS_PER_US = 1_000
_NS_PER_MINUTE = 60_000_000_000
# Any fixed UUID: event ids are uuid5 of (kind, store_id, since) under it, so they never change.
_EVENT_NAMESPACE = uuid.UUID("6f1c5a4e-2b7d-4f0a-9d8e-3c1b2a4f5e60")
_SERIALIZATION_FAILURE = "40001"
# Below every instant: a store with no observation is never "after its first one".
_NO_OBSERVATION = np.iinfo(np.int64).min
_ATTEMPTS = 3


@dataclass(frozen=True)
class RoundAlerts:
    """What one decision did: new events by kind, and the deliveries queued for them."""

    now: datetime | None = None
    down: int = 0
    recovered: int = 0
    queued: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"alerts: {self.down} store.down, {self.recovered} store.recovered, "
            f"{self.queued} deliveries queued in {self.seconds:.2f} s"
        )


@dataclass(frozen=True)
class Decided:
    """New events as columns: store key, since/until (UTC ns; until -1 for store.down), minutes."""

    down: pd.DataFrame  # store, store_id, since_ns, minutes
    recovered: pd.DataFrame  # store, store_id, since_ns, until_ns, minutes


def alerts_decide(*, after_minutes: int | None = None) -> RoundAlerts:
    """Decide and queue the events at the latest poll; safe to call any number of times."""
    started = time.perf_counter()
    for attempt in range(_ATTEMPTS):
        try:
            return _decide_once(after_minutes=after_minutes or settings.ALERT_AFTER_MINUTES, started=started)
        except OperationalError as error:
            # Another process decided the same events meanwhile: decide again on a newer snapshot.
            if getattr(error.__cause__, "pgcode", None) != _SERIALIZATION_FAILURE or attempt + 1 == _ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _decide_once(*, after_minutes: int, started: float) -> RoundAlerts:
    # One REPEATABLE READ transaction: the reads agree with each other, and the writes with them.
    with reading.snapshot(read_write=True):
        now = reading.latest_poll()
        if now is None:
            return RoundAlerts(seconds=time.perf_counter() - started)
        parts, alerted = decision_inputs(now=now)
        now_ns = pd.Timestamp(now).value
        decided = decide_events(parts=parts, alerted=alerted, now_ns=now_ns, after_ns=after_minutes * _NS_PER_MINUTE)
        down, recovered, queued = _insert(decided, now=now, now_ns=now_ns)
    return RoundAlerts(now=now, down=down, recovered=recovered, queued=queued, seconds=time.perf_counter() - started)


def decision_inputs(*, now: datetime, short_first: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The outage parts decide_events needs at `now`, and the alerted outages not yet recovered.

    Every store's polls since the UTC midnight a day before `now` are read first. From a
    store's first observation among them on, its status is what the whole 14 days give
    (SPEC 4: the nearest observation), so its parts starting after that observation are
    exact. Only the stores where the decision could look earlier are read again over
    the whole lookback: those with no observation in the short stretch, an ongoing
    part starting at or before their first one, or an alerted outage starting at or
    before it (docs/alerts.md). `short_first=False` reads every store's whole lookback (the tests'
    second implementation). Shard by shard in this snapshot: memory is one shard's polls.
    """
    since = partitions.utc_midnight(now) - timedelta(days=1) if short_first else None
    first = _lookbacks(now=now, since=since, store_keys=None)
    parts, stores = first.parts, first.stores
    alerted = _alerted_outages(stores=stores)
    if since is None:
        return parts, alerted
    again = _needs_whole_lookback(first=first, alerted=alerted, origin_ns=pd.Timestamp(now).value - LOOKBACK.value)
    if len(again):
        whole = _lookbacks(now=now, since=None, store_keys=again)
        parts = pd.concat([parts[~parts["store"].isin(again)], whole.parts], ignore_index=True)
    return parts, alerted


@dataclass(frozen=True)
class _Read:
    parts: pd.DataFrame  # LOOKBACK_OUTAGE_COLUMNS
    first_observed: pd.DataFrame  # store, first_ns
    stores: pd.DataFrame  # store, store_id, timezone: every store read


def _lookbacks(*, now: datetime, since: datetime | None, store_keys: np.ndarray | None) -> _Read:
    shards = reading.map_shards(
        lambda data: (lookback(stores=data.stores, hours=data.hours, polls=data.polls, now=now), data.stores),
        now=now, size=settings.FLEET_SHARD_STORES, since=since,
        store_keys=None if store_keys is None else store_keys.tolist(),
    )
    return _Read(
        parts=pd.concat([seen.parts for seen, _ in shards], ignore_index=True),
        first_observed=pd.concat([seen.first_observed for seen, _ in shards], ignore_index=True),
        stores=pd.concat([stores for _, stores in shards], ignore_index=True),
    )


def _needs_whole_lookback(*, first: _Read, alerted: pd.DataFrame, origin_ns: int) -> np.ndarray:
    """The stores whose decision could depend on polls before the short read's (store keys)."""
    def observed_from(stores: pd.Series) -> np.ndarray:
        return _first_observation_of(first.first_observed, stores.to_numpy(dtype=np.int64))

    every = first.stores["store"]
    again = [every.to_numpy()[observed_from(every) == _NO_OBSERVATION]]  # none since the short read's start
    parts = first.parts
    going_on = parts[parts["ongoing"].to_numpy(dtype=bool)]
    again.append(going_on["store"].to_numpy()[going_on["start_ns"].to_numpy() <= observed_from(going_on["store"])])
    keyed = alerted.assign(key=np.maximum(alerted["since_ns"].to_numpy(dtype=np.int64), origin_ns))
    again.append(keyed["store"].to_numpy()[keyed["key"].to_numpy() <= observed_from(keyed["store"])])
    # An alerted start after the first observation needs nothing more: the part holding it
    # may reach back before that observation (the short read knows no earlier one), but
    # its end and whether it goes on, all decide_events takes from it, are the whole read's.
    return np.unique(np.concatenate(again).astype(np.int64))


def _first_observation_of(first_observed: pd.DataFrame, stores: np.ndarray) -> np.ndarray:
    """Each store's first observation (UTC ns, exact int64), or _NO_OBSERVATION."""
    order = np.argsort(first_observed["store"].to_numpy(dtype=np.int64), kind="stable")
    keys = first_observed["store"].to_numpy(dtype=np.int64)[order]
    values = first_observed["first_ns"].to_numpy(dtype=np.int64)[order]
    if not len(keys):
        return np.full(len(stores), _NO_OBSERVATION, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, stores), len(keys) - 1)
    return np.where(keys[at] == stores, values[at], _NO_OBSERVATION)



def decide_events(*, parts: pd.DataFrame, alerted: pd.DataFrame, now_ns: int, after_ns: int) -> Decided:
    """The new events, from the lookback's outage parts (engine.LOOKBACK_OUTAGE_COLUMNS) and the
    alerted outages not yet recovered (store, store_id, since_ns: whole microseconds, as stored)."""
    origin_ns = now_ns - LOOKBACK.value
    key = np.maximum(alerted["since_ns"].to_numpy(dtype=np.int64), origin_ns)
    found = alerted.assign(key=key).merge(parts.drop(columns="store_id"), on="store", how="inner")
    # Stored starts are floored to the microsecond; the engine's may lie half a microsecond later.
    floor_start = found["start_ns"] // _NS_PER_US * _NS_PER_US
    found = found[(floor_start <= found["key"]) & (found["key"] < found["end_ns"])].drop_duplicates(["store", "since_ns"])
    going_on = found["ongoing"].to_numpy(dtype=bool)
    ended = found[~going_on]
    vanished = alerted[~alerted.set_index(["store", "since_ns"]).index.isin(found.set_index(["store", "since_ns"]).index)]
    recovered = pd.concat([
        ended[["store", "store_id", "since_ns"]].assign(until_ns=ended["end_ns"]),
        vanished[["store", "store_id", "since_ns"]].assign(until_ns=now_ns),
    ], ignore_index=True)
    ongoing = parts[parts["ongoing"].to_numpy(dtype=bool) & (now_ns - parts["start_ns"] >= after_ns)]
    ongoing = ongoing[~ongoing["store"].isin(found.loc[going_on, "store"])]
    down = pd.DataFrame({
        "store": ongoing["store"], "store_id": ongoing["store_id"],
        "since_ns": ongoing["start_ns"], "minutes": _minutes(now_ns - ongoing["start_ns"].to_numpy(dtype=np.int64)),
    })
    recovered["minutes"] = _minutes(recovered["until_ns"].to_numpy(dtype=np.int64) - recovered["since_ns"].to_numpy(dtype=np.int64))
    return Decided(down=down.reset_index(drop=True), recovered=recovered)


def _minutes(lengths_ns: np.ndarray) -> np.ndarray:
    """Exact lengths to minutes with 2 decimals, halves up (SPEC 7), in integer arithmetic."""
    return ((lengths_ns * 100 + _NS_PER_MINUTE // 2) // _NS_PER_MINUTE) / 100


def _alerted_outages(*, stores: pd.DataFrame) -> pd.DataFrame:
    """store.down events not yet recovered (the partial index alert_open_outages), as columns."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT store_id, (extract(epoch FROM since) * 1000000)::bigint
                FROM {AlertEvent._meta.db_table} WHERE kind = %s AND until IS NULL""",
            [AlertEvent.Kind.DOWN],
        )
        rows = cursor.fetchall()
    alerted = pd.DataFrame(rows, columns=["store", "since_us"]).astype("int64")
    ids = stores.set_index("store")["store_id"]
    return pd.DataFrame({
        # A store deleted since is gone from `stores`, and its events with it (CASCADE).
        "store": alerted["store"], "store_id": ids.reindex(alerted["store"]).fillna("").to_numpy(dtype=object),
        "since_ns": alerted["since_us"] * _NS_PER_US,
    })


def _insert(decided: Decided, *, now: datetime, now_ns: int) -> tuple[int, int, int]:
    """One statement: the new events, their down events closed, and a delivery per active subscription."""
    down, recovered = decided.down, decided.recovered
    kinds = [AlertEvent.Kind.DOWN.value] * len(down) + [AlertEvent.Kind.RECOVERED.value] * len(recovered)
    stores = np.concatenate([down["store"].to_numpy(np.int64), recovered["store"].to_numpy(np.int64)])
    store_ids = np.concatenate([down["store_id"].to_numpy(object), recovered["store_id"].to_numpy(object)])
    since_ns = np.concatenate([down["since_ns"].to_numpy(np.int64), recovered["since_ns"].to_numpy(np.int64)])
    until_ns = np.concatenate([np.full(len(down), -1, np.int64), recovered["until_ns"].to_numpy(np.int64)])
    minutes = np.concatenate([down["minutes"].to_numpy(float), recovered["minutes"].to_numpy(float)])
    if not kinds:
        return 0, 0, 0
    since_us = since_ns // _NS_PER_US
    ids = [str(uuid.uuid5(_EVENT_NAMESPACE, f"{k} {s} {us}")) for k, s, us in zip(kinds, store_ids, since_us, strict=True)]
    bodies = _bodies(ids=ids, kinds=kinds, store_ids=store_ids, since_ns=since_ns, until_ns=until_ns, minutes=minutes, now_ns=now_ns)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, {
            "ids": ids, "kinds": kinds, "stores": stores.tolist(), "since_us": since_us.tolist(),
            "until_us": [None if u < 0 else u // _NS_PER_US for u in until_ns.tolist()],
            "minutes": minutes.tolist(), "bodies": bodies, "now": now,
            "down": AlertEvent.Kind.DOWN.value, "recovered": AlertEvent.Kind.RECOVERED.value,
        })
        return cursor.fetchone()


def _bodies(*, ids, kinds, store_ids, since_ns, until_ns, minutes, now_ns: int) -> list[str]:
    """SPEC 9's JSON, as sent and signed: instants as in SPEC 7, store.recovered with "until"."""
    since = iso_seconds(since_ns)
    until = iso_seconds(np.maximum(until_ns, 0))
    now = str(iso_seconds(np.array([now_ns]))[0])
    bodies = []
    for row, kind in enumerate(kinds):
        body = {"id": ids[row], "event": kind, "store_id": store_ids[row], "since": str(since[row])}
        if until_ns[row] >= 0:
            body["until"] = str(until[row])
        body.update(minutes=float(minutes[row]), now=now)
        bodies.append(json.dumps(body))
    return bodies


_EPOCH_PLUS = "timestamptz 'epoch' + {} * interval '1 microsecond'"
_INSERT_SQL = f"""
WITH given AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(kinds)s::text[], %(stores)s::bigint[], %(since_us)s::bigint[],
                         %(until_us)s::bigint[], %(minutes)s::float8[], %(bodies)s::text[])
        AS g(id, kind, store_id, since_us, until_us, minutes, body)
), inserted AS (
    INSERT INTO {AlertEvent._meta.db_table} (id, kind, store_id, since, until, now, minutes, body, created_at)
    SELECT id, kind, store_id, {_EPOCH_PLUS.format("since_us")}, {_EPOCH_PLUS.format("until_us")},
           %(now)s, minutes, body, now()
    FROM given
    ON CONFLICT (kind, store_id, since) DO NOTHING
    RETURNING id, kind, store_id, since, until
), closed AS (
    -- The recovered outage's store.down leaves the open set (index alert_open_outages).
    -- Like every data-modifying WITH, it runs whether or not the final SELECT reads it.
    UPDATE {AlertEvent._meta.db_table} d SET until = i.until FROM inserted i
    WHERE i.kind = %(recovered)s AND d.kind = %(down)s AND d.store_id = i.store_id AND d.since = i.since
    RETURNING d.id
), queued AS (
    INSERT INTO {WebhookDelivery._meta.db_table}
        (id, event_id, subscription_id, state, next_attempt_at, attempts, last_error, created_at)
    SELECT gen_random_uuid(), i.id, s.id, 'pending', now(), 0, '', now()
    FROM inserted i CROSS JOIN {WebhookSubscription._meta.db_table} s
    -- A staff subscription gets every event, an owner's those of its stores (SPEC 11).
    WHERE s.active AND (s.owner = '' OR {store_owned_sql(key="i.store_id", owner="s.owner")})
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted WHERE kind = %(down)s), (SELECT count(*) FROM inserted WHERE kind = %(recovered)s),
       (SELECT count(*) FROM queued)
"""
