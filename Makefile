# The course in two commands:   make course   (run every notebook)   and   make test
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?=
ARGS ?=

.PHONY: course course-reference publish-reference test lint lock setup bench clean-runs

course: $(VENV)/.installed
	$(PY) -m stirer_lib.course $(if $(PROFILE),--profile $(PROFILE)) $(ARGS)

# the course in minutes: the training notebooks load the repository's reference checkpoints (reference/cpu/)
course-reference: $(VENV)/.installed
	$(PY) -m stirer_lib.course --profile $(or $(PROFILE),cpu) --use-reference $(ARGS)

# a maintainer, after `make course PROFILE=cpu`: copy runs/cpu/reference/ into the repository's reference/cpu/
publish-reference: $(VENV)/.installed
	$(PY) -m stirer_lib.course --profile $(or $(PROFILE),cpu) --publish-reference runs/$(or $(PROFILE),cpu) $(ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest -q $(ARGS)

setup: $(VENV)/.installed

# ruff (pyproject.toml [tool.ruff]): the linter, and the formatter's check; `ruff format` fixes the second
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# requirements-lock.txt from the venv's versions (after an upgrade and a green `make test`)
lock: $(VENV)/.installed
	bash tools/lock.sh $(VENV)

$(VENV)/.installed: pyproject.toml requirements-lock.txt tools/setup_venv.sh
	bash tools/setup_venv.sh $(VENV)
	touch $@

bench: $(VENV)/.installed
	$(PY) -m stirer_lib.bench data
	$(PY) -m stirer_lib.bench model

clean-runs:
	rm -rf runs
