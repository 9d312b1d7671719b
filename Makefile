# The two commands: `make run` (the whole product, with demo data) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install system-deps lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Debian's Chromium (browser tests) and Dovecot (a real IMAP server for the email tests).
# Installed only where we are root and they are missing; elsewhere those tests say why they skip.
system-deps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null && \
	   { ! command -v chromium >/dev/null || ! command -v dovecot >/dev/null; }; then \
	  echo "installing chromium and dovecot-imapd from Debian packages"; \
	  apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium dovecot-imapd >/dev/null; \
	fi

run: $(STAMP)
	$(BIN)/python -m helpdesk.launch run

test: $(STAMP) system-deps
	$(BIN)/python -m helpdesk.launch test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# mypy's Django plugin imports the settings; nothing connects, so any URL will do
	DEBUG=1 DATABASE_URL=postgres://lint@localhost/lint REDIS_URL=redis://localhost:6379/0 \
	  $(BIN)/mypy helpdesk tickets channels_in kb reports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m helpdesk.launch bench $(ARGS)

clean:
	rm -rf $(VENV) var
