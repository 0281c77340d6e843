"""The issue's acceptance, as a new user would try it: real CLI processes on real files."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import read_endpoint, run_cli, synthetic_message, write_mbox


@pytest.fixture
def corpus_mbox(tmp_path, corpus) -> Path:
    """CPython's odd test messages in one mbox (each made to end with a newline, the one
    thing an mbox cannot carry: see the mbox connector's limits)."""
    messages = [path.read_bytes() for path in corpus]
    messages = [m if m.endswith(b"\n") else m + b"\n" for m in messages]
    flagged = [b"Status: RO\nX-Status: " + status + b"\n" + synthetic_message(n)
               for n, status in enumerate([b"A", b"F", b"", b"AF"])]
    return write_mbox(tmp_path / "Inbox.mbox", messages + flagged)


def test_mbox_archive_maildir_eml_chain_is_byte_identical(tmp_path, corpus_mbox, corpus):
    state = str(tmp_path / "state.db")
    archive, maildir, eml = tmp_path / "A", tmp_path / "M", tmp_path / "E"
    original = read_endpoint(f"mbox:{corpus_mbox}")
    assert sum(sum(c.values()) for c in original.values()) == len(corpus) + 4

    plan = run_cli("plan", f"mbox:{corpus_mbox}", f"archive:{archive}", "--state", state,
                   check=True)
    assert "Dry run: nothing was written" in plan.stdout
    assert not archive.exists() and not Path(state).exists()

    for source, target in ((f"mbox:{corpus_mbox}", f"archive:{archive}"),
                           (f"archive:{archive}", f"maildir:{maildir}"),
                           (f"maildir:{maildir}", f"eml:{eml}")):
        run_cli("copy", source, target, "--state", state, check=True)
        verify = run_cli("verify", source, target, check=True)
        assert "Nothing lost" in verify.stdout

    def everything(url: str):
        counts = {}
        for folder_counts in read_endpoint(url).values():
            for sha, count in folder_counts.items():
                counts[sha] = counts.get(sha, 0) + count
        return counts

    assert everything(f"eml:{eml}") == everything(f"mbox:{corpus_mbox}")
    bagit = subprocess.run([sys.executable, "-m", "bagit", "--validate", str(archive)],
                           capture_output=True, text=True)
    assert bagit.returncode == 0, bagit.stderr


def test_plan_says_what_each_format_cannot_hold(tmp_path, corpus_mbox):
    to_mbox = run_cli("plan", f"maildir:{tmp_path / 'none'}", f"mbox:{tmp_path / 'x.mbox'}")
    assert to_mbox.returncode == 3  # the source does not exist: could not open it
    to_eml = run_cli("plan", f"mbox:{corpus_mbox}", f"eml:{tmp_path / 'E'}", check=True)
    assert "The target cannot keep:" in to_eml.stdout
    assert "- flags:" in to_eml.stdout
    to_archive = run_cli("plan", f"mbox:{corpus_mbox}", f"archive:{tmp_path / 'A'}",
                         check=True)
    assert "The target keeps everything the source provides." in to_archive.stdout
    french = run_cli("--lang", "fr", "plan", f"mbox:{corpus_mbox}", f"eml:{tmp_path / 'E'}",
                     check=True)
    assert "La cible ne peut pas conserver" in french.stdout


def test_second_copy_writes_nothing(tmp_path):
    mbox = write_mbox(tmp_path / "Inbox.mbox", [synthetic_message(n) for n in range(30)])
    state = str(tmp_path / "state.db")
    first = run_cli("copy", f"mbox:{mbox}", f"maildir:{tmp_path / 'M'}", "--state", state,
                    check=True)
    assert "Copied 30 messages" in first.stdout
    files = sorted(p.name for p in (tmp_path / "M").rglob("*") if p.is_file())
    second = run_cli("copy", f"mbox:{mbox}", f"maildir:{tmp_path / 'M'}", "--state", state,
                     check=True)
    assert "Copied 0 messages" in second.stdout and "30 already there" in second.stdout
    assert sorted(p.name for p in (tmp_path / "M").rglob("*") if p.is_file()) == files


def test_tampered_archive_fails_validation_naming_the_file(tmp_path):
    mbox = write_mbox(tmp_path / "Inbox.mbox", [synthetic_message(n) for n in range(5)])
    archive = tmp_path / "A"
    run_cli("copy", f"mbox:{mbox}", f"archive:{archive}", "--state", str(tmp_path / "s.db"),
            check=True)
    assert run_cli("archive", "validate", str(archive)).returncode == 0
    victim = sorted(archive.rglob("*.eml"))[2]
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0x01
    victim.write_bytes(bytes(data))
    result = run_cli("archive", "validate", str(archive))
    assert result.returncode == 1
    assert victim.relative_to(archive).as_posix() in result.stdout + result.stderr


def test_json_log_has_one_event_per_line(tmp_path):
    mbox = write_mbox(tmp_path / "Inbox.mbox", [synthetic_message(n) for n in range(3)])
    log = tmp_path / "events.jsonl"
    run_cli("copy", f"mbox:{mbox}", f"eml:{tmp_path / 'E'}", "--state",
            str(tmp_path / "s.db"), "--log-json", str(log), check=True)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "copy-started" and kinds[-1] == "copy-finished"
    assert kinds.count("item-copied") == 3
    assert all("time" in e and "operator" in e for e in events)


def test_progress_bars_only_on_a_terminal(tmp_path):
    mbox = write_mbox(tmp_path / "Inbox.mbox", [synthetic_message(n) for n in range(20)])
    piped = run_cli("copy", f"mbox:{mbox}", f"eml:{tmp_path / 'E1'}", "--state",
                    str(tmp_path / "s.db"), check=True)
    assert "msg/s" not in piped.stderr and "%|" not in piped.stderr

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "migrate", "copy", f"mbox:{mbox}",
                                f"eml:{tmp_path / 'E2'}", "--state", str(tmp_path / "s.db")],
                               stdout=subprocess.PIPE, stderr=secondary,
                               env={**os.environ, "LANG": "C.UTF-8"})
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    process.wait()
    os.close(primary)
    assert process.returncode == 0
    assert b"total" in output and b"B/s" in output


def test_status_reads_the_state_while_a_copy_runs(tmp_path):
    mbox = write_mbox(tmp_path / "Inbox.mbox", [synthetic_message(n) for n in range(3000)])
    state = str(tmp_path / "state.db")
    process = subprocess.Popen([sys.executable, "-m", "migrate", "copy", f"mbox:{mbox}",
                                f"maildir:{tmp_path / 'M'}", "--state", state, "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen_running = False
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            status = run_cli("status", "--state", state)
            assert status.returncode == 0, status.stderr
            if "running" in status.stdout:
                seen_running = True
                assert "/3000" in status.stdout
                break
            time.sleep(0.1)
        assert seen_running, "status never saw the copy running"
    finally:
        process.wait(timeout=120)
    assert process.returncode == 0
    final = run_cli("status", "--state", state, check=True)
    assert "done" in final.stdout and "3000/3000" in final.stdout


def test_delta_pass_on_a_new_export_copies_only_what_is_new(tmp_path):
    """Pre-stage from one export, then a final pass from a later export of the same mailbox
    (some messages deleted meanwhile, some new): only the new ones are copied."""
    state, target = str(tmp_path / "s.db"), f"maildir:{tmp_path / 'M'}"
    export = tmp_path / "export"
    export.mkdir()
    write_mbox(export / "Inbox.mbox", [synthetic_message(n) for n in range(10)])
    run_cli("copy", f"mbox:{export}", target, "--state", state, check=True)
    # The same mailbox exported again weeks later, over the first export.
    write_mbox(export / "Inbox.mbox", [synthetic_message(n) for n in [*range(2, 10), 10, 11, 12]])
    delta = run_cli("copy", f"mbox:{export}", target, "--state", state, check=True)
    assert "Copied 3 messages" in delta.stdout
    total = sum(sum(c.values()) for c in read_endpoint(target).values())
    assert total == 13


def test_archive_show_lists_accounts_folders_date_ranges_and_sizes(tmp_path):
    mbox = write_mbox(tmp_path / "Inbox.mbox", [synthetic_message(n) for n in range(4)])
    archive = tmp_path / "A"
    run_cli("copy", f"mbox:{mbox}", f"archive:{archive}", "--state", str(tmp_path / "s.db"),
            check=True)
    shown = run_cli("archive", "show", str(archive), check=True).stdout
    assert f"from mbox:{mbox}: 4 messages" in shown
    # write_mbox dates its From_ lines one minute apart from 2023-01-01
    assert "Inbox (inbox): 4 · " in shown and "2023-01-01 → 2023-01-01" in shown
    assert "sealed" in shown
