"""Finding a record of a JSON Lines index by its identity, without holding the index.

Both archive writers (mail and calendars/contacts) must recognise an item they already
wrote, across runs, for archives of millions of lines. Per record this keeps a 64-bit
digest of its identity and the offset of its line (two 8-byte array slots and a set
entry); a digest that matches is confirmed by reading that one line back.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..errors import ArchiveError
from .jsonl import MAX_INDEX_LINE, Line, read_line
from .layout import hash64


class IndexedRecord(Protocol):
    id: int

    def identity(self) -> bytes: ...


class IdentityIndex:
    """The records of the index at ``path``, numbered from 1 in line order."""

    def __init__(self, path: Path, parse: Callable[[Line], IndexedRecord]) -> None:
        self.path = path
        self._parse = parse  # a line → its record (ArchiveError when broken)
        self._keys = array("Q")     # identity digest of record n at [n - 1]
        self._offsets = array("Q")  # byte offset of line n at [n - 1]
        self._keyset: set[int] = set()

    def __len__(self) -> int:
        return len(self._keys)

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
