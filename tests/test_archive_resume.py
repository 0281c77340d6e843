"""Resuming after kill -9: a child process writes an archive and kills itself at a chosen
point; reopening must leave no duplicate, no corrupt index, and finish to a valid bag."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import bagit
import pytest

from migrate.archive import ArchiveWriter, open_archive, validate
from migrate.model import Content, Folder, MailMessage, Role

INBOX = Folder(("INBOX",), Role.INBOX)
SENT = Folder(("Sent",), Role.SENT)
TOTAL = 12

CHILD = r"""
import os, signal, sys
from migrate.archive import ArchiveWriter
from migrate.model import Content, Folder, MailMessage, Role

path, commit_every, crash_at, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
folders = [Folder(("INBOX",), Role.INBOX), Folder(("Sent",), Role.SENT)]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

class DyingContent(Content):
    # streams half of the message, then the process is killed
    def iter_chunks(self, size=1024 * 1024):
        data = self.read()
        yield data[: len(data) // 2]
        die()

class DyingIndex:
    # writes half of the index line, then the process is killed
    def __init__(self, real):
        self.real = real
    def write(self, data):
        self.real.write(data[: len(data) // 2])
        self.real.flush()
        die()
    def __getattr__(self, name):
        return getattr(self.real, name)

writer = ArchiveWriter.open(path)
for i in range(1, 1000):
    data = f"Subject: m{i}\n\nbody {i}\n".encode() * (i * 50)
    content = Content.from_bytes(data)
    if i == crash_at and mode == "stream":
        content = DyingContent.from_bytes(data)
    if i == crash_at and mode == "after-replace":
        real_replace = os.replace
        os.replace = lambda a, b: (real_replace(a, b), die())
    if i == crash_at and mode == "mid-line":
        writer.mail._index = DyingIndex(writer.mail._index)
    writer.append(folders[i % 2], MailMessage(content, f"uid-{i}"))
    if i % commit_every == 0:
        writer.commit()
    if i == crash_at:
        die()
"""


def item(i: int) -> tuple[Folder, MailMessage]:
    data = f"Subject: m{i}\n\nbody {i}\n".encode() * (i * 50)
    return (INBOX, SENT)[i % 2], MailMessage(Content.from_bytes(data), f"uid-{i}")


def run_child(path: Path, commit_every: int, crash_at: int, mode: str) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(commit_every),
                           str(crash_at), mode], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr


def resume_like_the_engine(path: Path, last_committed: int) -> None:
    """What the engine does: items after its last checkpoint are looked up, then written."""
    writer = ArchiveWriter.open(path)
    for i in range(last_committed + 1, TOTAL + 1):
        folder, message = item(i)
        if writer.find(folder, message) is None:
            writer.append(folder, message)
        if i % 3 == 0:
            writer.commit()
    writer.close()


def index_source_ids(path: Path) -> list[str]:
    lines = (path / "data/index/messages.jsonl").read_bytes().splitlines()
    return [json.loads(line)["source_id"] for line in lines]


def assert_complete_and_valid(path: Path) -> None:
    ids = index_source_ids(path)
    assert sorted(ids) == sorted(f"uid-{i}" for i in range(1, TOTAL + 1))  # each once
    result = validate(path)
    assert result.ok, result.to_text()
    assert bagit.Bag(str(path)).validate()
    assert not list(path.rglob("*.tmp"))
    assert len(list((path / "data/eml").rglob("*.eml"))) == TOTAL
    reader = open_archive(path)
    for folder in reader.folders():
        for message in reader.messages(folder):
            subject = message.content.head(100).split(b"\n", 1)[0]
            assert subject.startswith(b"Subject: m")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["stream", "after-replace", "mid-line", "between"])
def test_kill_during_append_then_resume(tmp_path, mode: str) -> None:
    path = tmp_path / "archive"
    run_child(path, commit_every=3, crash_at=8, mode=mode)
    assert not validate(path).sealed
    if mode == "stream":
        assert list(path.rglob(".8.eml.tmp"))
    if mode == "after-replace":
        assert (path / "data/eml/INBOX/8.eml").exists() and len(index_source_ids(path)) == 7
    if mode == "mid-line":
        assert not (path / "data/index/messages.jsonl").read_bytes().endswith(b"\n")
    resume_like_the_engine(path, last_committed=6)
    assert_complete_and_valid(path)


def test_uncommitted_line_whose_file_was_lost_is_dropped(tmp_path) -> None:
    path = tmp_path / "archive"
    run_child(path, commit_every=3, crash_at=5, mode="between")  # 4 and 5 not committed
    (path / "data/eml/INBOX/4.eml").unlink()  # written, but lost before reaching the disk
    writer = ArchiveWriter.open(path)
    assert writer.mail.count == 3  # line 4 had no file: it and what follows are dropped
    assert writer.find(*item(5)) is None and writer.find(*item(3)) == "3"
    writer.close(seal_archive=False)
    resume_like_the_engine(path, last_committed=3)
    assert_complete_and_valid(path)


def test_orphan_message_files_are_removed_at_seal(tmp_path) -> None:
    path = tmp_path / "archive"
    run_child(path, commit_every=2, crash_at=4, mode="between")
    (path / "data/eml/INBOX/9.eml").write_bytes(b"left by an interrupted run")
    (path / "data/eml/Sent/5.eml").write_bytes(b"another")
    resume_like_the_engine(path, last_committed=4)
    assert_complete_and_valid(path)
    assert b"interrupted" not in b"".join(p.read_bytes() for p in path.rglob("*.eml"))


def test_archive_with_nothing_after_the_crash_still_seals(tmp_path) -> None:
    path = tmp_path / "archive"
    run_child(path, commit_every=100, crash_at=1, mode="stream")
    writer = ArchiveWriter.open(path)
    assert writer.mail.count == 0
    writer.close()
    assert validate(path).ok and bagit.Bag(str(path)).validate()
