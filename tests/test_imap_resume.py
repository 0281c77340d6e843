"""Nothing lost, nothing twice: IMAP → IMAP copies killed with SIGKILL, then rerun."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

from conftest import run_cli, synthetic_message

COUNT = 3000


def test_sigkill_mid_copy_then_rerun_ends_with_exactly_every_message(dovecot, tmp_path):
    src, dst = dovecot.add_user("kill-src"), dovecot.add_user("kill-dst")
    messages = [synthetic_message(n, body_size=300) for n in range(COUNT)]
    dovecot.seed(src, "INBOX", messages[:2000])
    dovecot.seed(src, "Dossiers/Clôturés", messages[2000:])
    source, target = dovecot.url(src), dovecot.url(dst)
    state = tmp_path / "state.db"
    rng = random.Random(3)
    killed = 0
    for _ in range(4):
        process = subprocess.Popen(
            [sys.executable, "-m", "migrate", "copy", source, target, "--state", str(state),
             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.4, 1.2))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed += 1
        process.wait()
    assert killed >= 2, "the copies ended before they could be killed: the window is too late"

    final = run_cli("copy", source, target, "--state", str(state), "--quiet")
    assert final.returncode == 0, final.stdout + final.stderr

    copied = dovecot.contents(dst)
    expected = Counter(m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for m in messages)
    found = Counter(data for folder in copied.values() for data, _, _ in folder)
    assert sum(found.values()) == COUNT
    assert found == expected
    assert len(copied["INBOX"]) == 2000 and len(copied["Dossiers/Clôturés"]) == 1000

    again = run_cli("copy", source, target, "--state", str(state), "--quiet")
    assert again.returncode == 0
    assert "Copied 0 messages" in again.stdout

