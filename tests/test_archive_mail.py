"""Mail in the archive: write, seal, BagIt-valid, byte-identical read-back, tamper
detection, reopening and appending, duplicates, and the states a killed run leaves."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bagit
import pytest

from migrate.archive import ArchiveWriter, open_archive, summary, validate
from migrate.errors import ArchiveError
from migrate.model import ANSWERED, FORWARDED, SEEN, Content, Folder, MailMessage, Role

CORPUS = Path(sys.base_prefix) / "lib/python3.11/test/test_email/data"
if not CORPUS.is_dir():
    CORPUS = Path("/root/.pyenv/versions/3.11.7/lib/python3.11/test/test_email/data")

INBOX = Folder(("INBOX",), Role.INBOX, "inbox-1")
ODD = Folder(("Archives", "2024/25", "..", "CON", "é\u0301\x00"), None, "odd-7")
SENT = Folder(("Éléments envoyés",), Role.SENT, "sent-3")

ODD_MESSAGES = {
    "nul": b"Subject: nul\r\n\r\nbefore\x00after\x00\r\n",
    "8bit": "Subject: Réunion à 10h\r\nFrom: Zoë <zoe@exämple.fr>\r\n\r\nçà\r\n".encode(),
    "latin1": "Subject: caf\xe9\n\ncaf\xe9\n".encode("latin-1"),
    "no-message-id": b"From: a@b\nSubject: none\n\nbody",
    "empty": b"",
    "long-line": b"Subject: long\r\n\r\n" + b"x" * 100_000 + b"\r\n",
    "cr-only": b"Subject: old mac\rFrom: x\r\rbody\r",
    "no-newline": b"no header block, no final newline",
    "binary": bytes(range(256)) * 40,
}


def message(data: bytes, source_id: str, flags=(), date=None) -> MailMessage:
    return MailMessage(Content.from_bytes(data), source_id, frozenset(flags), date)


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("msg_*.txt"))


def bagit_cli_validates(path: Path) -> bool:
    done = subprocess.run([sys.executable, "-m", "bagit", "--validate", str(path)],
                          capture_output=True, text=True)
    return done.returncode == 0


def read_all(path: Path) -> dict[tuple, list[MailMessage]]:
    reader = open_archive(path)
    return {folder.path: list(reader.messages(folder)) for folder in reader.folders()}


@pytest.fixture
def corpus_archive(tmp_path) -> tuple[Path, list[tuple[Folder, MailMessage]]]:
    """An archive of CPython's email corpus (streamed from files) and the odd messages."""
    path = tmp_path / "archive"
    written: list[tuple[Folder, MailMessage]] = []
    plus2 = timezone(timedelta(hours=2))
    with ArchiveWriter.open(path, source="mbox:/srv/alice.mbox") as writer:
        for i, file in enumerate(corpus_files()):
            folder = (INBOX, SENT)[i % 2]
            item = MailMessage(Content.from_file(file), file.name, frozenset({SEEN}),
                               datetime(2020, 1, 1 + i % 28, 8, 30, 15, 123000, tzinfo=plus2))
            writer.append(folder, item)
            written.append((folder, item))
        for i, (name, data) in enumerate(ODD_MESSAGES.items()):
            date = datetime(2021, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-i)))
            item = message(data, name, {ANSWERED, FORWARDED, "Projet X", "$label1"}, date)
            writer.append(ODD, item)
            written.append((ODD, item))
        writer.prepare_folder(Folder(("Empty",), Role.TRASH))
        writer.commit()
    return path, written


def test_sealed_archive_is_a_valid_bag(corpus_archive) -> None:
    path, _ = corpus_archive
    assert bagit.Bag(str(path)).validate()
    assert bagit_cli_validates(path)
    result = validate(path)
    assert result.ok, result.to_text()
    assert result.sealed and result.version == 1


def test_bag_info_and_mailbag_csv(corpus_archive) -> None:
    path, written = corpus_archive
    info = bagit.Bag(str(path)).info
    assert info["Sovereign-Migrate-Archive-Version"] == "1"
    assert info["Mailbag-Message-Count"] == str(len(written))
    assert info["Mailbag-Source"] == "mbox"
    assert info["Bag-Type"] == "Mailbag" and info["Original-Included"] == "True"
    rows = (path / "mailbag.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("Mailbag-Message-ID,Message-ID,Original-File,Message-Path")
    assert len(rows) == 1 + len(written)


def test_read_back_is_byte_identical_with_all_metadata(corpus_archive) -> None:
    path, written = corpus_archive
    assert len(written) == len(corpus_files()) + len(ODD_MESSAGES) > 50
    by_folder = read_all(path)
    assert list(by_folder) == [INBOX.path, SENT.path, ODD.path, ("Empty",)]
    got = [m for folder in (INBOX, SENT, ODD) for m in by_folder[folder.path]]
    want = sorted(written, key=lambda pair: [INBOX, SENT, ODD].index(pair[0]))
    for read, (_folder, original) in zip(got, want, strict=True):
        assert read.content.read() == original.content.read()
        assert read.flags == original.flags
        assert read.internal_date == original.internal_date
        assert read.internal_date.utcoffset() == original.internal_date.utcoffset()
        assert read.content.path is not None  # an .eml any mail client can open
    reader = open_archive(path)
    folders = {f.path: f for f in reader.folders()}
    assert folders[ODD.path] == ODD and folders[INBOX.path].role is Role.INBOX
    assert folders[("Empty",)].role is Role.TRASH
    assert reader.stats(SENT).messages == len(by_folder[SENT.path])


def test_source_ids_are_the_archive_numbers_and_stable(corpus_archive) -> None:
    path, written = corpus_archive
    ids = [m.source_id for msgs in read_all(path).values() for m in msgs]
    assert sorted(ids, key=int) == [str(n) for n in range(1, len(written) + 1)]
    reader = open_archive(path)
    last = reader.cursor(INBOX)
    assert last is not None and list(reader.messages(INBOX, cursor=last)) == []


def test_index_line_holds_what_a_restore_needs(corpus_archive) -> None:
    path, _ = corpus_archive
    lines = (path / "data/index/messages.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[-1])
    assert record["folder"] == list(ODD.path)
    assert record["flags"] == sorted(["\\Answered", "$Forwarded", "Projet X", "$label1"])
    assert record["internal_date"].endswith("-08:00")
    assert record["source_id"] == "binary" and record["source"] == "mbox:/srv/alice.mbox"
    assert record["path"].startswith("data/eml/Archives/2024=2F25/=2E=2E/=43ON/")
    assert (path / record["path"]).stat().st_size == record["size"]
    eight_bit = json.loads(lines[-8])
    assert eight_bit["subject"] == "Réunion à 10h"


def test_one_changed_byte_fails_validation_naming_that_file(corpus_archive) -> None:
    path, _ = corpus_archive
    target = sorted((path / "data/eml/INBOX").glob("*.eml"))[3]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    result = validate(path)
    assert not result.ok
    assert result.bad_files == [target.relative_to(path).as_posix()]
    assert {p.kind for p in result.problems} == {"checksum"}
    assert not bagit.Bag(str(path)).is_valid()


def test_added_and_removed_files_are_named(corpus_archive) -> None:
    path, _ = corpus_archive
    removed = sorted((path / "data/eml/INBOX").glob("*.eml"))[0]
    removed.unlink()
    (path / "data/eml/INBOX/intruder.txt").write_text("hello")
    result = validate(path)
    kinds = {(p.kind, p.path) for p in result.problems}
    assert ("missing", removed.relative_to(path).as_posix()) in kinds
    assert ("unexpected", "data/eml/INBOX/intruder.txt") in kinds


def test_unsealed_archive_is_reported(tmp_path) -> None:
    path = tmp_path / "archive"
    writer = ArchiveWriter.open(path)
    writer.append(INBOX, message(b"Subject: a\n\nx", "1"))
    writer.close(seal_archive=False)  # the run did not finish
    result = validate(path)
    assert not result.ok and not result.sealed
    assert [p.kind for p in result.problems if p.severity == "error"] == ["unsealed"]
    assert open_archive(path).sealed is False
    assert "NOT SEALED" in summary(path).to_text()
    assert not bagit_cli_validates(path)


def test_reopen_append_and_reseal(corpus_archive) -> None:
    path, written = corpus_archive
    writer = ArchiveWriter.open(path)
    assert not (path / "manifest-sha256.txt").exists()  # unsealed while appending
    assert not validate(path).sealed
    key = writer.append(INBOX, message(b"Subject: later\n\nsecond run", "later"))
    assert key == str(len(written) + 1)  # numbering continues
    writer.close()
    assert bagit.Bag(str(path)).validate() and validate(path).ok
    assert summary(path).messages == len(written) + 1
    assert read_all(path)[INBOX.path][-1].content.read() == b"Subject: later\n\nsecond run"


def test_same_message_twice_is_stored_once(tmp_path) -> None:
    path = tmp_path / "archive"
    writer = ArchiveWriter.open(path)
    first = writer.append(INBOX, message(b"Subject: x\n\nsame", "uid-9"))
    again = writer.append(INBOX, message(b"Subject: x\n\nsame", "uid-9"))
    elsewhere = writer.append(SENT, message(b"Subject: x\n\nsame", "uid-9"))
    assert first == again == "1" and elsewhere == "2"
    writer.close()
    writer = ArchiveWriter.open(path)
    assert writer.find(INBOX, message(b"Subject: x\n\nsame", "uid-9")) == "1"
    assert writer.find(INBOX, message(b"Subject: x\n\nchanged", "uid-9")) is None
    assert writer.append(INBOX, message(b"Subject: x\n\nsame", "uid-9")) == "1"
    writer.close()
    assert summary(path).messages == 2
    assert len(list((path / "data/eml").rglob("*.eml"))) == 2


def test_refuses_a_directory_that_is_not_an_archive(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ArchiveError, match="neither empty nor an archive"):
        ArchiveWriter.open(tmp_path)


def test_second_writer_is_refused_while_one_is_open(tmp_path) -> None:
    first = ArchiveWriter.open(tmp_path / "archive")
    with pytest.raises(ArchiveError, match="another process"):
        ArchiveWriter.open(tmp_path / "archive")
    first.close()
    ArchiveWriter.open(tmp_path / "archive").close()


def test_folder_names_holding_separators_stay_distinct(tmp_path) -> None:
    path = tmp_path / "archive"
    joined, nested = Folder(("a\x00b",)), Folder(("a", "b"))
    slash, nested_slash = Folder(("x/y",)), Folder(("x", "y"))
    with ArchiveWriter.open(path) as writer:
        keys = {writer.append(folder, message(b"Subject: s\n\nsame", "uid-1"))
                for folder in (joined, nested, slash, nested_slash)}
    assert keys == {"1", "2", "3", "4"}
    assert [f.path for f in open_archive(path).folders()] == [
        ("a\x00b",), ("a", "b"), ("x/y",), ("x", "y")]
    assert validate(path).ok and bagit.Bag(str(path)).validate()
