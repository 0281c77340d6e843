"""Finding a record of a JSON Lines index by its identity, without holding the index.

Both archive writers (mail and calendars/contacts) must recognise an item they already
wrote, across runs, for archives of millions of lines. Per record this keeps a 64-bit
digest of its identity and the offset of its line (two 8-byte array slots and a set
entry); a digest that matches is confirmed by reading that one line back.
"""

from __future__ import annotations

import hashlib
import logging
import os
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from ..errors import ArchiveError
from .jsonl import MAX_INDEX_LINE, Line, read_line, reopen_index
from .layout import hash64

log = logging.getLogger(__name__)


class IndexedRecord(Protocol):
    """An index line's record: its number, its item's file, and its identity."""

    id: int
    path: str
    size: int
    sha256: str

    def identity(self) -> bytes: ...


R = TypeVar("R", bound=IndexedRecord)


class IdentityIndex(Generic[R]):
    """The records of the index ``name`` under ``root``, numbered from 1 in line order."""

    def __init__(self, root: Path, name: str,
                 parse: Callable[[Line, Path, str], R]) -> None:
        self.root, self.path = root, root / name
        self._parse = lambda line: parse(line, root, name)  # ArchiveError when broken
        self._keys = array("Q")     # identity digest of record n at [n - 1]
        self._offsets = array("Q")  # byte offset of line n at [n - 1]
        self._keyset: set[int] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def load(self, repair: bool, committed: int | None, learn: Callable[[R], None],
             what: str) -> None:
        """Read the index when the archive is opened again, ``learn`` each record, and
        drop the records written after the last commit (``committed`` lines) from the
        first whose file is not whole: the run that wrote it died before it was durable."""
        unconfirmed: list[R] = []
        for line, record in reopen_index(self.path, repair, self._parse):
            self.add(record.identity(), line.offset)
            learn(record)
            if committed is not None and record.id > committed:
                unconfirmed.append(record)
        for record in unconfirmed:
            if not _file_matches(self.root / record.path, record):
                log.warning("%s %d was not durably written before the last run stopped; "
                            "dropping it from the index", what, record.id)
                self.drop_from(record.id)
                break

    def add(self, identity: bytes, offset: int) -> None:
        """Record the next line: its record's identity, and where the line starts."""
        key = hash64(identity)
        self._keys.append(key)
        self._offsets.append(offset)
        self._keyset.add(key)

    def find(self, identity: bytes) -> int | None:
        """The number of the record with this identity, confirmed against its line."""
        key = hash64(identity)
        if key not in self._keyset:
            return None
        start = 0
        with open(self.path, "rb") as stream:
            while True:
                try:
                    position = self._keys.index(key, start)
                except ValueError:
                    return None
                stream.seek(self._offsets[position])
                line = read_line(stream, position + 1, MAX_INDEX_LINE) or Line(0, 0, b"")
                try:
                    record = self._parse(line)
                except ArchiveError:
                    record = None
                if record is not None and record.identity() == identity:
                    return record.id
                start = position + 1

    def drop_from(self, number: int) -> None:
        """Forget records ``number`` and after, and cut them from the file (durably)."""
        with open(self.path, "rb+") as stream:
            stream.truncate(self._offsets[number - 1])
            os.fsync(stream.fileno())
        for key in self._keys[number - 1:]:
            self._keyset.discard(key)
        del self._keys[number - 1:]
        del self._offsets[number - 1:]


def _file_matches(path: Path, record: IndexedRecord) -> bool:
    """Whether the item's file is whole: the size and sha256 its index line records."""
    try:
        if path.stat().st_size != record.size:
            return False
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest() == record.sha256
    except OSError:
        return False
