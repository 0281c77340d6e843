"""The real Outlook files the PST tests read, from the npm package ``pst-extractor``:
``enron.pst`` (a PST of the public Enron corpus) and an Outlook.com OST with meetings,
holidays and attachments. ``npm pack`` fetches the package once into ``.cache/pst/``;
the files are reused after."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "pst"
FOLDER = "package/example/testdata/"
FILES = ("enron.pst", "pstextractortest@outlook.com.ost")


def pst_file(name: str) -> Path:
    """A cached test file of pst-extractor; fetched with npm the first time (the tests
    skip, saying why, only when npm is missing)."""
    target = CACHE / name
    if target.is_file() and target.stat().st_size > 0:
        return target
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is needed once to fetch the PST test files (npm pack pst-extractor)")
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "pack", "pst-extractor", "--silent"], cwd=CACHE,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"npm pack pst-extractor failed: {done.stderr.strip()}")
    tarball = CACHE / done.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        for wanted in FILES:
            source = archive.extractfile(FOLDER + wanted)
            assert source is not None, f"{FOLDER}{wanted} is not in {tarball.name}"
            partial = CACHE / f"{wanted}.part"
            with partial.open("wb") as out:
                shutil.copyfileobj(source, out)
            partial.replace(CACHE / wanted)
    tarball.unlink()
    return target
