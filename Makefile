# One command per chore; README.md and .ci/run use these same targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test stop-db reset-db venv bench worker report-worker

# The virtualenv is rebuilt only when a requirements file changes.
$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

venv: $(BIN)/.installed

# Start the app at http://$(HOST):$(PORT)/ on the embedded PostgreSQL (or DATABASE_URL),
# with the bundled sample data loaded when the database is empty.
run: venv
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

# A Celery worker for REPORT_RUNNER=celery (same DATABASE_URL and CELERY_BROKER_URL as the web app);
# it runs one process per core; start more on other machines to scale out (docs/architecture.md).
worker: venv
	$(BIN)/celery -A monitoring.reports.celery_app worker --loglevel INFO

# The whole test suite, against real PostgreSQL.
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Stop the embedded PostgreSQL for sure (it also stops when the last app process exits).
stop-db: venv
	$(BIN)/python manage.py embedded_db stop

# Stop the embedded PostgreSQL and delete its data folder: the next `make run` starts afresh.
reset-db: stop-db
	$(BIN)/python manage.py embedded_db reset

# Builds queued reports for REPORT_RUNNER=worker (same DATABASE_URL as the web app).
report-worker: venv
	$(BIN)/python manage.py report_worker
