"""Benchmark: many mailboxes at once, ``migrate batch --jobs N`` against N parallel mbsyncs.

A private Dovecot (tests/dovecot.py) gets ``--mailboxes`` source users of ``--messages``
messages each (the sizes of ``imap_to_imap.realistic_message``, without its multi-MB
attachments: a town hall's everyday mail), half in INBOX, half in a folder with a
non-ASCII name. For each N of ``--jobs`` (default 1, 4, 8), in the same run:

- ``migrate batch JOBS.csv --jobs N`` into fresh target users (endpoints named in a config
  file, the password by environment variable, as an operator would);
- mbsync (Debian's isync) run the same parallel way: one pull channel per pair, N mbsync
  processes at a time, into other fresh users.

Reported per run: wall time, messages per second, its ratio to mbsync's with the same N,
and the messages found at the targets afterwards (read back over IMAP).

    python benchmarks/batch_parallel.py [--mailboxes 50] [--messages 500] [--jobs 1 4 8]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dovecot import DovecotServer  # noqa: E402  (the tests' helper, shared on purpose)
from imap_to_imap import MBSYNC_CONFIG, realistic_message  # noqa: E402

PASSWORD = "secret"
FOLDERS = ("INBOX", "Éléments envoyés")


def seed(server: DovecotServer, mailboxes: int, messages: int) -> list[str]:
    """Source users ``src00``… each with ``messages`` messages; returns their names."""
    rng = random.Random(mailboxes * messages)
    corpus = []
    for n in range(messages):
        data = realistic_message(n if n % 300 != 7 else n + 1, rng)  # no multi-MB ones
        corpus.append(data)
    users = []
    for m in range(mailboxes):
        user = server.add_user(f"src{m:02d}", PASSWORD)
        for i, folder in enumerate(FOLDERS):
            server.seed(user, folder, corpus[i::len(FOLDERS)], PASSWORD)
        users.append(user)
    return users


def count_at(server: DovecotServer, user: str) -> int:
    """Messages in every folder of ``user``, over IMAP."""
    with server.client(user, PASSWORD) as client:
        total = 0
        for flags, _, name in client.list_folders():
            if b"\\Noselect" not in flags and b"\\NonExistent" not in flags:
                total += client.select_folder(name, readonly=True)[b"EXISTS"]
        return total


def run_ours(server: DovecotServer, work: Path, sources: list[str], jobs: int) -> float:
    entries, lines = [], ["source,target,label"]
    for source in sources:
        target = server.add_user(f"o{jobs}-{source}", PASSWORD)
        for user in (source, target):
            entries.append(f'[endpoints."{user}"]\nurl = "{server.url(user, None)}"\n'
                           'password_env = "BENCH_PW"\n')
        lines.append(f"{source},{target},{source}")
    config, jobs_file = work / f"ours{jobs}.toml", work / f"ours{jobs}.csv"
    config.write_text("\n".join(dict.fromkeys(entries)))
    jobs_file.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "migrate", "--config", str(config), "batch",
                    str(jobs_file), "--jobs", str(jobs), "--state", str(work / f"o{jobs}.db")],
                   check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "BENCH_PW": PASSWORD})
    return time.perf_counter() - started


def run_mbsync(server: DovecotServer, work: Path, sources: list[str], jobs: int) -> float:
    commands = []
    for source in sources:
        target = server.add_user(f"m{jobs}-{source}", PASSWORD)
        state = work / f"mbsync-{jobs}-{source}"
        state.mkdir()
        config = work / f"mbsyncrc-{jobs}-{source}"
        config.write_text(MBSYNC_CONFIG.format(port=server.port, source=source, target=target,
                                               password=PASSWORD, state=state))
        commands.append(["mbsync", "-c", str(config), "-q", "copy"])
    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        for done in pool.map(lambda c: subprocess.run(c, capture_output=True), commands):
            if done.returncode != 0:
                sys.exit(f"mbsync failed: {done.stderr.decode(errors='replace')}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=50)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    total = args.mailboxes * args.messages
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as work_dir:
        work = Path(work_dir)
        server = DovecotServer(work / "dovecot")
        server.start()
        try:
            sources = seed(server, args.mailboxes, args.messages)
            print(f"{args.mailboxes} mailboxes × {args.messages} messages = {total}, "
                  "one Dovecot on 127.0.0.1")
            print(f"{'tool':<28} {'jobs':>4} {'seconds':>8} {'msg/s':>7} {'÷ mbsync':>9} "
                  f"{'at targets':>11}")
            for jobs in args.jobs:
                ours = run_ours(server, work, sources, jobs)
                theirs = run_mbsync(server, work, sources, jobs)
                for name, prefix, seconds in (("sovereign-migrate batch", "o", ours),
                                              ("mbsync, N in parallel", "m", theirs)):
                    found = sum(count_at(server, f"{prefix}{jobs}-{s}") for s in sources)
                    print(f"{name:<28} {jobs:>4} {seconds:8.2f} {total / seconds:7.0f} "
                          f"{seconds / theirs:9.2f} {found:>11}")
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
