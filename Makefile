# Two commands on a fresh machine: `make run` serves the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install install-test migrate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg setup.py
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

migrate: install
	$(BIN)/retainful db upgrade

run: migrate
	$(BIN)/retainful demo-store
	$(BIN)/retainful serve --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python bench/cart_ingest.py

clean:
	rm -rf $(VENV) .pytest_cache
