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
from .jsonl import Line, PendingSync, dumps_line, parse_object, reopen_index
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
