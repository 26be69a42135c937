# The two set-up commands of the README: `make demo` and `make test`. Both create the virtualenv and install
# the locked dependencies first, so they work on a fresh machine with only Python 3.11+.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: install demo test test-moved-clock lint bench bench-campaigns bench-http bench-jobs bench-import bench-simulate bench-kpis clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.installed: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: .venv/.installed

demo: install
	.venv/bin/loyalty demo

lint: install
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports

test: lint
	.venv/bin/pytest

# The SQLite part of the suite with the wall clock of pytest and of every Python process it starts moved years
# ahead (tests/moved_clock/sitecustomize.py), proving that no test depends on the day it runs.
CLOCK_SHIFT_DAYS ?= 2000
test-moved-clock: install
	LOYALTY_TEST_CLOCK_SHIFT_DAYS=$(CLOCK_SHIFT_DAYS) PYTHONPATH=$(CURDIR)/tests/moved_clock \
		LOYALTY_TEST_DATABASE_URL= LOYALTY_REQUIRE_POSTGRES= .venv/bin/pytest -q -m "not postgres" -p no:cacheprovider \
		-p no:time_machine

bench: install
	@.venv/bin/python -m bench.confirm

bench-campaigns: install
	@.venv/bin/python -m bench.campaigns

# The expiry and tier jobs over 100,000 accounts x 10 lots on PostgreSQL, against hand-written set-based SQL; smaller
# with e.g. `make bench-jobs ARGS="--accounts 2000 --lots 5"`.
bench-jobs: install
	@.venv/bin/python -m bench.jobs $(ARGS)

# The bulk import of a generated history on SQLite and PostgreSQL next to a raw load of the same file (README,
# "Performance"); larger with e.g. `make bench-import ARGS="--orders 1000000"`.
bench-import: install
	@.venv/bin/python -m bench.imports $(ARGS)

# The economics simulator over a year of generated history on PostgreSQL, next to reading what it reads.
bench-simulate: install
	@.venv/bin/python -m bench.simulate $(ARGS)

# Every KPI of a generated year (200,000 orders by default) on PostgreSQL and SQLite next to one DuckDB aggregation
# over a Parquet export of the same facts (README, "Performance"); e.g. `make bench-kpis ARGS="--orders 1000000
# --no-sqlite"`.
bench-kpis: install
	@.venv/bin/python -m bench.kpis $(ARGS)

# wrk (installed with apt-get when missing, as root) against the product and a bare FastAPI ceiling (README,
# "Performance"); its options go in ARGS, e.g. `make bench-http ARGS="--duration 20 --no-inprocess"`.
bench-http: install
	@.venv/bin/python -m bench.http $(ARGS)

clean:
	rm -rf .venv .tools
