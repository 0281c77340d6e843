"""Benchmark: copy a large mbox into the neutral archive; time and peak memory.

Builds synthetic mboxes of 256 MB and 1 GB (cached in .cache/bench), runs
``migrate copy mbox:… archive:…`` under ``/usr/bin/time -v`` for each, and prints the
elapsed time, throughput and peak RSS, with ``cp`` of the same file as the I/O baseline
(ratio = migrate time / cp time, measured in the same run). Peak RSS must stay under
150 MB and must not grow with the mailbox size.

    python benchmarks/mbox_to_archive.py [--sizes 256,1024]
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "bench"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,1024", help="mbox sizes in MB")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = []
    for megabytes in map(int, args.sizes.split(",")):
        mbox = CACHE / f"bench-{megabytes}mb.mbox"
        build_mbox(mbox, megabytes)
        size_mb = mbox.stat().st_size / 1024 / 1024
        with tempfile.TemporaryDirectory(dir=CACHE) as work:
            work_path = Path(work)
            cp_time, _ = timed(["cp", str(mbox), str(work_path / "copy.mbox")])
            (work_path / "copy.mbox").unlink()
            elapsed, rss = timed([sys.executable, "-m", "migrate", "copy", f"mbox:{mbox}",
                                  f"archive:{work_path / 'archive'}",
                                  "--state", str(work_path / "state.db"), "--quiet"])
            messages = sum(1 for _ in (work_path / "archive").rglob("*.eml"))
        rows.append((size_mb, messages, elapsed, size_mb / elapsed, rss / 1024, cp_time))
    print(f"{'mbox MB':>8} {'messages':>9} {'seconds':>8} {'MB/s':>7} {'peak RSS MB':>12} "
          f"{'cp s':>6} {'ratio to cp':>11}")
    for size_mb, messages, elapsed, rate, rss_mb, cp_time in rows:
        print(f"{size_mb:8.0f} {messages:9d} {elapsed:8.1f} {rate:7.1f} {rss_mb:12.1f} "
              f"{cp_time:6.2f} {elapsed / cp_time:11.1f}")
    worst = max(row[4] for row in rows)
    growth = rows[-1][4] - rows[0][4]
    print(f"peak RSS {worst:.1f} MB (limit {RSS_LIMIT_MB}); growth from smallest to largest "
          f"mbox: {growth:+.1f} MB")
    if worst > RSS_LIMIT_MB:
        sys.exit("FAIL: peak RSS over the limit")


if __name__ == "__main__":
    main()
