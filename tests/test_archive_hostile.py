"""Reading hostile archives: no path leaves the archive, every bad line gives a specific
error naming its file and line, and the other messages still read."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import bagit
import pytest

from migrate.archive import (
    ArchiveWriter,
    IndexLineError,
    UnreadableContent,
    UnsafeIndexPathError,
    open_archive,
    validate,
)
from migrate.errors import ArchiveError, BadInputError, UnsafePathError
from migrate.model import Content, Folder, MailMessage, Role

INBOX = Folder(("INBOX",), Role.INBOX)
SENT = Folder(("Sent",), Role.SENT)
BODIES = {n: f"Subject: message {n}\r\n\r\nbody {n}\r\n".encode() for n in range(1, 6)}
INDEX = "data/index/messages.jsonl"


@pytest.fixture
def archive(tmp_path) -> Path:
    path = tmp_path / "archive"
    with ArchiveWriter.open(path) as writer:
        for n, body in BODIES.items():
            writer.append(SENT if n == 3 else INBOX, MailMessage(Content.from_bytes(body), f"u{n}"))
    return path


def rewrite_line(path: Path, number: int, change: Callable[[dict], object]) -> None:
    """Replace index line ``number`` by ``change(record)`` (a dict, or raw bytes)."""
    index = path / INDEX
    lines = index.read_bytes().splitlines(keepends=True)
    new = change(json.loads(lines[number - 1]))
    lines[number - 1] = new if isinstance(new, bytes) else json.dumps(new).encode() + b"\n"
    index.write_bytes(b"".join(lines))


def with_field(key: str, value: object) -> Callable[[dict], dict]:
    return lambda record: {**record, key: value}


def read_everything(path: Path) -> dict[str, MailMessage]:
    reader = open_archive(path)
    return {m.source_id: m for f in reader.folders() for m in reader.messages(f)}


UNSAFE_PATHS = [
    ("dotdot", with_field("path", "data/eml/Sent/../../../../etc/passwd"), "'..'"),
    ("absolute", with_field("path", "/etc/passwd"), "absolute"),
    ("nul", with_field("path", "data/eml/Sent/3\x00.eml"), "NUL"),
    ("backslash", with_field("path", "data/eml\\Sent\\3.eml"), "backslash"),
    ("over-long", with_field("path", "data/eml/Sent/" + "a" * 400 + ".eml"), "over-long"),
    ("outside data/eml", with_field("path", "bag-info.txt"), "not under"),
]
BAD_LINES = [
    ("not json", lambda r: b"this is {not JSON\n", "not valid JSON"),
    ("over 1 MB", lambda r: {**r, "subject": "x" * 1_100_000}, "longer than"),
    ("not utf-8", lambda r: b'{"id": 3, "subject": "\xff\xfe"}\n', "not UTF-8"),
    ("json array", lambda r: [1, 2, 3], "not a JSON object"),
    ("empty line", lambda r: b"\n", "not valid JSON"),
]
BAD_FIELDS = [
    ("wrong id", with_field("id", 99), "differs from the line number"),
    ("bad sha256", with_field("sha256", "../x"), "sha256"),
    ("negative size", with_field("size", -1), "size"),
    ("bad date", with_field("internal_date", "yesterday"), "ISO 8601"),
    ("flags not text", with_field("flags", [1, 2]), "flags"),
]


@pytest.mark.parametrize("name, change, reason", UNSAFE_PATHS, ids=[c[0] for c in UNSAFE_PATHS])
def test_unsafe_paths_are_refused_naming_the_line(archive, name, change, reason) -> None:
    rewrite_line(archive, 3, change)
    messages = read_everything(archive)
    bad = messages["3"]
    assert isinstance(bad.content, UnreadableContent)
    with pytest.raises(UnsafeIndexPathError, match=reason) as caught:
        bad.content.read()
    assert caught.value.line == 3 and f"{INDEX} line 3" in str(caught.value)
    assert isinstance(caught.value, UnsafePathError) and isinstance(caught.value, BadInputError)
    reader = open_archive(archive)
    assert [m.source_id for m in reader.messages(SENT)] == ["3"]  # folder still known
    assert_others_read(messages)
    assert_validate_names_line(archive, "unsafe")


@pytest.mark.parametrize("name, change, reason", BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_unreadable_lines_give_a_clear_error_and_do_not_stop_reading(archive, name, change,
                                                                     reason) -> None:
    rewrite_line(archive, 3, change)
    reader = open_archive(archive)
    inbox = list(reader.messages(INBOX))
    assert [m.source_id for m in inbox] == ["1", "2", "3", "4", "5"]  # folder unknown: first
    assert list(reader.messages(SENT)) == []
    with pytest.raises(IndexLineError, match=reason) as caught:
        inbox[2].content.read()
    assert caught.value.file == INDEX and caught.value.line == 3
    assert isinstance(caught.value, ArchiveError) and isinstance(caught.value, BadInputError)
    assert any("line 3" in problem for problem in reader.problems)
    assert_others_read({m.source_id: m for m in inbox})
    assert_validate_names_line(archive, "index")


@pytest.mark.parametrize("name, change, reason", BAD_FIELDS, ids=[c[0] for c in BAD_FIELDS])
def test_bad_fields_are_specific_errors(archive, name, change, reason) -> None:
    rewrite_line(archive, 3, change)
    messages = read_everything(archive)
    with pytest.raises(IndexLineError, match=reason):
        messages["3"].content.read()
    assert_others_read(messages)


def assert_others_read(messages: dict[str, MailMessage]) -> None:
    for n in (1, 2, 4, 5):
        assert messages[str(n)].content.read() == BODIES[n]


def assert_validate_names_line(path: Path, kind: str) -> None:
    result = validate(path)
    assert not result.ok
    assert any(p.kind == kind and p.path == INDEX and p.line == 3 for p in result.problems), \
        result.to_text()


def test_symlink_leading_outside_is_refused(archive, tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(BODIES[3])
    target = archive / "data/eml/Sent/3.eml"
    target.unlink()
    os.symlink(secret, target)
    messages = read_everything(archive)
    with pytest.raises(UnsafeIndexPathError, match="outside the archive"):
        messages["3"].content.read()
    assert_others_read(messages)
    result = validate(archive)
    assert any(p.kind == "unsafe" and p.path == "data/eml/Sent/3.eml" for p in result.problems)


def test_changed_file_size_is_caught_when_reading(archive) -> None:
    (archive / "data/eml/INBOX/2.eml").write_bytes(b"shorter")
    with pytest.raises(BadInputError, match="changed"):
        read_everything(archive)["2"].content.read()


def test_unknown_format_version_is_a_clear_error(archive) -> None:
    info = archive / "bag-info.txt"
    info.write_text(info.read_text().replace("Archive-Version: 1", "Archive-Version: 2"))
    with pytest.raises(ArchiveError, match=r"format version 2 is unknown.*upgrade"):
        open_archive(archive)
    with pytest.raises(ArchiveError, match="format version 2"):
        ArchiveWriter.open(archive)
    result = validate(archive)
    assert not result.ok and result.problems[0].kind == "structure"


def test_a_plain_bagit_bag_is_not_taken_for_an_archive(tmp_path) -> None:
    (tmp_path / "bag").mkdir()
    (tmp_path / "bag/file.txt").write_text("hello")
    bagit.make_bag(str(tmp_path / "bag"))
    with pytest.raises(ArchiveError, match="not a sovereign-migrate archive"):
        open_archive(tmp_path / "bag")
    with pytest.raises(ArchiveError):
        ArchiveWriter.open(tmp_path / "bag")


def test_writer_refuses_to_append_to_a_damaged_index(archive) -> None:
    rewrite_line(archive, 2, lambda r: b"garbage\n")
    with pytest.raises(ArchiveError, match=r"damaged archive.*line 2"):
        ArchiveWriter.open(archive)
    assert validate(archive).sealed  # refused before touching anything


def test_hostile_folder_index_lines(archive) -> None:
    folders = archive / "data/index/folders.jsonl"
    folders.write_bytes(folders.read_bytes() + b'{"path": ["x"], "dir": "data/eml/../../x"}\n'
                        + b"not json\n")
    reader = open_archive(archive)
    assert [f.path for f in reader.folders()] == [INBOX.path, SENT.path]
    assert any("folders.jsonl line 3" in p and "'..'" in p for p in reader.problems)
    assert any("folders.jsonl line 4" in p for p in reader.problems)


def test_manifest_with_an_escaping_path_is_reported(archive) -> None:
    manifest = archive / "manifest-sha256.txt"
    manifest.write_text(manifest.read_text() + "0" * 64 + "  data/../../etc/passwd\n")
    result = validate(archive)
    assert any(p.kind == "unsafe" and p.path == "manifest-sha256.txt" for p in result.problems)


def test_tag_manifest_cannot_make_validate_read_outside(archive, tmp_path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    tagmanifest = archive / "tagmanifest-sha256.txt"
    tagmanifest.write_text(tagmanifest.read_text() + "0" * 64 + f"  {outside}\n")
    result = validate(archive)
    assert any(p.kind == "unsafe" and "absolute" in p.message for p in result.problems)
    assert not any(p.path == str(outside) for p in result.problems)  # never opened


def test_oversized_tag_file_is_a_finding_not_a_crash(archive) -> None:
    (archive / "bag-info.txt").write_bytes(b"X-Filler: " + b"y" * 2_000_000 + b"\n")
    result = validate(archive)
    assert not result.ok and "larger than" in result.problems[-1].message
    with pytest.raises(ArchiveError, match="larger than"):
        open_archive(archive)
