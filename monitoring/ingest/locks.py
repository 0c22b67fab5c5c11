"""PostgreSQL session advisory locks: one load at a time, one refresh round at a time.

A session lock outlives transactions (a load commits once per file while it holds
it) and is released by its `with` block, or by the server should the process die.
The trigger rate limit (monitoring/reports/service.py) takes a different lock on
purpose: a transaction-level one, held until the new report row commits, after the
function that takes it has returned, so no `with` block could scope it. Its keys are
32-bit hashtext values and cannot meet the fixed keys below.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

# Any fixed 64-bit numbers, as long as each chore has its own.
LOAD_LOCK_KEY = 7_305_014_482_111_001
REFRESH_LOCK_KEY = 7_305_014_482_111_002


@contextmanager
def session_lock(*, key: int, wait: bool, on_busy: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold lock `key` for the block; the block gets whether it is held.

    When another session holds it: with `wait`, `on_busy` is told and the lock is
    waited for (the block then always gets True); without, the block runs with False.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        held = cursor.fetchone()[0]
        if not held and wait:
            if on_busy is not None:
                on_busy()
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
            held = True
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
