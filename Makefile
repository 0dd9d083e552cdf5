# The README's commands. Each creates or reuses the virtualenv at .venv.
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null)
EXTRAS ?= service,ray,sim,kube,monitor,test,dev

.PHONY: install run test lint bench clean k8s-tools generate

# --compile-bytecode: an isolated job's Ray runs from a read-only view of this venv, and
# without .pyc files each of its Python processes compiles Ray again (seconds each; pip
# compiles by default, uv does not).
$(VENV)/.installed: pyproject.toml
	@if [ -z "$(UV)" ]; then python3 -m pip install --quiet uv; fi
	@test -x $(PY) || uv venv --quiet --python python3 $(VENV)
	uv pip install --quiet --compile-bytecode --python $(PY) -e '.[$(EXTRAS)]'
	@touch $@

install: $(VENV)/.installed

# Job code runs in a bubblewrap sandbox (docs/SECURITY.md): installed here on Debian as root.
run: install
	@command -v bwrap >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null; }
	$(VENV)/bin/aicc up

# The real Kubernetes programs the k8s tests run (helm, etcd, kube-apiserver, kwok,
# controller-gen, the KubeRay operator), built from their Go modules into a cache outside
# the repository, keyed by their versions; the last line printed is its bin folder.
k8s-tools:
	@python3 tests/k8s/tools.py build

# Without Go the k8s tests skip loudly; under CI=true a failed tool build fails the run.
test: install
	@python3 tests/k8s/tools.py build || [ "$$CI" != true ]
	$(PY) -m ruff check scheduler monitor tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -q $(PYTEST_ARGS)

# What is generated from the code and kept in the repository (the API's job spec fields, from
# the domain's JobSpec); a test fails while it is stale.
generate: install
	$(PY) -m scheduler.api.spec_fields_gen

lint: install
	$(PY) -m ruff check scheduler monitor tests benchmarks
	$(PY) -m mypy

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
