"""Session advisory locks (monitoring/ingest/locks.py): held for a block, waited for or skipped when busy."""
import threading

import pytest
from django.db import connection

from monitoring.ingest.locks import session_lock
from monitoring.tests.ingest_helpers import another_session

pytestmark = pytest.mark.django_db

KEY = 7_305_014_482_119_999  # a key of this test's own, so no real chore is held up


def held_elsewhere(cursor) -> bool:
    cursor.execute("SELECT pg_try_advisory_lock(%s)", [KEY])
    taken = cursor.fetchone()[0]
    if taken:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [KEY])
    return not taken


def test_the_lock_is_held_inside_the_block_and_released_after_it():
    with another_session() as other, other.cursor() as cursor:
        with session_lock(key=KEY, wait=False) as held:
            assert held and held_elsewhere(cursor)
        assert not held_elsewhere(cursor)


def test_the_lock_is_released_when_the_block_raises():
    with another_session() as other, other.cursor() as cursor:
        with pytest.raises(RuntimeError), session_lock(key=KEY, wait=True):
            raise RuntimeError("the load failed")
        assert not held_elsewhere(cursor)


def test_without_waiting_a_busy_lock_runs_the_block_unheld_and_leaves_the_lock_to_its_holder():
    busy = []
    with another_session() as other, other.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [KEY])
        with session_lock(key=KEY, wait=False, on_busy=lambda: busy.append(True)) as held:
            assert not held
        cursor.execute("SELECT pg_advisory_unlock(%s)", [KEY])  # True: the holder still had it
        assert cursor.fetchone()[0]
    assert busy == []  # told only when it is going to wait


def test_a_waiting_lock_says_so_and_is_held_once_the_other_session_lets_go():
    told, outcome = threading.Event(), []

    def wait_for_it():
        try:
            with session_lock(key=KEY, wait=True, on_busy=told.set) as held:
                outcome.append(held)
        finally:
            connection.close()

    with another_session() as other, other.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [KEY])
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        assert told.wait(30), "the waiting side was not told the lock is busy"
        assert outcome == []
        cursor.execute("SELECT pg_advisory_unlock(%s)", [KEY])
        waiter.join(30)
    assert outcome == [True]
