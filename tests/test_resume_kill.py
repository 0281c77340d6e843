"""Nothing lost, nothing twice: real copy processes killed with SIGKILL, then rerun."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from conftest import read_endpoint, run_cli, synthetic_message, write_mbox

COUNT = 5000


@pytest.fixture(scope="module")
def big_mbox(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "Inbox.mbox"
    return write_mbox(path, [synthetic_message(n) for n in range(COUNT)])


def copy_process(source: str, target: str, state) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "migrate", "copy", source, target,
                             "--state", str(state), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_at_random_moments(source: str, target: str, state, kills: int, seed: int) -> int:
    """Start copies and SIGKILL each after a random delay; returns how many were killed."""
    rng = random.Random(seed)
    killed = 0
    for _ in range(kills):
        process = copy_process(source, target, state)
        time.sleep(rng.uniform(0.3, 2.5))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed += 1
        process.wait()
    return killed


@pytest.mark.slow
@pytest.mark.parametrize("target_scheme", ["archive", "maildir", "eml", "mbox"])
def test_sigkill_then_rerun_ends_with_exactly_every_message(tmp_path, big_mbox, target_scheme):
    source = f"mbox:{big_mbox}"
    target_path = tmp_path / ("out.mbox" if target_scheme == "mbox" else "out")
    target = f"{target_scheme}:{target_path}"
    state = tmp_path / "state.db"
    seed = sum(map(ord, target_scheme))
    killed = kill_at_random_moments(source, target, state, kills=5, seed=seed)
    assert killed >= 1, "no copy was killed mid-run: the kill window is too late"

    final = run_cli("copy", source, target, "--state", str(state), "--quiet")
    assert final.returncode == 0, final.stdout + final.stderr

    expected = Counter(synthetic_message_sha(n) for n in range(COUNT))
    copied = Counter()
    for messages in read_endpoint(target).values():
        copied.update(messages)
    assert sum(copied.values()) == COUNT
    assert copied == expected

    again = run_cli("copy", source, target, "--state", str(state), "--quiet")
    assert again.returncode == 0
    assert "Copied 0 messages" in again.stdout


def synthetic_message_sha(n: int) -> str:
    return hashlib.sha256(synthetic_message(n)).hexdigest()
