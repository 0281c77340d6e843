"""The connector interface: what every platform module implements, and nothing more.

A connector is a class registered under the entry-point group ``migrate.connectors`` with
the endpoint scheme as its name. It declares, as class-level data, what it can read and
write and which metadata it keeps (``Capabilities``); the engine and ``plan`` decide from
these declarations alone, never from the connector's name.

Sources *stream*: ``folders()`` and ``messages()`` are iterators, and a message's bytes
are a ``Content`` that is read when needed. Targets write one item at a time and return a
*target key*; ``commit()`` makes everything written so far durable, and only after it does
the engine mark those items done. ``find()`` looks an item up at the target, which the
engine uses for items that were in flight when a previous run died.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from .endpoint import Endpoint
from .errors import CapabilityError, ConfigError, ConnectError, ItemError, MigrateError
from .model import (
    Blob,
    BlobRef,
    ChatMessage,
    Collection,
    Conversation,
    Entry,
    Folder,
    MailMessage,
    Person,
    Role,
)


class Kind(StrEnum):
    """What kinds of items a connector reads or writes."""

    MAIL = "mail"
    CHAT = "chat"
    CALENDAR = "calendar"
    CONTACTS = "contacts"


def parse_kinds(names: Iterable[str], what: str = "--only") -> frozenset[Kind] | None:
    """The kinds of items named (``--only mail``, a jobs file's ``only`` cell), None when
    none is named (every kind). Raises ``ConfigError`` naming an unknown one."""
    wanted = [name.strip().lower() for name in names if name.strip()]
    unknown = [name for name in wanted if name not in Kind.__members__.values()]
    if unknown:
        raise ConfigError(f"{what}: unknown kind of item {', '.join(unknown)} "
                          f"(known: {', '.join(kind.value for kind in Kind)})")
    return frozenset(Kind(name) for name in wanted) or None


class Feature(StrEnum):
    """Metadata a connector can keep beside the items themselves (``kind`` says of what)."""

    FOLDERS = "folders"              # a folder hierarchy
    SPECIAL_USE = "special-use"      # folder roles (inbox, sent ...)
    FLAGS = "flags"                  # \\Seen \\Answered \\Flagged \\Draft \\Deleted
    KEYWORDS = "keywords"            # $Forwarded, categories, user keywords
    INTERNAL_DATE = "internal-date"  # received date, to the second
    DATE_OFFSET = "date-offset"      # the received date's UTC offset
    ORIGINAL_BYTES = "original-bytes"  # the message exactly as received (not rebuilt)
    AUTHORS = "authors"
    TIMESTAMPS = "timestamps"
    THREADS = "threads"
    REACTIONS = "reactions"
    EDITS = "edits"
    ATTACHMENTS = "attachments"
    SOURCE_RECORD = "source-record"  # the source's own record of a message (Graph's JSON)
    # calendars and contacts: what of an entry's iCalendar / vCard a target holds
    EVENT_DETAILS = "event-details"
    CONTACT_DETAILS = "contact-details"

    @property
    def kind(self) -> Kind:
        if self in _ENTRY_FEATURES:
            return _ENTRY_FEATURES[self]
        return Kind.CHAT if self in _CHAT_FEATURES else Kind.MAIL


class Transformation(StrEnum):
    """A change a target is known to make to the bytes it stores (not a loss): ``verify``
    pairs messages through it and reports it by name."""

    CRLF = "crlf"  # lines stored ending in CRLF: a message with bare LF comes back with CRLF


_CHAT_FEATURES = frozenset({Feature.AUTHORS, Feature.TIMESTAMPS, Feature.THREADS,
                            Feature.REACTIONS, Feature.EDITS, Feature.ATTACHMENTS,
                            Feature.SOURCE_RECORD})
#: Every source of events or contacts gives whole iCalendar / vCard entries, so it
#: provides these; a target loses them only where its ``limits`` say so (one that stores
#: the entry's bytes, or uploads them as they are, declares nothing).
_ENTRY_FEATURES = {Feature.EVENT_DETAILS: Kind.CALENDAR, Feature.CONTACT_DETAILS: Kind.CONTACTS}


#: Why a connector cannot keep a feature: one sentence, or one per language
#: (``{"en": …, "fr": …}``) since operators read plans in French and English.
Reason = str | dict[str, str]


def reason_text(reason: Reason, language: str) -> str:
    """The reason in ``language``, else in English, else in any language given."""
    if isinstance(reason, str):
        return reason
    return reason.get(language) or reason.get("en") or next(iter(reason.values()), "")


@dataclass(frozen=True)
class Capabilities:
    """What a connector reads, writes and keeps; ``limits`` says why a feature is missing."""

    reads: frozenset[Kind] = frozenset()
    writes: frozenset[Kind] = frozenset()
    source_keeps: frozenset[Feature] = frozenset()  # provided when reading
    target_keeps: frozenset[Feature] = frozenset()  # preserved when writing
    limits: dict[Feature, Reason] = field(default_factory=dict)
    #: Changes made to the bytes when writing (declared, so that verify is not fooled).
    transforms: frozenset[Transformation] = frozenset()
    #: A source without ORIGINAL_BYTES whose rebuilt bytes are the same on every read
    #: (a .pst file): its copies can still be verified byte for byte.
    stable_rebuild: bool = False

    def lost_between(self, target: Capabilities) -> list[tuple[Feature, Reason]]:
        """Features this source provides that ``target`` cannot hold, with the reason
        (only for the kinds of items that both can exchange)."""
        common = self.reads & target.writes
        lost = []
        for feature in Feature:
            if feature.kind not in common:
                continue
            if feature in _ENTRY_FEATURES:
                if feature in target.limits:
                    lost.append((feature, target.limits[feature]))
            elif feature in self.source_keeps and feature not in target.target_keeps:
                lost.append((feature, target.limits.get(feature, _NOT_SUPPORTED)))
        return lost

    def kinds_not_held_by(self, target: Capabilities) -> frozenset[Kind]:
        """Kinds of items this source reads that ``target`` cannot write (not copied)."""
        return self.reads - target.writes


_NOT_SUPPORTED = {"en": "not supported by the target", "fr": "non pris en charge par la cible"}


@dataclass(frozen=True)
class FolderStats:
    """How many messages and bytes a folder holds (for plans and progress totals)."""

    messages: int
    bytes: int


class MailSource(ABC):
    """Reads folders and messages, streaming."""

    @abstractmethod
    def folders(self) -> Iterator[Folder]:
        """Every folder, parents before children."""

    @abstractmethod
    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        """The folder's messages in a stable order; with a ``cursor``, only those after it."""

    def stats(self, folder: Folder) -> FolderStats:
        """Count a folder; sources override this when they can count without reading bytes."""
        count = size = 0
        for message in self.messages(folder):
            count += 1
            size += message.size
        return FolderStats(count, size)

    def prefetch(self, folder: Folder, messages: list[MailMessage]) -> None:
        """Called with the messages of a batch that will be written, before any is read,
        so that a server source can fetch their bytes in one round trip (and
        ``Content.provide`` them). The default does nothing: contents load themselves."""

    def flag_changes(self, folder: Folder,
                     cursor: str) -> Iterator[tuple[str, frozenset[str]]]:
        """(source key, flags now) of messages listed before ``cursor`` whose flags changed
        since (IMAP CONDSTORE); nothing when the source cannot tell, as by default."""
        return iter(())

    def cursor(self, folder: Folder) -> str | None:
        """Where the last complete ``messages()`` pass of ``folder`` leaves off: the engine
        asks after the pass and saves it, and gives it to the next pass (None: no cursor).

        A source whose position must be taken *before* listing (IMAP's UIDNEXT, so that a
        message arriving meanwhile is not skipped) records it when ``messages()`` starts; a
        source that learns it at the end of a listing (EWS SyncFolderItems) returns that.
        """
        return None

    def removed(self, folder: Folder) -> Iterator[str]:
        """Source keys of messages deleted at the source, as the last ``messages()`` pass
        (from a cursor) learned; nothing when the source cannot tell, as by default."""
        return iter(())

    def close(self) -> None:
        """Release files and connections."""


class MailTarget(ABC):
    """Writes folders and messages."""

    @abstractmethod
    def prepare_folder(self, folder: Folder) -> None:
        """Create the folder if it does not exist (with its role where the target can)."""

    @abstractmethod
    def append(self, folder: Folder, message: MailMessage) -> str:
        """Write one message; return its key at the target. Raise ItemError subclasses."""

    @abstractmethod
    def find(self, folder: Folder, message: MailMessage) -> str | None:
        """The target key of an already written copy of ``message``, or None."""

    def append_batch(self, folder: Folder,
                     messages: list[MailMessage]) -> list[str | MigrateError]:
        """Write several messages; for each, its target key or the error it met.

        Targets that can send many messages at once (IMAP MULTIAPPEND) override this; the
        default appends one by one. An error that concerns the whole target (ConnectError)
        is raised, not returned.
        """
        results: list[str | MigrateError] = []
        for message in messages:
            try:
                results.append(self.append(folder, message))
            except ConnectError:
                raise
            except MigrateError as exc:
                results.append(exc)
            except OSError as exc:  # a target that let a file error through
                results.append(ItemError(f"{exc.strerror or exc}"))
        return results

    def remove(self, folder: Folder, key: str) -> None:
        """Delete the message written under ``key`` (a deletion at the source carried over,
        only when the operator asks). CapabilityError when the target cannot, as by default."""
        raise CapabilityError("this target cannot delete a message it holds")

    def set_flags(self, folder: Folder, key: str, flags: frozenset[str]) -> None:
        """Replace the flags of the message written under ``key`` (a later pass carries a
        change made at the source). CapabilityError when the target cannot, as by default."""
        raise CapabilityError("this target cannot change the flags of a message it holds")

    def begin(self, source: str) -> None:
        """Told, before any write, which endpoint the copy reads (its display form)."""

    def commit(self) -> None:
        """Make everything appended so far durable; the engine checkpoints after this."""

    def close(self, complete: bool = True) -> None:
        """Release files and connections; ``complete`` is False when the run broke off,
        so that a target does not finish (e.g. seal an archive) what is partial."""


@dataclass(frozen=True)
class ListingGap:
    """Part of a conversation a pass could not list: the replies of one thread. The copier
    records it as a failure (retried by the next pass) and copies everything else."""

    thread_root_id: str
    error: str


class ChatSource(ABC):
    """Reads conversations, their messages (oldest first) and blobs."""

    @abstractmethod
    def conversations(self) -> Iterator[Conversation]: ...

    @abstractmethod
    def chat_messages(self, conversation: Conversation,
                      cursor: str | None = None) -> Iterator[ChatMessage]:
        """The conversation's messages; with a ``cursor`` (see ``chat_cursor``), at least
        those that are new or changed since it (an unchanged one may come again: the copier
        tells by its content). Sources without cursors ignore it."""

    def chat_cursor(self, conversation: Conversation) -> str | None:
        """Where the last complete ``chat_messages`` pass leaves off (a Graph delta link):
        the copier asks after the pass, saves it when nothing failed, and gives it to the
        next pass. None (the default): every pass lists everything."""
        return None

    def gaps(self, conversation: Conversation) -> Iterator[ListingGap]:
        """What the last ``chat_messages`` pass could not list (a thread whose replies
        listing failed); nothing by default."""
        return iter(())

    @abstractmethod
    def blob(self, ref: BlobRef) -> Blob: ...

    def people(self) -> Iterator[Person]:
        """Everyone seen in the conversations read so far, with what the source's directory
        says of them (asked once per person); called once the messages are copied."""
        return iter(())

    def close(self) -> None: ...


class ChatTarget(ABC):
    """Writes conversations, messages and blobs."""

    @abstractmethod
    def prepare_conversation(self, conversation: Conversation) -> None: ...

    @abstractmethod
    def post(self, conversation: Conversation, message: ChatMessage) -> str: ...

    @abstractmethod
    def find_chat(self, conversation: Conversation, message: ChatMessage) -> str | None: ...

    def update(self, conversation: Conversation, message: ChatMessage, key: str) -> str:
        """Carry a change made at the source (edit, reaction, deletion) to the message
        written under ``key``; return its key now. Must be idempotent: given the content
        the target already holds, it writes nothing. CapabilityError when the target cannot
        (the default): the copier records and reports the change as not carried."""
        raise CapabilityError("this target cannot update a message it holds")

    @abstractmethod
    def put_blob(self, blob: Blob) -> None: ...

    def put_people(self, people: Iterable[Person]) -> None:
        """Record the identity map (a target without one ignores it)."""

    def begin(self, source: str) -> None:
        """Told, before any write, which endpoint the copy reads (its display form)."""

    def commit(self) -> None: ...

    def close(self, complete: bool = True) -> None: ...


class PimSource(ABC):
    """Reads calendars and address books (``Collection``) and their entries, streaming."""

    @abstractmethod
    def collections(self) -> Iterator[Collection]:
        """Every calendar and address book."""

    @abstractmethod
    def entries(self, collection: Collection, cursor: str | None = None) -> Iterator[Entry]:
        """The collection's events or contacts, as the source serves them; with a
        ``cursor`` (see ``collection_cursor``), only those added or changed since. A changed
        entry comes again under the same ``source_id`` with its new bytes. A source that
        cannot list from a cursor, or whose cursor expired, lists everything."""

    def collection_stats(self, collection: Collection) -> FolderStats:
        """Count a collection (for plans); sources override this when they can count
        without reading every entry, as a server can."""
        count = size = 0
        for entry in self.entries(collection):
            count += 1
            size += entry.size
        return FolderStats(count, size)

    def collection_cursor(self, collection: Collection) -> str | None:
        """Where the last complete ``entries()`` pass of ``collection`` leaves off, asked
        after the pass and given back to the next one (None, as by default: every pass
        lists everything). Same contract as ``MailSource.cursor``."""
        return None

    def removed_entries(self, collection: Collection) -> Iterator[str]:
        """Source ids of entries deleted at the source, as the last ``entries()`` pass
        (from a cursor) learned; nothing when the source cannot tell, as by default."""
        return iter(())

    def close(self) -> None: ...


class PimTarget(ABC):
    """Writes calendars and address books and their entries."""

    @abstractmethod
    def prepare_collection(self, collection: Collection) -> None:
        """Create the calendar or address book if it does not exist."""

    @abstractmethod
    def put_entry(self, collection: Collection, entry: Entry) -> str:
        """Write one event or contact; return its key at the target."""

    @abstractmethod
    def find_entry(self, collection: Collection, entry: Entry) -> str | None:
        """The target key of an already written copy of ``entry``, or None."""

    def update_entry(self, collection: Collection, key: str, entry: Entry) -> str:
        """Carry a change made at the source: ``entry`` is the new version of the one
        written under ``key``; return the key of the new version (the same or another).
        Must be idempotent (a rerun after a crash may call it again). CapabilityError when
        the target cannot, as by default: the copy is then kept as it was."""
        raise CapabilityError("this target cannot update an event or contact it holds")

    def remove_entry(self, collection: Collection, key: str) -> None:
        """Delete the copy written under ``key`` (deleted at the source; only with
        ``copy --delete``); one already gone is fine. CapabilityError when the target
        cannot, as by default."""
        raise CapabilityError("this target cannot delete an event or contact it holds")

    def losses(self, collection: Collection, entry: Entry) -> tuple[str, ...]:
        """What the copy of ``entry`` just written (or updated) does not hold, one short
        phrase each, for the report: a target that translates entries into its own format
        says what the translation dropped. None by default."""
        return ()

    def begin(self, source: str) -> None:
        """Told, before any write, which endpoint the copy reads (its display form)."""

    def commit(self) -> None: ...

    def close(self, complete: bool = True) -> None: ...


class Connector(ABC):
    """A platform. Subclasses set the class attributes and the ``open_*`` methods they can."""

    scheme: ClassVar[str]
    description: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    #: Example endpoint shown by ``migrate connectors``.
    example: ClassVar[str] = ""
    #: How many readers or writers of one endpoint may be open at once (``--connections``
    #: never exceeds it): 1 for a file that one writer owns, more for a server.
    max_connections: ClassVar[int] = 1

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def role_folder(self, role: Role) -> tuple[str, ...] | None:
        """The path of the folder this platform keeps for ``role`` (e.g. INBOX), if any.

        Asked before the target is opened (``plan`` must not create it).
        """
        return None

    def open_source(self) -> MailSource | ChatSource | PimSource:
        """Open the endpoint for reading (raise ConnectError if it cannot be opened)."""
        raise CapabilityError(f"{self.scheme}: cannot be used as a source")

    def open_target(self) -> MailTarget | ChatTarget | PimTarget:
        """Open the endpoint for writing, creating it if needed."""
        raise CapabilityError(f"{self.scheme}: cannot be used as a target")
