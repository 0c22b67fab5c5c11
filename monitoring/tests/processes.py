"""Real app processes for fault tests: a web server or a command on the test database."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection


def env_for_test_database(**extra: str) -> dict[str, str]:
    """The environment that points a child process at this test run's database."""
    db = connection.settings_dict
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    if db["ENGINE"] == "main.embedded_postgres":
        # The same embedded server (processes share it), the test database inside it.
        env.update(EMBEDDED_PGDATA=db["EMBEDDED_PGDATA"], EMBEDDED_DB_NAME=db["NAME"])
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env.update(extra)
    return env


def wait_until(condition: Callable[[], bool], *, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebServer:
    """`manage.py serve` in its own process, as `make run` starts it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        with log.open("a") as output:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--no-sample", "--port", str(self.port)],
                cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, what=f"the web server to answer (log: {log})")

    def call(self, method: str, path: str) -> tuple[int, dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def trigger(self) -> str:
        status, body = self.call("POST", "/trigger_report")
        assert status == 200, body
        return body["report_id"]

    def kill_hard(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _answers(self) -> bool:
        assert self.process.poll() is None, f"the web server exited: {self.log.read_text()[-2000:]}"
        try:
            return self.call("GET", "/api/v1/health")[0] == 200
        except OSError:
            return False
