"""Appends calendars and contacts to an archive: one ``.ics`` or ``.vcf`` file per entry
(the source's bytes), one index line after it, exactly as ``mailwriter`` does for mail.

Entry numbers are the lines of ``entries.jsonl`` (one sequence for both kinds), so a
rerun continues it. Memory per entry: a 64-bit digest of (kind, collection, source id,
sha256) and the line's offset, to confirm a hit exactly. The two index files are created
with the first collection: an archive without calendars or contacts has neither.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import ArchiveError, BadInputError
from ..model import Collection, CollectionKind, Entry
from .identities import IdentityIndex
from .jsonl import (
    MAX_INDEX_LINE,
    PendingSync,
    dumps_line,
    fsync_path,
    reopen_index,
)
from .layout import COLLECTIONS_INDEX, ENTRIES_INDEX, PIM_DIRS, DirNames, entry_file
from .pimrecords import (
    CollectionRecord,
    EntryRecord,
    entry_identity,
    new_entry_record,
    parse_collection_record,
    parse_entry_record,
)

log = logging.getLogger(__name__)


class PimWriter:
    """The calendars-and-contacts part of an open archive; ``ArchiveWriter`` owns it."""

    def __init__(self, root: Path, repair: bool, committed_entries: int | None) -> None:
        self.root = root
        self.source: str | None = None
        self._names = DirNames()
        self._collections: dict[tuple[str, tuple[str, ...]], CollectionRecord] = {}
        self._nodes: dict[tuple[str, tuple[str, ...]], str] = {}
        self._known = IdentityIndex(root, ENTRIES_INDEX, parse_entry_record)
        self._pending = PendingSync()
        self._collections_dirty = False
        self._index = None
        self._load_collections(repair)
        self._load_entries(repair, committed_entries)

    # --- opening ----------------------------------------------------------------------

    def _load_collections(self, repair: bool) -> None:
        path = self.root / COLLECTIONS_INDEX
        for _, record in reopen_index(path, repair, lambda line: parse_collection_record(
                line, self.root, COLLECTIONS_INDEX)):
            self._remember(record)

    def _remember(self, record: CollectionRecord) -> None:
        """Learn the collection and the directory of each of its path prefixes."""
        kind = record.kind.value
        self._collections.setdefault((kind, record.path), record)
        base = PIM_DIRS[kind]
        parts = record.dir.split("/")[2:]
        for depth, component in enumerate(parts, 1):
            parent = "/".join([base, *parts[: depth - 1]])
            self._nodes.setdefault((kind, record.path[:depth]), f"{parent}/{component}")
            self._names.reserve(parent, component)

    def _load_entries(self, repair: bool, committed: int | None) -> None:
        self._known.load(repair, committed, self._collection_of, "calendar/contacts entry")

    def _collection_of(self, record: EntryRecord) -> None:
        """Write again the collection line of an entry whose collection line a crash lost."""
        if (record.kind.value, record.collection) not in self._collections:
            directory = record.path.rsplit("/", 1)[0]
            self._write_collection(CollectionRecord(record.kind, record.collection, "",
                                                    directory))

    # --- collections ------------------------------------------------------------------

    @property
    def count(self) -> int:
        """How many entries the index holds (the last entry number)."""
        return len(self._known)

    def _node_dir(self, kind: str, path: tuple[str, ...]) -> str:
        directory = self._nodes.get((kind, path))
        if directory is None:
            parent = self._node_dir(kind, path[:-1]) if len(path) > 1 else PIM_DIRS[kind]
            directory = f"{parent}/{self._names.allocate(parent, path[-1])}"
            self._nodes[(kind, path)] = directory
        return directory

    def _write_collection(self, record: CollectionRecord) -> None:
        try:
            (self.root / record.dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(f"cannot create the directory {record.dir} of "
                               f"{record.kind} {'/'.join(record.path)}: "
                               f"{exc.strerror or exc}") from None
        if not (self.root / COLLECTIONS_INDEX).exists():
            self._pending.add(self.root / COLLECTIONS_INDEX)
        with open(self.root / COLLECTIONS_INDEX, "ab") as stream:
            stream.write(dumps_line(record.to_dict()))
        self._collections_dirty = True
        self._remember(record)

    def prepare_collection(self, collection: Collection) -> CollectionRecord:
        """The collection's record, creating its directory and index line the first time."""
        key = (collection.kind.value, collection.path)
        record = self._collections.get(key)
        if record is None:
            record = CollectionRecord(collection.kind, collection.path, collection.source_id,
                                      self._node_dir(*key))
            self._write_collection(record)
        return record

    # --- entries ----------------------------------------------------------------------

    def find_entry(self, collection: Collection, entry: Entry) -> str | None:
        number = self._known.find(entry_identity(collection.kind, collection.path,
                                                 entry.source_id, entry.sha256))
        return None if number is None else str(number)

    def put_entry(self, collection: Collection, entry: Entry) -> str:
        """Write the entry's bytes, then its index line; one already written is not
        written again (its number is returned)."""
        if CollectionKind(entry.kind) is not collection.kind:
            raise BadInputError(f"entry {entry.source_id}: a {entry.kind} entry cannot go "
                                f"into the {collection.kind} collection {collection.display()}")
        identity = entry_identity(collection.kind, collection.path, entry.source_id,
                                  entry.sha256)
        existing = self._known.find(identity)
        if existing is not None:
            return str(existing)
        folder = self.prepare_collection(collection)
        number = self.count + 1
        name = entry_file(number, collection.kind.value)
        record = new_entry_record(number, collection, entry, path=f"{folder.dir}/{name}",
                                  source=self.source)
        line = dumps_line(record.to_dict())
        if len(line) > MAX_INDEX_LINE:
            raise BadInputError(f"entry {entry.source_id}: its index line exceeds "
                                f"{MAX_INDEX_LINE} bytes")
        directory = self.root / folder.dir
        temp, final = directory / f".{name}.tmp", directory / name
        try:
            with open(temp, "wb") as out:
                out.write(entry.data)
            os.replace(temp, final)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise ArchiveError(f"cannot write {final}: {exc.strerror}") from None
        self._pending.add(final)
        index = self._open_index()
        offset = index.tell()
        try:
            index.write(line)
            index.flush()
        except OSError as exc:
            raise ArchiveError(f"cannot write the archive index: {exc.strerror}") from None
        self._known.add(identity, offset)
        return str(number)

    def _open_index(self):
        if self._index is None:
            path = self.root / ENTRIES_INDEX
            if not path.exists():
                self._pending.add(path)  # its directory entry is made durable too
            self._index = open(path, "ab")
        return self._index

    # --- durability -------------------------------------------------------------------

    def commit(self) -> None:
        """fsync the entries written since the last commit, then the indexes."""
        self._pending.flush()
        if self._collections_dirty:
            fsync_path(self.root / COLLECTIONS_INDEX)
            self._collections_dirty = False
        if self._index is not None:
            self._index.flush()
            os.fsync(self._index.fileno())

    def close(self) -> None:
        if self._index is not None and not self._index.closed:
            self._index.close()
