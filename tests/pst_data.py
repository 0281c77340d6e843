"""The real Outlook files the PST tests read, from the npm package ``pst-extractor``:
``enron.pst`` (a PST of the public Enron corpus) and an Outlook.com OST with meetings,
holidays and attachments. ``npm pack`` fetches the package once into ``.cache/pst/``;
the files are reused after. What no public file holds (attached messages, a password)
is written by a real PST writer, Aspose.Email, in a venv of its own (``aspose_pst.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "pst"
FOLDER = "package/example/testdata/"
FILES = ("enron.pst", "pstextractortest@outlook.com.ost")
WRITTEN = ("embedded.pst", "password.pst", "big-embedded.pst")
ASPOSE = "Aspose.Email-for-Python-via-NET==26.10"
ASPOSE_VENV = REPO / ".cache" / "aspose-venv"


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


def written_pst(name: str) -> Path:
    """One of ``WRITTEN``, made once by ``aspose_pst.py`` (the writer and its .NET runtime,
    about 90 MB from PyPI, go into ``.cache/aspose-venv`` the first time)."""
    target = CACHE / name
    if target.is_file() and target.stat().st_size > 0:
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    run_writer(str(CACHE))
    return target


def run_writer(*args: str) -> None:
    """Run ``aspose_pst.py ARGS`` with the Python of the writer's venv (made the first
    time); the benchmarks write their large PST files this way too."""
    python = ASPOSE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ASPOSE_VENV)], check=True)
        installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", ASPOSE],
                                   capture_output=True, text=True, timeout=900)
        if installed.returncode != 0:
            shutil.rmtree(ASPOSE_VENV)
            raise RuntimeError(f"pip install {ASPOSE} failed: {installed.stderr.strip()}")
    env = {**os.environ, "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "1"}  # no ICU needed
    done = subprocess.run([str(python), str(REPO / "tests" / "aspose_pst.py"), *args],
                          capture_output=True, text=True, timeout=1800, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"writing PST files failed: {done.stderr.strip()}")
