# Two commands on a fresh machine: `make run` serves the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
CHROMIUM ?= /usr/bin/chromium
PHP ?= /usr/bin/php
JQUERY ?= /usr/share/javascript/jquery/jquery.min.js

.PHONY: run test install install-test migrate translations bench bench-dispatch bench-campaign bench-demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# setuptools prints the same note on every editable install of a project without a src/ folder ("be careful with
# folders in your working directory with the same name as your package"); it is about the mechanism, not this
# project, so only that module's note is hidden: the packaging's own warnings would still show.
EDITABLE := PYTHONWARNINGS=ignore::UserWarning:setuptools.command.editable_wheel $(BIN)/pip install -q -e

$(VENV)/.installed: $(BIN)/python pyproject.toml setup.cfg setup.py
	$(EDITABLE) .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(EDITABLE) '.[test]'
	touch $@

# Debian packages the tests drive, installed the same way: nothing to do when they are there; as root, apt installs
# them; otherwise the tests that need them skip (CI sets REQUIRE_BROWSER=1 and REQUIRE_PHP=1 and so requires them).
# $(call debian_package,PACKAGE,what needs it)
define debian_package
@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
  echo "Installing Debian's $(1) for $(2)"; \
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null \
    || echo "warning: $(1) could not be installed: $(2) will be skipped" >&2; \
else \
  echo "warning: $@ is missing (as root: apt-get install $(1)): $(2) will be skipped" >&2; \
fi
endef

# Chromium: tests/test_admin_browser.py drives it with Playwright (no browser is ever downloaded).
$(CHROMIUM):
	$(call debian_package,chromium,the browser tests)

# PHP: tests/php/ runs the Retainful plugin's algorithms in real PHP, and `php -l` checks the must-use plugin.
$(PHP):
	$(call debian_package,php-cli,the Retainful plugin's PHP tests)

# jQuery: tests/test_plugin_browser.py loads WordPress's jQuery on its shop page, from Debian's copy.
$(JQUERY):
	$(call debian_package,libjs-jquery,the tracking script's jQuery events test)

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test $(CHROMIUM) $(PHP) $(JQUERY)

migrate: install
	$(BIN)/retainful db upgrade

# Links in messages and the printed admin address follow HOST and PORT unless PUBLIC_BASE_URL says otherwise.
run: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: migrate
	$(BIN)/retainful demo-store --offer-history
	$(BIN)/retainful serve --host $(HOST) --port $(PORT)

# The admin's words: extract what the code marks (babel.cfg), merge new ones into each catalog, compile the .mo
# files (committed; tests/test_i18n.py fails when one is stale or a word has no translation).
CATALOGS := admin/translations
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l -k Nn_:1,2 --no-location --sort-output -o $(CATALOGS)/messages.pot .
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --no-fuzzy-matching --ignore-obsolete
	# A fixed date, not each run's: a new one every time would conflict in every merge of the catalog.
	sed -i 's/^"POT-Creation-Date: .*/"POT-Creation-Date: 2026-12-01 00:00+0000\\n"/' $(CATALOGS)/*/LC_MESSAGES/messages.po
	$(BIN)/pybabel compile -d $(CATALOGS)
	rm $(CATALOGS)/messages.pot

test: install-test
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python bench/cart_ingest.py

bench-dispatch: install-test
	$(BIN)/python bench/dispatch.py $(BENCH_ARGS)

bench-campaign: install-test
	$(BIN)/python bench/campaign.py $(BENCH_ARGS)

# `retainful demo-data`'s 90 days beside a baseline of ORM round trips; BENCH_ARGS=--postgres for PostgreSQL.
bench-demo: install-test
	$(BIN)/python bench/demo_data.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
