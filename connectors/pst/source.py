"""Reading mail from Outlook data files: one .pst/.ost, or a directory of them (a batch).

A directory gives one top folder per file (named after it, files sorted), without roles
(several files would each claim the Inbox). A file that cannot be opened (truncated where
its index lives, not a PST) becomes one folder that fails with the reason, so a batch
goes on and the report names it. A message that cannot be read fails alone, keyed by its
folder's node id and position; every other message is keyed by its node id in the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.connector import FolderStats, MailSource
from migrate.errors import BadInputError, ConnectError, ItemError
from migrate.model import Content, Folder, MailMessage, Provenance

from . import props as P
from .flags import flags_of, received_date
from .mime import render
from .props import Properties
from .reader import message_parts
from .store import PstFile, _first_reason

log = logging.getLogger(__name__)

SUFFIXES = (".pst", ".ost")


@dataclass
class _Place:
    """Where a listed folder's messages are: its file and libpff folder, or why not."""

    file: PstFile | None
    folder: Any = None
    error: ItemError | None = None


class PstSource(MailSource):
    """Folders and rebuilt messages of one or more Outlook data files."""

    def __init__(self, root: Path) -> None:
        if root.is_dir():
            self._files = sorted(p for p in root.iterdir()
                                 if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not self._files:
                raise ConnectError(f"no .pst or .ost file in {root}")
            self._batch = True
        elif root.is_file():
            self._files, self._batch = [root], False
        else:
            raise ConnectError(f"{root}: no such file or directory")
        self._opened: list[PstFile] = []
        self._places: dict[tuple[str, ...], _Place] = {}

    def folders(self) -> Iterator[Folder]:
        self._places.clear()
        for path in self._files:
            prefix = (path.name,) if self._batch else ()
            try:
                pst = self._open(path)
                listed = list(pst.folders())
            except BadInputError as exc:
                log.warning("%s", exc)
                self._places[(path.name,)] = _Place(None, error=exc)
                yield Folder((path.name,), None, path.name)
                continue
            if prefix:
                self._places[prefix] = _Place(pst)
                yield Folder(prefix, None, path.name)
            for found, handle in listed:
                self._places[prefix + found.path] = _Place(pst, handle)
                yield Folder(prefix + found.path, None if self._batch else found.role,
                             str(found.nid))

    def _open(self, path: Path) -> PstFile:
        pst = PstFile(path)
        self._opened.append(pst)
        return pst

    def _place(self, folder: Folder) -> _Place:
        if not self._places:
            for _ in self.folders():
                pass
        place = self._places.get(folder.path)
        if place is None:
            raise ItemError(f"no folder {folder.display()!r} in the Outlook data files")
        if place.error is not None:
            raise place.error
        return place

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        place = self._place(folder)
        if place.folder is None or place.file is None:
            return
        pst, handle = place.file, place.folder
        with pst.lock:
            count = handle.number_of_sub_messages
        for index in range(count):
            yield self._message(pst, handle, folder, index)

    def _message(self, pst: PstFile, handle: Any, folder: Folder, index: int) -> MailMessage:
        with pst.lock:
            try:
                item = handle.get_sub_message(index)
                ident = str(item.identifier)
                props = Properties.of(item, pst.names)
            except OSError as exc:
                error = BadInputError(
                    f"{pst.path.name}: message #{index + 1} of folder {folder.display()!r} "
                    f"cannot be read (damaged): {_first_reason(exc)}")
                key = f"{folder.source_id}#{index}"
                return MailMessage(Content.deferred(_raise(error)), key)

        def build() -> Content:
            with pst.lock:
                try:
                    return Content.from_chunks(render(message_parts(item, ident, pst.names)))
                except OSError as exc:
                    raise BadInputError(
                        f"{pst.path.name}: message {ident} of folder {folder.display()!r} "
                        f"cannot be read (damaged): {_first_reason(exc)}") from None

        identity = pst.identity()
        provenance = Provenance(identity.name, identity.size, identity.sha256, ident)
        return MailMessage(Content.deferred(build), ident, flags_of(props),
                           received_date(props), provenance=provenance)

    def stats(self, folder: Folder) -> FolderStats:
        """Messages counted by libpff; bytes from PidTagMessageSize (what Outlook counts,
        close to the rebuilt size), without rebuilding anything."""
        place = self._place(folder)
        if place.folder is None or place.file is None:
            return FolderStats(0, 0)
        count = size = 0
        with place.file.lock:
            for index in range(place.folder.number_of_sub_messages):
                count += 1
                try:
                    item = place.folder.get_sub_message(index)
                    size += Properties.of(item).integer(P.MESSAGE_SIZE) or 0
                except OSError:
                    continue
        return FolderStats(count, size)

    def close(self) -> None:
        for pst in self._opened:
            pst.close()
        self._opened.clear()
        self._places.clear()


def _raise(error: ItemError):
    def load() -> Content:
        raise error

    return load
