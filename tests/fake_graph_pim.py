"""Calendars and contacts for the fake Graph server (tests/fake_graph.py): ``calendars``,
``calendars/{id}/events``, ``contacts``, ``contactFolders`` and ``contactFolders/{id}/
contacts``, paged with ``$top``/``$skip`` and an absolute ``@odata.nextLink``. The items
are the JSON a test puts in the mailbox, served as Graph serves them."""

from __future__ import annotations

from urllib.parse import unquote

from fake_graph import FakeGraph, Request, _error, _json, _no_mailbox, route


def _page(server: FakeGraph, request: Request, items: list[dict], kind: str):
    top, skip = int(request.query.get("$top", 10)), int(request.query.get("$skip", 0))
    page = {"@odata.context": f"{server.url}/$metadata#Collection({kind})",
            "value": items[skip:skip + top]}
    if skip + top < len(items):
        page["@odata.nextLink"] = f"{server.url}{request.path}?$top={top}&$skip={skip + top}"
    return _json(page)


@route(r"/users/[^/]+/calendars")
def _calendars(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    server.requests["calendars"] += 1
    items = [{"id": key, "name": name, "canEdit": True}
             for key, (name, _) in request.mailbox.calendars.items()]
    return _page(server, request, items, "calendar")


@route(r"/users/[^/]+/calendars/([^/]+)/events")
def _events(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    found = request.mailbox.calendars.get(unquote(match.group(1)))
    if found is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    server.requests["events"] += 1
    server.requests["events:utc"] += 'outlook.timezone="UTC"' in request.headers.get("Prefer", "")
    return _page(server, request, found[1], "event")


@route(r"/users/[^/]+/contacts")
def _contacts(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    server.requests["contacts"] += 1
    return _page(server, request, request.mailbox.contacts, "contact")


@route(r"/users/[^/]+/contactFolders")
def _contact_folders(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    items = [{"id": key, "displayName": name, "parentFolderId": "contacts"}
             for key, (name, _) in request.mailbox.contact_folders.items()]
    return _page(server, request, items, "contactFolder")


@route(r"/users/[^/]+/contactFolders/([^/]+)/contacts")
def _folder_contacts(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    found = request.mailbox.contact_folders.get(unquote(match.group(1)))
    if found is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    return _page(server, request, found[1], "contact")
