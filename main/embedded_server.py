"""The embedded PostgreSQL server used when no DATABASE_URL is configured.

pgserver ships real PostgreSQL binaries in a pip wheel. Every process of the
app (web server, management commands, tests) that needs the database calls
`ensure_running()`: the first one starts the server, the others reuse it, and
pgserver stops it when the last registered process exits normally.

Two gaps in pgserver are closed here:
- its clean-up runs from `atexit`, which SIGTERM skips, so SIGTERM is turned
  into a normal exit;
- a process killed by SIGKILL stays in pgserver's list of users forever and
  would keep the server alive, so dead processes are dropped from that list.
`stop()` stops the server for sure (`make stop-db`).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

_started_lock = threading.Lock()
_postmaster_uri: dict[Path, str] = {}


def ensure_running(pgdata: Path) -> str:
    """Start (or join) the embedded server for `pgdata`; return its connection URI."""
    pgdata = pgdata.resolve()
    with _started_lock:
        if pgdata not in _postmaster_uri:
            _postmaster_uri[pgdata] = _start(pgdata)
        return _postmaster_uri[pgdata]


def _start(pgdata: Path) -> str:
    import pgserver  # imported lazily: only the embedded path needs it
    from pgserver.postgres_server import PostgresServer

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # pgserver's own inter-process lock (private, pinned version): no process
    # registers or leaves while the dead are pruned from its list.
    with PostgresServer._lock:
        _forget_dead_users(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    _exit_cleanly_on_sigterm()
    logger.info("embedded PostgreSQL ready in %s", pgdata)
    return server.get_uri()


def _users_file(pgdata: Path) -> Path:
    return pgdata / ".handle_pids.json"


def _forget_dead_users(pgdata: Path) -> None:
    """Drop processes that died without clean-up (SIGKILL) from pgserver's user list."""
    from pgserver.utils import DiskList, process_is_running

    if not _users_file(pgdata).exists():
        return
    users = DiskList(_users_file(pgdata))
    users.put([pid for pid in users.get() if process_is_running(pid)])


def _exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM run atexit handlers (pgserver's clean-up) like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def is_running(pgdata: Path) -> bool:
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata.resolve()) if pgdata.exists() else None
    return info is not None and info.is_running()


def stop(pgdata: Path) -> bool:
    """Stop the server for `pgdata` whoever started it. Returns whether one was running."""
    from pgserver._commands import pg_ctl
    from pgserver.postgres_server import PostgresServer

    pgdata = pgdata.resolve()
    if not is_running(pgdata):
        return False
    user = "pgserver" if os.geteuid() == 0 else None
    with PostgresServer._lock:
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
        except subprocess.CalledProcessError:
            logger.warning("pg_ctl stop failed; the server had probably stopped already")
        _users_file(pgdata).unlink(missing_ok=True)
    return True
