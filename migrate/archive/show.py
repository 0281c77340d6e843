"""``migrate archive show``: what an archive holds, from its indexes (no file is hashed):
folders, conversations, calendars and address books with their counts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import MigrateError
from ..model import Role
from .bag import read_tags
from .layout import BAG_INFO
from .reader import open_archive


@dataclass(frozen=True)
class FolderSummary:
    path: tuple[str, ...]
    role: Role | None
    messages: int
    bytes: int
    first: datetime | None = None  # the oldest internal date in the folder
    last: datetime | None = None  # the newest


@dataclass(frozen=True)
class ConversationSummary:
    source_id: str
    name: str | None
    kind: str
    messages: int


@dataclass(frozen=True)
class CollectionSummary:
    """A calendar or address book: its kind, path at the source, entries and bytes."""

    kind: str  # "calendar" or "contacts"
    path: tuple[str, ...]
    entries: int
    bytes: int


@dataclass
class ArchiveSummary:
    """Folders with counts and sizes, conversations, totals, seal state and format version."""

    root: Path
    version: int
    sealed: bool
    bag_info: list[tuple[str, str]] = field(default_factory=list)
    folders: list[FolderSummary] = field(default_factory=list)
    conversations: list[ConversationSummary] = field(default_factory=list)
    collections: list[CollectionSummary] = field(default_factory=list)
    accounts: dict[str, int] = field(default_factory=dict)  # source endpoint → messages
    #: messages rebuilt by their source, by the file they came from: (name, sha256) → count
    derived: dict[tuple[str, str], int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(f.messages for f in self.folders)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.folders)

    @property
    def chat_messages(self) -> int:
        return sum(c.messages for c in self.conversations)

    def entries(self, kind: str) -> int:
        """Events (``calendar``) or contacts (``contacts``) in all collections of that kind."""
        return sum(c.entries for c in self.collections if c.kind == kind)

    def to_text(self) -> str:
        lines = [f"archive {self.root}", f"  format version {self.version}, "
                 f"{'sealed' if self.sealed else 'NOT SEALED (a run is writing it or died)'}"]
        info = dict(self.bag_info)
        for tag in ("Bagging-Date", "Sovereign-Migrate-Version", "Mailbag-Source"):
            if tag in info:
                lines.append(f"  {tag}: {info[tag]}")
        lines.append(f"  mail: {self.messages} messages, {self.bytes} bytes, "
                     f"{len(self.folders)} folders")
        for (name, sha256), count in sorted(self.derived.items()):
            lines.append(f"  rebuilt from {name} (sha256 {sha256[:16]}…): {count} messages")
        for folder in self.folders:
            role = f" ({folder.role.value})" if folder.role else ""
            lines.append(f"    {'/'.join(folder.path)}{role}: {folder.messages} messages, "
                         f"{folder.bytes} bytes")
        lines.append(f"  chat: {self.chat_messages} messages in "
                     f"{len(self.conversations)} conversations")
        for conversation in self.conversations:
            lines.append(f"    {conversation.name or conversation.source_id} "
                         f"[{conversation.kind}]: {conversation.messages} messages")
        for kind, noun in (("calendar", "events"), ("contacts", "contacts")):
            found = [c for c in self.collections if c.kind == kind]
            lines.append(f"  {kind}: {self.entries(kind)} {noun} in {len(found)} collections")
            lines += [f"    {'/'.join(c.path)}: {c.entries} {noun}, {c.bytes} bytes"
                      for c in found]
        lines += [f"  problem: {problem}" for problem in self.problems]
        return "\n".join(lines)


def summary(path: str | os.PathLike) -> ArchiveSummary:
    """Summarise the archive at ``path`` (ArchiveError if it cannot be read at all)."""
    reader = open_archive(path)
    result = ArchiveSummary(reader.root, reader.version, reader.sealed,
                            read_tags(reader.root / BAG_INFO))
    dates: dict[tuple[str, ...], list[datetime]] = {}
    for record in reader.records():  # one pass over the index: accounts and date ranges
        if isinstance(record, Exception):
            continue
        account = record.source or "?"
        result.accounts[account] = result.accounts.get(account, 0) + 1
        if record.derived_from is not None:
            origin = (record.derived_from.file_name, record.derived_from.file_sha256)
            result.derived[origin] = result.derived.get(origin, 0) + 1
        if record.internal_date is not None:
            when = record.internal_date
            span = dates.setdefault(record.folder, [when, when])
            span[0], span[1] = min(span[0], when), max(span[1], when)
    for folder in reader.folders():
        stats = reader.stats(folder)
        first, last = dates.get(folder.path, (None, None))
        result.folders.append(FolderSummary(folder.path, folder.role, stats.messages,
                                            stats.bytes, first, last))
    try:
        for conversation in reader.conversations():
            count = reader.chat_message_count(conversation)
            result.conversations.append(ConversationSummary(
                conversation.source_id, conversation.name, conversation.kind.value, count))
    except MigrateError as exc:
        result.problems.append(str(exc))
    for collection in reader.collections():
        stats = reader.collection_stats(collection)
        result.collections.append(CollectionSummary(collection.kind.value, collection.path,
                                                    stats.messages, stats.bytes))
    result.problems[:0] = reader.problems
    return result

