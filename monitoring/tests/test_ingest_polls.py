"""The numpy side of writing polls (monitoring/poll_writes.py), checked against plain Python."""
import numpy as np
import pytest

from monitoring.ingest.poll_writes import (
    binary_copy,
    read_binary,
    sorted_last_of_each,
)


@pytest.mark.parametrize("huge_span", [False, True])
def test_keeping_the_last_line_of_each_store_and_time_agrees_with_a_dictionary(huge_span):
    rng = np.random.default_rng(5)
    keys = rng.integers(1, 40, 3000)
    micros = rng.integers(0, 50, 3000) * (2**57 if huge_span else 1_000_000)  # huge: past the one-int64 key, the two-column path
    last_line = {}
    for line, pair in enumerate(zip(keys.tolist(), micros.tolist(), strict=True)):
        last_line[pair] = line  # a later line replaces an earlier one
    kept = sorted_last_of_each(keys, micros)
    assert sorted(kept.tolist()) == sorted(last_line.values())
    assert [(keys[i], micros[i]) for i in kept] == sorted(last_line)  # in (store, time) order


def test_binary_copy_rows_read_back_as_written():
    columns = {"store": np.array([7, 8]), "ts": np.array([946_684_800_000_000, 0]), "active": np.array([True, False])}
    rows = read_binary(binary_copy(columns), names=("store", "ts", "active"))
    # Timestamps travel as microseconds since 2000-01-01: 946,684,800 s after 1970 is 0 there.
    assert rows["store"].tolist() == [7, 8]
    assert rows["ts"].tolist() == [0, -946_684_800_000_000]
    assert rows["active"].tolist() == [1, 0]
