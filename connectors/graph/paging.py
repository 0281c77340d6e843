"""Following Graph's paged answers: ``@odata.nextLink`` page after page, and delta rounds
that start from an ``@odata.deltaLink`` kept by an earlier pass.

Mail folders (``source``) and calendars and address books (``pim``) list the same way:
the first page from a builder's request, the next ones from the absolute link the server
gave (``with_url``), each sent with the same ``Prefer`` headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from .session import Session, configuration


def pages(session: Session, what: str, first: Callable[[object], Awaitable],
          with_url: Callable, prefer: tuple[str, ...] = (),
          cursor: str | None = None) -> Iterator:
    """The pages of a listing: from ``first`` (a request made with the client), or from
    ``cursor`` (a delta link) when given, then every ``@odata.nextLink``."""
    if cursor is None:
        page = session.call(what, first)
    else:
        page = session.call(what, lambda c: with_url(cursor).get(configuration(prefer=prefer)))
    while page is not None:
        yield page
        link = page.odata_next_link
        if not link:
            return
        page = session.call(what, lambda c, link=link: with_url(link).get(
            configuration(prefer=prefer)))


def is_removed(item) -> bool:
    """True for a delta entry that says the item left the collection (``@removed``)."""
    return bool(item.additional_data) and "@removed" in item.additional_data
