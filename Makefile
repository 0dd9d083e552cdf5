# The README's commands. Each creates or reuses the virtualenv at .venv.
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null)
EXTRAS ?= service,ray,sim,kube,monitor,test,dev

.PHONY: install run test lint bench clean

$(VENV)/.installed: pyproject.toml
	@if [ -z "$(UV)" ]; then python3 -m pip install --quiet uv; fi
	@test -x $(PY) || uv venv --quiet --python python3 $(VENV)
	uv pip install --quiet --python $(PY) -e '.[$(EXTRAS)]'
	@touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/aicc up

test: install
	$(PY) -m ruff check scheduler monitor tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check scheduler monitor tests benchmarks
	$(PY) -m mypy

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
