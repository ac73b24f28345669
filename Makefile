# Two commands matter to a newcomer: `make demo` and `make test`. Both build .venv from the
# committed lock on first use (python3.11, make and git are all a fresh machine needs).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.8

export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv demo test test-fast lint format bench lock clean sandbox chromium docker-compose

venv: $(STAMP)

# The stamp depends on the lock and the package metadata: editing either rebuilds the env.
# Three editable packages: the product library (include/), its Airflow provider (airflow_provider/:
# hooks and connection types) and the development package (dev/: simulators, scenario, demo),
# which the image never contains.
$(STAMP): requirements.lock pyproject.toml airflow_provider/pyproject.toml dev/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . -e airflow_provider -e dev
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cfp demo

# `make up`: the demo's stack (standalone Airflow), the demo run once, then left running with
# the Airflow UI's address and login printed; Ctrl-C, or `make down` from another terminal,
# stops every process it started. `make up-distributed`: the docker-compose topology as plain
# processes (CeleryExecutor, two workers, PostgreSQL, Redis), the demo run on it, then stopped
# (docs/distributed.md; `cfp demo --distributed --keep-running` leaves it up instead).
.PHONY: up up-distributed down
up: $(STAMP)
	$(BIN)/cfp demo --keep-running

up-distributed: $(STAMP)
	$(BIN)/cfp demo --distributed

# A pid file left by a stack that was killed (-9, a crash, a reboot) may name a pid the system
# has since given to another process: only a process that is still `cfp demo` is signalled.
# The folder the demo runs in: CFP_DEMO_HOME when set (dev/cfp_dev/paths.py), else .demo.
DEMO_HOME ?= $(or $(strip $(CFP_DEMO_HOME)),.demo)
down:
	@ls $(DEMO_HOME)/up.pid $(DEMO_HOME)/distributed/up.pid 2>/dev/null | grep -q . || echo "no stack left running by make up"
	@for f in $(DEMO_HOME)/up.pid $(DEMO_HOME)/distributed/up.pid; do \
	  test -f $$f || continue; pid=$$(cat $$f); \
	  ps -ww -p "$$pid" -o args= 2>/dev/null | grep -Eq '(^|[ /])cfp demo( |$$)' || \
	    { echo "stale $$f: pid $$pid is not a running cfp demo; removed"; rm -f $$f; continue; }; \
	  kill -TERM $$pid 2>/dev/null || { rm -f $$f; continue; }; echo "stopping the stack of pid $$pid ..."; \
	  for i in $$(seq 120); do ps -p $$pid -o stat= 2>/dev/null | grep -qv "^Z" || break; sleep 0.5; done; \
	  ps -p $$pid -o stat= 2>/dev/null | grep -qv "^Z" && echo "pid $$pid still running" || echo "stopped"; done

# The finance report's browser test (tests/reports/test_report_browser.py) drives Debian's
# chromium through Playwright: browsers cannot be downloaded here, the OS package can. Installed
# once when missing (as root, or through password-less sudo); silent when already there. Under
# CI=true a missing chromium fails that test instead of skipping it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is missing: run 'apt-get install chromium' as root (the report's browser test needs it)" >&2; fi; }

# The deployment test (tests/deploy/test_compose.py) validates docker-compose.yaml with Debian's
# docker-compose, which parses and interpolates the file without a Docker engine (the engine it
# recommends, docker.io, is left out). Installed the same way as chromium; under CI=true a
# missing binary fails that test instead of skipping it.
docker-compose:
	@command -v docker-compose >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose; \
	  else echo "docker-compose is missing: run 'apt-get install docker-compose' as root (the deployment test needs it)" >&2; fi; }

# Two test processes (the machine's two cores); a whole file stays on one process, so its
# module fixtures (one pipeline run, one Great Expectations context, one dag.test) are built once.
# `make test PYTEST_WORKERS=0` runs in one process. Three processes were tried: the three
# whole-stack files then start their Airflow stacks at once and starve each other (the sidecar's
# end-to-end test took about 9 minutes instead of about 2; the leak scan's demo and the
# distributed run were still going).
PYTEST_WORKERS ?= 2

test: $(STAMP) chromium docker-compose
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/mypy
	$(BIN)/python -m cfp_dev.audit check
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not airflow and not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.run $(BENCH_ARGS)

sandbox: $(STAMP)
	$(BIN)/cfp sandbox checkout --port 8790 --seed 42

# Re-resolve every transitive pin (needs network to PyPI).
lock: $(STAMP)
	$(BIN)/uv pip compile requirements.in --universal --python-version 3.11 --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info include/*.egg-info dev/*.egg-info airflow_provider/*.egg-info .demo
