"""Calendars and contacts of an EWS mailbox: collections, and entries as the server's MIME.

A calendar folder (folder class ``IPF.Appointment``) or a contacts folder
(``IPF.Contact``) is a ``Collection`` named by its path of display names, like a mail
folder. Exchange serves an item's ``MimeContent`` as iCalendar for a calendar item and as
vCard for a contact: those bytes are the entry, untouched. A collection is listed with
FindItem (ids only; recurring series come as their master, which holds the recurrence)
and its entries fetched with GetItem, ``BATCH`` at a time. Generated folders
(``IPF.Appointment.Birthday``, ``IPF.Contact.RecipientCache`` …) are not collections.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

from exchangelib.folders import Folder as ExchangeFolder

from migrate.model import CalendarEvent, Collection, CollectionKind, Contact, Entry

from .folders import EwsFolder
from .session import Session

log = logging.getLogger(__name__)

#: Folder class → what its collection holds.
KINDS = {"IPF.Appointment": CollectionKind.CALENDAR, "IPF.Contact": CollectionKind.CONTACTS}
#: Items fetched per GetItem.
BATCH = 50


def collection_of(folder: EwsFolder) -> Collection | None:
    """The collection a folder is, or None for a folder of another class."""
    kind = KINDS.get(folder.folder_class or "")
    return Collection(kind, folder.path, folder.id) if kind is not None else None


def entries(session: Session, folder: EwsFolder, kind: CollectionKind) -> Iterator[Entry]:
    """The folder's items as events or contacts, streamed ``BATCH`` at a time."""
    name = "/".join(folder.path)

    def listing(account):
        target = ExchangeFolder(id=folder.id, changekey=folder.changekey, root=account.root)
        return iter(target.all().only("id", "changekey"))

    listed = (item for item in session.stream(f"listing {name!r}", listing,
                                              key=lambda item: getattr(item, "id", None)
                                              or id(item))
              if not isinstance(item, Exception))
    make = CalendarEvent if kind is CollectionKind.CALENDAR else Contact
    while chunk := list(itertools.islice(listed, BATCH)):
        ids = [(item.id, item.changekey) for item in chunk]
        found = session.call(f"fetching {len(ids)} item(s) of {name!r}",
                             lambda a, ids=ids: list(a.fetch(ids=ids,
                                                             only_fields=["mime_content"])))
        for (key, _), item in zip(ids, found, strict=False):
            if isinstance(item, Exception) or item.mime_content is None:
                log.warning("%s: %s: item %s could not be read (%s); it is left out",
                            session.settings.display, name, key,
                            item if isinstance(item, Exception) else "no MIME content")
                continue
            yield make(key, bytes(item.mime_content))
