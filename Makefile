# The two entry points of the README: `make demo` (the main job) and `make test` (the suite).
# Each creates .venv if missing, installs the project into it, and installs the system tools the
# tests need with apt-get when run as root (or prints the command otherwise).

VENV ?= .venv
PY := $(VENV)/bin/python
APT_TOOLS := iverilog tshark g++ make perl
STAMP := $(VENV)/.installed

.PHONY: demo test lint format tools venv clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

tools:
	@missing=""; for t in $(APT_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system tools:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_TOOLS) >/dev/null; \
	  else \
	    echo "missing system tools:$$missing; run: sudo apt-get install -y $(APT_TOOLS)"; \
	  fi; \
	fi

demo: venv
	$(VENV)/bin/esa demo

test: venv tools
	$(VENV)/bin/ruff check hdl driver host sim tests
	$(VENV)/bin/ruff format --check hdl driver host sim tests
	$(PY) -m pytest -n 2 --dist worksteal -q -m "not slow" --durations=15

lint: venv
	$(VENV)/bin/ruff check hdl driver host sim tests

format: venv
	$(VENV)/bin/ruff format hdl driver host sim tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
