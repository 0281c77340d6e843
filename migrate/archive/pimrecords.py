"""The index records of calendars and contacts (format v1, additive): one ``EntryRecord``
per event or contact (``entries.jsonl``), one ``CollectionRecord`` per calendar or address
book (``collections.jsonl``); to JSON and back, validating every field like ``records``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import UnsafePathError
from ..model import CalendarEvent, Collection, CollectionKind, Contact, Entry
from ..pimtext import entry_label
from .errors import IndexLineError, UnsafeIndexPathError
from .jsonl import Line, parse_object
from .layout import PIM_DIRS, PIM_SUFFIXES, is_sha256, safe_path
from .records import _folder_path, _int, _opt_text, _text, clean_text


def _kind(value: object) -> CollectionKind:
    try:
        return CollectionKind(value)  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(f"'kind' must be one of {', '.join(PIM_DIRS)}") from None


@dataclass(frozen=True)
class EntryRecord:
    """One line of ``entries.jsonl``: everything needed to restore one event or contact."""

    id: int
    kind: CollectionKind
    collection: tuple[str, ...]
    source_id: str
    source: str | None
    sha256: str
    size: int
    path: str
    uid: str | None = None
    summary: str | None = None  # SUMMARY of an event, FN of a contact
    added: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind.value, "collection": list(self.collection),
                "source_id": self.source_id, "source": self.source, "sha256": self.sha256,
                "size": self.size, "path": self.path, "uid": self.uid,
                "summary": self.summary, "added": self.added}

    def identity(self) -> bytes:
        """What makes two writes "the same entry": kind, collection, source id, sha256."""
        return entry_identity(self.kind, self.collection, self.source_id, self.sha256)

    def entry(self, data: bytes) -> Entry:
        """The entry these bytes are, keyed by its number in the archive."""
        cls = CalendarEvent if self.kind is CollectionKind.CALENDAR else Contact
        return cls(str(self.id), data)


def entry_identity(kind: CollectionKind, collection: tuple[str, ...], source_id: str,
                   sha256: str) -> bytes:
    """An unambiguous byte form of (kind, collection, source id, sha256)."""
    return json.dumps([kind.value, list(collection), source_id, sha256]).encode("ascii")


def new_entry_record(number: int, collection: Collection, entry: Entry, *, path: str,
                     source: str | None) -> EntryRecord:
    """The record of ``entry`` just written as entry ``number`` at ``path``."""
    label = entry_label(entry.data)
    return EntryRecord(number, collection.kind, collection.path, entry.source_id, source,
                       entry.sha256, entry.size, path, clean_text(label.uid),
                       clean_text(label.summary),
                       datetime.now(UTC).isoformat(timespec="seconds"))


def parse_entry_record(line: Line, root: Path, file: str) -> EntryRecord:
    """Validate one ``entries.jsonl`` line; IndexLineError or UnsafeIndexPathError if bad."""
    try:
        data = parse_object(line, file)
        kind = _kind(data.get("kind"))
        collection = _folder_path(data.get("collection"))
        number = _int(data, "id")
        if number != line.number:
            raise ValueError(f"'id' {number} differs from the line number")
        sha256 = data.get("sha256")
        if not is_sha256(sha256):
            raise ValueError("'sha256' must be 64 lower-case hex digits")
        path = data.get("path")
        safe_path(root, path, PIM_DIRS[kind.value])
        if not isinstance(path, str) or not path.endswith(PIM_SUFFIXES[kind.value]):
            raise ValueError(f"'path' must name a {PIM_SUFFIXES[kind.value]} file")
        return EntryRecord(number, kind, collection, _text(data, "source_id"),
                           _opt_text(data, "source"), sha256, _int(data, "size"), path,
                           _opt_text(data, "uid"), _opt_text(data, "summary"),
                           _opt_text(data, "added"))
    except UnsafePathError as exc:
        raise UnsafeIndexPathError(file, line.number, str(exc)) from None
    except ValueError as exc:
        raise IndexLineError(file, line.number, str(exc)) from None


@dataclass(frozen=True)
class CollectionRecord:
    """One line of ``collections.jsonl``: a calendar or address book and its directory."""

    kind: CollectionKind
    path: tuple[str, ...]
    source_id: str
    dir: str

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "path": list(self.path),
                "source_id": self.source_id, "dir": self.dir}

    @property
    def collection(self) -> Collection:
        return Collection(self.kind, self.path, self.source_id)


def parse_collection_record(line: Line, root: Path, file: str) -> CollectionRecord:
    """Validate one ``collections.jsonl`` line: one directory component per name."""
    try:
        data = parse_object(line, file)
        kind = _kind(data.get("kind"))
        path = _folder_path(data.get("path"))
        directory = data.get("dir")
        safe_path(root, directory, PIM_DIRS[kind.value])
        assert isinstance(directory, str)
        if len(directory.split("/")) != 2 + len(path):
            raise ValueError("'dir' must have one component per collection name")
        return CollectionRecord(kind, path, _opt_text(data, "source_id") or "", directory)
    except UnsafePathError as exc:
        raise UnsafeIndexPathError(file, line.number, str(exc)) from None
    except ValueError as exc:
        raise IndexLineError(file, line.number, str(exc)) from None
