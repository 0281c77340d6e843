"""``archive:PATH`` — the neutral archive as a source and a target, for mail, chat,
calendars and contacts.

A thin adapter: all the work is in ``migrate.archive``. As a target, ``close()`` seals the
archive; the endpoint display of the copy's source is taken from the ``source`` endpoint
parameter (config file) or given by the engine through ``ArchiveTarget.begin``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from migrate.archive import ArchiveReader, ArchiveWriter, open_archive
from migrate.archive.people import read_people
from migrate.connector import (
    Capabilities,
    ChatSource,
    ChatTarget,
    Connector,
    Feature,
    FolderStats,
    Kind,
    MailSource,
    MailTarget,
    PimSource,
    PimTarget,
)
from migrate.model import (
    Blob,
    BlobRef,
    ChatMessage,
    Collection,
    Conversation,
    Entry,
    Folder,
    MailMessage,
    Person,
)

_KEEPS = frozenset(Feature)  # everything: mail metadata and bytes, chat in full


class ArchiveSource(MailSource, ChatSource, PimSource):
    """Reads an archive (any known format version); ``sealed`` is False for an unfinished one."""

    def __init__(self, reader: ArchiveReader) -> None:
        self.reader = reader

    @property
    def sealed(self) -> bool:
        return self.reader.sealed

    def folders(self) -> Iterator[Folder]:
        return self.reader.folders()

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        """Messages keyed by their archive number; a bad index line comes as a message whose
        content raises BadInputError (see migrate.archive.reader_v1)."""
        return self.reader.messages(folder, cursor)

    def stats(self, folder: Folder) -> FolderStats:
        return self.reader.stats(folder)

    def cursor(self, folder: Folder) -> str | None:
        return self.reader.cursor(folder)

    def conversations(self) -> Iterator[Conversation]:
        return self.reader.conversations()

    def chat_messages(self, conversation: Conversation,
                      cursor: str | None = None) -> Iterator[ChatMessage]:
        """Each message in its current version (an archive has no cursor: all, always)."""
        return self.reader.chat_messages(conversation)

    def blob(self, ref: BlobRef) -> Blob:
        return self.reader.blob(ref)

    def people(self) -> Iterator[Person]:
        """The archive's identity map, so that an archive copied to another keeps it."""
        return read_people(self.reader.root)

    def collections(self) -> Iterator[Collection]:
        return self.reader.collections()

    def entries(self, collection: Collection, cursor: str | None = None) -> Iterator[Entry]:
        """Entries keyed by their archive number; bad lines are raised about at the end
        (no cursor: an archive is listed whole)."""
        return self.reader.entries(collection)

    def collection_stats(self, collection: Collection) -> FolderStats:
        return self.reader.collection_stats(collection)

    def close(self) -> None:
        self.reader.close()


class ArchiveTarget(MailTarget, ChatTarget, PimTarget):
    """Appends to an archive; ``commit`` makes items durable, ``close`` seals."""

    def __init__(self, writer: ArchiveWriter) -> None:
        self.writer = writer

    def begin(self, source: str) -> None:
        """Record which endpoint the following messages come from (no secret in it)."""
        self.writer.source = source

    def prepare_folder(self, folder: Folder) -> None:
        self.writer.prepare_folder(folder)

    def append(self, folder: Folder, message: MailMessage) -> str:
        return self.writer.append(folder, message)

    def find(self, folder: Folder, message: MailMessage) -> str | None:
        return self.writer.find(folder, message)

    def prepare_conversation(self, conversation: Conversation) -> None:
        self.writer.prepare_conversation(conversation)

    def post(self, conversation: Conversation, message: ChatMessage) -> str:
        return self.writer.post(conversation, message)

    def find_chat(self, conversation: Conversation, message: ChatMessage) -> str | None:
        return self.writer.find_chat(conversation, message)

    def update(self, conversation: Conversation, message: ChatMessage, key: str) -> str:
        """Append the changed message as a later version; every version is kept."""
        return self.writer.update(conversation, message)

    def put_blob(self, blob: Blob) -> None:
        self.writer.put_blob(blob)

    def put_people(self, people: Iterable[Person]) -> None:
        self.writer.put_people(people)

    def prepare_collection(self, collection: Collection) -> None:
        self.writer.prepare_collection(collection)

    def put_entry(self, collection: Collection, entry: Entry) -> str:
        return self.writer.put_entry(collection, entry)

    def find_entry(self, collection: Collection, entry: Entry) -> str | None:
        return self.writer.find_entry(collection, entry)

    def update_entry(self, collection: Collection, key: str, entry: Entry) -> str:
        """An archive is append-only: the new version is added beside the one written
        under ``key`` (same source id, a later entry number), which stays as it was."""
        return self.writer.put_entry(collection, entry)

    def commit(self) -> None:
        self.writer.commit()

    def close(self, complete: bool = True) -> None:
        """Seal the archive and release it; after a broken-off run, leave it unsealed."""
        self.writer.close(seal_archive=complete)


class ArchiveConnector(Connector):
    scheme = "archive"
    description = ("neutral archive: a BagIt bag of original .eml files, JSON Lines "
                   "indexes, chat as JSON Lines with HTML transcripts, calendars and contacts "
                   "as .ics and .vcf files (docs/archive-format.md)")
    capabilities = Capabilities(
        reads=frozenset({Kind.MAIL, Kind.CHAT, Kind.CALENDAR, Kind.CONTACTS}),
        writes=frozenset({Kind.MAIL, Kind.CHAT, Kind.CALENDAR, Kind.CONTACTS}),
        source_keeps=_KEEPS,
        target_keeps=_KEEPS,
    )
    example = "archive:/srv/archives/alice"

    def open_source(self) -> ArchiveSource:
        return ArchiveSource(open_archive(self.endpoint.local_path()))

    def open_target(self) -> ArchiveTarget:
        writer = ArchiveWriter.open(self.endpoint.local_path(),
                                    source=self.endpoint.params.get("source"))
        return ArchiveTarget(writer)
