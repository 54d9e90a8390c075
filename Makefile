# abc_robot — the two commands of the README, and the engineer's helpers.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.abc-installed
export MUJOCO_GL ?= egl

.PHONY: setup demo test test-fast lint bench clean

$(STAMP): setup.py scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

## demo: set up, then run the bimanual teleop graph in MuJoCo for 30 s, headless
demo: $(STAMP)
	$(VENV)/bin/abc-teleop --sim --headless --duration 30

## test: set up, then run the whole suite (emulated devices, MuJoCo, real processes): every
## module but the end-to-end learning loop on two workers (a file per worker), then that
## module alone (its policy runs in real time on the CPU: it gets the machine to itself)
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --ignore=tests/test_learning_e2e.py
	$(PY) -m pytest -q tests/test_learning_e2e.py

lint: $(STAMP)
	$(VENV)/bin/ruff check abc_robot tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --config .importlinter

## bench: every benchmark suite, tables with ratios against same-run baselines
bench: $(STAMP)
	$(VENV)/bin/abc-bench all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
