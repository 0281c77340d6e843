"""The ``archive:`` connector: found through its entry point, declares what it keeps, and
an archive copied through it to another archive comes out identical."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import bagit
import pytest

from connectors.archive import ArchiveConnector, ArchiveSource, ArchiveTarget
from migrate.archive import ArchiveWriter, open_archive, validate
from migrate.connector import (
    ChatSource,
    ChatTarget,
    Feature,
    Kind,
    MailSource,
    MailTarget,
    PimSource,
    PimTarget,
)
from migrate.endpoint import parse_endpoint
from migrate.errors import ConnectError
from migrate.model import (
    Blob,
    ChatMessage,
    Content,
    Conversation,
    ConversationKind,
    Folder,
    Identity,
    MailMessage,
    Role,
)
from migrate.registry import available_schemes, connector_for

TZ = timezone(timedelta(hours=-5))
FOLDERS = [Folder(("INBOX",), Role.INBOX, "a"), Folder(("INBOX", "Projets/2024"), None, "b"),
           Folder(("Sent Items",), Role.SENT, "c")]
ROOM = Conversation("!room:example.org", ConversationKind.ROOM, "Salle", "sujet",
                    (Identity("@a:example.org", "A"),))


def fill(path: Path) -> None:
    with ArchiveWriter.open(path, source="ews://alice@exchange.example") as writer:
        for i in range(9):
            folder = FOLDERS[i % 3]
            data = f"Message-ID: <{i}@x>\r\nSubject: n°{i}\r\n\r\n".encode() + bytes([i]) * i
            writer.append(folder, MailMessage(Content.from_bytes(data), f"ews-{i}",
                                              frozenset({"\\Seen", f"cat{i}"}),
                                              datetime(2023, 1, i + 1, 12, tzinfo=TZ)))
        blob = Blob(Content.from_bytes(b"image bytes"), "a.png", "image/png")
        writer.put_blob(blob)
        for i in range(3):
            writer.post(ROOM, ChatMessage(f"$e{i}", ROOM.source_id, ROOM.members[0],
                                          datetime(2023, 2, 1, 9, i, tzinfo=TZ), None,
                                          f"hello {i}", attachments=(blob.ref,) * (i == 1)))


def copy(source: ArchiveSource, target: ArchiveTarget) -> None:
    """The engine's loop in miniature: mail, then chat with its blobs."""
    for folder in source.folders():
        target.prepare_folder(folder)
        for message in source.messages(folder):
            if target.find(folder, message) is None:
                target.append(folder, message)
        target.commit()
    for conversation in source.conversations():
        target.prepare_conversation(conversation)
        for message in source.chat_messages(conversation):
            for ref in message.attachments:
                target.put_blob(source.blob(ref))
            target.post(conversation, message)
        target.commit()
    target.close()
    source.close()


def test_registered_under_its_scheme(tmp_path) -> None:
    assert "archive" in available_schemes()
    connector = connector_for(parse_endpoint(f"archive:{tmp_path / 'a'}"))
    assert isinstance(connector, ArchiveConnector)
    caps = connector.capabilities
    assert caps.reads == caps.writes == {Kind.MAIL, Kind.CHAT, Kind.CALENDAR, Kind.CONTACTS}
    assert caps.source_keeps == caps.target_keeps == frozenset(Feature)
    assert caps.lost_between(caps) == []
    target = connector.open_target()
    assert isinstance(target, MailTarget) and isinstance(target, ChatTarget)
    assert isinstance(target, PimTarget)
    target.close()
    source = connector.open_source()
    assert isinstance(source, MailSource) and isinstance(source, ChatSource)
    assert isinstance(source, PimSource)
    assert source.sealed


def test_missing_archive_cannot_be_a_source(tmp_path) -> None:
    with pytest.raises(ConnectError):
        connector_for(parse_endpoint(f"archive:{tmp_path / 'nothing'}")).open_source()


def test_archive_to_archive_copy_is_identical(tmp_path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    fill(first)
    source = connector_for(parse_endpoint(f"archive:{first}")).open_source()
    target = connector_for(parse_endpoint(f"archive:{second}")).open_target()
    target.begin(f"archive:{first}")
    copy(source, target)
    assert validate(second).ok and bagit.Bag(str(second)).validate()
    a, b = open_archive(first), open_archive(second)
    assert list(a.folders()) == list(b.folders()) == FOLDERS
    for folder in FOLDERS:
        for x, y in zip(a.messages(folder), b.messages(folder), strict=True):
            assert x.content.read() == y.content.read()
            assert (x.flags, x.internal_date) == (y.flags, y.internal_date)
            assert x.summary == y.summary  # source ids are each archive's own numbers
    assert list(a.conversations()) == list(b.conversations())
    assert list(a.chat_messages(ROOM)) == list(b.chat_messages(ROOM))
    ids = sorted(p.name for p in (second / "data/blobs/sha256").rglob("*") if p.is_file())
    assert len(ids) == 1


def test_copying_again_adds_nothing(tmp_path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    fill(first)
    for _ in range(2):
        copy(ArchiveSource(open_archive(first)), ArchiveTarget(ArchiveWriter.open(second)))
    assert open_archive(second).stats(FOLDERS[0]).messages == 3
    assert len(list(open_archive(second).chat_messages(ROOM))) == 3
    assert validate(second).ok


def test_abort_leaves_the_archive_unsealed(tmp_path) -> None:
    target = ArchiveTarget(ArchiveWriter.open(tmp_path / "a"))
    target.append(FOLDERS[0], MailMessage(Content.from_bytes(b"x"), "1"))
    target.close(complete=False)
    assert not validate(tmp_path / "a").sealed
    assert not ArchiveSource(open_archive(tmp_path / "a")).sealed
