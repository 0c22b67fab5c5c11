"""Project-wide pytest set-up: every test runs against real PostgreSQL."""
