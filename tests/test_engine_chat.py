"""The engine copies conversations too: archive → archive with `migrate copy`, resumable."""

from __future__ import annotations

from dataclasses import replace

from conftest import run_cli
from sqlalchemy import select
from test_archive_chat import (  # noqa: F401 (chat_archive is a fixture)
    CHANNEL,
    CHAT,
    channel_messages,
    chat_archive,
    direct_messages,
)

from connectors.archive import ArchiveSource, ArchiveTarget
from migrate.archive import ArchiveWriter, open_archive, validate
from migrate.chatcopy import STOPPED_KEY, ChatCopier
from migrate.connector import ChatTarget
from migrate.errors import ItemError
from migrate.model import ChatMessage
from migrate.results import CopyResult
from migrate.state import AuditEntry, StateDB


def test_copy_carries_conversations_and_a_rerun_posts_nothing(chat_archive, tmp_path):  # noqa: F811
    target, state = tmp_path / "copy", str(tmp_path / "s.db")
    first = run_cli("copy", f"archive:{chat_archive}", f"archive:{target}", "--state", state)
    assert first.returncode == 0, first.stdout + first.stderr
    source, copied = open_archive(chat_archive), open_archive(target)
    assert list(copied.conversations()) == list(source.conversations())
    for conversation in (CHANNEL, CHAT):
        assert list(copied.chat_messages(conversation)) == \
            list(source.chat_messages(conversation))
    assert validate(target).ok

    again = run_cli("copy", f"archive:{chat_archive}", f"archive:{target}", "--state", state)
    assert again.returncode == 0
    total = len(channel_messages()) + len(direct_messages())
    assert f"Copied {total} messages" in first.stdout
    assert "Copied 0 messages" in again.stdout and f"{total} already there" in again.stdout


def _edit_source(chat_archive, text: str) -> ChatMessage:  # noqa: F811
    """Append a later version of message 2 to the source archive (as a Teams export would)."""
    changed = replace(channel_messages()[1], body_text=text)
    with ArchiveWriter.open(chat_archive) as writer:
        writer.update(CHANNEL, changed)
    return changed


def test_a_changed_message_reaches_the_target_as_a_new_version(chat_archive, tmp_path):  # noqa: F811
    target, state = tmp_path / "copy", str(tmp_path / "s.db")
    assert run_cli("copy", f"archive:{chat_archive}", f"archive:{target}",
                   "--state", state).returncode == 0
    changed = _edit_source(chat_archive, "version corrigée")
    again = run_cli("copy", f"archive:{chat_archive}", f"archive:{target}", "--state", state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Copied 0 messages" in again.stdout
    assert "1 chat message(s) copied earlier changed" in again.stdout
    copied = open_archive(target)
    assert [m for m in copied.chat_messages(CHANNEL) if m.source_id == "2"] == [changed]
    assert [len(v) for v in copied.chat_versions(CHANNEL)] == [1, 2, 1, 1, 1]
    assert validate(target).ok
    third = run_cli("copy", f"archive:{chat_archive}", f"archive:{target}", "--state", state)
    assert "changed" not in third.stdout and third.returncode == 0


class _ArchiveWithoutUpdate(ArchiveTarget):
    """The real archive target, less the ability to update (ChatTarget's default)."""

    update = ChatTarget.update


def test_a_target_that_cannot_update_gets_the_change_reported_not_dropped(
        chat_archive, tmp_path):  # noqa: F811
    target, state = tmp_path / "copy", StateDB.open(tmp_path / "s.db")
    job = state.job(f"archive:{chat_archive}", f"archive:{target}")

    def run() -> CopyResult:
        result = CopyResult(job, state.start_run("copy", None, None, {}))
        source = open_archive(chat_archive)
        writer = _ArchiveWithoutUpdate(ArchiveWriter.open(target))
        ChatCopier(state, job, result).copy(ArchiveSource(source), writer)
        writer.close()
        return result

    assert run().copied == len(channel_messages()) + len(direct_messages())
    _edit_source(chat_archive, "version corrigée")
    result = run()
    assert result.changed == 0 and result.failed == 1
    (failure,) = result.failures
    assert failure.key == "2" and "cannot update" in failure.error
    copied = open_archive(target)
    assert [len(v) for v in copied.chat_versions(CHANNEL)] == [1, 1, 1, 1, 1]
    with state.session() as session:
        events = list(session.scalars(select(AuditEntry.event)))
    assert events.count("chat-change-not-carried") == 1


class _RefusingChannel(ArchiveTarget):
    """An archive target that refuses one conversation, as a homeserver may refuse a room."""

    def prepare_conversation(self, conversation) -> None:
        if conversation.source_id == CHANNEL.source_id:
            raise ItemError(f"room for {conversation.name!r} refused")
        super().prepare_conversation(conversation)


def test_a_conversation_the_target_refuses_fails_alone(chat_archive, tmp_path):  # noqa: F811
    target, state = tmp_path / "copy", StateDB.open(tmp_path / "s.db")
    job = state.job(f"archive:{chat_archive}", f"archive:{target}")
    result = CopyResult(job, state.start_run("copy", None, None, {}))
    writer = _RefusingChannel(ArchiveWriter.open(target))
    ChatCopier(state, job, result).copy(ArchiveSource(open_archive(chat_archive)), writer)
    writer.close()
    (failure,) = result.failures
    assert failure.key == STOPPED_KEY and "refused" in failure.error
    assert result.copied == len(direct_messages())  # the other conversation went on
