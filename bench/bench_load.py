"""Load benchmark: the API under concurrent clients while reports run and an hourly refresh loads.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_load.py
    .venv/bin/python bench/bench_load.py --seconds 60 --pollers 50 --triggerers 5

Loads the full-size dataset (the project's generator, as bench_report.py) into a fresh
`bench_load` database, serves the app with gunicorn in production settings (token
auth on, HTTPS redirect off because this is loopback) and one `manage.py
report_worker` process (REPORT_RUNNER=worker; `--runner thread` builds reports inside
the gunicorn workers instead), and for --seconds runs:

- --triggerers clients that each POST /trigger_report, poll until it is Complete,
  and trigger again, each in its own process with its share of
- --pollers clients that each GET /get_report for their triggerer's newest report
  every --poll-interval seconds (clients waiting for a report);
- one hourly refresh: after a quarter of the run the next hour of polls is appended
  to the status file and `manage.py refresh --once` loads it.

Every request goes to 127.0.0.1 only, and the run stops by itself. Afterwards every
triggered report must be Complete, none lost or duplicated, and each report's CSV
must equal `manage.py report --as-of <its now>` byte for byte. The last line printed
is one JSON object: requests, errors, latencies, reports, refresh seconds.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import random
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from benchkit import OUT, ROOT, drop_database, manage, use_fresh_database  # bench/ is this script's folder on sys.path

DB_NAME = "bench_load"
LATEST_POLL = datetime(2023, 1, 25, 18, 13, 22, 479220)  # the generator's default end
ACCESS_LOG = OUT / "load-access.log"


class Recorder:
    """Latencies and failures of every request, shared by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {"get_report": [], "trigger_report": []}
        self.errors: list[str] = []
        self.report_ids: list[str] = []

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if error:
                self.errors.append(f"{kind}: {error}")

    def newest_report(self) -> str | None:
        with self.lock:
            return self.report_ids[-1] if self.report_ids else None


class Client:
    """One keep-alive HTTP connection to the server, like one API client."""

    def __init__(self, port: int, token: str, recorder: Recorder) -> None:
        self.port, self.recorder = port, recorder
        self.headers = {"Authorization": f"Bearer {token}"}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, kind: str, method: str, path: str, ok: tuple[int, ...], parse: bool = True) -> dict | None:
        started = time.perf_counter()
        try:
            self.connection.request(method, path, headers=self.headers)
            response = self.connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.recorder.record(kind, time.perf_counter() - started, repr(error))
            return None
        failed = None if response.status in ok else f"{response.status} {body[:200]!r}"
        self.recorder.record(kind, time.perf_counter() - started, failed)
        # Decoding a complete report's JSON (its CSV inside) costs this client process
        # milliseconds of its GIL, which would delay the other clients' clocks: only
        # the clients that need the answer decode it.
        return None if failed or not parse else json.loads(body)


def main() -> None:
    options = _arguments()
    sources = OUT / "report-1" / "sources"
    if not (sources / "store_status.csv").exists():
        manage("make_dataset", str(sources), "--scale", "1")
    data_dir = OUT / "load-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    ACCESS_LOG.unlink(missing_ok=True)
    shutil.copytree(sources, data_dir)
    next_hour = OUT / "load-next-hour"
    if not (next_hour / "store_status.csv").exists():
        manage("make_dataset", str(next_hour), "--scale", "1",
                "--start", LATEST_POLL.isoformat(), "--end", (LATEST_POLL + timedelta(hours=1)).isoformat())

    admin_url = use_fresh_database(name=DB_NAME, embedded_pgdata=OUT / "pgdata-load")
    os.environ["MONITORING_DATA_DIR"] = str(data_dir)
    server = worker = None
    try:
        manage("migrate", "-v", "0")
        manage("runscript", "load", "-v", "0", "--script-args", str(data_dir))
        token = manage("api_token", "create", "bench-load", capture=True).strip().splitlines()[-1]
        os.environ["REPORT_RUNNER"] = options.runner
        port = _free_port()
        server = _start_gunicorn(port)
        if options.runner == "worker":
            worker = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "report_worker"], cwd=ROOT)
        figures = {"runner": options.runner, **_drive_load(options, port, token, data_dir, next_hour)}
        figures.update(_check_reports(port, token, figures.pop("report_ids")))
    finally:
        for process in (server, worker):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
        drop_database(name=DB_NAME, admin_url=admin_url)
    print(json.dumps(figures))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--triggerers", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between one poller's requests")
    parser.add_argument("--runner", choices=["worker", "thread"], default="worker",
                        help="worker: reports built by a `manage.py report_worker` process (the production layout); "
                        "thread: inside the gunicorn workers")
    return parser.parse_args()


def _drive_load(options: argparse.Namespace, port: int, token: str, data_dir: Path, next_hour: Path) -> dict:
    """The clients, in one process per triggerer (so one process's GIL does not skew the others' clocks)."""
    groups = [(port, token, pollers, options.seconds, options.poll_interval)
              for pollers in _split(options.pollers, options.triggerers)]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(len(groups)) as pool:
        running = pool.starmap_async(_client_group, groups)
        time.sleep(options.seconds / 4)
        refresh_seconds = _append_hour_and_refresh(data_dir, next_hour)
        results = running.get(timeout=options.seconds + 300)
    gets = sorted(seconds for result in results for seconds in result["get_report"])
    triggers = sorted(seconds for result in results for seconds in result["trigger_report"])
    errors = [error for result in results for error in result["errors"]]
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "clients": options.pollers + options.triggerers,
        "client_processes": len(groups),
        "requests": len(gets) + len(triggers),
        "errors": len(errors),
        "first_errors": errors[:5],
        "get_report_p50_ms": _percentile_ms(gets, 50),
        "get_report_p99_ms": _percentile_ms(gets, 99),
        "get_report_server_p99_ms": _percentile_ms(_server_seconds("/get_report"), 99),
        "trigger_report_p99_ms": _percentile_ms(triggers, 99),
        "refresh_seconds": refresh_seconds,
        "report_ids": [report_id for result in results for report_id in result["report_ids"]],
    }


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def _client_group(port: int, token: str, pollers: int, seconds: float, interval: float) -> dict:
    """One triggerer and its pollers for `seconds`; their latencies, errors and reports."""
    random.seed()  # forked processes would otherwise all draw the same start moments
    recorder = Recorder()
    stop = threading.Event()
    threads = [threading.Thread(target=_poller, args=(port, token, recorder, stop, interval)) for _ in range(pollers)]
    threads.append(threading.Thread(target=_triggerer, args=(port, token, recorder, stop)))
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    return {**recorder.latencies, "errors": recorder.errors, "report_ids": recorder.report_ids}


def _poller(port: int, token: str, recorder: Recorder, stop: threading.Event, interval: float) -> None:
    client = Client(port, token, recorder)
    # Clients started by people are not in step: each begins at its own moment of the
    # interval (else all of them would ask in the same millisecond, every interval).
    if stop.wait(random.uniform(0, interval)):
        return
    while not stop.wait(interval):
        report_id = recorder.newest_report()
        if report_id is not None:
            client.call("get_report", "GET", f"/get_report?report_id={report_id}", ok=(200, 202), parse=False)


def _triggerer(port: int, token: str, recorder: Recorder, stop: threading.Event) -> None:
    client = Client(port, token, recorder)
    while not stop.is_set():
        answer = client.call("trigger_report", "POST", "/trigger_report", ok=(200,))
        if answer is None:
            stop.wait(1.0)
            continue
        with recorder.lock:
            recorder.report_ids.append(answer["report_id"])
        while not stop.wait(0.5):
            status = client.call("get_report", "GET", f"/get_report?report_id={answer['report_id']}", ok=(200, 202))
            if status is not None and status["status"] != "Running":
                break


def _append_hour_and_refresh(data_dir: Path, next_hour: Path) -> float:
    """The next hour of polls arrives at the end of the status file, and the refresher loads it."""
    new_lines = (next_hour / "store_status.csv").read_bytes().split(b"\n", 1)[1]
    with open(data_dir / "store_status.csv", "ab") as status_file:
        status_file.write(new_lines)
    started = time.perf_counter()
    manage("refresh", "--once", "-v", "0")
    return round(time.perf_counter() - started, 2)


def _check_reports(port: int, token: str, report_ids: list[str]) -> dict:
    """Every triggered report Complete, none lost or duplicated, each CSV equal to the synchronous command's."""
    client = Client(port, token, Recorder())
    deadline = time.monotonic() + 300
    answers: dict[str, dict] = {}
    for report_id in report_ids:
        while (answer := client.call("get_report", "GET", f"/get_report?report_id={report_id}", ok=(200, 202))) \
                and answer["status"] == "Running" and time.monotonic() < deadline:
            time.sleep(0.5)
        answers[report_id] = answer or {"status": "unreachable"}
    complete = [a for a in answers.values() if a["status"] == "Complete"]
    expected = {now: _command_csv(now) for now in sorted({a["now"] for a in complete})}
    return {
        "reports_triggered": len(report_ids),
        "reports_distinct": len(set(report_ids)),
        "reports_complete": len(complete),
        "reports_correct": sum(a["data"] == expected[a["now"]] for a in complete),
        "report_instants": sorted(expected),
    }


def _command_csv(now: str) -> str:
    output = OUT / "load-expected.csv"
    manage("report", "--as-of", now, "--output", str(output), "-v", "0")
    return output.read_text(encoding="utf-8")


def _server_seconds(path: str) -> list[float]:
    """Sorted durations of the requests to `path` as the server timed them (access log)."""
    durations = []
    for line in ACCESS_LOG.read_text().splitlines():
        request_path, _, microseconds = line.rpartition(" ")
        if request_path == path:
            durations.append(int(microseconds) / 1e6)
    return sorted(durations)


def _percentile_ms(sorted_seconds: list[float], percent: int) -> float | None:
    if not sorted_seconds:
        return None
    index = min(len(sorted_seconds) - 1, round(percent / 100 * (len(sorted_seconds) - 1)))
    return round(sorted_seconds[index] * 1000, 1)


def _start_gunicorn(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": "bench-load-only",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "TRIGGER_RATE_LIMIT": "0",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    # The access log records each request's time inside the server (microseconds), to tell
    # the server's share of a latency from this client process's.
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
                               "--access-logfile", str(ACCESS_LOG), "--access-logformat", "%(U)s %(D)s", "main.wsgi"],
                              cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/v1/health")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("gunicorn did not answer /api/v1/health within 60 s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    main()
