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
	libasound2 libdbus-1-3 libfontconfig1 fonts-dejavu-core python3-venv appstream desktop-file-utils pgbouncer

.PHONY: run test sysdeps venv lint bench dist test-dist install constraints clean help

help:
	@echo "make run    - start Desk Dispatcher (installs what it needs first)"
	@echo "make test   - run the whole test suite (installs what it needs first)"
	@echo "make dist   - build the one-folder application bundle into dist/"
	@echo "make bench  - run every benchmark (desk-desktop bench NAME --json)"
	@echo "make install PREFIX=/usr/local - desktop entry, icon and AppStream metainfo (and the bundle from make dist)"

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

# The versions in constraints.txt are the ones the tests ran with (make constraints refreshes it).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,build]'
	@touch $(STAMP)

constraints: venv
	{ sed -n '/^#/p' constraints.txt; $(PY) -m pip freeze --exclude-editable --exclude desk-desktop; } > constraints.tmp
	mv constraints.tmp constraints.txt

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
	@echo "== the database and UI suites again, connected as a dispatcher (row-level security applies) =="
	DESK_TEST_AS_DISPATCHER=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:cacheprovider -q -m "not slow" \
	  tests/integration tests/ui

lint: venv
	$(VENV)/bin/ruff check desk_desktop tests

bench: venv
	@for b in numbering nearest assign rules attachments ticket_list map startup fleet soak; do \
	  QT_QPA_PLATFORM=offscreen $(VENV)/bin/desk-desktop bench $$b --json || true; done

dist: venv
	$(VENV)/bin/pyinstaller --noconfirm --clean build.spec
	@du -sh dist/desk-desktop
	@echo "Built dist/desk-desktop/desk-desktop — verify with: dist/desk-desktop/desk-desktop --self-check"

# The frozen-bundle test alone (it also runs as part of `make test`).
test-dist: venv
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:cacheprovider -m slow tests

# Desktop integration under $(DESTDIR)$(PREFIX): the .desktop entry, the icon under the name the
# entry uses (Icon=desk-desktop), the AppStream metainfo; and the one-folder bundle with a
# desk-desktop command when `make dist` built one (otherwise desk-desktop comes from pip).
PREFIX ?= /usr/local
DESKTOP_DIR := desk_desktop/resources/desktop
METAINFO_ID := io.github.deskdispatcher.DeskDesktop
install:
	install -Dm644 $(DESKTOP_DIR)/desk-desktop.desktop $(DESTDIR)$(PREFIX)/share/applications/desk-desktop.desktop
	install -Dm644 desk_desktop/resources/icons/app.svg $(DESTDIR)$(PREFIX)/share/icons/hicolor/scalable/apps/desk-desktop.svg
	install -Dm644 $(DESKTOP_DIR)/desk-desktop.metainfo.xml $(DESTDIR)$(PREFIX)/share/metainfo/$(METAINFO_ID).metainfo.xml
	@if [ -x dist/desk-desktop/desk-desktop ]; then \
	  rm -rf $(DESTDIR)$(PREFIX)/lib/desk-desktop; mkdir -p $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin; \
	  cp -a dist/desk-desktop $(DESTDIR)$(PREFIX)/lib/desk-desktop; \
	  ln -sfn ../lib/desk-desktop/desk-desktop $(DESTDIR)$(PREFIX)/bin/desk-desktop; \
	  echo "Installed the bundle: $(PREFIX)/bin/desk-desktop"; \
	else \
	  echo "No bundle in dist/ (make dist builds one): the entry runs the desk-desktop that pip installed."; \
	fi

clean:
	rm -rf build dist $(VENV)
