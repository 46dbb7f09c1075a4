# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
export FLASK_APP := run

.PHONY: run test install test-sqlite test-pg lint translations serve

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

## Install, migrate, seed and serve on http://127.0.0.1:$${PORT:-8080} (SQLite by default).
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask crm seed
	@if [ "$(DEMO)" = "1" ]; then $(BIN)/flask crm demo; fi
	BASE_URL=$${BASE_URL:-http://127.0.0.1:$${PORT:-8080}} \
		$(BIN)/flask crm serve --host 127.0.0.1 --port $${PORT:-8080}

## The suite on SQLite, then on PostgreSQL when it answers (CI: 127.0.0.1:5432, database test).
test: install
	$(BIN)/python -m pytest
	@if $(BIN)/python -c "import psycopg; psycopg.connect('$(PG_TEST_URL)').close()" 2>/dev/null; then \
		echo "--- PostgreSQL: $(PG_TEST_URL)"; \
		TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest; \
	else echo "--- PostgreSQL not reachable at $(PG_TEST_URL): SQLite only"; fi

lint: install
	$(BIN)/ruff check .

translations: install
	$(BIN)/pybabel compile -d app/translations
