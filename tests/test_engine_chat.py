"""The engine copies conversations too: archive → archive with `migrate copy`, resumable."""

from __future__ import annotations

from conftest import run_cli
from test_archive_chat import (  # noqa: F401 (chat_archive is a fixture)
    CHANNEL,
    CHAT,
    channel_messages,
    chat_archive,
    direct_messages,
)

from migrate.archive import open_archive, validate


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
