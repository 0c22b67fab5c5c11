"""The embedded PostgreSQL: started on demand, shared by processes, never leaked."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from main import embedded_server

# A child process that joins the embedded server, says so, and waits to be told to go.
JOIN_AND_WAIT = """
import sys, time
from pathlib import Path
from main import embedded_server
import psycopg2
from urllib.parse import urlparse, parse_qs
uri = embedded_server.ensure_running(Path(sys.argv[1]))
psycopg2.connect(dbname="postgres", user="postgres", host=parse_qs(urlparse(uri).query)["host"][0]).close()
print("ready", flush=True)
sys.stdin.readline()
"""

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")) and not os.environ.get("TEST_EMBEDDED_TOO"),
    reason="checked on the embedded pass; this pass uses the DATABASE_URL server",
)


def _join(pgdata: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", JOIN_AND_WAIT, str(pgdata)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.stdout.readline().strip() == "ready"
    return child


def _wait_until_stopped(pgdata: Path, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not embedded_server.is_running(pgdata):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def pgdata(tmp_path):
    folder = tmp_path / "pgdata"
    yield folder
    embedded_server.stop(folder)


def test_two_processes_share_one_server_that_stops_after_the_last_one_leaves(pgdata):
    first = _join(pgdata)
    second = _join(pgdata)
    first.communicate("\n", timeout=30)
    assert embedded_server.is_running(pgdata), "the second process still uses it"
    second.communicate("\n", timeout=30)
    assert _wait_until_stopped(pgdata)


def test_sigterm_of_the_last_user_stops_the_server(pgdata):
    child = _join(pgdata)
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=30)
    assert _wait_until_stopped(pgdata)


def test_a_user_killed_with_sigkill_does_not_keep_the_server_alive_forever(pgdata):
    killed = _join(pgdata)
    killed.kill()
    killed.wait(timeout=10)
    assert embedded_server.is_running(pgdata), "nobody ran the clean-up"
    # The next process forgets the dead one, so when it leaves the server stops.
    survivor = _join(pgdata)
    survivor.communicate("\n", timeout=30)
    assert _wait_until_stopped(pgdata)


def test_stop_stops_a_running_server_for_sure(pgdata):
    killed = _join(pgdata)
    killed.kill()
    killed.wait(timeout=10)
    assert embedded_server.stop(pgdata) is True
    assert not embedded_server.is_running(pgdata)
    assert embedded_server.stop(pgdata) is False
