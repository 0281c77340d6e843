# Two commands for a fresh machine:  make demo   (sample mailbox → archive → Maildir)
#                                    make test   (the test suite)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= demo-out
SAMPLE := samples/mairie-exemple

.PHONY: demo test lint bench clean example-state

$(BIN)/migrate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,graph,pst,matrix,postgresql]'
	touch $@

demo: $(BIN)/migrate
	rm -rf $(OUT) && mkdir -p $(OUT)
	$(BIN)/migrate plan mbox:$(SAMPLE) archive:$(OUT)/archive --state $(OUT)/state.db
	$(BIN)/migrate copy mbox:$(SAMPLE) archive:$(OUT)/archive --state $(OUT)/state.db
	$(BIN)/migrate archive validate $(OUT)/archive
	$(BIN)/migrate plan archive:$(OUT)/archive maildir:$(OUT)/maildir --state $(OUT)/state.db
	$(BIN)/migrate copy archive:$(OUT)/archive maildir:$(OUT)/maildir --state $(OUT)/state.db
	$(BIN)/migrate verify mbox:$(SAMPLE) maildir:$(OUT)/maildir
	$(BIN)/migrate status --state $(OUT)/state.db

# The IMAP tests run a private Dovecot (tests/dovecot.py), the report tests a headless
# Chromium, the queued-batch tests a private PostgreSQL (tests/postgres.py): install
# Debian's when they are missing.
test: $(BIN)/migrate
	@if [ ! -x /usr/sbin/dovecot ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; \
	fi
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	fi
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(BIN)/migrate
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check migrate connectors tests benchmarks

MAILBAGIT := .cache/mailbagit-venv/bin/mailbagit

$(MAILBAGIT):
	$(PYTHON) -m venv .cache/mailbagit-venv
	.cache/mailbagit-venv/bin/python -m pip install --quiet mailbagit

bench: $(BIN)/migrate $(MAILBAGIT)
	command -v mbsync >/dev/null || (apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq isync)
	command -v readpst >/dev/null || (apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pst-utils)
	$(BIN)/python benchmarks/mbox_to_archive.py
	$(BIN)/python benchmarks/imap_to_imap.py
	$(BIN)/python benchmarks/pst_to_archive.py

# state.db.example: the demo's state database, as one file, for `sqlite3 state.db.example`.
example-state: demo
	$(BIN)/python -c "import sqlite3; src = sqlite3.connect('$(OUT)/state.db'); \
	dst = sqlite3.connect('state.db.example'); src.backup(dst); dst.execute('VACUUM'); dst.close()"

clean:
	rm -rf $(VENV) $(OUT)
