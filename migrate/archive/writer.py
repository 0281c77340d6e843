"""Opening an archive for writing: create it, or reopen and repair what a killed run left,
or unseal a sealed one; then append mail, chat, calendars and contacts, commit, and seal
on close.

Crash rules (see docs/archive-format.md, "Writing and resuming"): an unfinished last index
line is cut; index lines written after the last commit are kept only if their file is
whole; message files without an index line are overwritten by the next message of that
number or removed at seal. Only one process may write an archive at a time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ArchiveError, ConfigError
from ..model import (
    Blob,
    ChatMessage,
    Collection,
    Conversation,
    Entry,
    Folder,
    MailMessage,
    Person,
)
from .bag import BAGIT_TEXT, Progress, check_version, is_sealed, unseal, write_tags
from .chatwriter import ChatWriter
from .errors import ArchiveBusyError
from .jsonl import fsync_path, write_atomic
from .layout import (
    BAG_INFO,
    BAGIT_TXT,
    BLOB_DIR,
    CHAT_DIR,
    CONVERSATIONS_INDEX,
    EML_DIR,
    FOLDERS_INDEX,
    FORMAT_VERSION,
    IN_PROGRESS,
    MESSAGES_INDEX,
)
from .mailwriter import MailWriter
from .people import PeopleIndex
from .pimwriter import PimWriter
from .seal import SealReport, initial_tags, seal

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one writer per archive is on the user
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


def _lock(root: Path) -> int | None:
    if fcntl is None:
        return None
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ArchiveBusyError(f"{root}: another process is writing this archive") from None
    return fd


def _create(root: Path) -> None:
    """Lay out an empty archive; bagit.txt comes last, so a half-made one is recognisable."""
    Progress(started=datetime.now(UTC).isoformat(timespec="seconds")).save(root)
    for directory in (EML_DIR, CHAT_DIR, BLOB_DIR):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for index in (MESSAGES_INDEX, FOLDERS_INDEX, CONVERSATIONS_INDEX):
        (root / index).parent.mkdir(parents=True, exist_ok=True)
        (root / index).touch()
    write_tags(root / BAG_INFO, initial_tags())
    write_atomic(root / BAGIT_TXT, BAGIT_TEXT.encode())
    fsync_path(root)


class ArchiveWriter:
    """An archive open for writing (mail, chat, calendars and contacts). Use
    ``ArchiveWriter.open(path)``."""

    def __init__(self, root: Path, lock: int | None, was_sealed: bool,
                 progress: Progress | None) -> None:
        self.root = root
        self._lock = lock
        self._closed = False
        repair = not was_sealed
        committed = progress.committed_lines if progress and repair else None
        self.mail = MailWriter(root, repair, committed)
        self.chat = ChatWriter(root, repair)
        self.people = PeopleIndex(root)
        self.pim = PimWriter(root, repair, progress.committed_entries
                             if progress and repair else None)
        started = progress.started if progress and progress.started else \
            datetime.now(UTC).isoformat(timespec="seconds")
        self._progress = Progress(self.mail.count, self.mail.commit(), started, self.pim.count)
        if was_sealed:
            unseal(root, self._progress)
            log.info("%s: unsealed to append; it is sealed again at the end of the run", root)
        else:
            self._progress.save(root)

    @classmethod
    def open(cls, path: str | os.PathLike, *, source: str | None = None) -> ArchiveWriter:
        """Open ``path`` for appending, creating an archive there if it is absent or empty.

        ``source`` is the display form of the endpoint the messages come from (recorded
        per message). Raises ArchiveError for a damaged or unknown archive, or a directory
        that holds something else, and ArchiveBusyError if another run writes it.
        """
        root = Path(path).expanduser().absolute()
        if root.exists() and not root.is_dir():
            raise ConfigError(f"{root} exists and is not a directory")
        root.mkdir(parents=True, exist_ok=True)
        lock = _lock(root)
        try:
            if (root / BAGIT_TXT).exists():
                check_version(root, {FORMAT_VERSION})
            elif (root / IN_PROGRESS).exists():
                log.info("%s: finishing the layout of a half-created archive", root)
                _create(root)
            elif any(root.iterdir()):
                raise ArchiveError(f"{root} is neither empty nor an archive; refusing to "
                                   "write into it")
            else:
                _create(root)
            was_sealed = is_sealed(root)
            writer = cls(root, lock, was_sealed, None if was_sealed else Progress.load(root))
        except BaseException:
            if lock is not None:
                os.close(lock)
            raise
        writer.source = source
        return writer

    @property
    def source(self) -> str | None:
        return self.mail.source

    @source.setter
    def source(self, display: str | None) -> None:
        self.mail.source = display
        self.pim.source = display

    # --- mail and chat (see MailWriter and ChatWriter) --------------------------------

    def prepare_folder(self, folder: Folder) -> None:
        self._check_open()
        self.mail.prepare_folder(folder)

    def append(self, folder: Folder, message: MailMessage) -> str:
        self._check_open()
        return self.mail.append(folder, message)

    def find(self, folder: Folder, message: MailMessage) -> str | None:
        self._check_open()
        return self.mail.find(folder, message)

    def prepare_conversation(self, conversation: Conversation) -> None:
        self._check_open()
        self.chat.prepare_conversation(conversation)

    def post(self, conversation: Conversation, message: ChatMessage) -> str:
        self._check_open()
        return self.chat.post(conversation, message)

    def update(self, conversation: Conversation, message: ChatMessage) -> str:
        self._check_open()
        return self.chat.update(conversation, message)

    def find_chat(self, conversation: Conversation, message: ChatMessage) -> str | None:
        self._check_open()
        return self.chat.find_chat(conversation, message)

    def put_blob(self, blob: Blob) -> None:
        self._check_open()
        self.chat.put_blob(blob)

    def put_people(self, people: Iterable[Person]) -> None:
        """Add to the identity map (``PeopleIndex``); written at the next commit."""
        self._check_open()
        self.people.add(people)

    def prepare_collection(self, collection: Collection) -> None:
        self._check_open()
        self.pim.prepare_collection(collection)

    def put_entry(self, collection: Collection, entry: Entry) -> str:
        self._check_open()
        return self.pim.put_entry(collection, entry)

    def find_entry(self, collection: Collection, entry: Entry) -> str | None:
        self._check_open()
        return self.pim.find_entry(collection, entry)

    # --- durability and sealing ---------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ArchiveError(f"{self.root}: the archive writer is closed")

    def commit(self) -> None:
        """Make every item appended so far durable, then record how far that is."""
        self._check_open()
        self.chat.commit()
        self.people.commit()
        self.pim.commit()
        self._progress.committed_bytes = self.mail.commit()
        self._progress.committed_lines = self.mail.count
        self._progress.committed_entries = self.pim.count
        self._progress.save(self.root)

    def close(self, seal_archive: bool = True) -> SealReport | None:
        """Commit, then seal (unless ``seal_archive`` is False: the run did not finish) and
        release the archive. Returns what the seal did."""
        if self._closed:
            return None
        report = None
        try:
            self.commit()
            self.mail.close()
            self.chat.close()
            self.pim.close()
            if seal_archive:
                report = seal(self.root)
        finally:
            self.mail.close()
            self.chat.close()
            self.pim.close()
            self._closed = True
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None
        return report

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(seal_archive=kind is None)
