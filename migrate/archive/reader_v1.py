"""The reader of archive format v1, hostile-input safe.

Every path read from the archive passes ``layout.safe_path``; every line is capped and
validated (``records``). A bad line never stops reading:

* mail: ``messages(folder)`` yields a message for the bad line (its number as source id)
  whose content raises the line's error (``IndexLineError`` or ``UnsafeIndexPathError``,
  both ``BadInputError``) when read, so the engine records that one item as failed and
  goes on. A line whose folder cannot be read at all (broken JSON) is yielded in the first
  folder, since it belongs to none we can name.
* chat: the good messages of a conversation are yielded, then one ``IndexLineError``
  naming the bad lines is raised at the end (a chat message has no lazy part to poison);
  calendars and contacts likewise (``pimreader``).

Memory: one pass over the index on first use keeps two 8-byte numbers per message
(line offset and number), grouped by folder, so ``messages(folder)`` reads only its lines.
"""

from __future__ import annotations

import json
import logging
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..connector import FolderStats
from ..errors import ArchiveError, BadInputError
from ..model import (
    Blob,
    BlobRef,
    ChatMessage,
    Collection,
    Content,
    Conversation,
    Entry,
    Folder,
    MailMessage,
    Role,
)
from .chatjson import conversation_from_dict
from .chatversions import message_versions, read_version
from .errors import IndexLineError
from .fileindex import FileDescriptions
from .jsonl import (
    MAX_CHAT_LINE,
    MAX_INDEX_LINE,
    iter_lines,
    read_capped,
    read_line,
)
from .layout import (
    BLOB_DIR,
    CHAT_DIR,
    CHAT_MESSAGES_FILE,
    CONVERSATION_FILE,
    CONVERSATIONS_INDEX,
    FOLDERS_INDEX,
    MESSAGES_INDEX,
    blob_path,
    safe_path,
)
from .pimreader import PimReader
from .reader import ArchiveReader
from .records import (
    ConversationRecord,
    MailRecord,
    parse_conversation_record,
    parse_folder_record,
    parse_mail_record,
)

log = logging.getLogger(__name__)


class UnreadableContent(Content):
    """The content of a message whose index line is bad: size 0, every read raises."""

    __slots__ = ("error",)

    def __init__(self, error: BadInputError) -> None:
        super().__init__()
        self.error = error

    @property
    def size(self) -> int:
        return 0

    @property
    def sha256(self) -> str:
        raise self.error

    def open(self) -> BinaryIO:
        raise self.error

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<UnreadableContent: {self.error}>"


@dataclass
class _FolderLines:
    """Where a folder's index lines are: their numbers and byte offsets, and totals."""

    role: Role | None = None
    numbers: array = field(default_factory=lambda: array("Q"))
    offsets: array = field(default_factory=lambda: array("Q"))
    size: int = 0


class ArchiveReaderV1(ArchiveReader):
    """Reads a v1 archive: mail from the index and .eml files, chat from its directories."""

    version = 1

    def __init__(self, root: Path, sealed: bool) -> None:
        self.root, self.sealed = root, sealed
        self.problems: list[str] = []
        self._lines: dict[tuple[str, ...], _FolderLines] | None = None
        self._stray = _FolderLines()  # lines no folder can be read from
        self._conversations: dict[str, ConversationRecord] | None = None
        self._first: tuple[str, ...] | None = None
        self._pim = PimReader(root, self._problem)
        self._files = FileDescriptions(root)
        if not sealed:
            log.warning("%s is not sealed: a run is writing it or did not finish", root)

    def _problem(self, error: Exception) -> None:
        self.problems.append(str(error))
        log.warning("%s: %s", self.root, error)

    # --- the one pass over the mail index ------------------------------------------------

    def _scan(self) -> dict[tuple[str, ...], _FolderLines]:
        if self._lines is None:
            lines: dict[tuple[str, ...], _FolderLines] = {}
            for line in iter_lines(self.root / MESSAGES_INDEX, MAX_INDEX_LINE):
                try:
                    record = parse_mail_record(line, self.root, MESSAGES_INDEX)
                    folder, role, size = record.folder, record.role, record.size
                except IndexLineError as exc:
                    self._problem(exc)
                    folder, role, size = exc.folder, None, 0
                entry = self._stray if folder is None else lines.setdefault(folder,
                                                                            _FolderLines(role))
                entry.numbers.append(line.number)
                entry.offsets.append(line.offset)
                entry.size += size
            self._lines = lines
        return self._lines

    def records(self) -> Iterator[MailRecord | Exception]:
        for line in iter_lines(self.root / MESSAGES_INDEX, MAX_INDEX_LINE):
            try:
                yield parse_mail_record(line, self.root, MESSAGES_INDEX)
            except IndexLineError as exc:
                yield exc

    # --- mail -------------------------------------------------------------------------

    def folders(self) -> Iterator[Folder]:
        """The folders index in the order written, then any folder only the messages name."""
        seen: set[tuple[str, ...]] = set()
        for line in iter_lines(self.root / FOLDERS_INDEX, MAX_INDEX_LINE):
            try:
                record = parse_folder_record(line, self.root, FOLDERS_INDEX)
            except IndexLineError as exc:
                self._problem(exc)
                continue
            if record.path not in seen:
                seen.add(record.path)
                self._first = self._first or record.path
                yield record.folder
        for path, entry in self._scan().items():
            if path not in seen:
                seen.add(path)
                self._first = self._first or path
                yield Folder(path, entry.role)

    def _first_folder(self) -> tuple[str, ...] | None:
        if self._first is None:
            for _folder in self.folders():
                break
        return self._first

    def _entries(self, folder: Folder) -> list[_FolderLines]:
        entries = [self._scan().get(folder.path, _FolderLines())]
        if self._stray.numbers and folder.path == self._first_folder():
            entries.append(self._stray)
        return entries

    def stats(self, folder: Folder) -> FolderStats:
        entries = self._entries(folder)
        return FolderStats(sum(len(e.numbers) for e in entries), sum(e.size for e in entries))

    def cursor(self, folder: Folder) -> str | None:
        numbers = [e.numbers[-1] for e in self._entries(folder) if e.numbers]
        return str(max(numbers)) if numbers else None

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        """The folder's messages in index order; with a cursor, those numbered after it."""
        if cursor is not None and not cursor.isdigit():
            raise ArchiveError(f"invalid archive cursor {cursor!r}: expected a message number")
        after = int(cursor or 0)
        entries = self._entries(folder)
        positions = sorted((number, offset) for entry in entries[1:]
                           for number, offset in zip(entry.numbers, entry.offsets, strict=True))
        main = entries[0]
        with open(self.root / MESSAGES_INDEX, "rb") as stream:
            extra = 0
            for i in range(len(main.numbers)):
                while extra < len(positions) and positions[extra][0] < main.numbers[i]:
                    yield from self._message_at(stream, *positions[extra], after)
                    extra += 1
                yield from self._message_at(stream, main.numbers[i], main.offsets[i], after)
            for number, offset in positions[extra:]:
                yield from self._message_at(stream, number, offset, after)

    def _message_at(self, stream: BinaryIO, number: int, offset: int,
                    after: int) -> Iterator[MailMessage]:
        if number <= after:
            return
        stream.seek(offset)
        line = read_line(stream, number, MAX_INDEX_LINE)
        try:
            if line is None:
                raise IndexLineError(MESSAGES_INDEX, number, "the line vanished while reading")
            record = parse_mail_record(line, self.root, MESSAGES_INDEX)
            yield self._message(record)
        except IndexLineError as exc:
            yield MailMessage(UnreadableContent(exc), str(number))

    def _message(self, record: MailRecord) -> MailMessage:
        path = self.root / record.path
        try:
            size = path.stat().st_size
        except OSError:
            raise IndexLineError(MESSAGES_INDEX, record.id, f"{record.path} is missing",
                                 record.folder) from None
        if size != record.size:
            raise IndexLineError(MESSAGES_INDEX, record.id, f"{record.path} has {size} bytes, "
                                 f"the index says {record.size} (changed?)", record.folder)
        return MailMessage(Content.from_file(path), str(record.id), frozenset(record.flags),
                           record.internal_date, provenance=record.derived_from,
                           _summary=record.summary)

    # --- chat -------------------------------------------------------------------------

    def _conversation_records(self) -> dict[str, ConversationRecord]:
        if self._conversations is None:
            found: dict[str, ConversationRecord] = {}
            for line in iter_lines(self.root / CONVERSATIONS_INDEX, MAX_INDEX_LINE):
                try:
                    record = parse_conversation_record(line, self.root, CONVERSATIONS_INDEX)
                except IndexLineError as exc:
                    self._problem(exc)
                    continue
                found.setdefault(record.source_id, record)
            self._conversations = found
        return self._conversations

    def conversations(self) -> Iterator[Conversation]:
        """Conversations in the order written; unreadable ones are raised about at the end."""
        bad: list[str] = []
        for record in self._conversation_records().values():
            relative = f"{record.dir}/{CONVERSATION_FILE}"
            try:
                path = safe_path(self.root, relative, CHAT_DIR)
                raw = read_capped(path, MAX_CHAT_LINE)
                conversation = conversation_from_dict(json.loads(raw))
                if conversation.source_id != record.source_id:
                    raise ValueError("its source_id differs from the conversations index")
            except (OSError, ValueError, ArchiveError) as exc:
                bad.append(f"{relative}: {exc}")
                self._problem(ArchiveError(f"{relative}: {exc}"))
                continue
            yield conversation
        if bad:
            raise BadInputError(f"{len(bad)} conversation(s) unreadable: {'; '.join(bad[:5])}")

    def chat_messages(self, conversation: Conversation) -> Iterator[ChatMessage]:
        """The conversation's messages in order, each in its current (latest) version at the
        place of its first; bad lines are raised about at the end."""
        record = self._conversation_records().get(conversation.source_id)
        if record is None:
            raise BadInputError(f"conversation {conversation.source_id!r} is not in the archive")
        relative = f"{record.dir}/{CHAT_MESSAGES_FILE}"
        path = safe_path(self.root, relative, CHAT_DIR)
        bad: list[int] = []
        with open(path, "rb") if path.exists() else open(os.devnull, "rb") as stream:
            for versions in message_versions(path, relative):
                try:
                    if versions.error is not None:
                        raise ValueError(versions.error)
                    yield read_version(stream, versions.current, relative)
                except ValueError as exc:
                    bad.append(versions.number)
                    self._problem(IndexLineError(relative, versions.number, str(exc)))
        if bad:
            numbers = ", ".join(map(str, bad[:20]))
            raise IndexLineError(relative, bad[0], f"{len(bad)} unreadable line(s): {numbers}")

    def chat_versions(self, conversation: Conversation) -> Iterator[list[ChatMessage]]:
        """Every version of each message, oldest first (the last is the current one), in
        the order of ``chat_messages``; unreadable lines are left out."""
        record = self._conversation_records().get(conversation.source_id)
        if record is None:
            raise BadInputError(f"conversation {conversation.source_id!r} is not in the archive")
        relative = f"{record.dir}/{CHAT_MESSAGES_FILE}"
        path = safe_path(self.root, relative, CHAT_DIR)
        if not path.exists():
            return
        with open(path, "rb") as stream:
            for versions in message_versions(path, relative):
                found = []
                for offset in versions.offsets if versions.error is None else ():
                    try:
                        found.append(read_version(stream, offset, relative))
                    except ValueError:
                        continue
                if found:
                    yield found

    def chat_message_count(self, conversation: Conversation) -> int:
        """Messages (not versions) of the conversation."""
        record = self._conversation_records().get(conversation.source_id)
        if record is None:
            return 0
        path = safe_path(self.root, f"{record.dir}/{CHAT_MESSAGES_FILE}", CHAT_DIR)
        return sum(1 for _ in message_versions(path))

    def blob(self, ref: BlobRef) -> Blob:
        path = safe_path(self.root, blob_path(ref.sha256), BLOB_DIR)
        if not path.is_file():
            raise BadInputError(f"blob {ref.sha256} ({ref.name or 'unnamed'}) is missing "
                                "from the archive")
        return Blob(Content.from_file(path), ref.name, ref.media_type,
                    about=self._files.about(ref.sha256))

    # --- calendars and contacts (see pimreader) ------------------------------------------

    def collections(self) -> Iterator[Collection]:
        return self._pim.collections()

    def entries(self, collection: Collection) -> Iterator[Entry]:
        return self._pim.entries(collection)

    def collection_stats(self, collection: Collection) -> FolderStats:
        return self._pim.stats(collection)
