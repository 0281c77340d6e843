"""The Maildir connector on real directories: Dovecot's layout, flags, keywords, names."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors._files import NameCodec
from connectors.maildir import KEYWORDS_FILE, MaildirConnector
from migrate.connector import Feature, MailSource, MailTarget
from migrate.endpoint import parse_endpoint
from migrate.errors import BadInputError, ConnectError
from migrate.model import (
    ANSWERED,
    DELETED,
    DRAFT,
    FLAGGED,
    FORWARDED,
    SEEN,
    Content,
    Folder,
    MailMessage,
    Role,
)
from migrate.registry import connector_class, connector_for

INBOX = Folder(("INBOX",), Role.INBOX)
WHEN = datetime(2024, 3, 5, 7, 8, 9, 123456, tzinfo=UTC)


def source(path: Path) -> MailSource:
    reader = connector_for(parse_endpoint(f"maildir:{path}")).open_source()
    assert isinstance(reader, MailSource)
    return reader


def target(path: Path) -> MailTarget:
    writer = connector_for(parse_endpoint(f"maildir:{path}")).open_target()
    assert isinstance(writer, MailTarget)
    return writer


def message(data: bytes, source_id: str = "1", flags: frozenset[str] = frozenset(),
            when: datetime | None = WHEN) -> MailMessage:
    return MailMessage(Content.from_bytes(data), source_id, flags, when)


def deliver(path: Path, data: bytes, mtime: int = 1_700_000_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def make_dovecot_maildir(root: Path) -> None:
    for folder in (root, root / ".Sent", root / ".Archives.2024", root / ".Gel&APY-schte"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    (root / KEYWORDS_FILE).write_text("0 $Junk\n1 Work\n")
    deliver(root / "cur" / "1700000100.M1P1.host,S=7:2,FRSZab", b"A: one\n", 1_700_000_100)
    deliver(root / "cur" / "999999999.M9P9.host:2,", b"A: old\n", 999_999_999)
    deliver(root / "new" / "1700000200.M2P2.host", b"A: new\n", 1_700_000_200)
    deliver(root / "cur" / "1700000300.M3P3.host:2,DTPx", b"A: three\n", 1_700_000_300)
    deliver(root / ".Sent" / "cur" / "1.M1.host:2,S", b"A: sent\n")
    deliver(root / ".Archives.2024" / "new" / "2.M2.host", b"A: archived\n")
    (root / "dovecot-uidlist").write_text("3 V1 N4\n")
    (root / ".dovecot.lda-dupes").write_bytes(b"")


# --- reading ------------------------------------------------------------------------------


def test_reads_dovecot_layout_flags_keywords_and_dates(tmp_path):
    make_dovecot_maildir(tmp_path)
    reader = source(tmp_path)
    folders = list(reader.folders())
    assert [(f.path, f.role) for f in folders] == [
        (("Archives",), Role.ARCHIVE), (("Archives", "2024"), None),
        (("Gelöschte",), None), (("INBOX",), Role.INBOX), (("Sent",), Role.SENT)]
    inbox = list(reader.messages(INBOX))
    assert [m.source_id for m in inbox] == ["999999999.M9P9.host", "1700000100.M1P1.host,S=7",
                                            "1700000200.M2P2.host", "1700000300.M3P3.host"]
    old, one, new, three = inbox
    assert one.flags == {FLAGGED, ANSWERED, SEEN, "$Junk", "Work"}  # Z unknown: ignored
    assert three.flags == {DRAFT, DELETED, FORWARDED}  # x names no keyword: ignored
    assert new.flags == frozenset() and old.flags == frozenset()
    assert one.content.read() == b"A: one\n"
    assert one.internal_date == datetime.fromtimestamp(1_700_000_100, UTC)
    assert reader.stats(INBOX).messages == 4 and reader.stats(INBOX).bytes == 7 + 7 + 7 + 9
    archived = list(reader.messages(Folder(("Archives", "2024"))))
    assert [m.content.read() for m in archived] == [b"A: archived\n"]
    assert list(reader.messages(Folder(("Archives",)))) == []


def test_an_unreadable_file_fails_alone_and_names_itself(tmp_path):
    make_dovecot_maildir(tmp_path)
    broken = tmp_path / "cur" / "1700000150.M5P5.host:2,S"
    broken.symlink_to(tmp_path / "vanished")
    inbox = list(source(tmp_path).messages(INBOX))
    assert len(inbox) == 5
    bad = next(m for m in inbox if m.source_id.startswith("1700000150"))
    with pytest.raises(BadInputError, match=r"1700000150\.M5P5\.host"):
        bad.content.read()
    with pytest.raises(BadInputError):
        bad.content.sha256  # noqa: B018
    assert [m.content.read() for m in inbox if m is not bad][-1] == b"A: three\n"


def test_missing_or_foreign_directory_is_a_connect_error(tmp_path):
    with pytest.raises(ConnectError, match="no such Maildir"):
        source(tmp_path / "none")
    (tmp_path / "photos").mkdir()
    with pytest.raises(ConnectError, match="not a Maildir"):
        source(tmp_path / "photos")


# --- writing ------------------------------------------------------------------------------


def test_writes_flags_keywords_and_date(tmp_path):
    writer = target(tmp_path)
    sent = Folder(("Sent",), Role.SENT)
    writer.prepare_folder(sent)
    flags = frozenset({SEEN, ANSWERED, FLAGGED, DRAFT, DELETED, FORWARDED, "Work", "$Junk",
                       "\\Recent"})
    key = writer.append(sent, message(b"Subject: s\n\nbody\n", "7", flags))
    writer.commit()
    writer.close()
    (name,) = os.listdir(tmp_path / ".Sent" / "cur")
    assert name == f"{key}:2,DFPRSTab"
    assert key.startswith(f"{int(WHEN.timestamp())}.") and key.endswith(",S=17")
    assert (tmp_path / ".Sent" / KEYWORDS_FILE).read_text() == "0 $Junk\n1 Work\n"
    assert (tmp_path / ".Sent" / "maildirfolder").is_file()
    assert not (tmp_path / "maildirfolder").exists()
    (got,) = source(tmp_path).messages(sent)
    assert got.flags == flags - {"\\Recent"}
    assert got.internal_date == WHEN
    assert got.content.read() == b"Subject: s\n\nbody\n"
    assert got.source_id == key


def test_inbox_is_the_root_and_its_role_folder(tmp_path):
    writer = target(tmp_path)
    writer.append(Folder(("inbox",)), message(b"A: 1\n"))
    writer.append(Folder(("INBOX", "Sub")), message(b"A: 2\n"))
    writer.close()
    assert len(os.listdir(tmp_path / "cur")) == 1
    assert len(os.listdir(tmp_path / ".INBOX.Sub" / "cur")) == 1
    connector = MaildirConnector(parse_endpoint(f"maildir:{tmp_path}"))
    assert connector.role_folder(Role.INBOX) == ("INBOX",)
    assert connector.role_folder(Role.SENT) is None


def test_date_with_an_offset_is_kept_as_the_same_instant(tmp_path):
    writer = target(tmp_path)
    when = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    writer.append(INBOX, message(b"A: 1\n", when=when))
    writer.close()
    (got,) = source(tmp_path).messages(INBOX)
    assert got.internal_date == when and got.internal_date.utcoffset() == timedelta(0)


def test_twenty_seven_keywords_keep_twenty_six(tmp_path):
    writer = target(tmp_path)
    names = frozenset(f"kw{n:02d}" for n in range(27))
    writer.append(INBOX, message(b"A: 1\n", flags=names))
    writer.close()
    (got,) = source(tmp_path).messages(INBOX)
    assert len(got.flags) == 26 and got.flags < names


def test_keywords_already_in_the_file_keep_their_letters(tmp_path):
    make_dovecot_maildir(tmp_path)
    writer = target(tmp_path)
    writer.append(INBOX, message(b"A: new\n", flags=frozenset({"Work", "Later"})))
    writer.close()
    assert (tmp_path / KEYWORDS_FILE).read_text() == "0 $Junk\n1 Work\n2 Later\n"
    assert any(name.endswith(":2,bc") for name in os.listdir(tmp_path / "cur"))


# --- idempotency ------------------------------------------------------------------------------


def test_append_twice_writes_one_file_and_find_works_after_reopening(tmp_path):
    writer = target(tmp_path)
    first = message(b"Subject: once\n\n", "42", frozenset({SEEN}))
    key = writer.append(INBOX, first)
    assert writer.append(INBOX, first) == key
    writer.commit()
    writer.close()
    again = target(tmp_path)
    assert again.find(INBOX, message(b"Subject: once\n\n", "42")) == key
    assert again.find(INBOX, message(b"Subject: once\n\n", "41")) is None
    assert again.append(INBOX, first) == key
    again.close()
    assert len(os.listdir(tmp_path / "cur")) == 1 and not os.listdir(tmp_path / "tmp")


def test_a_file_left_short_by_a_crash_is_written_again(tmp_path):
    writer = target(tmp_path)
    data = message(b"Subject: whole\n\n" + b"x" * 5000)
    writer.append(INBOX, data)
    writer.close()
    (name,) = os.listdir(tmp_path / "cur")
    os.truncate(tmp_path / "cur" / name, 100)
    again = target(tmp_path)
    assert again.find(INBOX, data) is None
    again.append(INBOX, data)
    again.close()
    (name,) = os.listdir(tmp_path / "cur")
    assert (tmp_path / "cur" / name).read_bytes() == data.content.read()


# --- folder names ---------------------------------------------------------------------------

HOSTILE = ["a.b", "a/b", "..", ".", "100%", "%2E", "&", "&-", "ä & ö", "tab\there", "nul\0",
           "\ud800", "é" * 300, "x" * 300, "-.-", "Sent.Archive", " ", "~user", "日本語"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_folder_names_round_trip_and_stay_inside(tmp_path, name):
    root = tmp_path / "Maildir"
    writer = target(root)
    folder = Folder(("Parent", name))
    writer.append(folder, message(b"A: 1\n"))
    writer.close()
    for entry in os.listdir(root):
        assert (root / entry).resolve().parent == root.resolve()
        assert len(entry.encode()) <= 255
    reader = source(root)
    assert folder.path in [f.path for f in reader.folders()]
    assert [m.content.read() for m in reader.messages(folder)] == [b"A: 1\n"]


def test_a_path_too_deep_for_one_directory_name_is_hashed_to_fit(tmp_path):
    writer = target(tmp_path)
    folder = Folder(tuple(f"level-{n}-" + "n" * 60 for n in range(5)))
    writer.append(folder, message(b"A: 1\n"))
    writer.close()
    assert [f.path for f in source(tmp_path).folders()][-1] == folder.path


def test_dovecot_utf7_names_are_written_as_dovecot_does(tmp_path):
    writer = target(tmp_path)
    writer.prepare_folder(Folder(("Éléments envoyés",)))
    writer.close()
    assert (tmp_path / ".&AMk-l&AOk-ments envoy&AOk-s").is_dir()


NAMES = st.text(st.one_of(st.characters(exclude_categories=()),
                          st.characters(categories=["Cs"])), min_size=1, max_size=80)


@pytest.fixture(scope="module")
def codec_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("maildir-codec")


@settings(max_examples=500, deadline=None)
@given(name=NAMES)
def test_maildir_name_encoding_is_reversible_and_contained(codec_root, name):
    codec = NameCodec(codec_root, ascii=True, max_bytes=255)
    entry = codec.encode(name)
    assert entry and entry.isascii() and entry.isprintable()
    assert "." not in entry and "/" not in entry and "\0" not in entry
    assert codec.decode(entry) == name


@settings(max_examples=300, deadline=None)
@given(first=NAMES, second=NAMES)
def test_maildir_name_encoding_never_collides(codec_root, first, second):
    codec = NameCodec(codec_root, ascii=True, max_bytes=255)
    assert (codec.encode(first) == codec.encode(second)) == (first == second)


def test_registered_with_capabilities():
    assert connector_class("maildir") is MaildirConnector
    caps = MaildirConnector.capabilities
    for feature in (Feature.FOLDERS, Feature.FLAGS, Feature.KEYWORDS, Feature.INTERNAL_DATE,
                    Feature.ORIGINAL_BYTES, Feature.SPECIAL_USE):
        assert feature in caps.source_keeps and feature in caps.target_keeps
    assert caps.limits[Feature.DATE_OFFSET]["en"] == "file times hold no UTC offset"
