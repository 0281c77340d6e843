"""Appends mail to an archive: one .eml per message (original bytes), one index line after it.

Message numbers are the index line numbers, so a rerun continues the sequence. Messages
already written are recognised by (folder, source id, sha256) through an
``IdentityIndex`` (16 bytes and a set entry per message); nothing else of the mailbox is
held.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from ..errors import ArchiveError, BadInputError
from ..model import Folder, MailMessage
from .identities import IdentityIndex
from .jsonl import (
    MAX_INDEX_LINE,
    PendingSync,
    dumps_line,
    fsync_path,
    reopen_index,
)
from .layout import EML_DIR, FOLDERS_INDEX, MESSAGES_INDEX, DirNames, message_file
from .records import (
    FolderRecord,
    MailRecord,
    identity_key,
    new_record,
    parse_folder_record,
    parse_mail_record,
)

log = logging.getLogger(__name__)
_HEAD = 64 * 1024


class MailWriter:
    """The mail half of an open archive; ``ArchiveWriter`` owns its lifecycle."""

    def __init__(self, root: Path, repair: bool, committed_lines: int | None) -> None:
        self.root = root
        self.source: str | None = None
        self._names = DirNames()
        self._folders: dict[tuple[str, ...], FolderRecord] = {}
        self._nodes: dict[tuple[str, ...], str] = {}  # every path prefix -> its directory
        self._known = IdentityIndex(root, MESSAGES_INDEX, parse_mail_record)
        self._pending = PendingSync()
        self._folders_dirty = False
        self._load_folders(repair)
        self._load_messages(repair, committed_lines)
        self._index = open(self.root / MESSAGES_INDEX, "ab")

    # --- opening ----------------------------------------------------------------------

    def _load_folders(self, repair: bool) -> None:
        path = self.root / FOLDERS_INDEX
        for _, record in reopen_index(path, repair, lambda line: parse_folder_record(
                line, self.root, FOLDERS_INDEX)):
            self._remember_folder(record)

    def _remember_folder(self, record: FolderRecord) -> None:
        """Learn the folder and the directory of each of its path prefixes."""
        self._folders.setdefault(record.path, record)
        parts = record.dir.split("/")[2:]
        for depth, component in enumerate(parts, 1):
            parent = "/".join([EML_DIR, *parts[: depth - 1]])
            if record.path[:depth] not in self._nodes:
                self._nodes[record.path[:depth]] = f"{parent}/{component}"
            self._names.reserve(parent, component)

    def _load_messages(self, repair: bool, committed_lines: int | None) -> None:
        self._known.load(repair, committed_lines, self._folder_of, "message")

    def _folder_of(self, record: MailRecord) -> None:
        """Write again the folder line of a message whose folder line a crash lost."""
        if record.folder not in self._folders:
            directory = record.path.rsplit("/", 1)[0]
            self._write_folder(FolderRecord(record.folder, record.role, None, directory))

    # --- folders ----------------------------------------------------------------------

    @property
    def count(self) -> int:
        """How many messages the index holds (the last message number)."""
        return len(self._known)

    def _node_dir(self, path: tuple[str, ...]) -> str:
        directory = self._nodes.get(path)
        if directory is None:
            parent = self._node_dir(path[:-1]) if len(path) > 1 else EML_DIR
            directory = f"{parent}/{self._names.allocate(parent, path[-1])}"
            self._nodes[path] = directory
        return directory

    def _write_folder(self, record: FolderRecord) -> None:
        (self.root / record.dir).mkdir(parents=True, exist_ok=True)
        with open(self.root / FOLDERS_INDEX, "ab") as stream:
            stream.write(dumps_line(record.to_dict()))
        self._folders_dirty = True
        self._remember_folder(record)

    def prepare_folder(self, folder: Folder) -> FolderRecord:
        """The folder's record, creating its directory and index line the first time."""
        record = self._folders.get(folder.path)
        if record is None:
            record = FolderRecord(folder.path, folder.role, folder.source_id,
                                  self._node_dir(folder.path))
            self._write_folder(record)
        return record

    # --- messages ---------------------------------------------------------------------

    def find(self, folder: Folder, message: MailMessage) -> str | None:
        identity = identity_key(folder.path, message.source_id, message.sha256)
        number = self._known.find(identity)
        return None if number is None else str(number)

    def append(self, folder: Folder, message: MailMessage) -> str:
        """Write the message's bytes, then its index line; an already written one is not
        written again (its number is returned)."""
        record_folder = self.prepare_folder(folder)
        number = self.count + 1
        directory = self.root / record_folder.dir
        temp = directory / f".{number}.eml.tmp"
        final = directory / message_file(number)
        try:
            sha256, size, head = self._stream(message, temp)
            identity = identity_key(folder.path, message.source_id, sha256)
            existing = self._known.find(identity)
            if existing is not None:
                temp.unlink()
                return str(existing)
            record = new_record(number, record_folder.folder, message, sha256=sha256,
                                size=size, path=f"{record_folder.dir}/{message_file(number)}",
                                source=self.source, head=head)
            line = dumps_line(record.to_dict())
            if len(line) > MAX_INDEX_LINE:
                raise BadInputError(f"message {message.source_id}: its metadata (flags, "
                                    f"headers) exceeds the {MAX_INDEX_LINE}-byte index line")
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self._pending.add(final)
        offset = self._index.tell()
        try:
            self._index.write(line)
            self._index.flush()
        except OSError as exc:
            raise ArchiveError(f"cannot write the archive index: {exc.strerror}") from None
        self._known.add(identity, offset)
        return str(number)

    def _stream(self, message: MailMessage, temp: Path) -> tuple[str, int, bytes]:
        """Copy the content to ``temp``; its sha256, size and first bytes (for headers)."""
        digest, size, head = hashlib.sha256(), 0, b""
        chunks = message.content.iter_chunks()
        try:
            with open(temp, "wb") as out:
                while True:
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        break
                    except OSError as exc:
                        raise BadInputError(f"message {message.source_id}: cannot read it "
                                            f"from the source ({exc})") from None
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if len(head) < _HEAD:
                        head += chunk[: _HEAD - len(head)]
        except OSError as exc:
            raise ArchiveError(f"cannot write {temp.parent}: {exc.strerror}") from None
        return digest.hexdigest(), size, head

    # --- durability -------------------------------------------------------------------

    def commit(self) -> int:
        """fsync the messages written since the last commit, then the indexes; returns the
        index size in bytes."""
        self._pending.flush()
        if self._folders_dirty:
            fsync_path(self.root / FOLDERS_INDEX)
            self._folders_dirty = False
        self._index.flush()
        os.fsync(self._index.fileno())
        return self._index.tell()

    def close(self) -> None:
        if not self._index.closed:
            self._index.close()
