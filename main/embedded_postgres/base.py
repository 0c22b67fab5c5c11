"""PostgreSQL backend that starts the embedded server lazily, on first connection.

Starting it here rather than in settings keeps imports free of side effects:
`manage.py help` or `check` never boots a database.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg2
from django.db.backends.postgresql import base

from main import embedded_server


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict:
        params = super().get_connection_params()
        uri = embedded_server.ensure_running(Path(self.settings_dict["EMBEDDED_PGDATA"]))
        parsed = urlparse(uri)
        params["host"] = parse_qs(parsed.query)["host"][0]
        params["user"] = parsed.username or "postgres"
        params.pop("port", None)
        _create_database_once(params)
        return params


_created: set[str] = set()


def _create_database_once(params: dict) -> None:
    """The embedded cluster starts with only `postgres`; create the app's database on demand."""
    name = params.get("dbname") or params.get("database")
    if not name or name in _created or name == "postgres":
        return
    admin = {k: v for k, v in params.items() if k in ("host", "user", "port")}
    connection = psycopg2.connect(dbname="postgres", **admin)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    except psycopg2.errors.DuplicateDatabase:
        pass  # another process created it between our check and our CREATE
    finally:
        connection.close()
    _created.add(name)
