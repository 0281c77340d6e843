"""Reading calendars and contacts from a v1 archive, hostile-input safe.

One pass over ``entries.jsonl`` (on first use) keeps, per collection, the numbers and
byte offsets of its lines; ``entries(collection)`` then reads only those lines and files.
An entry changed at the source and archived again has several lines with the same source
id (docs/archive-format.md §5.4): only the latest version is read, so that a copy out of
the archive (a return to Exchange), a comparison with the source and ``show`` see the
entries as they are now; the earlier versions stay in the archive, checked by
``validate`` and counted in ``bag-info.txt``.
Every path passes ``layout.safe_path``, every line is capped and validated. A bad line or
a file that differs from the index never stops reading: the good entries are yielded, then
one ``IndexLineError`` (a ``BadInputError``) names the bad lines, so a copy records that
collection as failed and goes on. A bad line whose collection cannot be read is reported
with the first collection.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..connector import FolderStats
from ..model import Collection, CollectionKind, Entry
from .errors import IndexLineError
from .jsonl import MAX_INDEX_LINE, iter_lines, read_capped, read_line
from .layout import COLLECTIONS_INDEX, ENTRIES_INDEX, hash64
from .pimrecords import EntryRecord, parse_collection_record, parse_entry_record

log = logging.getLogger(__name__)

_Key = tuple[CollectionKind, tuple[str, ...]]


@dataclass
class _Lines:
    """Where a collection's index lines are, and its totals."""

    numbers: array = field(default_factory=lambda: array("Q"))
    offsets: array = field(default_factory=lambda: array("Q"))
    sizes: array = field(default_factory=lambda: array("Q"))
    latest: dict[int, int] = field(default_factory=dict)  # source id digest → position

    def add(self, number: int, offset: int, record: EntryRecord) -> None:
        """One more line; an earlier version of the same source id is dropped."""
        digest = hash64(record.source_id.encode())
        earlier = self.latest.get(digest)
        if earlier is not None:
            self.numbers[earlier] = 0  # superseded: left out when the scan ends
        self.latest[digest] = len(self.numbers)
        self.numbers.append(number)
        self.offsets.append(offset)
        self.sizes.append(record.size)

    def compact(self) -> None:
        """Keep the latest version of each entry only, and forget the digests."""
        kept = [i for i, number in enumerate(self.numbers) if number]
        self.numbers = array("Q", (self.numbers[i] for i in kept))
        self.offsets = array("Q", (self.offsets[i] for i in kept))
        self.sizes = array("Q", (self.sizes[i] for i in kept))
        self.latest = {}

    @property
    def size(self) -> int:
        return sum(self.sizes)


class PimReader:
    """Calendars and address books of one archive (any v1 archive; none if it has none)."""

    def __init__(self, root: Path, problem: Callable[[Exception], None]) -> None:
        self.root = root
        self._problem = problem
        self._lines: dict[_Key, _Lines] | None = None
        self._bad: dict[_Key | None, list[IndexLineError]] = {}
        self._first: _Key | None = None

    def _scan(self) -> dict[_Key, _Lines]:
        if self._lines is None:
            lines: dict[_Key, _Lines] = {}
            for line in iter_lines(self.root / ENTRIES_INDEX, MAX_INDEX_LINE):
                try:
                    record = parse_entry_record(line, self.root, ENTRIES_INDEX)
                except IndexLineError as exc:
                    self._problem(exc)
                    self._bad.setdefault(None, []).append(exc)
                    continue
                lines.setdefault((record.kind, record.collection), _Lines()).add(
                    line.number, line.offset, record)
            for found in lines.values():
                found.compact()
            self._lines = lines
        return self._lines

    def collections(self) -> Iterator[Collection]:
        """The collections index in the order written, then any only the entries name."""
        seen: set[_Key] = set()
        for line in iter_lines(self.root / COLLECTIONS_INDEX, MAX_INDEX_LINE):
            try:
                record = parse_collection_record(line, self.root, COLLECTIONS_INDEX)
            except IndexLineError as exc:
                self._problem(exc)
                continue
            key = (record.kind, record.path)
            if key not in seen:
                seen.add(key)
                self._first = self._first or key
                yield record.collection
        for kind, path in self._scan():
            if (kind, path) not in seen:
                seen.add((kind, path))
                self._first = self._first or (kind, path)
                yield Collection(kind, path)

    def stats(self, collection: Collection) -> FolderStats:
        lines = self._scan().get((collection.kind, collection.path), _Lines())
        return FolderStats(len(lines.numbers), lines.size)

    def entries(self, collection: Collection) -> Iterator[Entry]:
        key = (collection.kind, collection.path)
        lines = self._scan().get(key, _Lines())
        bad: list[IndexLineError] = []
        with open(self.root / ENTRIES_INDEX, "rb") if lines.numbers else _nothing() as stream:
            for number, offset in zip(lines.numbers, lines.offsets, strict=True):
                stream.seek(offset)
                line = read_line(stream, number, MAX_INDEX_LINE)
                try:
                    if line is None:
                        raise IndexLineError(ENTRIES_INDEX, number, "the line vanished")
                    yield self._entry(parse_entry_record(line, self.root, ENTRIES_INDEX))
                except IndexLineError as exc:
                    self._problem(exc)
                    bad.append(exc)
        if self._first is None:
            for _ in self.collections():
                break
        if key == self._first:
            bad[:0] = self._bad.get(None, [])
        if bad:
            raise IndexLineError(ENTRIES_INDEX, bad[0].line, f"{len(bad)} unreadable line(s) "
                                 f"for {collection.kind} {collection.display()}: "
                                 + "; ".join(f"line {e.line}: {e.reason}" for e in bad[:5]))

    def _entry(self, record: EntryRecord) -> Entry:
        """The entry's bytes, refused when they differ from the index (size or sha256)."""
        try:
            data = read_capped(self.root / record.path, record.size)
        except FileNotFoundError:
            raise IndexLineError(ENTRIES_INDEX, record.id, f"{record.path} is missing") from None
        except (OSError, ValueError) as exc:
            raise IndexLineError(ENTRIES_INDEX, record.id, f"{record.path}: {exc}") from None
        if len(data) != record.size or hashlib.sha256(data).hexdigest() != record.sha256:
            raise IndexLineError(ENTRIES_INDEX, record.id, f"{record.path} differs from the "
                                 "index (size or sha256): it changed")
        return record.entry(data)


class _nothing:
    """A stand-in for an index file that a collection without entries never opens."""

    def __enter__(self):
        return None

    def __exit__(self, *exc_info) -> None:
        return None

