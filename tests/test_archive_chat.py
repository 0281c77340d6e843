"""Chat in the archive: conversations, threads, reactions, edits and attachments written and
read back as equal data classes; the transcript is readable and escapes everything."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import bagit
import pytest

from migrate.archive import (
    ArchiveWriter,
    IndexLineError,
    chat_message_from_dict,
    chat_message_to_dict,
    open_archive,
    summary,
    validate,
)
from migrate.model import (
    Blob,
    ChatMessage,
    ChatMessageType,
    Content,
    Conversation,
    ConversationKind,
    Edit,
    Identity,
    Reaction,
    Workspace,
)

ALICE = Identity("aad:1111", "Alice Martin", "alice@mairie.example")
BOB = Identity("aad:2222", "Bob <b>", None)
PARIS = timezone(timedelta(hours=1))
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=PARIS)

CHANNEL = Conversation(
    "19:general@thread.tacv2", ConversationKind.CHANNEL, "Général", "Tout & rien",
    (ALICE, BOB), Workspace("team-1", "Mairie", "L'équipe"), T0)
CHAT = Conversation("19:a_b@unq.gbl.spaces", ConversationKind.DIRECT_CHAT, None, None,
                    (ALICE, BOB))
ATTACHMENT = Blob(Content.from_bytes(b"%PDF-1.4 fake pdf \x00\xff"), "budget 2024.pdf",
                  "application/pdf")


def channel_messages() -> list[ChatMessage]:
    raw = '{"id":"1",  "body": {"content":"<p>Bonjour</p>"}, "odd":[1.0, 2e3]}'
    return [
        ChatMessage("1", CHANNEL.source_id, ALICE, T0, "<p>Bonjour <b>à tous</b></p>",
                    None, subject="Ordre du jour", raw=raw,
                    reactions=(Reaction(BOB, "👍", T0 + timedelta(minutes=1)),),
                    attachments=(ATTACHMENT.ref,), mentions=(BOB,)),
        ChatMessage("2", CHANNEL.source_id, BOB, T0 + timedelta(minutes=2), None,
                    "<script>alert('x')</script> & co", thread_root_id="1", reply_to_id="1",
                    edited=T0 + timedelta(minutes=5),
                    edits=(Edit(T0 + timedelta(minutes=3), None, "first version"),)),
        ChatMessage("3", CHANNEL.source_id, None, T0 + timedelta(minutes=4),
                    message_type=ChatMessageType.SYSTEM, body_text="Bob joined"),
        ChatMessage("4", CHANNEL.source_id, ALICE, datetime(2024, 3, 2, 8, 0, tzinfo=UTC),
                    "<div>supprimé</div>", deleted=datetime(2024, 3, 2, 9, 0, tzinfo=UTC),
                    thread_root_id="4"),
        ChatMessage("5", CHANNEL.source_id, BOB, datetime(2024, 3, 1, 10, 0),  # naive date
                    None, "réponse tardive", thread_root_id="1"),
    ]


def direct_messages() -> list[ChatMessage]:
    return [ChatMessage(f"d{i}", CHAT.source_id, (ALICE, BOB)[i % 2],
                        T0 + timedelta(hours=i), None, f"message {i}") for i in range(3)]


@pytest.fixture
def chat_archive(tmp_path) -> Path:
    path = tmp_path / "archive"
    with ArchiveWriter.open(path) as writer:
        writer.put_blob(ATTACHMENT)
        writer.prepare_conversation(CHANNEL)
        for message in channel_messages():
            writer.post(CHANNEL, message)
        writer.prepare_conversation(CHAT)
        for message in direct_messages():
            writer.post(CHAT, message)
        writer.commit()
    return path


def test_chat_round_trip_gives_equal_data_classes(chat_archive) -> None:
    reader = open_archive(chat_archive)
    assert list(reader.conversations()) == [CHANNEL, CHAT]
    assert list(reader.chat_messages(CHANNEL)) == channel_messages()
    assert list(reader.chat_messages(CHAT)) == direct_messages()
    first = next(iter(reader.chat_messages(CHANNEL)))
    assert first.raw == channel_messages()[0].raw  # the source JSON text, untouched
    blob = reader.blob(first.attachments[0])
    assert blob.content.read() == ATTACHMENT.content.read()
    assert blob.name == "budget 2024.pdf"


def test_chat_archive_is_a_valid_bag(chat_archive) -> None:
    assert bagit.Bag(str(chat_archive)).validate()
    result = validate(chat_archive)
    assert result.ok, result.to_text()
    info = bagit.Bag(str(chat_archive)).info
    assert info["Sovereign-Migrate-Conversation-Count"] == "2"
    assert info["Sovereign-Migrate-Chat-Message-Count"] == "8"
    assert info["Sovereign-Migrate-Blob-Count"] == "1"
    shown = summary(chat_archive)
    assert shown.chat_messages == 8 and [c.messages for c in shown.conversations] == [5, 3]


def test_transcript_is_self_contained_escaped_and_threaded(chat_archive) -> None:
    transcripts = sorted(chat_archive.glob("data/chat/*/transcript.html"))
    assert len(transcripts) == 2
    page = next(p for p in transcripts if "general" in p.parent.name).read_text("utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Bob &lt;b&gt;" in page and "Tout &amp; rien" in page
    assert "Bonjour à tous" in page  # HTML bodies shown as their text
    assert "src=" not in page and "http" not in page  # nothing loaded from outside
    replies = page[page.index('<section class="replies">'):]
    assert replies.index('id="m-2"') < replies.index('id="m-5"') < replies.index("</section>")
    assert "budget 2024.pdf" in page and "../../../data/blobs/sha256/" in page
    assert "first version" in page and "deleted" in page


def test_transcript_is_refreshed_when_a_later_run_adds_messages(chat_archive) -> None:
    with ArchiveWriter.open(chat_archive) as writer:
        writer.post(CHAT, ChatMessage("d9", CHAT.source_id, ALICE, T0 + timedelta(days=1),
                                      None, "a later message"))
    page = next(chat_archive.glob("data/chat/19=3Aa_b*/transcript.html")).read_text("utf-8")
    assert "a later message" in page
    assert validate(chat_archive).ok and bagit.Bag(str(chat_archive)).validate()


def test_posting_the_same_message_twice_keeps_one(chat_archive) -> None:
    writer = ArchiveWriter.open(chat_archive)
    original = channel_messages()[1]
    key = writer.find_chat(CHANNEL, original)
    assert key is not None and key.endswith("/2")
    assert writer.post(CHANNEL, original) == key
    assert writer.find_chat(CHANNEL, ChatMessage("new", CHANNEL.source_id, ALICE, T0)) is None
    writer.put_blob(ATTACHMENT)  # already there: not written again
    writer.close()
    assert len(list(open_archive(chat_archive).chat_messages(CHANNEL))) == 5


def test_bad_chat_line_is_reported_after_the_good_ones(chat_archive) -> None:
    path = next(chat_archive.glob("data/chat/19=3Ageneral*/messages.jsonl"))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = b'{"source_id": "2", "created": "not a date"}\n'
    path.write_bytes(b"".join(lines))
    reader = open_archive(chat_archive)
    seen = []
    with pytest.raises(IndexLineError, match="line 2") as caught:
        for message in reader.chat_messages(CHANNEL):
            seen.append(message.source_id)
    assert seen == ["1", "3", "4", "5"] and caught.value.line == 2
    assert any(p.kind == "chat" and p.line == 2 for p in validate(chat_archive).problems)


def test_hostile_conversation_directory_is_refused(chat_archive) -> None:
    index = chat_archive / "data/index/conversations.jsonl"
    index.write_text(index.read_text() + json.dumps(
        {"source_id": "evil", "dir": "data/chat/../../../etc"}) + "\n")
    reader = open_archive(chat_archive)
    assert [c.source_id for c in reader.conversations()] == [CHANNEL.source_id, CHAT.source_id]
    assert any("'..'" in problem for problem in reader.problems)
    assert any(p.kind == "unsafe" for p in validate(chat_archive).problems)


def test_serialisation_round_trip_and_validation() -> None:
    for message in channel_messages() + direct_messages():
        data = json.loads(json.dumps(chat_message_to_dict(message)))
        assert chat_message_from_dict(data) == message
    with pytest.raises(ValueError, match="sha256"):
        chat_message_from_dict({**chat_message_to_dict(channel_messages()[0]),
                                "attachments": [{"sha256": "../../etc", "size": 1}]})
    with pytest.raises(ValueError, match="created"):
        chat_message_from_dict({"source_id": "x", "conversation_id": "c"})


def _edited(message: ChatMessage, text: str, minutes: int) -> ChatMessage:
    return replace(message, body_html=f"<p>{text}</p>",
                   edited=T0 + timedelta(minutes=minutes))


def test_an_update_is_a_later_version_and_every_version_is_kept(chat_archive) -> None:
    first = channel_messages()[0]
    second = _edited(first, "Bonjour, ordre du jour corrigé", 30)
    third = replace(second, deleted=T0 + timedelta(hours=1), body_html="")
    with ArchiveWriter.open(chat_archive) as writer:
        key = writer.update(CHANNEL, second)
        assert writer.update(CHANNEL, second) == key  # the same content: nothing written
        assert writer.find_chat(CHANNEL, first).endswith("/1")  # its first line stays its key
        writer.update(CHANNEL, third)
        writer.update(CHAT, direct_messages()[0])  # unchanged: nothing written
    path = next(chat_archive.glob("data/chat/19=3Ageneral*/messages.jsonl"))
    written = [json.loads(x) for x in path.read_bytes().splitlines()]
    assert [(m["source_id"], m.get("version")) for m in written] == [
        ("1", None), ("2", None), ("3", None), ("4", None), ("5", None), ("1", 2), ("1", 3)]
    reader = open_archive(chat_archive)
    assert [m.source_id for m in reader.chat_messages(CHANNEL)] == ["1", "2", "3", "4", "5"]
    assert next(iter(reader.chat_messages(CHANNEL))) == third  # the current version
    assert next(iter(reader.chat_versions(CHANNEL))) == [first, second, third]
    assert reader.chat_message_count(CHANNEL) == 5 and summary(chat_archive).chat_messages == 8
    assert len(list(reader.chat_messages(CHAT))) == 3
    result = validate(chat_archive)
    assert result.ok, result.to_text()
    assert bagit.Bag(str(chat_archive)).validate()
    page = next(chat_archive.glob("data/chat/19=3Ageneral*/transcript.html")).read_text("utf-8")
    assert "2 former archived version(s)" in page and "ordre du jour corrigé" in page
    assert page.count('id="m-1"') == 1 and "deleted" in page


def test_a_writer_killed_after_a_version_leaves_one_current_version(chat_archive) -> None:
    """A process writes a version, commits and dies by SIGKILL before anything records
    it; the rerun's update with the same content writes nothing."""
    second = _edited(channel_messages()[1], "réponse corrigée", 40)
    data = json.dumps(chat_message_to_dict(second))
    child = subprocess.run([sys.executable, "-c", f"""
import json, os, signal, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_archive_chat import CHANNEL
from migrate.archive import ArchiveWriter, chat_message_from_dict
writer = ArchiveWriter.open({str(chat_archive)!r})
writer.update(CHANNEL, chat_message_from_dict(json.loads({data!r})))
writer.commit()
os.kill(os.getpid(), signal.SIGKILL)
"""], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr
    with ArchiveWriter.open(chat_archive) as writer:
        key = writer.update(CHANNEL, second)
    assert key.endswith("/6")  # the version the dead process wrote
    reader = open_archive(chat_archive)
    assert [len(v) for v in reader.chat_versions(CHANNEL)] == [1, 2, 1, 1, 1]
    assert validate(chat_archive).ok


def test_validate_flags_a_version_out_of_sequence(chat_archive) -> None:
    path = next(chat_archive.glob("data/chat/19=3Ageneral*/messages.jsonl"))
    line = {**chat_message_to_dict(channel_messages()[2]), "version": 3}
    path.write_bytes(path.read_bytes() + json.dumps(line).encode() + b"\n")
    problems = validate(chat_archive).problems
    assert any(p.kind == "chat" and p.line == 6 and "version 3" in p.message for p in problems)
