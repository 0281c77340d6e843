"""Chat in ``verify`` and ``roundtrip``: messages paired by id per conversation; a missing,
a changed and an extra message are each listed; a target without chat loses it, and the
certificate says so."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import run_cli, synthetic_message

from migrate.archive import ArchiveWriter
from migrate.model import (
    ChatMessage,
    Content,
    Conversation,
    ConversationKind,
    Folder,
    Identity,
    MailMessage,
    Reaction,
    Role,
)

ALICE = Identity("aad:1", "Alice Martin")
BOB = Identity("aad:2", "Bob Durand")
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
CHANNEL = Conversation("19:general", ConversationKind.CHANNEL, "Général")


def message(n: int, body: str | None = None) -> ChatMessage:
    return ChatMessage(str(n), CHANNEL.source_id, [ALICE, BOB][n % 2],
                       T0 + timedelta(minutes=n), None, body or f"message {n}",
                       thread_root_id="1" if n > 1 else None,
                       reactions=(Reaction(BOB, "👍"),) if n == 1 else ())


def write(path: Path, chat: list[ChatMessage]) -> Path:
    writer = ArchiveWriter.open(path, source="test:chat")
    inbox = Folder(("INBOX",), Role.INBOX)
    writer.prepare_folder(inbox)
    writer.append(inbox, MailMessage(Content.from_bytes(synthetic_message(1)), "m1",
                                     frozenset(), T0))
    writer.prepare_conversation(CHANNEL)
    for item in chat:
        writer.post(CHANNEL, item)
    writer.commit()
    writer.close()
    return path


def test_verify_lists_missing_changed_and_extra_chat_messages(tmp_path):
    left = write(tmp_path / "A", [message(n) for n in range(1, 6)])
    right = write(tmp_path / "B", [message(1), message(2, "changed"), message(4),
                                   message(5), message(9)])
    same = run_cli("verify", f"archive:{left}", f"archive:{left}")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "Chat: 5 of 5 messages match." in same.stdout

    done = run_cli("verify", f"archive:{left}", f"archive:{right}",
                   "--report-json", str(tmp_path / "r.json"),
                   "--report-html", str(tmp_path / "r.html"))
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    chat = {item["message_id"]: item for item in report["items"] if item["kind"] == "chat"}
    assert chat["3"]["outcome"] == "missing" and chat["3"]["folder"] == ["Général"]
    assert chat["2"]["outcome"] == "differ"
    assert chat["2"]["changes"] == [{"aspect": "body", "change": ""}]
    assert chat["9"]["outcome"] == "extra"
    assert report["conversations"][0]["match"] == 3
    assert report["totals"]["match"] == 1  # the mail message
    assert "Chat messages by conversation" in (tmp_path / "r.html").read_text()


def test_roundtrip_through_a_target_without_chat_reports_it_lost(tmp_path):
    archive = write(tmp_path / "A", [message(n) for n in range(1, 4)])
    done = run_cli("roundtrip", str(archive), "--via", f"maildir:{tmp_path / 'md'}",
                   "--certificate", str(tmp_path / "cert"))
    assert done.returncode == 1, done.stdout + done.stderr
    cert = json.loads((tmp_path / "cert.json").read_text())
    assert cert["byte_identical"] == 1 and cert["messages"] == 1
    assert cert["chat"] == {"messages": 3, "returned": 0, "carried": False, "lost": 3}
    assert cert["lost"] == 3 and cert["ok"] is False
