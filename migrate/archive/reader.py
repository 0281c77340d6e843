"""Opening an archive for reading: find its format version and hand it to that version's
reader. Every format version ever written keeps a reader here, so old archives stay
readable; a version this tool does not know is a clear ArchiveError, never a guess.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from ..connector import FolderStats
from ..errors import ConnectError
from ..model import (
    Blob,
    BlobRef,
    ChatMessage,
    Collection,
    Conversation,
    Entry,
    Folder,
    MailMessage,
)
from .bag import check_version, is_sealed
from .records import MailRecord


class ArchiveReader(ABC):
    """What every version's reader offers: the archive as folders, messages, conversations,
    calendars and address books.

    Bad lines never stop a reader: ``messages`` yields them as messages whose content
    raises (see ``reader_v1``), and each one is also listed in ``problems``.
    """

    version: int
    root: Path
    sealed: bool
    problems: list[str]

    @abstractmethod
    def folders(self) -> Iterator[Folder]: ...

    @abstractmethod
    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]: ...

    @abstractmethod
    def stats(self, folder: Folder) -> FolderStats: ...

    @abstractmethod
    def cursor(self, folder: Folder) -> str | None: ...

    @abstractmethod
    def records(self) -> Iterator[MailRecord | Exception]:
        """Every index record in order, or the error of each bad line (for validate)."""

    @abstractmethod
    def conversations(self) -> Iterator[Conversation]: ...

    @abstractmethod
    def chat_messages(self, conversation: Conversation) -> Iterator[ChatMessage]:
        """The conversation's messages, each in its current version (format §4.3)."""

    @abstractmethod
    def chat_versions(self, conversation: Conversation) -> Iterator[list[ChatMessage]]:
        """Every version of each message, oldest first, in the order of chat_messages."""

    @abstractmethod
    def chat_message_count(self, conversation: Conversation) -> int:
        """How many messages (not versions) a conversation has."""

    @abstractmethod
    def blob(self, ref: BlobRef) -> Blob: ...

    @abstractmethod
    def collections(self) -> Iterator[Collection]:
        """Calendars and address books (none in an archive written before they existed)."""

    @abstractmethod
    def entries(self, collection: Collection) -> Iterator[Entry]:
        """The collection's events or contacts; bad lines are raised about at the end."""

    @abstractmethod
    def collection_stats(self, collection: Collection) -> FolderStats:
        """How many entries and bytes a collection holds, from the index alone."""

    def close(self) -> None:
        """Nothing is held open between calls; present for symmetry with the writer."""


def _readers() -> dict[int, type[ArchiveReader]]:
    from .reader_v1 import ArchiveReaderV1

    return {1: ArchiveReaderV1}


def known_versions() -> set[int]:
    """Format versions this tool reads."""
    return set(_readers())


def open_archive(path: str | os.PathLike) -> ArchiveReader:
    """The reader for the archive at ``path``, chosen by its format version.

    ConnectError if there is nothing at ``path``; ArchiveError if it is not an archive
    or its version is unknown. An unsealed archive opens (``sealed`` is False).
    """
    root = Path(path).expanduser().absolute()
    if not root.is_dir():
        raise ConnectError(f"no archive at {root}")
    readers = _readers()
    version = check_version(root, set(readers))
    return readers[version](root, sealed=is_sealed(root))
