"""Benchmark: Outlook data files into the neutral archive, against readpst.

Users without this tool turn a .pst into .eml files with ``readpst -e`` (libpst, Debian's
pst-utils; ``make bench`` installs it). On the same files, in one run: ``migrate copy
pst:FILE archive:DIR`` and ``readpst -e -o DIR FILE``, each under ``/usr/bin/time -v``
(elapsed time, peak RSS). Then what each wrote is checked against what libpff reads in
the file: messages present (by subject), and how many have every attachment whole (the
decoded sizes libpff gives, in order).

Inputs: enron.pst (the tests' real Outlook file) and a PST of COUNT messages written once
by a real PST writer (Aspose.Email, as the tests do; cached in .cache/bench).

    python benchmarks/pst_to_archive.py [--count 3000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
sys.path.insert(0, str(ROOT / "tests"))

from mbox_to_archive import timed  # noqa: E402  (the same measure for every benchmark)


def truth(pst: Path) -> Counter:
    """(subject, attachment sizes) of every message, as libpff reads the file."""
    import pypff

    found: Counter = Counter()
    opened = pypff.file()
    opened.open(str(pst))

    def walk(folder) -> None:
        for message in folder.sub_messages:
            found[(message.subject or "", tuple(a.size for a in message.attachments))] += 1
        for child in folder.sub_folders:
            walk(child)

    try:
        walk(opened.root_folder)
    finally:
        opened.close()
    return found


def written(directory: Path) -> Counter:
    """(subject, decoded attachment sizes) of every .eml file under ``directory``."""
    found: Counter = Counter()
    for path in directory.rglob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        sizes = tuple(len(part.get_payload(decode=True) or b"")
                      for part in message.iter_attachments())
        found[(str(message["Subject"] or ""), sizes)] += 1
    return found


def compare(expected: Counter, got: Counter) -> tuple[int, int]:
    """(messages present by subject, messages with every attachment of the file whole).
    A tool may add parts of its own (readpst writes an RTF body as ``rtf-body.rtf``):
    only the file's attachments are looked for."""
    by_subject: dict[str, list[Counter]] = {}
    for (subject, sizes), count in got.items():
        by_subject.setdefault(subject, []).extend([Counter(sizes)] * count)
    present = whole = 0
    for (subject, sizes), count in expected.items():
        candidates = by_subject.get(subject, [])
        for _ in range(count):
            if not candidates:
                break
            present += 1
            wanted = Counter(sizes)
            match = next((c for c in candidates if not wanted - c), None)
            if match is not None:
                whole += 1
                candidates.remove(match)
            else:
                candidates.pop()
    return present, whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000,
                        help="messages of the written PST")
    args = parser.parse_args()
    readpst = shutil.which("readpst")
    if readpst is None:
        sys.exit("readpst is missing: apt-get install pst-utils (make bench does)")
    from pst_data import pst_file, run_writer

    CACHE.mkdir(parents=True, exist_ok=True)
    big = CACHE / f"bench-{args.count}.pst"
    if not big.exists():
        run_writer("--bench", str(args.count), str(big))
    migrate = [sys.executable, "-m", "migrate"]
    print(f"{'input':<18} {'MB':>6} {'tool':<18} {'messages':>9} {'present':>8} "
          f"{'attachments whole':>18} {'seconds':>8} {'peak RSS MB':>11} {'x ours':>7}")
    for pst in (pst_file("enron.pst"), big):
        expected = truth(pst)
        total = sum(expected.values())
        ours = None
        for tool in ("sovereign-migrate", "readpst -e"):
            with tempfile.TemporaryDirectory(dir=CACHE) as work:
                out = Path(work) / "out"
                if tool == "sovereign-migrate":
                    command = [*migrate, "copy", f"pst:{pst}", f"archive:{out}",
                               "--state", str(Path(work) / "s.db"), "--quiet"]
                else:
                    out.mkdir()
                    command = [readpst, "-q", "-e", "-o", str(out), str(pst)]
                elapsed, rss = timed(command)
                present, whole = compare(expected, written(out))
            ours = ours or elapsed
            print(f"{pst.name:<18} {pst.stat().st_size / 2**20:6.0f} {tool:<18} {total:9d} "
                  f"{present:8d} {whole:18d} {elapsed:8.2f} {rss / 1024:11.1f} "
                  f"{elapsed / ours:7.2f}")


if __name__ == "__main__":
    main()
