"""Benchmark: copy a large mbox into the neutral archive; time and peak memory.

Builds synthetic mboxes of 256 MB and 1 GB (cached in .cache/bench), runs
``migrate copy mbox:… archive:…`` under ``/usr/bin/time -v`` for each, and prints the
elapsed time, throughput, peak RSS and how many .eml files are byte-identical to the
original messages. In the same run, on the same file: ``cp`` (the I/O floor) and, when
installed, mailbagit (the archivists' mbox → Mailbag tool, ``make bench`` installs it in
.cache/mailbagit-venv), as ratios of their times to ours. Peak RSS must stay under
150 MB and must not grow with the mailbox size.

    python benchmarks/mbox_to_archive.py [--sizes 256,1024] [--mailbagit PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
MAILBAGIT = ROOT / ".cache" / "mailbagit-venv" / "bin" / "mailbagit"
RSS_LIMIT_MB = 150


def build_mbox(path: Path, megabytes: int) -> None:
    """Messages of 2 KB to 2 MB (a few large attachments), like a real mailbox."""
    if path.exists() and path.stat().st_size >= megabytes * 1024 * 1024:
        return
    rng = random.Random(megabytes)
    target = megabytes * 1024 * 1024
    written = n = 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        while written < target:
            size = rng.choice([2_000] * 30 + [20_000] * 8 + [300_000] * 2 + [2_000_000])
            body = (rng.randbytes(size * 3 // 4).hex()[:size] + "\n").encode()
            lines = b"\n".join(body[i:i + 76] for i in range(0, len(body), 76))
            data = (f"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n"
                    f"From: a{n}@example.org\nSubject: bench {n}\n"
                    f"Message-ID: <{n}@bench.invalid>\nStatus: RO\n\n").encode() + lines + b"\n\n"
            out.write(data)
            written += len(data)
            n += 1
    tmp.rename(path)


def timed(command: list[str]) -> tuple[float, int]:
    """(elapsed seconds, peak RSS in KB) of ``command`` under /usr/bin/time -v."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{command} failed:\n{done.stdout}\n{done.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    return elapsed, rss


def original_digests(mbox: Path) -> set[str]:
    """sha256 of every message of ``mbox``, as our mbox connector reads them."""
    from migrate.endpoint import parse_endpoint
    from migrate.registry import connector_for

    reader = connector_for(parse_endpoint(f"mbox:{mbox}")).open_source()
    try:
        return {m.sha256 for folder in reader.folders() for m in reader.messages(folder)}
    finally:
        reader.close()


def identical(directory: Path, digests: set[str]) -> tuple[int, int]:
    """(.eml files under ``directory``, how many hold exactly an original message)."""
    files = list(directory.rglob("*.eml"))
    same = sum(1 for f in files if hashlib.sha256(f.read_bytes()).hexdigest() in digests)
    return len(files), same


def run_migrate(mbox: Path, work: Path) -> tuple[float, int, Path]:
    elapsed, rss = timed([sys.executable, "-m", "migrate", "copy", f"mbox:{mbox}",
                          f"archive:{work / 'archive'}", "--state", str(work / "state.db"),
                          "--quiet"])
    return elapsed, rss, work / "archive"


def run_mailbagit(tool: Path, mbox: Path, work: Path) -> tuple[float, int, Path]:
    """mailbagit bags a directory in place: give it a copy of the mbox (not timed)."""
    source = work / "mailbagit-in"
    source.mkdir()
    shutil.copy(mbox, source / mbox.name)
    elapsed, rss = timed([str(tool), str(source), "-i", "mbox", "-d", "eml", "-m", "bag"])
    return elapsed, rss, source


def corpus_mbox() -> Path:
    """CPython's odd real messages (tests/data/email_corpus) in one mbox, for fidelity."""
    path = CACHE / "corpus.mbox"
    with path.open("wb") as out:
        for message in sorted((ROOT / "tests" / "data" / "email_corpus").glob("msg_*.txt")):
            data = message.read_bytes()
            data = data if data.endswith(b"\n") else data + b"\n"  # the one mbox limit
            quoted = re.sub(rb"(?m)^(>*From )", rb">\1", data)
            out.write(b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n" + quoted + b"\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,1024", help="mbox sizes in MB")
    parser.add_argument("--mailbagit", type=Path, default=MAILBAGIT,
                        help="the mailbagit command (skipped when absent)")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    tools = [("sovereign-migrate", run_migrate)]
    if args.mailbagit.exists():
        tools.append(("mailbagit", lambda m, w: run_mailbagit(args.mailbagit, m, w)))
    print("(the first rows: CPython's corpus of odd real messages, for byte fidelity)")
    print(f"{'tool':<18} {'mbox MB':>8} {'messages':>9} {'identical':>9} {'seconds':>8} "
          f"{'MB/s':>6} {'peak RSS MB':>11} {'x cp':>6} {'x ours':>7}")
    rss_by_size = []
    inputs = [("corpus", corpus_mbox())]
    for megabytes in map(int, args.sizes.split(",")):
        mbox = CACHE / f"bench-{megabytes}mb.mbox"
        build_mbox(mbox, megabytes)
        inputs.append(("size", mbox))
    for kind, mbox in inputs:
        size_mb = mbox.stat().st_size / 1024 / 1024
        digests = original_digests(mbox)
        ours = None
        for name, run in tools:
            with tempfile.TemporaryDirectory(dir=CACHE) as work:
                work_path = Path(work)
                cp_time, _ = timed(["cp", str(mbox), str(work_path / "copy.mbox")])
                (work_path / "copy.mbox").unlink()
                elapsed, rss, out = run(mbox, work_path)
                files, same = identical(out, digests)
            ours = ours or elapsed
            if name == "sovereign-migrate" and kind == "size":
                rss_by_size.append(rss / 1024)
            print(f"{name:<18} {size_mb:8.1f} {files:9d} {same:9d} {elapsed:8.1f} "
                  f"{size_mb / elapsed:6.1f} {rss / 1024:11.1f} {elapsed / cp_time:6.1f} "
                  f"{elapsed / ours:7.2f}")
    worst, growth = max(rss_by_size), rss_by_size[-1] - rss_by_size[0]
    print(f"sovereign-migrate peak RSS {worst:.1f} MB (limit {RSS_LIMIT_MB}); growth from the "
          f"smallest to the largest mbox: {growth:+.1f} MB")
    if worst > RSS_LIMIT_MB:
        sys.exit("FAIL: peak RSS over the limit")


if __name__ == "__main__":
    main()
