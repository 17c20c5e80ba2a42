# Developer and CI entry points. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS ?= --disable-pip-version-check
PORT ?= 8080

.DEFAULT_GOAL := help

.PHONY: help
help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'


$(VENV)/.installed: pyproject.toml setup.py acceptance_tests/app/pyproject.toml
	@echo "Creating $(VENV): dependencies, then the hot paths compiled with mypyc (about 2 to 4 minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) --progress-bar off -e '.[dev]' -e acceptance_tests/app
	touch $@
	@echo "$(VENV) is ready"

# The hot paths (c2cwsgiutils._compiled runs the source, with a warning, while a build is older than
# it). Checked at every make: the build falls back to plain Python without a word when mypyc fails
# (a type error in a compiled module), so the extensions themselves are looked at, not time stamps;
# a fresh clone compiles once (the step above), and again only when a compiled module changed.
HOT_PATHS_BUILT := C2C_PURE_PYTHON= $(PY) -c 'import sys; from c2cwsgiutils import _compiled; sys.exit(any(s != "compiled" for s in _compiled.build_status().values()))'
.PHONY: compiled
compiled: $(VENV)/.installed
	@if $(HOT_PATHS_BUILT); then \
		echo "compiled hot paths are up to date"; \
	else \
		echo "Compiling the hot paths (mypyc, about a minute)"; \
		$(PY) -m pip install $(PIP_FLAGS) --no-deps --no-build-isolation -e .; \
		$(HOT_PATHS_BUILT) || echo "WARNING: the hot paths run as plain Python (mypyc failed?): see why with $(PY) -m pip install -v --no-deps --no-build-isolation -e ." >&2; \
	fi

.PHONY: install
install: compiled browser  ## Create .venv with the package (hot paths compiled), every extra and the dev tools

# The UI tests drive Debian's chromium with Playwright (never `playwright install`).
.PHONY: browser
browser:  ## Install Debian's chromium for the UI tests when /usr/bin/chromium is missing
	@test -x /usr/bin/chromium || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium; }

.PHONY: run
run: install  ## Serve the demo service on http://localhost:$(PORT) (PORT=9000 make run to change)
	PORT=$(PORT) VENV=$(VENV) scripts/run-demo.sh

.PHONY: lint
lint: install  ## ruff check, ruff format --check, mypy --strict, settings table up to date, docs site builds
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) scripts/settings_table.py --check docs/settings.md
	$(MAKE) --no-print-directory docs-check

.PHONY: format
format: install  ## Apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

.PHONY: docs
docs: install  ## Regenerate the settings table in docs/settings.md
	$(PY) scripts/settings_table.py --write docs/settings.md

# mkdocs --strict (mkdocs.yml's validation: a broken link or anchor fails), into a temporary
# directory (not --quiet: it hides the warnings that --strict counts); then the links of README.md,
# bench/README.md, MIGRATION.md and CHANGELOG.md, which are not pages of the site.
.PHONY: docs-check
docs-check: install  ## Build the documentation site (docs/) with broken links and anchors failing
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && $(VENV)/bin/mkdocs build --strict --site-dir "$$tmp"
	$(PY) scripts/check_links.py README.md bench/README.md MIGRATION.md CHANGELOG.md

.PHONY: pytest
pytest: install browser  ## Run the test suite only
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: test
test: lint pytest  ## Everything CI runs: lint, then every test

.PHONY: bench
bench: install  ## Run every benchmark (peers are installed under bench/.peers)
	$(PY) bench/run.py $(BENCH_ARGS)

.PHONY: clean
clean:  ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist *.egg-info
