"""Errors of the archive package, each both an ``ArchiveError`` and, where it concerns one
item, a ``BadInputError`` — so the engine records the item and goes on, while callers that
care about archives can still catch ``ArchiveError`` / ``UnsafePathError``.
"""

from __future__ import annotations

from ..errors import ArchiveError, BadInputError, UnsafePathError


class IndexLineError(ArchiveError, BadInputError):
    """One line of an archive's JSON Lines file is unreadable (broken JSON, too long, bad field).

    ``folder`` is the line's folder path when it could be read, so a source can attribute
    the bad line to its folder; ``file`` is relative to the archive root, ``line`` 1-based.
    """

    def __init__(self, file: str, line: int, reason: str,
                 folder: tuple[str, ...] | None = None) -> None:
        super().__init__(f"{file} line {line}: {reason}")
        self.file, self.line, self.reason, self.folder = file, line, reason, folder


class UnsafeIndexPathError(UnsafePathError, IndexLineError):
    """A path in one line of an archive file would lead outside the archive."""


class ArchiveBusyError(ArchiveError):
    """Another process is writing the same archive."""
