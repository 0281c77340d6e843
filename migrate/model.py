"""The neutral model: what travels between a source connector and a target connector.

Every connector translates its platform's objects into these data classes and back; the
engine sees nothing else. A mail message is its original bytes (``Content``); everything
a mail store keeps beside the bytes (flags, internal date, folder) travels beside them.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MessageError
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from .errors import BadInputError

#: Content larger than this is spooled to a temporary file instead of kept in memory.
SPOOL_THRESHOLD = 4 * 1024 * 1024
_CHUNK = 1024 * 1024


class Role(StrEnum):
    """Special-use role of a folder (RFC 6154 names, plus ``outbox``)."""

    INBOX = "inbox"
    SENT = "sent"
    DRAFTS = "drafts"
    TRASH = "trash"
    JUNK = "junk"
    ARCHIVE = "archive"
    OUTBOX = "outbox"


@dataclass(frozen=True)
class Folder:
    """A mail folder: its path as Unicode names (never a joined string) and its role."""

    path: tuple[str, ...]
    role: Role | None = None
    source_id: str | None = None

    def __post_init__(self) -> None:
        if not self.path or any(not name for name in self.path):
            raise ValueError(f"invalid folder path {self.path!r}: empty name")

    @property
    def name(self) -> str:
        return self.path[-1]

    def display(self) -> str:
        """A readable form for reports; never parsed back."""
        return "/".join(self.path)


# IMAP system flags. Keywords (user flags, categories) travel as plain strings.
SEEN, ANSWERED, FLAGGED = "\\Seen", "\\Answered", "\\Flagged"
DRAFT, DELETED = "\\Draft", "\\Deleted"
FORWARDED = "$Forwarded"
SYSTEM_FLAGS = frozenset({SEEN, ANSWERED, FLAGGED, DRAFT, DELETED})


def system_flags(flags: frozenset[str]) -> frozenset[str]:
    """The IMAP system flags among ``flags``."""
    return frozenset(f for f in flags if f in SYSTEM_FLAGS)


def keywords(flags: frozenset[str]) -> frozenset[str]:
    """The keywords (user flags, categories) among ``flags``."""
    return frozenset(f for f in flags if not f.startswith("\\"))


class Content:
    """The exact bytes of an item, in memory, in a file (or a slice of one), or spooled.

    Reading never changes a byte. ``size`` and ``sha256`` are computed once, by streaming.
    A file that cannot be read raises ``BadInputError`` naming it, so that item fails alone.
    """

    __slots__ = ("_data", "_length", "_load", "_offset", "_path", "_sha256", "_spool")

    def __init__(self) -> None:
        self._data: bytes | None = None
        self._path: Path | None = None
        self._offset = 0
        self._length: int | None = None
        self._spool: BinaryIO | None = None
        self._sha256: str | None = None
        self._load: Callable[[], Content] | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> Content:
        content = cls()
        content._data = bytes(data)
        return content

    @classmethod
    def from_file(cls, path: str | os.PathLike, offset: int = 0,
                  length: int | None = None) -> Content:
        """Bytes read lazily from ``path`` (the whole file, or ``length`` bytes at ``offset``)."""
        content = cls()
        content._path = Path(path)
        content._offset = offset
        content._length = length
        return content

    @classmethod
    def deferred(cls, load: Callable[[], Content], size: int | None = None) -> Content:
        """Bytes fetched only when first needed (e.g. from a server), by ``load``.

        ``size`` (if the source knows it, e.g. RFC822.SIZE) answers ``size`` without a fetch.
        A source may also ``provide`` the bytes ahead, for a batch fetched in one go.
        """
        content = cls()
        content._load = load
        content._length = size
        return content

    def provide(self, loaded: Content) -> None:
        """Give a deferred content its bytes now (ignored once it has them)."""
        if self._load is not None:
            self._take(loaded)

    def load(self) -> None:
        """Fetch a deferred content's bytes now (nothing to do for any other content).

        A failed load is remembered: every later use raises the same error, without
        asking the source again (which may be busy in another thread).
        """
        self._resolve()

    def _resolve(self) -> None:
        if self._load is None:
            return
        try:
            loaded = self._load()
        except Exception as exc:
            self._load = _raiser(exc)
            raise
        self._take(loaded)

    def _take(self, loaded: Content) -> None:
        self._load = None
        self._data, self._path, self._offset = loaded._data, loaded._path, loaded._offset
        self._length, self._spool = loaded._length, loaded._spool
        self._sha256 = loaded._sha256 or self._sha256

    @property
    def declared_size(self) -> int | None:
        """A deferred content's size as its source declared it (None if unknown), read
        without fetching anything."""
        return self._length if self._load is not None else None

    @property
    def loaded(self) -> bool:
        """False while a deferred content has not fetched its bytes."""
        return self._load is None

    @classmethod
    def from_chunks(cls, chunks: Iterator[bytes] | list[bytes]) -> Content:
        """Collect streamed bytes, spilling to a temporary file past ``SPOOL_THRESHOLD``."""
        digest = hashlib.sha256()
        memory: list[bytes] = []
        held = length = 0
        spill: BinaryIO | None = None
        for chunk in chunks:
            digest.update(chunk)
            length += len(chunk)
            if spill is None:
                memory.append(chunk)
                held += len(chunk)
                if held > SPOOL_THRESHOLD:
                    spill = tempfile.TemporaryFile()
                    spill.writelines(memory)
                    memory = []
            else:
                spill.write(chunk)
        content = cls()
        if spill is None:
            content._data = memory[0] if len(memory) == 1 else b"".join(memory)
        else:
            spill.flush()
            content._spool = spill
            content._length = length
        content._sha256 = digest.hexdigest()
        return content

    @property
    def size(self) -> int:
        if self._load is not None and self._length is None:
            self._resolve()
        if self._data is not None:
            return len(self._data)
        if self._length is not None:
            return self._length
        assert self._path is not None
        with self._reading():
            self._length = self._path.stat().st_size - self._offset
        return self._length

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            for _ in self.iter_chunks():
                pass
        assert self._sha256 is not None
        return self._sha256

    @property
    def path(self) -> Path | None:
        """The file holding exactly these bytes, when there is one (lets targets link or copy)."""
        self._resolve()
        if self._path is not None and self._offset == 0 and self._length is None:
            return self._path
        return None

    def open(self) -> BinaryIO:
        """A fresh binary stream over the bytes, positioned at the start."""
        self._resolve()
        if self._data is not None:
            return io.BytesIO(self._data)
        if self._spool is not None:
            return _Window(self._spool, 0, self.size, close_base=False)
        assert self._path is not None
        with self._reading():
            handle = open(self._path, "rb")
        if self._offset == 0 and self._length is None:
            return handle
        return _Window(handle, self._offset, self.size, close_base=True)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn a file error into a BadInputError naming the file: that item fails alone."""
        try:
            yield
        except OSError as exc:
            raise BadInputError(f"cannot read {self._path}: {exc.strerror or exc}") from None

    def iter_chunks(self, size: int = _CHUNK) -> Iterator[bytes]:
        """Stream the bytes; a complete pass also computes ``sha256`` on the way."""
        digest = hashlib.sha256() if self._sha256 is None else None
        with self.open() as stream:
            while True:
                with self._reading():
                    chunk = stream.read(size)
                if not chunk:
                    break
                if digest is not None:
                    digest.update(chunk)
                yield chunk
        if digest is not None:
            self._sha256 = digest.hexdigest()

    def read(self) -> bytes:
        """All the bytes in memory: only for small items, tests, or header parsing."""
        self._resolve()
        if self._data is not None:
            return self._data
        with self.open() as stream, self._reading():
            return stream.read()

    def head(self, limit: int = 64 * 1024) -> bytes:
        """The first ``limit`` bytes (enough for the header block of almost any message)."""
        self._resolve()
        if self._data is not None:
            return self._data[:limit]
        with self.open() as stream, self._reading():
            return stream.read(limit)

    def write_to(self, stream: BinaryIO) -> int:
        """Copy the bytes into ``stream``; returns the number written."""
        written = 0
        for chunk in self.iter_chunks():
            stream.write(chunk)
            written += len(chunk)
        return written

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Content):
            return NotImplemented
        return self.size == other.size and self.sha256 == other.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __repr__(self) -> str:
        return f"<Content {self.size} bytes>"


def _raiser(error: Exception) -> Callable[[], Content]:
    def load() -> Content:
        raise error

    return load


class _Window(io.RawIOBase):
    """A read-only view of ``length`` bytes of a base stream starting at ``start``."""

    def __init__(self, base: BinaryIO, start: int, length: int, close_base: bool) -> None:
        super().__init__()
        self._base, self._left, self._close_base = base, length, close_base
        base.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        count = self._base.readinto(view)  # type: ignore[attr-defined]
        self._left -= count or 0
        return count or 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > self._left:
            size = self._left
        data = self._base.read(size)
        self._left -= len(data)
        return data

    def close(self) -> None:
        if self._close_base and not self.closed:
            self._base.close()
        super().close()


@dataclass(frozen=True)
class MessageSummary:
    """Header fields people need in reports; parsed leniently, never used to rebuild bytes."""

    message_id: str | None = None
    subject: str | None = None
    sender: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Provenance:
    """Where a *derived* message comes from: a source that keeps no original bytes (an
    Outlook .pst) rebuilds them, so the archive records the file it read (name, size,
    sha256) and the item's identifier there, for an archivist to trace it back."""

    file_name: str
    file_size: int
    file_sha256: str
    item_id: str
    kind: str = "derived"


@dataclass
class MailMessage:
    """One mail message: original RFC 5322 bytes plus the metadata a mail store keeps beside.

    ``source_id`` is the source's stable key for this message (UID, file name, offset ...);
    ``flags`` holds IMAP system flags and keywords (``\\Seen``, ``$Forwarded``, categories).
    """

    content: Content
    source_id: str
    flags: frozenset[str] = frozenset()
    internal_date: datetime | None = None
    #: Set when the bytes were rebuilt by the source, not received as they are.
    provenance: Provenance | None = None
    _summary: MessageSummary | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        return self.content.size

    @property
    def sha256(self) -> str:
        return self.content.sha256

    @property
    def system_flags(self) -> frozenset[str]:
        return system_flags(self.flags)

    @property
    def keywords(self) -> frozenset[str]:
        return keywords(self.flags)

    @property
    def summary(self) -> MessageSummary:
        if self._summary is None:
            self._summary = summarize(self.content.head())
        return self._summary


def summarize(head: bytes) -> MessageSummary:
    """Read Message-ID, Subject, From and Date from a header block; broken input gives None."""
    end = head.find(b"\n\n")
    if end < 0:
        end = head.find(b"\r\n\r\n")
    block = head if end < 0 else head[: end + 2]
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(block)
    except Exception:  # a header block we cannot parse still gets a summary of Nones
        return MessageSummary()

    def text(name: str) -> str | None:
        value = headers.get(name)
        if value is None:
            return None
        value = str(value).replace("\r", "").replace("\n", "").strip()
        return value or None

    return MessageSummary(text("Message-ID"), _readable(text("Subject")),
                          _readable(text("From")), text("Date"))


def _readable(value: str | None) -> str | None:
    """RFC 2047 encoded words decoded for people (``=?utf-8?q?R=C3=A9union?=`` → Réunion);
    a value that does not decode is shown as it is."""
    if value is None or "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError, MessageError):  # e.g. CharsetError
        return value


# --- chat ------------------------------------------------------------------------------


class ConversationKind(StrEnum):
    CHANNEL = "channel"
    GROUP_CHAT = "group-chat"
    DIRECT_CHAT = "direct-chat"
    ROOM = "room"


class ChannelVisibility(StrEnum):
    """Who can see a Teams channel (Graph's ``membershipType``): every team member
    (standard), only its own members (private), or its own members, who may belong to
    other teams, even other tenants (shared)."""

    STANDARD = "standard"
    PRIVATE = "private"
    SHARED = "shared"


@dataclass(frozen=True)
class Identity:
    """A person or bot as the source knows them (Entra id, Matrix id ...)."""

    source_id: str
    display_name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Person:
    """Someone seen in chat (author, mentioned, reacting, member) with what the source's
    directory says of them: the identity map an import fills in with target accounts.
    ``in_directory`` is None when the directory was not asked, False when it has no record
    (a guest, an external or deleted account): then only what messages say is known."""

    source_id: str
    display_name: str | None = None
    upn: str | None = None
    email: str | None = None
    in_directory: bool | None = None


@dataclass(frozen=True)
class Workspace:
    """The parent of conversations: a Teams team, a Matrix space."""

    source_id: str
    name: str
    description: str | None = None


@dataclass(frozen=True)
class Conversation:
    """A Teams channel or chat, a Matrix room."""

    source_id: str
    kind: ConversationKind
    name: str | None = None
    topic: str | None = None
    members: tuple[Identity, ...] = ()
    workspace: Workspace | None = None
    created: datetime | None = None
    #: A channel's access (its members are then the channel's own); None for chats, rooms
    #: and sources that do not say.
    visibility: ChannelVisibility | None = None


@dataclass(frozen=True)
class BlobRef:
    """An attachment or inline image, by the sha256 of its bytes."""

    sha256: str
    size: int
    name: str | None = None
    media_type: str | None = None


@dataclass(frozen=True)
class Reaction:
    author: Identity
    key: str  # emoji or reaction name, e.g. "👍" or "like"
    created: datetime | None = None


@dataclass(frozen=True)
class Edit:
    """A former version of a chat message body."""

    edited: datetime
    body_html: str | None = None
    body_text: str | None = None


class ChatMessageType(StrEnum):
    MESSAGE = "message"
    SYSTEM = "system"


@dataclass(frozen=True)
class ChatMessage:
    """One chat message with everything a faithful import needs; ``raw`` is the source JSON."""

    source_id: str
    conversation_id: str
    author: Identity | None
    created: datetime
    body_html: str | None = None
    body_text: str | None = None
    thread_root_id: str | None = None
    reply_to_id: str | None = None
    edited: datetime | None = None
    deleted: datetime | None = None
    subject: str | None = None
    message_type: ChatMessageType = ChatMessageType.MESSAGE
    mentions: tuple[Identity, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    edits: tuple[Edit, ...] = ()
    attachments: tuple[BlobRef, ...] = ()
    raw: str | None = None  # the untouched source JSON text


@dataclass
class Blob:
    """Bytes addressed by their sha256 (attachments, inline images, files)."""

    content: Content
    name: str | None = None
    media_type: str | None = None
    #: The source's JSON text describing the file (a SharePoint or OneDrive driveItem),
    #: kept beside its bytes; None for blobs without one (inline images).
    about: str | None = None

    @property
    def ref(self) -> BlobRef:
        return BlobRef(self.content.sha256, self.content.size, self.name, self.media_type)


# --- calendars and contacts --------------------------------------------------------------


class CollectionKind(StrEnum):
    """What a collection holds: events (iCalendar, RFC 5545) or contacts (vCard)."""

    CALENDAR = "calendar"
    CONTACTS = "contacts"


@dataclass(frozen=True)
class Collection:
    """A calendar or an address book: its path of names at the source, like a folder's."""

    kind: CollectionKind
    path: tuple[str, ...]
    source_id: str = ""

    def __post_init__(self) -> None:
        if not self.path or any(not part for part in self.path):
            raise ValueError(f"a collection path needs non-empty names: {self.path!r}")

    def display(self) -> str:
        return "/".join(self.path)


class _Document:
    """An entry's bytes exactly as the source served them (iCalendar or vCard text)."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class CalendarEvent(_Document):
    """An event as iCalendar bytes (a VCALENDAR with its VEVENT), with the source's id."""

    source_id: str
    data: bytes
    kind = CollectionKind.CALENDAR
    suffix = ".ics"
    media_type = "text/calendar"


@dataclass(frozen=True)
class Contact(_Document):
    """A contact as vCard bytes, with the source's id."""

    source_id: str
    data: bytes
    kind = CollectionKind.CONTACTS
    suffix = ".vcf"
    media_type = "text/vcard"


#: An entry of a collection.
Entry = CalendarEvent | Contact


#: One-name collection paths that mean a mailbox's main calendar / address book (English,
#: French, German, CalDAV's "default"/"personal"): targets with a main one write there.
MAIN_COLLECTION_NAMES: dict[CollectionKind, frozenset[str]] = {
    CollectionKind.CALENDAR: frozenset({"calendar", "calendars", "calendrier", "agenda",
                                        "kalender", "default", "personal"}),
    CollectionKind.CONTACTS: frozenset({"contacts", "contact", "address book", "addressbook",
                                        "carnet d'adresses", "kontakte", "default",
                                        "personal"}),
}
