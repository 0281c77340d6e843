"""The state database: resumable records, the append-only audit log, no secrets."""

from __future__ import annotations

import sqlite3

import pytest

from migrate.errors import StateError
from migrate.state import ItemStatus, StateDB, state_url


def test_plain_path_becomes_sqlite_url(tmp_path):
    assert state_url(tmp_path / "s.db") == f"sqlite:///{tmp_path / 's.db'}"
    assert state_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_items_go_pending_then_done_and_survive_reopen(tmp_path):
    path = tmp_path / "state.db"
    state = StateDB.open(path)
    job = state.job("mbox:a", "maildir:b")
    folder, cursor = state.folder(job, ("Inbox",), ("INBOX",), "inbox")
    assert cursor is None
    state.mark_pending(job, folder, [("k1", 10), ("k2", 20)])
    state.mark_results(folder, [("k1", "t1", "aa" * 32)], [("k2", "disk full")])

    reopened = StateDB.open(path)
    found = reopened.lookup(folder, ["k1", "k2", "k3"])
    assert found["k1"].status == ItemStatus.DONE and found["k1"].target_key == "t1"
    assert found["k2"].status == ItemStatus.FAILED
    assert "k3" not in found
    assert reopened.job_counts(job) == (1, 10)
    assert reopened.failed_count(job) == 1
    assert reopened.failures(job) == [(["Inbox"], "k2", "disk full")]


def test_same_pair_is_the_same_job(tmp_path):
    state = StateDB.open(tmp_path / "s.db")
    assert state.job("mbox:a", "eml:b") == state.job("mbox:a", "eml:b")
    assert state.job("mbox:a", "eml:b") != state.job("mbox:a", "eml:c")
    assert state.find_job("mbox:x", "eml:y") is None


def test_remapped_folder_is_copied_again(tmp_path):
    state = StateDB.open(tmp_path / "s.db")
    job = state.job("mbox:a", "maildir:b")
    folder, _ = state.folder(job, ("Old",), ("Old",), None)
    state.mark_pending(job, folder, [("k1", 1)])
    state.mark_results(folder, [("k1", "t1", None)], [])
    again, _ = state.folder(job, ("Old",), ("Archives", "Old"), None)
    assert again == folder
    assert state.lookup(folder, ["k1"])["k1"].status == ItemStatus.FAILED


def test_audit_log_is_append_only(tmp_path):
    path = tmp_path / "s.db"
    state = StateDB.open(path)
    run = state.start_run("copy", "mbox:a", "eml:b", {})
    state.finish_run(run, "done", 3, 0)
    connection = sqlite3.connect(path)
    events = [row[0] for row in connection.execute("SELECT event FROM audit ORDER BY id")]
    assert events == ["run-started", "run-finished"]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("UPDATE audit SET event = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("DELETE FROM audit")


def test_unusable_database_gives_state_error(tmp_path):
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="not-a-db"):
        StateDB.open(bad)


def test_password_hidden_in_messages():
    with pytest.raises(StateError) as caught:
        StateDB("postgresql+psycopg://user:s3cret@127.0.0.1:1/x")
    assert "s3cret" not in str(caught.value)
    assert "user:***@127.0.0.1" in str(caught.value)
