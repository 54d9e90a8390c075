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

## test: set up, then run the whole suite (emulated devices, MuJoCo, real processes)
test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check abc_robot tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --config .importlinter

## bench: every benchmark suite, tables with ratios against same-run baselines
bench: $(STAMP)
	$(VENV)/bin/abc-bench all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
