# Atrium. From a fresh clone with only python3 (3.11+):
#   make demo    virtualenv, install, migrate SQLite, load demo data, print tokens, serve GraphiQL
#   make test    the whole suite (PostgreSQL half runs when ATRIUM_TEST_POSTGRES_URL is set)

PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
PLUGINS     := plugins/retail plugins/dining plugins/property
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv install migrate demo test schema clean

help:
	@echo "make demo     install, migrate var/atrium.db, load demo data, print tokens, serve http://127.0.0.1:8000/graphql"
	@echo "make test     run the test suite (PYTEST_ARGS='-k earn -x' to pass arguments to pytest)"
	@echo "make schema   regenerate schema/schema.graphql from the installed plugins"
	@echo "make migrate  apply database migrations"
	@echo "make clean    remove var/ and the virtualenv"

venv: $(BIN)/python

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Atrium needs Python 3.11 or newer, found " + sys.version.split()[0] + "; run make PYTHON=python3.11 ...")'
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create $(VENV); on Debian/Ubuntu install the python3-venv package." >&2; exit 1; }

install: $(STAMP)

# Reinstall only when a pyproject.toml changes; the packages are editable, so code changes need nothing.
$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS)) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]" $(addprefix -e ,$(PLUGINS))
	@touch $@

migrate: install
	$(BIN)/atrium db upgrade

demo: migrate
	$(BIN)/atrium demo load
	$(BIN)/atrium demo tokens
	$(BIN)/atrium serve

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

schema: install
	$(BIN)/atrium schema export --output schema/schema.graphql

clean:
	rm -rf var $(VENV)
