"""Shared test helpers: synthetic mailboxes, running the real CLI, reading endpoints back."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from migrate.endpoint import parse_endpoint
from migrate.registry import connector_for

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "data" / "email_corpus"


def synthetic_message(n: int, body_size: int = 600) -> bytes:
    """A plain, valid message; ``n`` makes it unique."""
    rng = random.Random(n)
    date = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(minutes=37 * n)
    body = "".join(rng.choice("abcdefghij klmnop\n") for _ in range(body_size))
    return (f"From: sender{n % 17}@example.org\r\nTo: agent@mairie-exemple.fr\r\n"
            f"Subject: message {n}\r\nMessage-ID: <{n}@test.invalid>\r\n"
            f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n\r\n{body}\r\n").encode()


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    """An mboxrd file holding ``messages`` (From_ lines quoted)."""
    with path.open("wb") as out:
        for n, data in enumerate(messages):
            date = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
            out.write(f"From MAILER-DAEMON {date.strftime('%a %b %d %H:%M:%S %Y')}\n".encode())
            lines = data.split(b"\n")
            out.write(b"\n".join(b">" + line if line.lstrip(b">").startswith(b"From ")
                                 else line for line in lines))
            if not data.endswith(b"\n"):
                out.write(b"\n")
            out.write(b"\n")
    return path


def run_cli(*args: str, cwd: Path | None = None, check: bool = False,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m migrate ARGS`` as a real process."""
    full_env = {**os.environ, "LANG": "C.UTF-8", **(env or {})}
    done = subprocess.run([sys.executable, "-m", "migrate", *args], cwd=cwd,
                          capture_output=True, text=True, env=full_env)
    if check and done.returncode != 0:
        raise AssertionError(f"migrate {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout}\n{done.stderr}")
    return done


def peak_rss_kib(*args: str) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``python -m migrate ARGS`` under a small wrapper; the run and its peak resident
    size (KiB), for the tests that show memory stays flat."""
    wrapper = ("import resource, subprocess, sys\n"
               "done = subprocess.run([sys.executable, '-m', 'migrate', *sys.argv[1:]])\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.exit(done.returncode)\n")
    done = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True,
                          text=True, cwd=REPO)
    return done, int(done.stdout.strip().splitlines()[-1])


def read_endpoint(url: str) -> dict[tuple[str, ...], Counter]:
    """Folder path → Counter of message sha256, read through the real connector."""
    reader = connector_for(parse_endpoint(url)).open_source()
    try:
        return {folder.path: Counter(m.sha256 for m in reader.messages(folder))
                for folder in reader.folders()}
    finally:
        reader.close()


@pytest.fixture
def corpus() -> list[Path]:
    files = sorted(CORPUS.glob("msg_*.txt"))
    assert files, f"the test corpus is missing in {CORPUS}"
    return files


# --- IMAP: a private Dovecot (tests/dovecot.py) ---------------------------------------------


@pytest.fixture(scope="module")
def dovecot(tmp_path_factory):
    """A Dovecot shared by a test module; tests add users of their own (``add_user``)."""
    from dovecot import DovecotServer

    server = DovecotServer(tmp_path_factory.mktemp("dovecot"))
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def own_dovecot(tmp_path):
    """A Dovecot for one test, which may stop, kill or restart it."""
    from dovecot import DovecotServer

    server = DovecotServer(tmp_path / "dovecot")
    yield server
    server.cleanup()


# --- Outlook data files: a real PST (tests/pst_data.py) -----------------------------------


@pytest.fixture(scope="session")
def enron_pst() -> Path:
    """``enron.pst`` from the npm package pst-extractor, fetched once into .cache/pst/."""
    from pst_data import pst_file

    return pst_file("enron.pst")


@pytest.fixture(scope="session")
def outlook_ost() -> Path:
    """An Outlook.com .ost from pst-extractor: meetings, holidays, attachments."""
    from pst_data import pst_file

    return pst_file("pstextractortest@outlook.com.ost")


# --- Matrix: a private Synapse (tests/synapse.py) -------------------------------------------


@pytest.fixture(scope="module")
def synapse_accounts() -> list[str]:
    """Real Matrix accounts the appservice may act as (a test module overrides it)."""
    return []


@pytest.fixture(scope="module")
def synapse(tmp_path_factory, synapse_accounts):
    """A Synapse for a test module, with the appservice registration the tool wrote
    (``synapse.registration``, its path ``synapse.registration_path``)."""
    from synapse import SERVER_NAME, SynapseServer

    from connectors.matrix.registration import write_registration

    directory = tmp_path_factory.mktemp("synapse")
    path = directory / "migrate-appservice.yaml"
    registration = write_registration(path, SERVER_NAME, synapse_accounts)
    server = SynapseServer(directory / "server", path)
    server.registration = registration
    server.start()
    yield server
    server.stop()


# --- PostgreSQL: a private cluster (tests/postgres.py) -------------------------------------


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL for the whole session; tests create databases of their own
    (``create_database``)."""
    from postgres import PostgresServer

    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
