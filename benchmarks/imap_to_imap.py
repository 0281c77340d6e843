"""Benchmark: IMAP → IMAP on one real Dovecot, sovereign-migrate against mbsync.

A private Dovecot (tests/dovecot.py) gets a source mailbox of a few thousand messages of
realistic sizes (mostly 5–50 kB, a few attachments of several MB), several folders with
non-ASCII names, some messages without Message-ID, flags and dates. Each tool copies it
into a fresh user of the same server, in the same run:

- ``migrate copy imap://… imap://…`` with one connection and with four;
- mbsync (Debian's isync, ``make bench`` installs it), a pull channel with
  ``CopyArrivalDate yes`` so that it keeps internal dates too.

Reported per tool: wall time, its ratio to mbsync's, peak RSS (``/usr/bin/time -v``), and
for the copies: messages present, byte-identical, with equal flags and internal dates
(read back over IMAP by our connector). Then a rerun of ours with nothing new, and
``migrate verify`` of the source against our one-connection copy (goal: at most twice the
copy's time).
imapsync is not in Debian 12 and its source cannot be fetched here: not measured.

    python benchmarks/imap_to_imap.py [--messages 3000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dovecot import DovecotServer  # noqa: E402  (the tests' helper, shared on purpose)

FOLDERS = ["INBOX", "Éléments envoyés", "Projets/2024", "Projets/Réunions", "Archives"]
MBSYNC_CONFIG = """\
IMAPAccount src
Host 127.0.0.1
Port {port}
User {source}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore src
Account src

IMAPAccount dst
Host 127.0.0.1
Port {port}
User {target}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore dst
Account dst

Channel copy
Far :src:
Near :dst:
Patterns *
Create Near
Sync Pull
Expunge None
CopyArrivalDate yes
SyncState {state}/
"""


def realistic_message(n: int, rng: random.Random) -> bytes:
    """A message of 5–50 kB, one in 300 with a 2–4 MB attachment, one in 25 without ID."""
    date = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(minutes=97 * n)
    headers = (f"From: Agent {n % 40} <agent{n % 40}@mairie-exemple.fr>\r\n"
               f"To: service@mairie-exemple.fr\r\nSubject: Dossier n°{n} – réunion\r\n"
               f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0100')}\r\n")
    if n % 25:
        headers += f"Message-ID: <{n}.bench@mairie-exemple.fr>\r\n"
    text = " ".join(rng.choice(["délibération", "conseil", "budget", "voirie", "école",
                                "permis", "marché", "rapport"]) for _ in range(800))
    body_size = rng.randint(5_000, 50_000)
    body = "\r\n".join(text[i:i + 72] for i in range(0, len(text), 72))
    body = (body * (body_size // len(body) + 1))[:body_size]
    if n % 300 == 7:
        blob = rng.randbytes(rng.randint(2_000_000, 4_000_000)).hex()
        lines = "\r\n".join(blob[i:i + 76] for i in range(0, len(blob), 76))
        return (headers + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"'
                "\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body +
                "\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n" + lines +
                "\r\n--b--\r\n").encode()
    return (headers + "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n").encode()


def write_corpus(directory: Path, count: int) -> None:
    """An mbox directory (one file per folder, flags in Status headers) to load the source."""
    rng = random.Random(count)
    files = {name: [] for name in FOLDERS}
    for n in range(count):
        folder = FOLDERS[0] if n % 2 else FOLDERS[1 + n % (len(FOLDERS) - 1)]
        status = ["Status: RO\r\n", "Status: O\r\n", "Status: RO\r\nX-Status: A\r\n",
                  "Status: RO\r\nX-Status: F\r\n"][n % 4].encode()
        arrived = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(minutes=97 * n, seconds=n % 60)
        files[folder].append((arrived, status + realistic_message(n, rng)))
    for name, messages in files.items():
        path = directory.joinpath(*[f"{part}.sbd" for part in name.split("/")[:-1]],
                                  name.split("/")[-1] + ".mbox")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            for arrived, data in messages:
                out.write(f"From MAILER-DAEMON {arrived.ctime()}\n".encode())
                out.write(re.sub(rb"(?m)^(>*From )", rb">\1", data) + b"\n")


def timed(command: list[str], **kwargs) -> tuple[float, int, str]:
    """(seconds, peak RSS KB, output) of a command under /usr/bin/time -v."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True,
                          **kwargs)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    return elapsed, rss, done.stdout


def migrate(*args: str) -> list[str]:
    return [sys.executable, "-m", "migrate", *args]


def snapshot(url: str) -> dict[tuple[str, ...], Counter]:
    """Folder → Counter of (sha256, system flags, internal date) read over IMAP."""
    from migrate.endpoint import parse_endpoint
    from migrate.registry import connector_for

    reader = connector_for(parse_endpoint(url)).open_source()
    try:
        found = {}
        for folder in reader.folders():
            found[folder.path] = Counter(
                (m.sha256, m.system_flags, m.internal_date.timestamp() if m.internal_date
                 else None) for m in reader.messages(folder))
        return found
    finally:
        reader.close()


def compare(source: dict, target: dict) -> tuple[int, int, int]:
    """(messages at the target, byte-identical, identical with flags and dates)."""
    present = sum(sum(c.values()) for c in target.values())
    same_bytes = same_all = 0
    for path, wanted in source.items():
        have = target.get(path, Counter())
        same_all += sum((wanted & have).values())
        by_bytes = Counter(sha for sha, _, _ in have.elements())
        for sha, _, _ in wanted.elements():
            if by_bytes[sha]:
                by_bytes[sha] -= 1
                same_bytes += 1
    return present, same_bytes, same_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-imap-") as work_dir:
        work = Path(work_dir)
        server = DovecotServer(work / "dovecot")
        for user in ("alice", "ours1", "ours4", "mbsync"):
            server.add_user(user)
        server.start()
        try:
            write_corpus(work / "corpus", args.messages)
            subprocess.run(migrate("copy", f"mbox:{work / 'corpus'}", server.url("alice"),
                                   "--state", str(work / "load.db"), "--quiet",
                                   "--connections", "4"), check=True, stdout=subprocess.DEVNULL)
            source = snapshot(server.url("alice"))
            count = sum(sum(c.values()) for c in source.values())
            rows = []
            for user, connections in (("ours1", "1"), ("ours4", "4")):
                seconds, rss, _ = timed(migrate(
                    "copy", server.url("alice"), server.url(user), "--quiet",
                    "--state", str(work / f"{user}.db"), "--connections", connections))
                rows.append((f"sovereign-migrate ({connections} conn.)", seconds, rss,
                             compare(source, snapshot(server.url(user)))))
            verify, verify_rss, _ = timed(migrate(
                "verify", server.url("alice"), server.url("ours1"),
                "--report-json", str(work / "verify.json")))
            verified = json.loads((work / "verify.json").read_text())["totals"]
            rerun, rerun_rss, _ = timed(migrate(
                "copy", server.url("alice"), server.url("ours4"), "--quiet",
                "--state", str(work / "ours4.db"), "--connections", "4"))
            (work / "mbsync-state").mkdir()
            config = work / "mbsyncrc"
            config.write_text(MBSYNC_CONFIG.format(port=server.port, source="alice",
                                                   target="mbsync", password="secret",
                                                   state=work / "mbsync-state"))
            seconds, rss, _ = timed(["mbsync", "-c", str(config), "-q", "copy"])
            rows.append(("mbsync 1.4", seconds, rss,
                         compare(source, snapshot(server.url("mbsync")))))
        finally:
            server.stop()
    mbsync_seconds = rows[-1][1]
    size = sum(1 for _ in source)
    print(f"{count} messages in {size} folders, one Dovecot on 127.0.0.1")
    print(f"{'tool':<32} {'seconds':>8} {'÷ mbsync':>9} {'peak RSS MB':>12} {'present':>8} "
          f"{'identical':>10} {'+flags,dates':>13}")
    for name, seconds, rss, (present, same, same_all) in rows:
        print(f"{name:<32} {seconds:8.2f} {seconds / mbsync_seconds:9.2f} {rss / 1024:12.1f} "
              f"{present:8d} {same:10d} {same_all:13d}")
    print(f"{'rerun, nothing new (ours, 4)':<32} {rerun:8.2f} {'':>9} {rerun_rss / 1024:12.1f}")
    print(f"{'verify (ours, both sides read)':<32} {verify:8.2f} {'':>9} "
          f"{verify_rss / 1024:12.1f} {verified['messages']:8d} {verified['match']:10d}   "
          f"÷ copy (1 conn.): {verify / rows[0][1]:.2f}")


if __name__ == "__main__":
    main()
