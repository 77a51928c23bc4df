# Desk Dispatcher — two commands: `make run` (the app) and `make test` (the tests).
# Both are idempotent and install what they need: Debian packages via apt (when root),
# then a virtual environment in .venv with the package installed editable.

SHELL := /bin/bash
PYTHON ?= python3
PG_MAJOR ?= 15
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Debian packages: PostgreSQL + PostGIS (private cluster), ClamAV (scanning), Xvfb
# (a virtual display), libmagic (content sniffing) and the libraries Qt/QtWebEngine load.
APT_PACKAGES := postgresql-$(PG_MAJOR) postgresql-$(PG_MAJOR)-postgis-3 clamav clamav-daemon \
	xvfb xauth libmagic1 libegl1 libgl1 libopengl0 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 \
	libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 \
	libxcb-xinerama0 libxcb-xkb1 libnss3 libxcomposite1 libxdamage1 libxrandr2 libxtst6 libxkbfile1 \
	libasound2 libdbus-1-3 libfontconfig1 fonts-dejavu-core python3-venv pgbouncer

.PHONY: run test sysdeps venv lint bench dist test-dist clean help

help:
	@echo "make run    - start Desk Dispatcher (installs what it needs first)"
	@echo "make test   - run the whole test suite (installs what it needs first)"
	@echo "make dist   - build the one-folder application bundle into dist/"
	@echo "make bench  - run every benchmark (see PERFORMANCE.md)"

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else \
	    echo "Missing Debian packages:$$missing"; \
	    echo "Install them with:  sudo apt-get install$$missing   (then run make again)"; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,build]'
	@touch $(STAMP)

venv: sysdeps $(STAMP)

run: venv
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ] && [ "$$QT_QPA_PLATFORM" != "offscreen" ]; then \
	  echo "No display found (DISPLAY is not set). Desk Dispatcher is a desktop application."; \
	  echo "On a machine without a screen, run it on a virtual display:  xvfb-run -a make run"; \
	  exit 1; \
	fi
	$(VENV)/bin/desk-desktop

test: venv
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:cacheprovider --durations=30 tests
	@echo "== the database suite again, connected as a dispatcher (row-level security applies) =="
	DESK_TEST_AS_DISPATCHER=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:cacheprovider -q tests/integration

lint: venv
	$(VENV)/bin/ruff check desk_desktop tests

bench: venv
	@for b in numbering nearest assign rules attachments ticket_list map startup; do \
	  QT_QPA_PLATFORM=offscreen $(VENV)/bin/desk-desktop bench $$b --json || true; done

dist: venv
	$(VENV)/bin/pyinstaller --noconfirm --clean build.spec
	@du -sh dist/desk-desktop
	@echo "Built dist/desk-desktop/desk-desktop — verify with: dist/desk-desktop/desk-desktop --self-check"

# The frozen-bundle test alone (it also runs as part of `make test`).
test-dist: venv
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:cacheprovider -m slow tests

clean:
	rm -rf build dist $(VENV)
