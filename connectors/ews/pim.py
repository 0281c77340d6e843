"""Calendars and contacts of an EWS mailbox: collections, and entries as the server's MIME.

A calendar folder (folder class ``IPF.Appointment``) or a contacts folder
(``IPF.Contact``) is a ``Collection`` named by its path of display names, like a mail
folder. Exchange serves an item's ``MimeContent`` as iCalendar for a calendar item and as
vCard for a contact: those bytes are the entry, untouched. A collection is listed with
FindItem (ids only; recurring series come as their master, which holds the recurrence)
and its entries fetched with GetItem, ``BATCH`` at a time. Generated folders
(``IPF.Appointment.Birthday``, ``IPF.Contact.RecipientCache`` …) are not collections.

A collection that can be synced (any but public folders) is listed with SyncFolderItems
instead (``sync``), as mail folders are: the first pass from no sync state (every item a
Create), later ones from the state the last complete pass ended with, the collection's
cursor; Creates and Updates (an event edited at the source) are fetched and yielded,
Deletes kept for after the pass. A sync state the server no longer knows starts a full
pass (the copier skips what it holds); so does the pass after one that left an item out
(the server could not serve it), so that it is tried again.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

from exchangelib.folders import Folder as ExchangeFolder

from migrate.model import CalendarEvent, Collection, CollectionKind, Contact, Entry

from .folders import EwsFolder
from .session import Session
from .sync import Delta, InvalidSyncState, start_afresh, sync_page

log = logging.getLogger(__name__)

#: Folder class → what its collection holds.
KINDS = {"IPF.Appointment": CollectionKind.CALENDAR, "IPF.Contact": CollectionKind.CONTACTS}
#: Items fetched per GetItem.
BATCH = 50
#: What a sync page asks of each item: its id, to fetch its MIME.
_SYNCED = ("id", "changekey")


def collection_of(folder: EwsFolder) -> Collection | None:
    """The collection a folder is, or None for a folder of another class."""
    kind = KINDS.get(folder.folder_class or "")
    return Collection(kind, folder.path, folder.id) if kind is not None else None


def entries(session: Session, folder: EwsFolder, kind: CollectionKind) -> Iterator[Entry]:
    """The folder's items as events or contacts (FindItem), streamed ``BATCH`` at a time."""
    name = "/".join(folder.path)

    def listing(account):
        target = ExchangeFolder(id=folder.id, changekey=folder.changekey, root=account.root)
        return iter(target.all().only("id", "changekey"))

    listed = (item for item in session.stream(f"listing {name!r}", listing,
                                              key=lambda item: getattr(item, "id", None)
                                              or id(item))
              if not isinstance(item, Exception))
    return fetched(session, name, ((item.id, item.changekey) for item in listed), kind, [])


def fetched(session: Session, name: str, ids: Iterator[tuple[str, str | None]],
            kind: CollectionKind, left_out: list[str]) -> Iterator[Entry]:
    """The MIME of the items ``ids`` (ItemId, changekey) as entries, ``BATCH`` per GetItem;
    an item the server cannot serve is logged, left out and its id added to ``left_out``."""
    make = CalendarEvent if kind is CollectionKind.CALENDAR else Contact
    while chunk := list(itertools.islice(ids, BATCH)):
        found = session.call(f"fetching {len(chunk)} item(s) of {name!r}",
                             lambda a, chunk=chunk: list(a.fetch(ids=chunk,
                                                                 only_fields=["mime_content"])))
        for (key, _), item in zip(chunk, found, strict=False):
            if isinstance(item, Exception) or item.mime_content is None:
                log.warning("%s: %s: item %s could not be read (%s); it is left out",
                            session.settings.display, name, key,
                            item if isinstance(item, Exception) else "no MIME content")
                left_out.append(key)
                continue
            yield make(key, bytes(item.mime_content))


class PimSync:
    """Lists collections with SyncFolderItems and keeps what each pass learned: the sync
    state it ended with (the cursor) and the items deleted at the source."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cursors: dict[str, str] = {}  # folder id → sync state after the last pass
        self._deltas: dict[str, Delta] = {}  # folder id → deletions of the last pass

    def entries(self, folder: EwsFolder, kind: CollectionKind,
                cursor: str | None) -> Iterator[Entry]:
        """What changed since ``cursor`` (everything without one): created or updated."""
        self._cursors.pop(folder.id, None)
        if not folder.syncable:
            yield from entries(self._session, folder, kind)
            return
        name = "/".join(folder.path)
        old = self._deltas.pop(folder.id, None)
        if old is not None:
            old.close()
        delta = self._deltas[folder.id] = Delta()
        state, left_out = cursor, []
        while True:
            try:
                page = self._session.call(f"syncing {name!r}",
                                          lambda a, state=state: sync_page(a, folder, state,
                                                                           _SYNCED))
            except InvalidSyncState:
                start_afresh(self._session.settings.display, name, state)
                state = None
                continue
            for key in page.deleted:
                delta.add("removed", key)
            changed = [*page.created, *page.updated]
            yield from fetched(self._session, name,
                               iter([(item.id, item.changekey) for item in changed]), kind,
                               left_out)
            state = page.state
            if page.last:
                break
        if not left_out:  # else no cursor: the next pass lists everything, and retries them
            self._cursors[folder.id] = state

    def cursor(self, folder: EwsFolder) -> str | None:
        return self._cursors.get(folder.id)

    def removed(self, folder: EwsFolder) -> Iterator[str]:
        delta = self._deltas.get(folder.id)
        if delta is not None:
            yield from (key for _, key, _ in delta.entries("removed"))

    def close(self) -> None:
        for delta in self._deltas.values():
            delta.close()
        self._deltas.clear()
