# skillcert: `make up` runs the suite on this machine, `make test` runs every test.
PY := .venv/bin/python

.PHONY: deps up demo test test-fast bench lint format typecheck asyncapi token clean

deps:
	@bash scripts/deps

up: deps
	$(PY) -m infra.stack

demo: deps
	$(PY) -m infra.stack --demo

test: deps
	$(PY) -m pytest -q -p no:cacheprovider --durations=15

test-fast: deps
	$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/service

# Every benchmark at a quick size, one table: checks they run (the measurements: bench/README.md).
bench: deps
	$(PY) -m bench

lint: deps
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy shared services infra tests bench

format: deps
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

asyncapi: deps
	$(PY) -m infra.asyncapi

clean:
	rm -rf var .cache/kafka test-output
