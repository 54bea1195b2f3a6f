# The course in two commands:   make course   (run every notebook)   and   make test
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?=
ARGS ?=

.PHONY: course test setup bench clean-runs

course: $(VENV)/.installed
	$(PY) -m stirer_lib.course $(if $(PROFILE),--profile $(PROFILE)) $(ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest -q $(ARGS)

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml tools/setup_venv.sh
	bash tools/setup_venv.sh $(VENV)
	touch $@

bench: $(VENV)/.installed
	$(PY) -m stirer_lib.bench data
	$(PY) -m stirer_lib.bench model

clean-runs:
	rm -rf runs
