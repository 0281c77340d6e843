"""Deletions at the source between two passes (QRESYNC's VANISHED on Dovecot): recorded and
the copies kept; ``copy --delete`` deletes the copies, including those recorded earlier."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import run_cli, synthetic_message

pytest.importorskip("imapclient")


def _expunge(dovecot, user: str, count: int) -> list[bytes]:
    """Delete the first ``count`` messages of the user's INBOX; their bytes."""
    with dovecot.client(user) as client:
        client.select_folder("INBOX")
        uids = sorted(client.search("ALL"))[:count]
        gone = [data[b"BODY[]"] for data in client.fetch(uids, ["BODY.PEEK[]"]).values()]
        client.delete_messages(uids)
        client.expunge()
    return gone


def _statuses(state: str) -> dict[str, int]:
    with sqlite3.connect(state) as db:
        return dict(db.execute("SELECT status, count(*) FROM items GROUP BY status"))


def test_deletions_are_recorded_then_carried_with_delete(dovecot, tmp_path):
    source_user, target_user = dovecot.add_user("dora"), dovecot.add_user("dan")
    dovecot.seed(source_user, "INBOX", [synthetic_message(n) for n in range(12)])
    source, target = dovecot.url(source_user), dovecot.url(target_user)
    state = str(tmp_path / "state.db")
    assert run_cli("copy", source, target, "--state", state, "--quiet").returncode == 0

    first_gone = _expunge(dovecot, source_user, 3)
    dovecot.seed(source_user, "INBOX", [synthetic_message(100)])
    second = run_cli("copy", source, target, "--state", state, "--quiet")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Copied 1 messages" in second.stdout
    assert "3 message(s) deleted at the source" in second.stdout
    held = [data for data, _, _ in dovecot.contents(target_user)["INBOX"]]
    assert len(held) == 13 and all(data in held for data in first_gone)  # copies kept
    assert _statuses(state) == {"done": 10, "removed": 3}

    quiet = run_cli("copy", source, target, "--state", state, "--quiet")
    assert "deleted at the source" not in quiet.stdout  # recorded once

    second_gone = _expunge(dovecot, source_user, 2)
    third = run_cli("--lang", "fr", "copy", source, target, "--state", state, "--quiet",
                    "--delete")
    assert third.returncode == 0, third.stdout + third.stderr
    assert "5 copie(s) supprimée(s) de la cible : supprimée(s) à la source" in third.stdout
    held = [data for data, _, _ in dovecot.contents(target_user)["INBOX"]]
    assert sorted(held) == sorted(data for data, _, _ in dovecot.contents(source_user)["INBOX"])
    assert not any(data in held for data in first_gone + second_gone)
    assert _statuses(state) == {"done": 8, "deleted": 5}
    with sqlite3.connect(state) as db:
        events = [row[0] for row in db.execute("SELECT event FROM audit")]
    assert events.count("source-deleted") == 2
