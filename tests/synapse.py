"""A private Synapse homeserver for the Matrix tests: SQLite, plain HTTP on 127.0.0.1.

Synapse lives in its own virtualenv (``.cache/synapse-venv``, created on first use) so that
its dependency pins never fight the project's. The config is Synapse's own generated one
(``--generate-config``) with a second file laid over it: listener on a free loopback port,
SQLite, a registration shared secret (to create ordinary users), the application-service
registration under test, and rate limits raised for the test users.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".cache" / "synapse-venv"
SERVER_NAME = "localhost"
_UNLIMITED = {"per_second": 10000, "burst_count": 10000}


def synapse_python() -> Path:
    """The Python of Synapse's virtualenv, creating it (and installing Synapse) once."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import synapse.app.homeserver"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "matrix-synapse"],
                   check=True)
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SynapseServer:
    """One Synapse in ``directory``; ``registration_path`` is the appservice file it loads."""

    def __init__(self, directory: Path, registration_path: Path) -> None:
        self.directory, self.registration_path = directory, registration_path
        self.registration = None  # the Registration, for tests that use its tokens
        self.port = free_port()
        self.shared_secret = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        python = synapse_python()
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "homeserver.yaml"
        if not config.exists():
            subprocess.run([str(python), "-m", "synapse.app.homeserver",
                            "--server-name", SERVER_NAME, "--config-path", str(config),
                            "--data-directory", str(self.directory),
                            "--generate-config", "--report-stats=no"],
                           cwd=self.directory, check=True, capture_output=True)
        overrides = self.directory / "overrides.yaml"
        overrides.write_text(json.dumps(self._overrides()))  # JSON is YAML
        log = open(self.directory / "stdout.log", "ab")
        self.process = subprocess.Popen(
            [str(python), "-m", "synapse.app.homeserver", "-c", str(config),
             "-c", str(overrides)], cwd=self.directory, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _overrides(self) -> dict:
        return {
            "listeners": [{"port": self.port, "bind_addresses": ["127.0.0.1"],
                           "type": "http", "tls": False, "x_forwarded": False,
                           "resources": [{"names": ["client"], "compress": False}]}],
            "database": {"name": "sqlite3",
                         "args": {"database": str(self.directory / "homeserver.db")}},
            "registration_shared_secret": self.shared_secret,
            "app_service_config_files": [str(self.registration_path)],
            "media_store_path": str(self.directory / "media"),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "report_stats": False,
            "rc_message": _UNLIMITED,
            "rc_registration": _UNLIMITED,
            "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED,
                         "failed_attempts": _UNLIMITED},
            "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
            "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED,
                           "per_issuer": _UNLIMITED},
            "rc_admin_redaction": _UNLIMITED,
        }

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"Synapse exited {self.process.returncode}; see "
                                   f"{self.directory / 'stdout.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"Synapse did not answer within {timeout} s")

    def request(self, method: str, path: str, body: dict | None = None,
                token: str | None = None) -> dict:
        """One client-server API call (JSON in, JSON out) as ``token``."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def register_user(self, localpart: str, password: str, admin: bool = False) -> str:
        """Create an ordinary account through the shared-secret admin API; its user id."""
        path = "/_synapse/admin/v1/register"
        nonce = self.request("GET", path)["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(),
                                 b"admin" if admin else b"notadmin"]))
        done = self.request("POST", path, {"nonce": nonce, "username": localpart,
                                           "password": password, "admin": admin,
                                           "mac": mac.hexdigest()})
        return done["user_id"]

    def login(self, localpart: str, password: str) -> str:
        """An access token for an ordinary account."""
        done = self.request("POST", "/_matrix/client/v3/login",
                            {"type": "m.login.password", "password": password,
                             "identifier": {"type": "m.id.user", "user": localpart}})
        return done["access_token"]

    def upload(self, data: bytes, content_type: str, filename: str, token: str) -> str:
        """Put a file in the media repository as ``token`` (as a client does); its mxc URI."""
        request = urllib.request.Request(
            f"{self.url}/_matrix/media/v3/upload?filename={urllib.parse.quote(filename)}",
            data=data, method="POST")
        request.add_header("Content-Type", content_type)
        request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["content_uri"]

    def send(self, room_id: str, event_type: str, content: dict, token: str) -> str:
        """Send one room event as ``token`` (a fresh transaction id); its event id."""
        path = (f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/send/"
                f"{event_type}/{secrets.token_hex(8)}")
        return self.request("PUT", path, content, token=token)["event_id"]

    def redact(self, room_id: str, event_id: str, token: str) -> str:
        """Redact (delete) one event as ``token``; the redaction's event id."""
        path = (f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/redact/"
                f"{urllib.parse.quote(event_id)}/{secrets.token_hex(8)}")
        return self.request("PUT", path, {}, token=token)["event_id"]

    def event(self, room_id: str, event_id: str, token: str) -> dict:
        """One event as the homeserver serves it to ``token``."""
        return self.request("GET", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}"
                                   f"/event/{urllib.parse.quote(event_id)}", token=token)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

