"""One bad item never stops a run: it is recorded, listed, exit 1, and retried next run."""

from __future__ import annotations

import json
import re
import sqlite3

from conftest import read_endpoint, run_cli, synthetic_message, write_mbox

INDEX = "data/index/messages.jsonl"


def test_bad_item_is_recorded_listed_and_retried(tmp_path):
    mbox = write_mbox(tmp_path / "Inbox.mbox", [synthetic_message(n) for n in range(5)])
    archive, maildir, state = tmp_path / "A", tmp_path / "M", str(tmp_path / "state.db")
    run_cli("copy", f"mbox:{mbox}", f"archive:{archive}", "--state", state, check=True)

    index = archive / INDEX
    original = index.read_bytes()
    lines = original.splitlines(keepends=True)
    record = json.loads(lines[2])
    record["path"] = "data/eml/../../../etc/passwd"
    lines[2] = json.dumps(record).encode() + b"\n"
    index.write_bytes(b"".join(lines))

    first = run_cli("copy", f"archive:{archive}", f"maildir:{maildir}", "--state", state)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Copied 4 messages" in first.stdout and "1 failed" in first.stdout
    assert "Failed items" in first.stdout and "'..'" in first.stdout
    assert sum(sum(c.values()) for c in read_endpoint(f"maildir:{maildir}").values()) == 4

    second = run_cli("copy", f"archive:{archive}", f"maildir:{maildir}", "--state", state)
    assert second.returncode == 1
    assert "Copied 0 messages" in second.stdout and "4 already there" in second.stdout
    with sqlite3.connect(state) as db:
        attempts, status = db.execute(
            "SELECT attempts, status FROM items WHERE status != 'done'").fetchone()
    assert (attempts, status) == (2, "failed")

    index.write_bytes(original)  # the operator repairs the archive
    third = run_cli("copy", f"archive:{archive}", f"maildir:{maildir}", "--state", state)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "Copied 1 messages" in third.stdout
    total = sum(sum(c.values()) for c in read_endpoint(f"maildir:{maildir}").values())
    assert total == 5
    status = run_cli("status", "--state", state, check=True)
    assert "5/5" in status.stdout


def test_unreadable_source_is_exit_3_and_bad_config_exit_2(tmp_path):
    missing = run_cli("copy", f"maildir:{tmp_path / 'nope'}", f"eml:{tmp_path / 'E'}",
                      "--state", str(tmp_path / "s.db"))
    assert missing.returncode == 3
    assert "nope" in missing.stderr
    bad_map = tmp_path / "map.toml"
    bad_map.write_text("[roles]\nnonsense = ['x']\n")
    usage = run_cli("copy", f"maildir:{tmp_path}", f"eml:{tmp_path / 'E'}", "--map",
                    str(bad_map), "--state", str(tmp_path / "s.db"))
    assert usage.returncode == 2
    assert "unknown role 'nonsense'" in usage.stderr


def test_a_folder_that_cannot_be_read_is_recorded_and_the_others_copied(tmp_path):
    mbox_dir = tmp_path / "src"
    mbox_dir.mkdir()
    write_mbox(mbox_dir / "INBOX.mbox", [synthetic_message(n) for n in range(3)])
    write_mbox(mbox_dir / "Projets.mbox", [synthetic_message(n) for n in range(3, 5)])
    maildir, state = tmp_path / "M", str(tmp_path / "s.db")
    run_cli("copy", f"mbox:{mbox_dir}", f"maildir:{maildir}", "--state", state, check=True)
    broken = maildir / ".Projets" / "cur"
    moved = tmp_path / "saved-cur"
    broken.rename(moved)
    broken.symlink_to(broken)  # listing it fails (a loop), even for root

    target, state2 = f"eml:{tmp_path / 'E'}", str(tmp_path / "s2.db")
    plan = run_cli("plan", f"maildir:{maildir}", target, check=True)
    assert "cannot be read" in plan.stdout and "not a readable directory" in plan.stdout
    first = run_cli("copy", f"maildir:{maildir}", target, "--state", state2)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Copied 3 messages" in first.stdout and "Projets" in first.stdout

    broken.unlink()
    moved.rename(broken)
    second = run_cli("copy", f"maildir:{maildir}", target, "--state", state2)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Copied 2 messages" in second.stdout
    status = run_cli("status", "--state", state2, check=True)
    # job, state, messages, bytes done/total, errors …: all done, no error left
    assert re.search(r"^\s+1\s+done\s+5/5\s+\S+ \S+/\S+ \S+\s+0\s", status.stdout, re.M), \
        status.stdout
