"""What the benchmark scripts share: a throwaway database (created empty on
DATABASE_URL's server, or an embedded PostgreSQL when DATABASE_URL is unset, and
dropped again afterwards), running manage.py, and progress lines on stderr."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"  # generated data and results (ignored by git)


def use_fresh_database(*, name: str, embedded_pgdata: Path) -> str:
    """Point DATABASE_URL (inherited by child processes) at an empty database `name`.

    Returns the server's original URL, to drop the database with; "" for embedded.
    """
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        os.environ["EMBEDDED_PGDATA"] = str(embedded_pgdata)
        os.environ["EMBEDDED_DB_NAME"] = name
        return ""
    _admin(url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunparse(urlparse(url)._replace(path=f"/{name}"))
    return url


def drop_database(*, name: str, admin_url: str) -> None:
    """Drop the database (or stop the embedded server whose EMBEDDED_PGDATA is set)."""
    if admin_url:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"')
    else:
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "embedded_db", "stop"], check=True, cwd=ROOT)


def _admin(url: str, *statements: str) -> None:
    import psycopg2

    admin = psycopg2.connect(url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        admin.close()


def manage(*args: str, capture: bool = False) -> str:
    """Run `manage.py ARGS` in a child process (which inherits DATABASE_URL); its stdout if captured."""
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT,
                            stdout=subprocess.PIPE if capture else None, text=True)
    return result.stdout or ""


def child_figures(*args: str, label: str) -> dict:
    """Run `python ARGS` in a fresh process: the JSON object of its last stdout line, plus its own peak RSS."""
    child = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{label} failed (exit {code})")
    figures = json.loads(output.strip().splitlines()[-1])
    figures["peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    return figures


def log(message: str) -> None:
    """A progress line on stderr: stdout's last line is the figures' JSON."""
    sys.stderr.write(f"  {message}\n")
