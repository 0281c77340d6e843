"""A private Dovecot for tests: started from a temporary configuration, on 127.0.0.1.

``DovecotServer(tmp).start()`` writes a configuration under ``tmp`` (plain IMAP with
STARTTLS and an IMAPS port, both with a self-signed certificate made by ``openssl``;
passwd-file users; Maildir storage; a ``/``-separated namespace with special-use
folders; the quota plugin) and runs ``/usr/sbin/dovecot -F -c CONF`` as a child process.
Users are added at any time (``add_user``): Dovecot re-reads its passwd-file when it
changes. Everything runs as the current user, root included (``first_valid_uid = 0``).
The server's own log is ``tmp/dovecot.log``.

If Dovecot is not installed, ``start`` raises: the IMAP tests must fail, not skip, so
that CI cannot pass without them (``make test`` installs Debian's dovecot-imapd).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

DOVECOT = Path("/usr/sbin/dovecot")
MASTER = ("admin", "master-secret")  # a Dovecot master user: logs in as anyone
SPECIAL = {"Drafts": "\\Drafts", "Sent": "\\Sent", "Trash": "\\Trash", "Junk": "\\Junk",
           "Archive": "\\Archive"}

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login_user}
first_valid_uid = 0
first_valid_gid = 0
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_master_user_separator = *
auth_cache_size = 0
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
mail_location = maildir:{mail_root}/mail/%u
mail_plugins = quota listescape
mail_uid = {mail_uid}
mail_gid = {mail_gid}
mail_max_userip_connections = 100

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
passdb {{
  driver = passwd-file
  master = yes
  args = scheme=PLAIN {root}/master-users
  pass = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users/%u
  default_fields = home={mail_root}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  prefix =
{mailboxes}}}
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}
plugin {{
  quota = maildir:User quota
  quota_rule = *:storage=1G
}}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (as far as the kernel knows now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DovecotServer:
    """One private Dovecot under ``root``; ``start``, ``stop``, ``kill``, ``add_user``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.port = free_port()
        self.ssl_port = free_port()
        self.process: subprocess.Popen | None = None
        self.config = self.root / "dovecot.conf"
        self.cert = self.root / "cert.pem"
        # Dovecot never gives mail access to root: as root, mail belongs to nobody and lives
        # in a directory of its own that nobody can reach (pytest's tmp dirs are 0700).
        if os.getuid() == 0:
            self.mail_root = Path(tempfile.mkdtemp(prefix="migrate-dovecot-"))
            self.mail_root.chmod(0o711)
            self._mail_uid = pwd.getpwnam("nobody").pw_uid
            self._mail_gid = grp.getgrnam("nogroup").gr_gid
        else:
            self.mail_root = self.root
            self._mail_uid, self._mail_gid = os.getuid(), os.getgid()

    # --- set-up ------------------------------------------------------------------------

    def _write_config(self) -> None:
        for sub in ("run", "state"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("mail", "home"):
            (self.mail_root / sub).mkdir(parents=True, exist_ok=True)
            os.chown(self.mail_root / sub, self._mail_uid, self._mail_gid)
        if not self.cert.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", str(self.root / "key.pem"), "-out", str(self.cert),
                            "-days", "2", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                           check=True, capture_output=True)
        mailboxes = "".join(
            f"  mailbox {name} {{\n    special_use = {use}\n    auto = subscribe\n  }}\n"
            for name, use in SPECIAL.items())
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        # Login processes refuse to run as root; Debian's package creates dovenull for them.
        login_user = "dovenull" if os.getuid() == 0 else user
        self.config.write_text(_CONFIG.format(
            root=self.root, port=self.port, ssl_port=self.ssl_port, user=user, group=group,
            login_user=login_user, mail_root=self.mail_root, mail_uid=self._mail_uid,
            mail_gid=self._mail_gid, mailboxes=mailboxes))
        (self.root / "master-users").write_text(f"{MASTER[0]}:{MASTER[1]}\n")
        (self.root / "users").mkdir(exist_ok=True)

    def add_user(self, name: str, password: str = "secret", *, quota: str | None = None,
                 max_mail_size: str | None = None) -> str:
        """Add (or redefine) a user; ``quota`` like ``"200K"``, ``max_mail_size`` like ``"50K"``.

        Each user has a passwd-file of its own (``users/NAME``): Dovecot reads a new one at
        once, but looks at a known one again at most once a second, so redefining waits.
        Returns the user name.
        """
        extra = []
        if quota is not None:
            extra.append(f"userdb_quota_rule=*:storage={quota}")
        if max_mail_size is not None:
            extra.append(f"userdb_quota_max_mail_size={max_mail_size}")
        path = self.root / "users" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        known = path.exists()
        temp = path.with_suffix(".tmp")
        temp.write_text(f"{name}:{password}::::::{' '.join(extra)}\n")
        if known:
            stamp = path.stat().st_mtime + 1
            os.utime(temp, (stamp, stamp))
        os.replace(temp, path)
        if known and self.process is not None:
            time.sleep(1.1)
        return name

    # --- running -----------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> DovecotServer:
        """Start Dovecot and wait until it greets on the IMAP port."""
        if not DOVECOT.exists():
            raise RuntimeError(f"{DOVECOT} is missing: install Debian's dovecot-imapd "
                               "(make test does it)")
        self._write_config()
        log = open(self.root / "dovecot.stderr", "ab")
        self.process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(self.config)],
                                        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                        start_new_session=True)  # its own group: see kill
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited {self.process.returncode}:\n{self.logs()}")
            if self._greets():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on port {self.port}:\n{self.logs()}")

    def _greets(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        """Shut Dovecot down (its client processes with it) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._wait_closed()

    def kill(self) -> None:
        """SIGKILL Dovecot and every process of it at once: the server is gone, mid-command."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
        self._wait_closed()
        # Dot-locks of killed processes would hold the next start back two minutes, until
        # Dovecot deems them stale: clear them, as a restart after a crash would.
        for lock in self.mail_root.rglob("*.lock"):
            lock.unlink(missing_ok=True)

    def _wait_closed(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._greets():
            time.sleep(0.05)

    def logs(self) -> str:
        """Dovecot's own log and stderr, for a failing test's message."""
        parts = []
        for name in ("dovecot.log", "dovecot.stderr"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    # --- endpoints ---------------------------------------------------------------------

    def url(self, user: str, password: str | None = "secret", *, tls: bool = False,
            query: str = "") -> str:
        """``imap://user:password@127.0.0.1:PORT?tls=off`` (or STARTTLS with our CA)."""
        secret = f":{quote(password, safe='')}" if password is not None else ""
        params = "tls=off" if not tls else f"cafile={self.cert}"
        if query:
            params += "&" + query
        return f"imap://{quote(user, safe='*')}{secret}@127.0.0.1:{self.port}?{params}"

    def imaps_url(self, user: str, password: str = "secret", query: str = "") -> str:
        params = f"cafile={self.cert}" + (f"&{query}" if query else "")
        return f"imaps://{quote(user, safe='*')}:{quote(password, safe='')}" \
               f"@127.0.0.1:{self.ssl_port}?{params}"

    def maildir(self, user: str) -> Path:
        """Where ``user``'s mail lives on disk (for checks that bypass IMAP)."""
        return self.mail_root / "mail" / user

    def cleanup(self) -> None:
        """Stop, and remove the mail directory made outside ``root`` (when run as root)."""
        self.stop()
        if self.mail_root != self.root:
            shutil.rmtree(self.mail_root, ignore_errors=True)

    # --- direct access, independent of the connector under test --------------------------

    def client(self, user: str, password: str = "secret"):
        """A logged-in ``imapclient.IMAPClient`` (plain text, loopback)."""
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", self.port, ssl=False, timeout=30)
        client.login(user, password)
        client.normalise_times = False
        return client

    def seed(self, user: str, folder: str, messages: list, password: str = "secret") -> None:
        """APPEND ``messages`` (bytes, or dicts with msg/flags/date) to ``folder``, creating it."""
        with self.client(user, password) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for start in range(0, len(messages), 200):
                typ, data = client.multiappend(folder, messages[start:start + 200])
                assert typ == "OK", data

    def contents(self, user: str, password: str = "secret") -> dict[str, list[tuple]]:
        """Folder name → [(bytes, flags, internal date)] by UID, read with BODY.PEEK[]."""
        out: dict[str, list[tuple]] = {}
        with self.client(user, password) as client:
            for flags, _, name in client.list_folders():
                if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                    continue
                client.select_folder(name, readonly=True)
                uids = client.search("ALL")
                data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]) if uids else {}
                out[name] = [(data[u][b"BODY[]"],
                              frozenset(f.decode() for f in data[u][b"FLAGS"]) - {"\\Recent"},
                              data[u][b"INTERNALDATE"]) for u in sorted(data)]
        return out
