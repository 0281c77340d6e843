"""Calendars and contacts of a mailbox through Graph, as iCalendar and vCard entries.

Calendars are ``/users/{id}/calendars``; the default address book is ``/contacts`` (shown
as ``Contacts``) and its subfolders ``/contactFolders``. Listings are paged through
``@odata.nextLink``; events are asked in UTC (``Prefer: outlook.timezone="UTC"``) and all
items by immutable id, so that keys stay stable. Each entry is translated from Graph's
JSON (``ical``, ``vcard``, which say what is kept and what is lost); an item that cannot be
translated is logged and left out, the others go on.

Passes after the first ask only for what changed, with the delta queries Graph v1.0 has:

- contacts: ``contactFolders/{id}/contacts/delta`` lists the address book (the default
  one by its folder id, the ``parentFolderId`` of its contacts) and ends with a delta link,
  the collection's cursor; from it, only contacts added or changed, and ``@removed`` ones.
- events: v1.0 tracks changes only in a *calendar view* (``calendars/{id}/calendarView/
  delta``, a window of dates: ``calendar_window`` days before and after the first pass,
  five years each way by default), which
  holds occurrences rather than series. So the first pass lists ``/events`` whole (series
  with their recurrence, every single event, whatever its date) after opening a delta
  round on the view (its link is the cursor, taken *before* the listing so that nothing
  changed meanwhile is missed); later passes read the view's changes and fetch each
  changed event, or the series of a changed occurrence, by id: the same JSON as the
  listing, so an unchanged event comes out as the same bytes.

A delta link Graph no longer knows (410) leads to a full listing, as for mail; the copier
writes nothing twice. A pass that left an entry out (it could not be translated) ends
without a cursor, so that the next pass lists everything and tries it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from msgraph.generated.users.item.calendars.item.calendar_view.delta.delta_request_builder import (
    DeltaRequestBuilder as EventDeltaRequestBuilder,
)
from msgraph.generated.users.item.calendars.item.events.events_request_builder import (
    EventsRequestBuilder,
)
from msgraph.generated.users.item.contacts.contacts_request_builder import (
    ContactsRequestBuilder,
)

from migrate.model import CalendarEvent, Collection, CollectionKind, Contact, Entry

from .ical import event_ics
from .paging import is_removed, pages
from .session import PREFER_IMMUTABLE, NotFound, Session, SyncStateGone, configuration
from .vcard import contact_vcf

log = logging.getLogger(__name__)

#: The name given to the default address book (Graph does not name it in ``/contacts``).
DEFAULT_CONTACTS = "Contacts"
_PAGE = 50
_PREFER_EVENTS = ('outlook.timezone="UTC"', PREFER_IMMUTABLE)
_PREFER_DELTA = (f"odata.maxpagesize={_PAGE}", PREFER_IMMUTABLE)
_SERIES_PARTS = ("occurrence", "exception")


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


class PimReader:
    """Lists calendars' and address books' entries, in full or from a delta link, and
    keeps what each pass learned: the delta link it ended with and the deletions."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cursors: dict[tuple[str, tuple[str, ...]], str] = {}
        self._removed: dict[tuple[str, tuple[str, ...]], list[str]] = {}

    def entries(self, collection: Collection, cursor: str | None = None,
                follow: bool = True) -> Iterator[Entry]:
        """The collection's events or contacts; from ``cursor``, only those changed since.
        ``follow=False`` (counting for a plan) opens no delta round on a calendar view."""
        key = (collection.kind.value, collection.path)
        self._cursors.pop(key, None)
        removed = self._removed[key] = []
        listing = _Listing(self._session, collection, removed, follow)
        try:
            yield from listing.entries(cursor)
        except SyncStateGone:
            if cursor is None:
                raise
            log.warning("%s: the delta link of %s %r expired; listing it afresh",
                        self._session.settings.display, collection.kind.value,
                        collection.display())
            removed.clear()
            yield from listing.entries(None)
        if listing.cursor is not None and not listing.left_out:
            self._cursors[key] = listing.cursor  # else the next pass lists all, retrying it

    def cursor(self, collection: Collection) -> str | None:
        """The delta link the last complete pass of ``collection`` ended with."""
        return self._cursors.get((collection.kind.value, collection.path))

    def removed(self, collection: Collection) -> Iterator[str]:
        """Ids of entries the last pass (from a delta link) says were deleted."""
        return iter(self._removed.pop((collection.kind.value, collection.path), []))


class _Listing:
    """One pass over one collection."""

    def __init__(self, session: Session, collection: Collection, removed: list[str],
                 follow: bool) -> None:
        self.session, self.collection, self.removed = session, collection, removed
        self.follow = follow  # open a delta round on a calendar's view (not to count)
        self.cursor: str | None = None
        self.users = session.client.users.by_user_id(session.settings.user)
        self.what = f"listing {collection.kind.value} {collection.display()!r}"
        self.seen: set[str] = set()  # a delta round may list an entry twice
        self.left_out = False  # an entry could not be translated: no cursor for this pass

    def entries(self, cursor: str | None) -> Iterator[Entry]:
        if self.collection.kind is CollectionKind.CALENDAR:
            return self._events(cursor)
        return self._contacts(cursor)

    # --- contacts -----------------------------------------------------------------------

    def _contacts(self, cursor: str | None) -> Iterator[Entry]:
        folder_id = self.collection.source_id
        if cursor is None and not folder_id:
            folder_id = self._default_contacts_id()
            if folder_id is None:  # an empty default address book: nothing to follow
                return
        builder = self.users.contact_folders.by_contact_folder_id(folder_id or "-") \
            .contacts.delta
        listed = pages(self.session, self.what,
                       lambda c: builder.get(configuration(prefer=_PREFER_DELTA)),
                       builder.with_url, _PREFER_DELTA, cursor)
        for contact in self._delta_items(listed):
            yield from self._translated(contact, lambda c: Contact(c.id, contact_vcf(c)))

    def _default_contacts_id(self) -> str | None:
        """The folder id of the default address book: the ``parentFolderId`` of any of its
        contacts (v1.0 has its delta only by folder id); None when it holds none."""
        query = ContactsRequestBuilder.ContactsRequestBuilderGetQueryParameters(
            top=1, select=["parentFolderId"])
        page = self.session.call(f"{self.what}: finding its folder id",
                                 lambda c: self.users.contacts.get(configuration(query)))
        first = next(iter(page.value or ()), None) if page is not None else None
        return first.parent_folder_id if first is not None else None

    # --- events -------------------------------------------------------------------------

    def _events(self, cursor: str | None) -> Iterator[Entry]:
        calendar = self.users.calendars.by_calendar_id(self.collection.source_id)
        view = calendar.calendar_view.delta
        if cursor is None and self.follow:  # opened first: what changes meanwhile is next
            # An event changed outside the window is not seen by later passes.
            now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            window = timedelta(days=self.session.settings.calendar_window)
            query = EventDeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
                start_date_time=_iso(now - window), end_date_time=_iso(now + window))
            for _ in self._delta_items(pages(
                    self.session, self.what,
                    lambda c: view.get(configuration(query, _PREFER_DELTA)),
                    view.with_url, _PREFER_DELTA)):
                pass
            self.removed.clear()  # a first round reports no deletion that matters
        if cursor is None:
            builder = calendar.events
            query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(top=_PAGE)
            for event in _paged(self.session, self.what,
                                lambda c: builder.get(configuration(query, _PREFER_EVENTS)),
                                builder.with_url, _PREFER_EVENTS):
                yield from self._translated(
                    event, lambda e: CalendarEvent(e.id, event_ics(e)))
            return
        wanted: list[str] = []  # events to fetch: changed ones, series of changed parts
        for item in self._delta_items(pages(self.session, self.what, None, view.with_url,
                                            _PREFER_DELTA, cursor)):
            kind = getattr(item.type, "value", item.type)
            wanted.append(item.series_master_id if kind in _SERIES_PARTS
                          and item.series_master_id else item.id)
        for event_id in dict.fromkeys(wanted):
            try:
                event = self.session.call(
                    f"{self.what}: reading the changed event {event_id}",
                    lambda c, event_id=event_id: calendar.events.by_event_id(event_id).get(
                        configuration(prefer=_PREFER_EVENTS)))
            except NotFound:  # deleted since the view changed
                self.removed.append(event_id)
                continue
            if event is not None:
                yield from self._translated(
                    event, lambda e: CalendarEvent(e.id, event_ics(e)))

    # --- common -------------------------------------------------------------------------

    def _delta_items(self, listed: Iterator) -> Iterator:
        """The items of delta pages, deletions kept aside; the cursor from the last page."""
        for page in listed:
            for item in page.value or ():
                if not item.id:
                    continue
                if is_removed(item):
                    self.removed.append(item.id)
                    continue
                yield item
            if page.odata_delta_link:
                self.cursor = page.odata_delta_link

    def _translated(self, item, make: Callable) -> Iterator[Entry]:
        if item.id in self.seen:
            return
        self.seen.add(item.id)
        entry = _translate(self.collection, item, make)
        if entry is None:
            self.left_out = True
        else:
            yield entry


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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
    for page in pages(session, what, first, with_url, prefer):
        yield from page.value or ()
