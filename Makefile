# Two commands on a fresh machine: `make run` serves the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
CHROMIUM ?= /usr/bin/chromium
PHP ?= /usr/bin/php

.PHONY: run test install install-test migrate bench bench-dispatch clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg setup.py
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Debian's Chromium for the browser tests (tests/test_admin_browser.py drives it with Playwright; no browser is ever
# downloaded). Nothing to do when it is there; as root, apt installs it; otherwise those tests skip (CI requires them).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	    || echo "warning: chromium could not be installed: the browser tests will be skipped" >&2; \
	else \
	  echo "warning: $@ is missing (as root: apt-get install chromium): the browser tests will be skipped" >&2; \
	fi

# Debian's PHP for the Retainful plugin's test vectors (tests/php/ runs the plugin's algorithms in real PHP) and the
# `php -l` of the must-use plugin; the same way as chromium: as root apt installs it, otherwise those tests skip.
$(PHP):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's php-cli for the Retainful plugin tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq php-cli >/dev/null \
	    || echo "warning: php-cli could not be installed: the PHP tests will be skipped" >&2; \
	else \
	  echo "warning: $@ is missing (as root: apt-get install php-cli): the PHP tests will be skipped" >&2; \
	fi

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test $(CHROMIUM) $(PHP)

migrate: install
	$(BIN)/retainful db upgrade

# Links in messages and the printed admin address follow HOST and PORT unless PUBLIC_BASE_URL says otherwise.
run: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: migrate
	$(BIN)/retainful demo-store
	$(BIN)/retainful serve --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python bench/cart_ingest.py

bench-dispatch: install-test
	$(BIN)/python bench/dispatch.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
