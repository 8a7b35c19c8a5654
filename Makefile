# The two commands: `make run` and `make test`. Everything else is a helper for them.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | sha256sum | cut -c1-12)
PORT ?= 8000

# the real services for `make test` (see README: "Running against PostgreSQL and Redis")
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/qmedchain
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
# the shared cache (throttle counters); each test empties it, so it gets a database of its own
TEST_CACHE_URL ?= redis://127.0.0.1:6379/14

.PHONY: run test install lint migrate worker web smoke e2e-deps clean network

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

# gunicorn (gunicorn.conf.py: WEB_CONCURRENCY processes x GUNICORN_THREADS threads) with the Celery
# worker and beat beside it; the metrics of gunicorn's and the worker's processes meet in a fresh
# PROMETHEUS_MULTIPROC_DIR (task counts and durations: portal/task_signals.py). In a container
# `make run` is often root: the worker's "running with superuser privileges" warning (the JSON-only
# worker accepts no pickle, so it is only a warning) is silenced by its exact text, nothing else
run: migrate
	$(BIN)/python manage.py seed_demo
	@echo "Portal: http://127.0.0.1:$(PORT)/  (Ctrl-C stops the web server and the worker)"
	@rm -rf var/prometheus && mkdir -p var/prometheus
	@trap 'trap - INT TERM EXIT; kill 0' INT TERM EXIT; \
	  PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus $(BIN)/python -W "ignore:You're running the worker with superuser privileges" -m celery -A portal worker --beat --loglevel=INFO --concurrency=1 -s var/celerybeat-schedule & \
	  PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus $(BIN)/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$(PORT) & \
	  wait

# three nodes on ports 8001-8003, each witnessing the other two (bin/network); Ctrl-C stops them
network: install
	$(BIN)/python bin/network

lint: install
	$(BIN)/ruff check .
	$(BIN)/bandit -q -r portal imaging ledger lab quantum core crypto federation -x "*/migrations/*"
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/lint-imports  # the layer contract, no import cycle (.importlinter)
	$(BIN)/mypy  # strict on the pure packages and the scan pipeline ([tool.mypy] in pyproject.toml)

test: install lint e2e-deps ipfs-deps interop-deps
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) CACHE_URL=$(TEST_CACHE_URL) QMC_VAR_DIR=var/test-pg \
	  $(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory smoke

# a quick subset under the embedded defaults (SQLite + filesystem broker), so `make run` stays green
smoke: install
	rm -rf var/test-embedded
	env -u DATABASE_URL -u CELERY_BROKER_URL -u CACHE_URL -u REDIS_URL QMC_VAR_DIR=var/test-embedded $(BIN)/pytest -m smoke -p no:cacheprovider

# axe-core for the browser accessibility checks (from the npm registry; the tests fall back to a subset without it)
e2e-deps:
	@command -v npm >/dev/null && npm install --prefix tests/e2e/vendor --no-save --no-audit --no-fund axe-core@4.14.1 >/dev/null \
	  || echo "npm missing: e2e accessibility falls back to the subset check"

# the clinicians' viewer (viewer/: Cornerstone3D bundled by esbuild, pinned by viewer/package-lock.json)
# into static/viewer/, which is committed, so `make run` and `make test` need no npm; run this after
# changing viewer/ (tests/imaging/test_viewer_bundle.py fails until the bundle matches). npm's cache
# makes it work offline once the packages were fetched.
.PHONY: viewer
viewer:
	cd viewer && npm ci --prefer-offline --no-audit --no-fund && npm run build

# js-ipfs, a real IPFS node for tests/imaging/storage/test_kubo_real.py (npm registry, pinned by
# tests/imaging/ipfs_node.package-lock.json, into var/ipfs-node); without npm those tests skip (fail if CI=true)
.PHONY: ipfs-deps
ipfs-deps:
	@bash tests/imaging/ipfs_node.sh install >/dev/null \
	  || echo "ipfs-deps: js-ipfs not installed: the real-node storage tests skip (and fail under CI=true)"

# aics-witness + aics-tlog, an independent C2SP implementation for tests/interop (PyPI, Python >= 3.12,
# pinned by tests/interop/requirements.txt, into var/interop-venv); without it those tests skip (fail if CI=true)
.PHONY: interop-deps
interop-deps:
	@bash tests/interop/interop_venv.sh install >/dev/null 2>&1 \
	  || echo "interop-deps: aics-witness/aics-tlog not installed: the interop tests skip (and fail under CI=true)"

clean:
	rm -rf $(VENV) var

# training-only extra (PyTorch CPU build, onnx; not needed by `make test` or the worker): the CNN
# (5-fold CV on train + val, ONNX export), then the ensemble on the out-of-fold scores of both models
TRAIN_DATA ?= ../shared/data/pneumoniamnist_trainval.npz
.PHONY: train
train: install
	$(BIN)/pip install -q -r requirements-train.txt
	nice $(BIN)/python manage.py diagnose train --data $(TRAIN_DATA) --model cnn
	nice $(BIN)/python manage.py diagnose train --data $(TRAIN_DATA) --model ensemble
