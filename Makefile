# The two front-door commands: `make demo` and `make test`. Both install what
# they need first (scripts/setup.sh), so they work on a fresh machine.
SHELL := /bin/bash
VENV := .venv/bin
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/.venv/bin:$(PATH)
# pytest-xdist workers for the integration tests: a file's tests stay on one
# worker (--dist loadfile), so its module fixtures are made once; each worker
# has its own PostgreSQL cluster and moto server. PYTEST_WORKERS=0 runs serially.
# --no-loadscope-reorder keeps the order tests/integration/conftest.py gives
# (longest files first, unit tests last) instead of xdist's by number of tests.
# Three workers on two cores: a test often waits (a service's health, a killed
# run, an archive's timeout), and with two workers the cores were idle about a
# fifth of the time; with three, 2%. The suite took 787 s instead of 977 s.
PYTEST_WORKERS ?= 3
# Every ansible-playbook run of the integration tests, one JSON line each
# (scripts/playbook_runs.py prints where the suite's time went).
RUN_LOG := $(CURDIR)/.pytest_cache/playbook_runs.jsonl
# make test's lint, which runs beside its pytest phase. Named here, not written as $(MAKE) in the recipe:
# make runs a recipe line that names $(MAKE) even under -n, and that line also runs pytest.
LINT_LOG := $(CURDIR)/.pytest_cache/lint.log
LINT_BESIDE := $(MAKE) --no-print-directory -o setup lint
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder)

.PHONY: help setup demo demo-clean test lint unit integration molecule faults crash-sweep vars clean bench ee test-ee

# One line per target (tests/unit/test_operator_view.py checks that every target is listed).
help:
	@echo "make demo        - restore a throwaway YieldVault database on this machine and print the report"
	@echo "make demo-clean  - stop the demo's PostgreSQL and PM2 and remove ./demo"
	@echo "make test        - lint, unit, integration (real PostgreSQL 15, S3 on moto), execution environment and molecule tests"
	@echo "make setup       - install what the other targets need (.venv, .collections); they run it first"
	@echo "make lint        - variables in sync, yamllint, ruff, ansible-lint (production) and ansible-doc"
	@echo "make unit        - the unit tests"
	@echo "make integration - the integration tests (PYTEST_WORKERS=$(PYTEST_WORKERS) workers; 0 runs serially)"
	@echo "make molecule    - the molecule scenarios (SCENARIOS=\"systemd docker pm2\" by default)"
	@echo "make ee          - build the execution environment (ansible-builder, local Debian base; EE_IMAGE printed)"
	@echo "make test-ee     - build the execution environment and run a drill and a restore in it as AWX runs a job"
	@echo "make faults      - the fault-injection suite"
	@echo "make crash-sweep - kill -9 at every task that changes something, then what the next run says"
	@echo "make vars        - regenerate role defaults, argument specs and docs/variables.md's table from docs/variables.yml"
	@echo "make bench       - restore speed against the runbook by hand (BENCH_ARGS=--full for the big set)"
	@echo "make clean       - demo-clean, then remove .venv, .collections, .ansible and .pytest_cache"
	@echo "make help        - this list"

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

demo-clean:
	-@[ -d demo/pm2 ] && PM2_HOME=$(CURDIR)/demo/pm2 pm2 kill >/dev/null 2>&1
	-@$(VENV)/python scripts/pg_cluster.py stop demo/pg >/dev/null 2>&1
	rm -rf demo

vars:
	$(VENV)/python scripts/gen_role_vars.py

lint: setup
	$(VENV)/python scripts/gen_role_vars.py --check
	$(VENV)/yamllint -s .
	$(VENV)/ruff check .
	$(VENV)/antsibull-changelog lint
	$(VENV)/ansible-lint --profile production
	@# One ansible-doc for every module (1 s, not 20): it exits non-zero when any module's documentation is broken.
	@ANSIBLE_DEPRECATION_WARNINGS=false $(VENV)/ansible-doc $(patsubst plugins/modules/%.py,yieldvault.db_restore.%,$(wildcard plugins/modules/*.py)) \
	  >/dev/null || { echo "ansible-doc failed: see the error above"; exit 1; }
	@echo "lint: ok"

unit: setup
	$(VENV)/pytest -q tests/unit

integration: setup
	mkdir -p $(dir $(RUN_LOG)) && rm -f $(RUN_LOG)
	YV_PLAYBOOK_LOG=$(RUN_LOG) $(VENV)/pytest -q $(XDIST) tests/integration
	$(VENV)/python scripts/playbook_runs.py $(RUN_LOG) --top 15

# Restore speed against the runbook done by hand; BENCH_ARGS="--full" for the
# big set, "--sizes 0,50 --reps 2" etc. (benchmarks/run.py --help).
bench: setup
	$(VENV)/python benchmarks/run.py $(BENCH_ARGS)

# The molecule scenarios (systemd, docker, pm2) need dockerd and locally built
# images; scripts/molecule.sh installs and starts what is missing.
molecule: setup
	bash scripts/molecule.sh $(SCENARIOS)

# The execution environment from execution-environment.yml, on a base image
# made here from Debian packages; reused while its inputs are unchanged.
ee: setup
	bash scripts/setup_docker.sh
	bash scripts/build_ee.sh

# The EE built (or found built), then a drill and a restore run in it through
# ansible-runner's process isolation, the way AWX runs a job (part of `make test`).
test-ee: setup
	bash scripts/setup_docker.sh
	YV_TEST_STRICT=1 $(VENV)/pytest -q -p no:cacheprovider -rs --durations=5 tests/integration/test_ee.py

# The fault-injection suite alone (it is part of `make test` too).
faults: setup
	$(VENV)/pytest -q $(XDIST) -p no:cacheprovider tests/integration/test_faults.py tests/integration/test_crash.py \
	  tests/integration/test_names.py

# kill -9 of the run at every task that changed something in a reference run
# (swap and in place), each followed by what the next run tells the operator.
crash-sweep: setup
	YV_CRASH_SWEEP=1 $(VENV)/pytest -q -p no:cacheprovider tests/integration/test_crash.py

# Docker first: the service tests run a backend container. The images (molecule's,
# the Docker tests', the execution environment) build in the background while
# the lint and pytest run (scripts/prebuild_images.sh). The lint runs beside the
# pytest phase (about one core for 45 s, which the tests only partly use); its
# output is printed once the tests end (the shell waits for it), and either
# failing fails `make test`.
# YV_TEST_STRICT=1 turns a missing Docker, Node.js or tmpfs mount into a
# failure, not a skip.
test: setup
	bash scripts/setup_docker.sh
	@bash scripts/prebuild_images.sh
	mkdir -p $(dir $(RUN_LOG)) && rm -f $(RUN_LOG)
	@echo "make lint: running beside the tests; its output follows theirs"
	$(LINT_BESIDE) > $(LINT_LOG) 2>&1 & lint_pid=$$!; \
	YV_TEST_STRICT=1 YV_PLAYBOOK_LOG=$(RUN_LOG) $(VENV)/pytest -q $(XDIST) -p no:cacheprovider -rs --durations=60 \
	  --ignore=tests/integration/test_ee.py tests/unit tests/integration; tests=$$?; \
	wait $$lint_pid; lint=$$?; echo "== make lint (ran beside the tests)"; cat $(LINT_LOG); \
	[ $$lint = 0 ] || echo "make lint failed (exit $$lint): see its output above; make lint runs it alone" >&2; \
	[ $$tests = 0 ] && [ $$lint = 0 ]
	$(VENV)/python scripts/playbook_runs.py $(RUN_LOG) --top 15
	$(MAKE) --no-print-directory -o setup test-ee
	bash scripts/molecule.sh

clean: demo-clean
	rm -rf .venv .collections .ansible .pytest_cache
