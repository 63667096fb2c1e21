# Consortium Ledger: `make run` starts the demo consortium, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# SUITE=sm runs the demo's audit log on the national suite (SM2, SM3; docs/national-suite.md), in its own directory.
SUITE ?=
DATA ?= $(if $(filter sm,$(SUITE)),demo-data-sm,demo-data)
PORT ?= 8545
# The demo's keys are encrypted with this passphrase; set your own for anything but the demo.
export CONSORTIUM_PASSPHRASE ?= demo-passphrase-not-for-production
# npm ci installs package.json's devDependencies: anvil (for the tests) and tsc (for lint).
ANVIL := node_modules/.bin/anvil
TSC := node_modules/.bin/tsc
# The project's own packages: `make run` and `make test` compile them once (`bytecode`), so that the twenty-odd
# processes of a consortium, and every command a test runs, read cached bytecode instead of compiling each module
# at each start (an environment with PYTHONDONTWRITEBYTECODE set never caches it itself).
PACKAGES := suite chain contracts notary privacy network gateway sdk explorer demo cli

.PHONY: install bytecode run test test-fast lint contracts bench-chain bench-notary bench-gateway bench-explorer bench-store bench-e2e bench-cli bench-privacy bench-idle bench-revocation bench-costs system-packages clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml constraints.txt
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $@

$(ANVIL): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed

bytecode: $(VENV)/.installed
	@$(BIN)/python -m compileall -q -j 0 $(PACKAGES) tests bench > /dev/null

run: bytecode
	@test -f $(DATA)/consortium.json || $(BIN)/consortium init $(DATA) --demo$(if $(SUITE), --crypto $(SUITE))
	@test -z "$(SUITE)" || $(BIN)/python -c 'import json, sys; path, want = sys.argv[1:]; \
		found = json.load(open(path)).get("crypto", "intl"); \
		sys.exit(None if found == want else f"{path} is a consortium of the {found} suite, not {want}: a consortium " \
		f"keeps its suite; set DATA to another directory, or SUITE={found}")' $(DATA)/consortium.json $(SUITE)
	$(BIN)/consortium up $(DATA) --port $(PORT)

test: bytecode $(ANVIL) system-packages
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadscope --no-loadscope-reorder --durations=15 -m "not benchmark"

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "not anvil and not slow and not browser and not benchmark"

lint: $(VENV)/.installed $(ANVIL)
	$(BIN)/ruff check $(PACKAGES) tests bench
	$(BIN)/ruff format --check $(PACKAGES) tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(TSC) -p explorer/static

contracts: $(VENV)/.installed
	$(BIN)/python -m contracts.compile

bench-chain: $(VENV)/.installed $(ANVIL)
	$(BIN)/python -m bench.chain $(ARGS)

bench-notary: $(VENV)/.installed
	$(BIN)/python -m bench.notary $(ARGS)

bench-gateway: $(VENV)/.installed system-packages
	$(BIN)/python -m bench.gateway $(ARGS)

bench-explorer: $(VENV)/.installed
	$(BIN)/python -m bench.explorer $(ARGS)

bench-store: $(VENV)/.installed
	$(BIN)/python -m bench.store $(ARGS)

# the whole consortium under load through its gateways, on SQLite and on PostgreSQL + S3 (ARGS="--quick": minutes)
bench-e2e: $(VENV)/.installed system-packages
	$(BIN)/python -m bench.e2e $(ARGS)

bench-cli: $(VENV)/.installed
	$(BIN)/python -m bench.cli $(ARGS)

bench-privacy: $(VENV)/.installed
	$(BIN)/python -m bench.privacy $(ARGS)

bench-idle: $(VENV)/.installed
	$(BIN)/python -m bench.idle $(ARGS)

# from a revocation on chain (grant, suspension, certificate) to the gateway's first refusal (ARGS="--trials 5": quicker;
# ARGS="--load 16": with the gateway kept busy by 16 concurrent callers meanwhile)
bench-revocation: $(VENV)/.installed
	$(BIN)/python -m bench.revocation $(ARGS)

# the tests marked benchmark: each measures one cost (a cached grant decision, a login check, a node's restart...)
# and asserts its bound; `make test` leaves them out, for no test there may depend on how loaded the machine is
bench-costs: $(VENV)/.installed
	$(BIN)/python -m pytest -q -p no:cacheprovider -s -m benchmark

# nginx (the auth_request tests and benchmark), ab (the gateway benchmark), chromium (the explorer's browser
# tests, driven by Playwright, with a font for the Chinese pages) and PostgreSQL (the storage backends' tests start
# their own server), from Debian's packages.
system-packages:
	@if ! { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null || ! command -v ab >/dev/null \
		|| ! command -v chromium >/dev/null || ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1 \
		|| ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q nginx-light apache2-utils chromium fonts-wqy-microhei postgresql; \
	fi

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
