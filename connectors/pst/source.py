"""Reading Outlook data files: one .pst/.ost, or a directory of them (a batch).

Mail folders give rebuilt messages (``mime``); calendars and address books give
iCalendar and vCard entries (``pim``). Tasks, notes, journal and settings folders, and
folders Outlook hides, are not read (logged when they hold items).

A directory gives one top folder per file (named after it, files sorted), without roles
(several files would each claim the Inbox). A file that cannot be opened (truncated where
its index lives, not a PST) becomes one folder that fails with the reason, so a batch
goes on and the report names it. A message that cannot be read fails alone, keyed by its
folder's node id and position; every other item is keyed by its node id in the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.connector import FolderStats, MailSource, PimSource
from migrate.errors import BadInputError, ConnectError, ItemError
from migrate.model import (
    CalendarEvent,
    Collection,
    CollectionKind,
    Contact,
    Content,
    Entry,
    Folder,
    MailMessage,
    Provenance,
)

from . import props as P
from .flags import flags_of, received_date
from .mime import render
from .pim import Attendee, contact_vcf, event_ics
from .props import Properties
from .reader import message_parts
from .recover import FOLDER, RecoveredMessage, Recovery
from .store import (
    LIBPFF_ERRORS,
    FileIdentity,
    PstFile,
    PstFolder,
    file_identity,
    first_reason,
)

log = logging.getLogger(__name__)

SUFFIXES = (".pst", ".ost")
#: The key of the failure that stands for what a damaged file's lost part held.
_FILE_FAILURE = "recovered:rest-of-file"


@dataclass
class _Place:
    """A folder of one file as listed: where its items are, or why they cannot be read."""

    path: tuple[str, ...]          # with the file's name in front in a batch
    file: PstFile | None
    found: PstFolder | None = None
    handle: Any = None
    error: ItemError | None = None
    batch: bool = False
    recovery: Recovery | None = None  # a file libpff cannot open, read from its blocks

    @property
    def kind(self) -> str | None:
        return "mail" if self.found is None else self.found.kind


class PstSource(MailSource, PimSource):
    """Folders, rebuilt messages, events and contacts of one or more Outlook data files."""

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
        self._recovered: list[Recovery] = []
        self._listing: list[_Place] | None = None

    # --- listing ---------------------------------------------------------------------

    def _places(self) -> list[_Place]:
        """Every folder of every file, listed once per source."""
        if self._listing is None:
            self._listing = []
            for path in self._files:
                self._listing += self._list_file(path)
        return self._listing

    def _list_file(self, path: Path) -> list[_Place]:
        prefix = (path.name,) if self._batch else ()
        try:
            pst = PstFile(path)
            self._opened.append(pst)
            listed = list(pst.folders())
        except BadInputError as exc:
            log.warning("%s", exc)
            return self._recover(path, prefix, exc)
        places = [_Place(prefix, pst, batch=True)] if prefix else []
        for found, handle in listed:
            place = _Place((*prefix, *found.path), pst, found, handle, batch=self._batch)
            if place.kind is None and not found.hidden:
                with pst.lock:
                    try:
                        count = handle.number_of_sub_messages
                    except LIBPFF_ERRORS:
                        count = 0  # not copied anyway
                if count:
                    log.warning("%s: folder %s holds %d items of a kind not copied (%s)",
                                path.name, "/".join(found.path), count,
                                found.container_class)
            places.append(place)
        return places

    def _recover(self, path: Path, prefix: tuple[str, ...],
                 error: BadInputError) -> list[_Place]:
        """A file libpff cannot open: its messages still readable from intact blocks,
        in one folder; the file's error is kept and reported after them."""
        try:
            recovery = Recovery.scan(path)
        except BadInputError as exc:
            log.warning("%s", exc)
            return [_Place((path.name,), None, error=error)]
        self._recovered.append(recovery)
        read = f"{len(recovery.messages)} messages were read from its intact blocks"
        missing = recovery.blocks.damage.bytes_missing
        lost = f"; what its missing {missing} bytes held cannot be listed" if missing else ""
        whole = BadInputError(f"{error} ({read}{lost})")
        places = [_Place(prefix, None, batch=True)] if prefix else []
        places.append(_Place((*prefix, FOLDER), None, error=whole, batch=self._batch,
                             recovery=recovery))
        return places

    def _place(self, path: tuple[str, ...], kind: str) -> _Place:
        for place in self._places():
            if place.path == path and place.kind == kind:
                if place.error is not None and place.recovery is None:
                    raise place.error
                return place
        raise ItemError(f"no {kind} folder {'/'.join(path)!r} in the Outlook data files")

    # --- mail -------------------------------------------------------------------------

    def folders(self) -> Iterator[Folder]:
        for place in self._places():
            if place.kind == "mail":
                role = None if place.batch or place.found is None else place.found.role
                source_id = str(place.found.nid) if place.found else "/".join(place.path)
                yield Folder(place.path, role, source_id)

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        place = self._place(folder.path, "mail")
        if place.recovery is not None:
            yield from self._recovered_messages(place.recovery)
            # then the file's own failure, as an item (not the folder's: verify still
            # compares what was read): reported, tried again next run
            assert place.error is not None
            yield MailMessage(Content.deferred(_raise(place.error)), _FILE_FAILURE)
            return
        if place.handle is None or place.file is None:
            return
        with place.file.reading(f"folder {folder.display()!r}"):
            count = place.handle.number_of_sub_messages
        for index in range(count):
            yield self._message(place.file, place.handle, folder, index)
        if place.found is not None and place.found.subfolders_unreadable:
            # after its messages: the folder is reported, and tried again on the next run
            raise BadInputError(f"{place.file.path.name}: the subfolders of "
                                f"{folder.display()!r} cannot be read (damaged): "
                                f"{place.found.subfolders_unreadable}")

    def _message(self, pst: PstFile, handle: Any, folder: Folder, index: int) -> MailMessage:
        with pst.lock:
            try:
                item = handle.get_sub_message(index)
                ident = str(item.identifier)
                props = Properties.of(item, pst.names)
            except LIBPFF_ERRORS as exc:
                error = BadInputError(
                    f"{pst.path.name}: message #{index + 1} of folder {folder.display()!r} "
                    f"cannot be read (damaged): {first_reason(exc)}")
                return MailMessage(Content.deferred(_raise(error)), f"{folder.source_id}#{index}")

        def build() -> Content:
            with pst.lock:
                if pst.closed:
                    raise ItemError(f"{pst.path.name}: message {ident} was not read before "
                                    f"the file was closed")
                try:
                    parts = message_parts(item, ident, pst.names, pst.blocks)
                    return Content.from_chunks(render(parts))
                except LIBPFF_ERRORS as exc:
                    raise BadInputError(
                        f"{pst.path.name}: message {ident} of folder {folder.display()!r} "
                        f"cannot be read (damaged): {first_reason(exc)}") from None

        identity = pst.identity()
        provenance = Provenance(identity.name, identity.size, identity.sha256, ident)
        return MailMessage(Content.deferred(build), ident, flags_of(props),
                           received_date(props), provenance=provenance)

    def _recovered_messages(self, recovery: Recovery) -> Iterator[MailMessage]:
        """The messages read from a damaged file's blocks, then one failure for each
        message seen there that cannot be read."""
        name = recovery.path.name
        identity: FileIdentity | None = None
        for found in recovery.messages:
            if identity is None:
                identity = file_identity(recovery.path)

            def build(found: RecoveredMessage = found) -> Content:
                if recovery.blocks.closed:
                    raise ItemError(f"{name}: message {found.key} was not read before the "
                                    f"file was closed")
                try:
                    return Content.from_chunks(render(recovery.parts(found)))
                except BadInputError as exc:
                    raise BadInputError(f"{name}: message {found.key} cannot be read "
                                        f"(damaged): {exc}") from None

            provenance = Provenance(identity.name, identity.size, identity.sha256, found.key)
            yield MailMessage(Content.deferred(build), found.key, flags_of(found.props),
                              received_date(found.props), provenance=provenance)
        for lost in recovery.unreadable:
            error = BadInputError(f"{name}: a message cannot be read (damaged): {lost.reason}")
            yield MailMessage(Content.deferred(_raise(error)), lost.key)

    def stats(self, folder: Folder) -> FolderStats:
        """Messages counted by libpff; bytes from PidTagMessageSize (what Outlook counts,
        close to the rebuilt size), without rebuilding anything."""
        place = self._place(folder.path, "mail")
        if place.recovery is not None:
            return FolderStats(len(place.recovery.messages) + len(place.recovery.unreadable),
                               sum(m.props.integer(P.MESSAGE_SIZE) or 0
                                   for m in place.recovery.messages))
        if place.handle is None or place.file is None:
            return FolderStats(0, 0)
        count = size = 0
        with place.file.reading(f"folder {folder.display()!r}"):
            for index in range(place.handle.number_of_sub_messages):
                count += 1
                try:
                    item = place.handle.get_sub_message(index)
                    size += Properties.of(item).integer(P.MESSAGE_SIZE) or 0
                except LIBPFF_ERRORS:
                    continue
        return FolderStats(count, size)

    # --- calendars and contacts ------------------------------------------------------

    def collections(self) -> Iterator[Collection]:
        for place in self._places():
            if place.kind in ("calendar", "contacts") and place.found is not None:
                yield Collection(CollectionKind(place.kind), place.path, str(place.found.nid))

    def entries(self, collection: Collection) -> Iterator[Entry]:
        """The collection's items as iCalendar or vCard; one that cannot be read does not
        stop the others: the listing ends with an error naming them (recorded, retried)."""
        place = self._place(collection.path, collection.kind.value)
        pst, handle = place.file, place.handle
        assert pst is not None
        unreadable: list[str] = []
        with pst.reading(f"{collection.kind.value} {collection.display()!r}"):
            count = handle.number_of_sub_messages
        for index in range(count):
            with pst.lock:
                try:
                    entry = self._entry(pst, handle.get_sub_message(index), collection.kind)
                except LIBPFF_ERRORS as exc:
                    unreadable.append(f"#{index + 1} ({first_reason(exc)})")
                    continue
            yield entry
        if place.found is not None and place.found.subfolders_unreadable:
            unreadable.append(f"its subfolders ({place.found.subfolders_unreadable})")
        if unreadable:
            raise BadInputError(f"{pst.path.name}: {len(unreadable)} item(s) of "
                                f"{collection.display()!r} cannot be read (damaged): "
                                + "; ".join(unreadable[:10]))

    def _entry(self, pst: PstFile, item: Any, kind: CollectionKind) -> Entry:
        ident = str(item.identifier)
        props = Properties.of(item, pst.names)
        if kind is CollectionKind.CONTACTS:
            return Contact(ident, contact_vcf(props, ident))
        return CalendarEvent(ident, event_ics(props, _attendees(item), ident))

    def close(self) -> None:
        for pst in self._opened:
            pst.close()
        for recovery in self._recovered:
            recovery.close()
        self._opened.clear()
        self._recovered.clear()
        self._listing = None


def _attendees(item: Any) -> list[Attendee]:
    table = getattr(item, "recipients", None)
    if table is None:
        return []
    people = []
    for index in range(table.number_of_record_sets):
        props = Properties.of(table, record_set=index)
        email = props.text(P.SMTP_ADDRESS) or props.text(P.EMAIL_ADDRESS)
        people.append(Attendee(props.text(P.DISPLAY_NAME), email,
                               props.integer(P.RECIPIENT_TYPE),
                               props.integer(P.RECIPIENT_TRACK_STATUS)))
    return people


def _raise(error: ItemError):
    def load() -> Content:
        raise error

    return load
