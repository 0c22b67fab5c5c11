"""A Django database backend: PostgreSQL, started on first connection when embedded."""
