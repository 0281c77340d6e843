"""Writing calendars and address books into a Microsoft 365 mailbox through Graph.

Graph takes no iCalendar or vCard upload: each entry is translated into Graph's JSON
(``event_json``, ``contact_json``, which list what they cannot carry; that list is logged
for each entry) and POSTed as it is through the SDK's request adapter, with two of our
named extended properties: ``sovereign-migrate-sha256`` (``target.SHA256_PROPERTY``: the
sha256 of the archived bytes) and ``sovereign-migrate-uid`` (the iCalendar / vCard UID:
Graph's ``iCalUId`` is read-only and its own).

Where entries go. A collection whose first name says "calendar" or "contacts"
(``MAIN_COLLECTION_NAMES``, or the name of the mailbox's own default calendar) goes to the
default calendar (``/calendar``) or the default address book (``/contacts``); the rest of
its path names a calendar or a contact folder (Graph's calendars and contact folders are
flat: a deeper path is joined with "/"). Any other collection is a calendar or contact
folder of its path's name, found (names compared without case, as Exchange does) or
created (``POST /calendars``, ``POST /contactFolders``).

Idempotency, as for mail. Before the first write into a calendar or folder, its items are
listed once with our sha256 property (``$select=id`` and ``$expand`` of the property,
paged): sha256 → ids, each id claimed once per run, so that a rerun after a lost state
database, or after a kill, recognises what is there and writes nothing twice. A POST
retried because its answer was lost first asks (``$filter`` on the property) whether it
was stored.

Attendees are not set unless the endpoint says ``attendees=invite``: Graph sends an
invitation to every attendee of an event it creates (there is no ``SendToNone`` as in EWS).
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field

from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.calendar import Calendar
from msgraph.generated.models.contact import Contact as GraphContact
from msgraph.generated.models.contact_folder import ContactFolder
from msgraph.generated.models.event import Event
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.calendar.calendar_request_builder import (
    CalendarRequestBuilder,
)
from msgraph.generated.users.item.calendars.calendars_request_builder import (
    CalendarsRequestBuilder,
)
from msgraph.generated.users.item.calendars.item.events.events_request_builder import (
    EventsRequestBuilder,
)
from msgraph.generated.users.item.contact_folders.contact_folders_request_builder import (
    ContactFoldersRequestBuilder,
)

from migrate.connector import PimTarget
from migrate.errors import ItemError
from migrate.model import MAIN_COLLECTION_NAMES, Collection, CollectionKind, Entry

from .contact_json import contact_json
from .contentlines import Translated
from .event_json import event_json
from .folders import _pages
from .session import Conflict, Session, configuration

log = logging.getLogger(__name__)

#: Our named property holding the source's UID (same property set as SHA256_PROPERTY).
UID_PROPERTY = "String {8b0c6d3e-5f0a-4c1e-9a7d-2e6f4b1c9d57} Name sovereign-migrate-uid"


def _expand() -> list[str]:
    """``$expand`` of our sha256 property (the one mail copies carry too)."""
    return [f"singleValueExtendedProperties($filter=id eq '{mail_target.SHA256_PROPERTY}')"]


@dataclass
class _Book:
    """A calendar or contact folder of the mailbox, and what it held before this run."""

    kind: CollectionKind
    id: str  # "" for the default address book (``/contacts``)
    name: str
    empty: bool  # created by this run: no listing needed
    index: dict[str, list[str]] | None = None  # sha256 → ids not yet claimed
    claimed: set[str] = field(default_factory=set)


class GraphPimTarget(PimTarget):
    """Calendars and contacts for ``GraphTarget`` (which gives ``_session`` and ``_user``)."""

    _session: Session
    _user: str
    #: Set attendees on the events written (Graph invites each of them): ``attendees=invite``.
    invite_attendees: bool = False
    _pim_cache: dict[tuple[str, ...], _Book] | None = None  # made on first use, per target

    def _pim_books(self) -> dict[tuple[str, ...], _Book]:
        """Calendars and folders as this run found them, by collection (and the default)."""
        if self._pim_cache is None:
            self._pim_cache = {}
        return self._pim_cache

    def _pim_me(self, client):
        return client.users.by_user_id(self._user)

    # --- where a collection goes ------------------------------------------------------------

    def prepare_collection(self, collection: Collection) -> None:
        self._pim_book(collection)

    def _pim_book(self, collection: Collection) -> _Book:
        key = (collection.kind.value, *collection.path)
        books = self._pim_books()
        if key not in books:
            if collection.kind is CollectionKind.CALENDAR:
                books[key] = self._pim_calendar(collection.path)
            else:
                books[key] = self._pim_contact_folder(collection.path)
        return books[key]

    def _pim_calendar(self, path: tuple[str, ...]) -> _Book:
        main = self._pim_default_calendar()
        names = MAIN_COLLECTION_NAMES[CollectionKind.CALENDAR] | {main.name.casefold()}
        if path[0].casefold() in names:
            if len(path) == 1:
                return main
            path = path[1:]
        name = "/".join(path)
        return self._pim_find_or_create(
            "calendar", name, self._pim_find_calendar, CollectionKind.CALENDAR,
            lambda c: self._pim_me(c).calendars.post(Calendar(name=name), configuration()))

    def _pim_default_calendar(self) -> _Book:
        books = self._pim_books()
        if ("", "calendar") not in books:
            query = CalendarRequestBuilder.CalendarRequestBuilderGetQueryParameters(
                select=["id", "name"])
            found = self._session.call("looking up the default calendar", lambda c: self
                                       ._pim_me(c).calendar.get(configuration(query)))
            books["", "calendar"] = _Book(CollectionKind.CALENDAR, found.id, found.name or "",
                                          False)
        return books["", "calendar"]

    def _pim_find_calendar(self, name: str) -> _Book | None:
        query = CalendarsRequestBuilder.CalendarsRequestBuilderGetQueryParameters(
            select=["id", "name"], top=100)
        return self._pim_find(self._pim_me(self._session.client).calendars, query,
                              "calendars", name, CollectionKind.CALENDAR)

    def _pim_contact_folder(self, path: tuple[str, ...]) -> _Book:
        if path[0].casefold() in MAIN_COLLECTION_NAMES[CollectionKind.CONTACTS]:
            if len(path) == 1:
                return _Book(CollectionKind.CONTACTS, "", path[0], False)
            path = path[1:]
        name = "/".join(path)
        return self._pim_find_or_create(
            "contact folder", name, self._pim_find_contact_folder, CollectionKind.CONTACTS,
            lambda c: self._pim_me(c).contact_folders.post(ContactFolder(display_name=name),
                                                           configuration()))

    def _pim_find_or_create(self, what: str, name: str, find, kind: CollectionKind,
                            create) -> _Book:
        """The calendar or contact folder named ``name``, found, else created (one made
        meanwhile by another writer is found again)."""
        found = find(name)
        if found is not None:
            return found
        try:
            made = self._session.call(f"creating {what} {name!r}", create)
        except Conflict:
            found = find(name)
            if found is None:
                raise ItemError(f"cannot create {what} {name!r}: the server says it exists "
                                "but does not list it") from None
            return found
        log.info("created %s %r", what, name)
        return _Book(kind, made.id, name, True)

    def _pim_find_contact_folder(self, name: str) -> _Book | None:
        query = ContactFoldersRequestBuilder.ContactFoldersRequestBuilderGetQueryParameters(
            select=["id", "displayName"], top=100)
        return self._pim_find(self._pim_me(self._session.client).contact_folders, query,
                              "contact folders", name, CollectionKind.CONTACTS)

    def _pim_find(self, builder, query, what: str, name: str,
                  kind: CollectionKind) -> _Book | None:
        """The calendar or contact folder named ``name`` (case ignored), listed page by page."""
        first = functools.partial(builder.get, configuration(query))
        for found in _pages(self._session, f"listing the {what}", first, builder.with_url):
            shown = getattr(found, "name", None) or getattr(found, "display_name", None)
            if shown and shown.casefold() == name.casefold():
                return _Book(kind, found.id, shown, False)
        return None

    def _pim_items(self, book: _Book, client=None):
        """The request builder of the book's events or contacts."""
        me = self._pim_me(client or self._session.client)
        if book.kind is CollectionKind.CALENDAR:
            return me.calendars.by_calendar_id(book.id).events
        if not book.id:
            return me.contacts
        return me.contact_folders.by_contact_folder_id(book.id).contacts

    # --- entries ---------------------------------------------------------------------------

    def put_entry(self, collection: Collection, entry: Entry) -> str:
        book = self._pim_book(collection)
        found = self._pim_claim(book, entry.sha256)
        if found is not None:
            return found
        translated = self._pim_translate(collection, entry)
        for lost in translated.lost:
            log.info("%s %r, entry %s: not carried to Microsoft 365: %s",
                     collection.kind.value, collection.display(), entry.source_id, lost)
        properties = [{"id": mail_target.SHA256_PROPERTY, "value": entry.sha256}]
        if translated.uid:
            properties.append({"id": UID_PROPERTY, "value": translated.uid})
        body = json.dumps({**translated.json, "singleValueExtendedProperties": properties},
                          ensure_ascii=False).encode()
        model = Event if collection.kind is CollectionKind.CALENDAR else GraphContact
        attempts = 0

        def post(client):
            nonlocal attempts
            attempts += 1
            builder = self._pim_items(book, client)
            if attempts > 1:
                return self._pim_post_unless_stored(builder, body, model, entry.sha256, book)
            return self._pim_post(builder, body, model)

        what = "an event" if collection.kind is CollectionKind.CALENDAR else "a contact"
        created = self._session.call(f"writing {what} to {collection.display()!r}", post)
        if created is None or not created.id:
            raise ItemError(f"{collection.display()!r}: Graph created {what} but gave no id")
        book.claimed.add(created.id)
        return created.id

    def losses(self, collection: Collection, entry: Entry) -> tuple[str, ...]:
        """What Graph's JSON could not carry of ``entry`` (the translation is pure: made
        again here rather than kept)."""
        return tuple(self._pim_translate(collection, entry).lost)

    def _pim_translate(self, collection: Collection, entry: Entry) -> Translated:
        if collection.kind is CollectionKind.CALENDAR:
            return event_json(entry.data, invite=self.invite_attendees)
        return contact_json(entry.data)

    def _pim_post(self, builder, body: bytes, model):
        info = RequestInformation(Method.POST, builder.url_template, builder.path_parameters)
        info.configure(configuration())
        info.headers.try_add("Accept", "application/json")
        info.set_stream_content(body, "application/json")
        return self._session.adapter.send_async(info, model, {"XXX": ODataError})

    async def _pim_post_unless_stored(self, builder, body: bytes, model, sha256: str, book: _Book):
        """A retried POST: the item a lost answer left behind, else a new one."""
        property_id = mail_target.SHA256_PROPERTY
        query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
            select=["id"], expand=_expand(),
            filter=f"singleValueExtendedProperties/any(ep: ep/id eq '{property_id}' "
                   f"and ep/value eq '{sha256}')")
        page = await builder.get(configuration(query))
        for item in (page.value if page is not None else None) or ():
            if item.id not in book.claimed and mail_target._sha256_of(item) == sha256:
                log.info("an entry whose answer was lost is taken, not written again")
                return item
        return await self._pim_post(builder, body, model)

    def find_entry(self, collection: Collection, entry: Entry) -> str | None:
        return self._pim_claim(self._pim_book(collection), entry.sha256)

    # --- recognising what is there ---------------------------------------------------------

    def _pim_claim(self, book: _Book, sha256: str) -> str | None:
        """An id already holding an entry with these bytes that this run did not take."""
        ids = self._pim_index(book).get(sha256)
        while ids:
            found = ids.pop()
            if found not in book.claimed:
                book.claimed.add(found)
                return found
        return None

    def _pim_index(self, book: _Book) -> dict[str, list[str]]:
        """sha256 → ids of the book's items written by this tool (listed once, paged)."""
        if book.index is not None:
            return book.index
        index: dict[str, list[str]] = {}
        if not book.empty:
            query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
                select=["id"], expand=_expand(), top=self._session.settings.page_size)
            builder = self._pim_items(book)
            first = functools.partial(builder.get, configuration(query))
            for item in _pages(self._session, f"listing what {book.name!r} holds", first,
                               lambda url: mail_target._Immutable(builder.with_url(url))):
                if (value := mail_target._sha256_of(item)) and item.id not in book.claimed:
                    index.setdefault(value, []).append(item.id)
        book.index = index  # only once complete: a broken listing is tried again
        return index


# Last: ``target`` imports this module for ``GraphTarget``'s bases, and this one uses the
# property and listing helpers of ``target`` (only when called).
from . import target as mail_target  # noqa: E402
