"""Calendars and contacts of a mailbox through Graph, as iCalendar and vCard entries.

Calendars are ``/users/{id}/calendars``; the default address book is ``/contacts`` (shown
as ``Contacts``) and its subfolders ``/contactFolders``. Listings are paged through
``@odata.nextLink``; events are asked in UTC (``Prefer: outlook.timezone="UTC"``) and all
items by immutable id, so that keys stay stable. Each entry is translated from Graph's
JSON (``ical``, ``vcard``, which say what is kept and what is lost); an item that cannot be
translated is logged and left out, the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from msgraph.generated.users.item.calendars.item.events.events_request_builder import (
    EventsRequestBuilder,
)
from msgraph.generated.users.item.contacts.contacts_request_builder import (
    ContactsRequestBuilder,
)

from migrate.model import CalendarEvent, Collection, CollectionKind, Contact, Entry

from .ical import event_ics
from .session import PREFER_IMMUTABLE, Session, configuration
from .vcard import contact_vcf

log = logging.getLogger(__name__)

#: The name given to the default address book (Graph does not name it in ``/contacts``).
DEFAULT_CONTACTS = "Contacts"
_PAGE = 50
_PREFER_EVENTS = ('outlook.timezone="UTC"', PREFER_IMMUTABLE)


def collections(session: Session) -> Iterator[Collection]:
    """Every calendar, then the default address book and its subfolders."""
    users = session.client.users.by_user_id(session.settings.user)
    for calendar in _paged(session, "listing the calendars",
                           lambda c: users.calendars.get(configuration(prefer=())),
                           users.calendars.with_url):
        if calendar.id and calendar.name:
            yield Collection(CollectionKind.CALENDAR, (calendar.name,), calendar.id)
    yield Collection(CollectionKind.CONTACTS, (DEFAULT_CONTACTS,), "")
    for folder in _paged(session, "listing the contact folders",
                         lambda c: users.contact_folders.get(configuration(prefer=())),
                         users.contact_folders.with_url):
        if folder.id and folder.display_name:
            yield Collection(CollectionKind.CONTACTS, (DEFAULT_CONTACTS, folder.display_name),
                             folder.id)


def entries(session: Session, collection: Collection) -> Iterator[Entry]:
    """The events or contacts of ``collection``, translated one by one."""
    users = session.client.users.by_user_id(session.settings.user)
    what = f"listing {collection.kind.value} {collection.display()!r}"
    if collection.kind is CollectionKind.CALENDAR:
        builder = users.calendars.by_calendar_id(collection.source_id).events
        query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(top=_PAGE)
        events = _paged(session, what, lambda c: builder.get(configuration(query, _PREFER_EVENTS)),
                        builder.with_url, _PREFER_EVENTS)
        for event in events:
            entry = _translate(collection, event, lambda e: CalendarEvent(e.id, event_ics(e)))
            if entry is not None:
                yield entry
        return
    builder = users.contact_folders.by_contact_folder_id(collection.source_id).contacts \
        if collection.source_id else users.contacts
    query = ContactsRequestBuilder.ContactsRequestBuilderGetQueryParameters(top=_PAGE)
    contacts = _paged(session, what, lambda c: builder.get(configuration(query)),
                      builder.with_url, (PREFER_IMMUTABLE,))
    for contact in contacts:
        entry = _translate(collection, contact, lambda c: Contact(c.id, contact_vcf(c)))
        if entry is not None:
            yield entry


def _translate(collection: Collection, item, make: Callable) -> Entry | None:
    if not item.id:
        return None
    try:
        return make(item)
    except (ValueError, TypeError, AttributeError) as exc:
        log.warning("%s %r: item %s cannot be translated and is left out: %s",
                    collection.kind.value, collection.display(), item.id, exc)
        return None


def _paged(session: Session, what: str, first: Callable, with_url: Callable,
           prefer: tuple[str, ...] = ()) -> Iterator:
    """The items of a listing, page after page (``@odata.nextLink``, absolute URLs)."""
    page = session.call(what, first)
    while page is not None:
        yield from page.value or ()
        link = page.odata_next_link
        if not link:
            return
        page = session.call(what, lambda c, link=link: with_url(link).get(
            configuration(prefer=prefer)))
