"""Test helpers for ingestion: a second database session, as another process would hold."""
from contextlib import contextmanager

import psycopg2
from django.db import connection


@contextmanager
def another_session():
    """A separate connection to the test database (the embedded server's socket too)."""
    params = connection.get_connection_params()
    other = psycopg2.connect(**{key: params[key] for key in ("dbname", "user", "password", "host", "port") if params.get(key)})
    other.autocommit = True
    try:
        yield other
    finally:
        other.close()
