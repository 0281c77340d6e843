"""The source's description of file blobs: ``data/index/files.jsonl``, one line per blob.

A Teams file attachment is a SharePoint or OneDrive file: its bytes are a blob (by
sha256, stored once however many messages share it) and what SharePoint says of it
(``driveItem``: name, size, mimeType, webUrl, eTag …) is kept here as the exact JSON text
Graph sent, next to the blob's neutral name and media type.

Appended like the other indexes; the line is written whether or not the blob was already
there, so that a run killed between the blob and its line writes the line next time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ArchiveError
from ..model import Blob
from .jsonl import (
    MAX_INDEX_LINE,
    Line,
    PendingSync,
    dumps_line,
    iter_lines,
    parse_object,
    read_line,
    reopen_index,
)
from .layout import FILES_INDEX, is_sha256


@dataclass(frozen=True)
class FileRecord:
    """One line of the files index."""

    sha256: str
    size: int
    name: str | None
    media_type: str | None
    source: str  # the source's JSON text (a driveItem), untouched

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "size": self.size, "name": self.name,
                "media_type": self.media_type, "source": self.source}


def parse_file_record(line: Line, file: str = FILES_INDEX) -> FileRecord:
    """One line of the files index; ArchiveError naming the line when it is broken."""
    try:
        data = parse_object(line, file)
    except ValueError as exc:
        raise ArchiveError(f"{file} line {line.number}: {exc}") from None
    sha256, size, source = data.get("sha256"), data.get("size"), data.get("source")
    name, media_type = data.get("name"), data.get("media_type")
    if not isinstance(sha256, str) or not is_sha256(sha256):
        raise ArchiveError(f"{file} line {line.number}: 'sha256' is not a sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ArchiveError(f"{file} line {line.number}: 'size' is not a byte count")
    if not isinstance(source, str) or any(v is not None and not isinstance(v, str)
                                          for v in (name, media_type)):
        raise ArchiveError(f"{file} line {line.number}: 'source', 'name' and "
                           "'media_type' must be text")
    return FileRecord(sha256, size, name, media_type, source)


class FileIndex:
    """The files index of an archive open for writing: which blobs are described."""

    def __init__(self, root: Path, repair: bool, pending: PendingSync) -> None:
        self.path = root / FILES_INDEX
        self._pending = pending
        self._known = {record.sha256 for _, record in
                       reopen_index(self.path, repair, parse_file_record)}

    def describe(self, blob: Blob) -> None:
        """Append the blob's description, the first time a described blob is seen."""
        if blob.about is None or blob.content.sha256 in self._known:
            return
        record = FileRecord(blob.content.sha256, blob.content.size, blob.name,
                            blob.media_type, blob.about)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as stream:
            stream.write(dumps_line(record.to_dict()))
        self._pending.add(self.path)
        self._known.add(record.sha256)


class FileDescriptions:
    """Reading side: the description of a blob, found by its sha256. Keeps one offset per
    line (read on first use), and reads a line back only when its blob is asked for."""

    def __init__(self, root: Path) -> None:
        self.path = root / FILES_INDEX
        self._offsets: dict[str, int] | None = None

    def about(self, sha256: str) -> str | None:
        """The source's JSON text describing this blob, or None (not a shared file)."""
        if self._offsets is None:
            self._offsets = {}
            for line in iter_lines(self.path):
                try:
                    self._offsets.setdefault(parse_file_record(line).sha256, line.offset)
                except ArchiveError:
                    continue  # validate reports it; the blob is still readable
        offset = self._offsets.get(sha256)
        if offset is None:
            return None
        with open(self.path, "rb") as stream:
            stream.seek(offset)
            line = read_line(stream, 0, MAX_INDEX_LINE)
        return parse_file_record(line).source if line is not None else None
