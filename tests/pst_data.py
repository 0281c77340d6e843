"""The real Outlook file the PST tests read: ``enron.pst`` from the npm package
``pst-extractor`` (a PST of the public Enron corpus), fetched once into ``.cache/pst/``
with ``npm pack`` and reused after."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "pst"
MEMBER = "package/example/testdata/enron.pst"


def enron_pst() -> Path:
    """The cached ``enron.pst``; fetched with npm the first time (skip if npm is missing)."""
    target = CACHE / "enron.pst"
    if target.is_file() and target.stat().st_size > 0:
        return target
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is needed once to fetch enron.pst (npm pack pst-extractor)")
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "pack", "pst-extractor", "--silent"], cwd=CACHE,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"npm pack pst-extractor failed: {done.stderr.strip()}")
    tarball = CACHE / done.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        source = archive.extractfile(MEMBER)
        assert source is not None, f"{MEMBER} is not in {tarball.name}"
        partial = target.with_suffix(".part")
        with partial.open("wb") as out:
            shutil.copyfileobj(source, out)
        partial.replace(target)
    tarball.unlink()
    return target

