"""A private PostgreSQL for tests: Debian's binaries, a throw-away cluster on 127.0.0.1.

``PostgresServer().start()`` runs ``initdb`` in a temporary directory (trust
authentication, superuser ``postgres``), then ``pg_ctl start`` listening on 127.0.0.1 on a
free port with its unix socket in the same directory, and creates a database per call of
``create_database``. PostgreSQL refuses to run as root: as root, the cluster belongs to and
runs as ``nobody`` (``runuser``), otherwise as the current user. ``stop`` stops it and
removes the directory.

If PostgreSQL is not installed, ``start`` raises: the tests must fail, not skip, so that CI
cannot pass without them (``make test`` installs Debian's postgresql).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dovecot import free_port

SUPERUSER = "postgres"


def postgres_bin() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda path: int(path.parent.parent.name)
                   if path.parent.parent.name.isdigit() else 0)
    if not found:
        raise RuntimeError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb);"
                           " on Debian: apt-get install postgresql (make test does it)")
    return found[-1].parent


class PostgresServer:
    """One private cluster; ``url(database)`` is a SQLAlchemy / libpq URL for it."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        # /tmp rather than pytest's tmp dir: as root, ``nobody`` must reach the cluster.
        self.root = Path(tempfile.mkdtemp(prefix="migrate-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = "nobody" if os.geteuid() == 0 else None
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [*args] if self.user is None else ["runuser", "-u", self.user, "--", *args]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   "-c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.root / "postgres.log"), "-o", options, "-w", "start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p",
                                    str(self.port)], capture_output=True)
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start: see {self.root / 'postgres.log'}")

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL (no password: trust authentication)."""
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", SUPERUSER, name)
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(([] if self.user is None else ["runuser", "-u", self.user, "--"])
                           + [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                              "-w", "stop"], capture_output=True, cwd=self.root)
        shutil.rmtree(self.root, ignore_errors=True)
