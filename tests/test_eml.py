"""The eml connector on real directories, and the folder-name encoding it shares."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors._files import LONG_NAMES_FILE, NameCodec, PendingSync
from connectors.eml import EmlConnector
from migrate.connector import Feature, MailSource, MailTarget
from migrate.endpoint import parse_endpoint
from migrate.errors import BadInputError, ConnectError
from migrate.model import SEEN, Content, Folder, MailMessage, Role
from migrate.registry import connector_class, connector_for

WHEN = datetime(2024, 3, 5, 7, 8, 9, 250000, tzinfo=UTC)


def source(path: Path) -> MailSource:
    reader = connector_for(parse_endpoint(f"eml:{path}")).open_source()
    assert isinstance(reader, MailSource)
    return reader


def target(path: Path) -> MailTarget:
    writer = connector_for(parse_endpoint(f"eml:{path}")).open_target()
    assert isinstance(writer, MailTarget)
    return writer


def message(data: bytes, source_id: str = "1", when: datetime | None = WHEN) -> MailMessage:
    return MailMessage(Content.from_bytes(data), source_id, frozenset({SEEN}), when)


def test_reads_a_tree_in_name_order_ignoring_other_files(tmp_path):
    root = tmp_path / "export"
    (root / "Sent" / "2024").mkdir(parents=True)
    (root / "b.eml").write_bytes(b"A: b\n")
    (root / "a.EML").write_bytes(b"A: a\n")
    (root / "notes.txt").write_bytes(b"not mail")
    (root / ".hidden.eml").write_bytes(b"A: hidden\n")
    (root / "Sent" / "2.eml").write_bytes(b"A: 2\n")
    (root / "Sent" / "10.eml").write_bytes(b"A: 10\n")
    (root / "Sent" / "2024" / "x.eml").write_bytes(b"A: x\n")
    os.utime(root / "Sent" / "2.eml", (1_700_000_000, 1_700_000_000))
    reader = source(root)
    folders = list(reader.folders())
    assert [(f.path, f.role) for f in folders] == [
        (("Sent",), Role.SENT), (("Sent", "2024"), None), (("export",), None)]
    top = list(reader.messages(Folder(("export",))))
    assert [m.source_id for m in top] == ["a.EML", "b.eml"]
    sent = list(reader.messages(Folder(("Sent",))))
    assert [m.source_id for m in sent] == ["Sent/10.eml", "Sent/2.eml"]
    assert sent[1].content.read() == b"A: 2\n" and sent[1].flags == frozenset()
    assert sent[1].internal_date == datetime.fromtimestamp(1_700_000_000, UTC)
    assert reader.stats(Folder(("Sent",))).messages == 2
    assert reader.stats(Folder(("Sent",))).bytes == 11


def test_an_unreadable_file_fails_alone_and_names_itself(tmp_path):
    (tmp_path / "Inbox").mkdir()
    (tmp_path / "Inbox" / "1.eml").write_bytes(b"A: 1\n")
    (tmp_path / "Inbox" / "2.eml").symlink_to(tmp_path / "vanished.eml")
    (tmp_path / "Inbox" / "3.eml").write_bytes(b"A: 3\n")
    first, broken, third = source(tmp_path).messages(Folder(("Inbox",)))
    with pytest.raises(BadInputError, match=r"Inbox/2\.eml"):
        broken.content.read()
    assert broken.internal_date is None
    assert first.content.read() == b"A: 1\n" and third.content.read() == b"A: 3\n"


def test_missing_source_is_a_connect_error(tmp_path):
    with pytest.raises(ConnectError, match="no such directory"):
        source(tmp_path / "none")


def test_writes_deterministic_names_dates_and_exact_bytes(tmp_path):
    writer = target(tmp_path)
    folder = Folder(("Archive", "2024"))
    writer.prepare_folder(folder)
    data = b"Subject: x\r\n\r\n\x00\xff no final newline"
    key = writer.append(folder, message(data, "src-1"))
    writer.append(folder, message(b"A: undated\n", "src-2", None))
    writer.commit()
    writer.close()
    assert key.startswith("Archive/2024/20240305T070809Z-") and key.endswith(".eml")
    assert (tmp_path / key).read_bytes() == data
    assert sorted(os.listdir(tmp_path / "Archive" / "2024"))[1].startswith("undated-")
    got = list(source(tmp_path).messages(folder))
    assert got[0].internal_date == WHEN and got[0].content.read() == data


def test_append_twice_writes_one_file_and_find_works_after_reopening(tmp_path):
    writer = target(tmp_path)
    inbox = Folder(("INBOX",))
    key = writer.append(inbox, message(b"A: 1\n", "9"))
    assert writer.append(inbox, message(b"A: 1\n", "9")) == key
    writer.close()
    again = target(tmp_path)
    assert again.find(inbox, message(b"A: 1\n", "9")) == key
    assert again.find(inbox, message(b"A: 1\n", "10")) is None
    assert again.find(Folder(("Other",)), message(b"A: 1\n", "9")) is None
    again.close()
    assert os.listdir(tmp_path / "INBOX") == [Path(key).name]


def test_a_file_left_short_by_a_crash_is_written_again(tmp_path):
    writer = target(tmp_path)
    inbox = Folder(("INBOX",))
    key = writer.append(inbox, message(b"A: 1\n" * 100))
    os.truncate(tmp_path / key, 10)
    assert writer.find(inbox, message(b"A: 1\n" * 100)) is None
    assert writer.append(inbox, message(b"A: 1\n" * 100)) == key
    assert (tmp_path / key).read_bytes() == b"A: 1\n" * 100


HOSTILE = ["..", ".", "a/b", "../../etc", "/abs", "nul\0byte", "ctrl\x01\x1f\x7f\x85",
           "100%", "%2F", "%u0041", "trailing.", "trailing ", ".hidden", "C:\\x", 'q"<>|?*',
           "\udcff", "\ud800\udc00", "é" * 300, "x" * 300, "Inbox", "INBOX"]


def test_hostile_folder_names_round_trip_and_stay_inside(tmp_path):
    root = tmp_path / "E"
    writer = target(root)
    folders = [Folder(("Top", name)) for name in HOSTILE]
    for number, folder in enumerate(folders):
        writer.append(folder, message(b"N: %d\n" % number, str(number)))
    writer.close()
    for entry in (root / "Top").iterdir():
        assert entry.resolve().parent == (root / "Top").resolve()
        assert len(entry.name.encode()) <= 255
    assert (root / LONG_NAMES_FILE).is_file()  # the two 300-character names
    reader = source(root)
    assert [f.path for f in reader.folders()] == sorted([("Top",), *(f.path for f in folders)])
    for number, folder in enumerate(folders):
        assert [m.content.read() for m in reader.messages(folder)] == [b"N: %d\n" % number]


NAMES = st.text(st.one_of(st.characters(exclude_categories=()),
                          st.characters(categories=["Cs"])), min_size=1, max_size=120)


@pytest.fixture(scope="module")
def codec_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eml-codec")


@settings(max_examples=500, deadline=None)
@given(name=NAMES)
def test_name_encoding_is_reversible_and_contained(codec_root, name):
    codec = NameCodec(codec_root)
    entry = codec.encode(name)
    assert entry and "/" not in entry and "\0" not in entry and not entry.startswith(".")
    assert not entry.endswith((".", " ")) and len(entry.encode()) <= 200
    assert (codec_root / entry).resolve().parent == codec_root.resolve()
    assert codec.decode(entry) == name


@settings(max_examples=300, deadline=None)
@given(first=NAMES, second=NAMES)
def test_name_encoding_never_collides(codec_root, first, second):
    codec = NameCodec(codec_root)
    assert (codec.encode(first) == codec.encode(second)) == (first == second)


@settings(max_examples=100, deadline=None)
@given(name=NAMES)
def test_encoded_names_survive_the_filesystem(tmp_path_factory, name):
    root = tmp_path_factory.mktemp("fs")
    codec = NameCodec(root)
    (root / codec.encode(name)).mkdir()
    codec.save(PendingSync())
    (entry,) = [e for e in os.listdir(root) if e != LONG_NAMES_FILE]
    assert NameCodec(root).decode(entry) == name  # a new codec reads the long names back


def test_names_not_written_by_us_decode_leniently(codec_root):
    codec = NameCodec(codec_root)
    assert codec.decode("100%") == "100%"
    assert codec.decode("a%zzb") == "a%zzb"
    assert codec.decode("bad%FFutf8") == "bad%FFutf8"
    assert codec.decode("x%~" + "0" * 32) == "x%~" + "0" * 32


def test_registered_with_capabilities():
    assert connector_class("eml") is EmlConnector
    caps = EmlConnector.capabilities
    assert Feature.FLAGS not in caps.target_keeps
    assert caps.limits[Feature.FLAGS]["en"] == "an .eml file holds only the message bytes"
    assert Feature.INTERNAL_DATE in caps.source_keeps & caps.target_keeps
