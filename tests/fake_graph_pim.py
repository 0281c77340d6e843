"""Calendars and contacts for the fake Graph server (tests/fake_graph.py): ``calendars``,
``calendars/{id}/events``, ``contacts``, ``contactFolders`` and ``contactFolders/{id}/
contacts``, paged with ``$top``/``$skip`` and an absolute ``@odata.nextLink``. The items
are the JSON a test puts in the mailbox, served as Graph serves them.

Delta queries, as Microsoft documents them for v1.0: ``contactFolders/{id}/contacts/delta``
(the default address book by its folder id, ``DEFAULT_CONTACTS_ID``, which each contact of
``/contacts`` names as its ``parentFolderId``) and ``calendars/{id}/calendarView/delta``
(``startDateTime`` and ``endDateTime`` required on the first request; a recurring series
comes as its occurrences, which name their ``seriesMasterId``), plus one event by id. Pages
are sized by ``Prefer: odata.maxpagesize``, end with an ``@odata.deltaLink``; from a delta
token, only the entries changed since (``change_entry``) and ``@removed`` ones
(``delete_entry``); ``server.expire_deltas`` answers 410 to a delta token."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote

from fake_graph import (
    FakeGraph,
    FakeMailbox,
    Request,
    _error,
    _json,
    _no_mailbox,
    _page_size,
    _token,
    _untoken,
    route,
)

#: The folder id of the default address book (Graph's ``/contacts``).
DEFAULT_CONTACTS_ID = "AAMkDefaultContactsFolder"


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
    items = [{**item, "parentFolderId": DEFAULT_CONTACTS_ID} for item in request.mailbox.contacts]
    return _page(server, request, items, "contact")


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


# --- changes, as a test makes them ----------------------------------------------------------


def change_entry(mailbox: FakeMailbox, items: list[dict], item: dict) -> None:
    """Add ``item`` to ``items`` (a calendar's events, an address book's contacts), or
    replace the entry of the same id: a later delta round reports it."""
    for n, old in enumerate(items):
        if old["id"] == item["id"]:
            items[n] = item
            break
    else:
        items.append(item)
    mailbox.pim_changed[item["id"]] = mailbox._tick()


def delete_entry(mailbox: FakeMailbox, collection_id: str, items: list[dict], key: str) -> None:
    """Delete the entry ``key``: a later delta round reports it ``@removed``."""
    items[:] = [item for item in items if item["id"] != key]
    mailbox.pim_removed.setdefault(collection_id, []).append((mailbox._tick(), key))


# --- delta rounds ---------------------------------------------------------------------------


def _delta_round(server: FakeGraph, request: Request, collection_id: str, what: str,
                 rows: list[tuple[str, dict]]):
    """One page of a delta round over ``rows`` ((entry id whose change counts, JSON)):
    every row on the first round, from a token only those changed since and deletions."""
    mailbox = request.mailbox
    if "$skiptoken" in request.query:
        state = _untoken(request.query["$skiptoken"])
        server.requests[f"{what}:next"] += 1
    elif "$deltatoken" in request.query:
        if server.expire_deltas:
            server.requests["410"] += 1
            return _error(410, "SyncStateNotFound", "The sync state has expired.")
        server.requests[f"{what}:token"] += 1
        state = {"since": int(request.query["$deltatoken"]), "until": mailbox.seq, "at": 0}
    else:
        server.requests[f"{what}:initial"] += 1
        state = {"since": -1, "until": mailbox.seq, "at": 0}
    since, until, at = state["since"], state["until"], state["at"]
    if since < 0:
        entries = [row for _, row in rows]
    else:
        entries = [row for key, row in rows
                   if since < mailbox.pim_changed.get(key, 0) <= until]
        entries += [{"id": key, "@removed": {"reason": "deleted"}}
                    for seq, key in mailbox.pim_removed.get(collection_id, [])
                    if since < seq <= until]
    size = _page_size(request)
    link = f"{server.url}{request.path}"
    page = {"@odata.context": f"{server.url}/$metadata#Collection({what.split(':')[0]})",
            "value": entries[at:at + size]}
    if at + size < len(entries):
        page["@odata.nextLink"] = f"{link}?$skiptoken={_token({**state, 'at': at + size})}"
    else:
        page["@odata.deltaLink"] = f"{link}?$deltatoken={until}"
    return _json(page)


@route(r"/users/[^/]+/contactFolders/([^/]+)/contacts/delta(?:\(\))?")
def _contacts_delta(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    key = unquote(match.group(1))
    if key == DEFAULT_CONTACTS_ID:
        items = request.mailbox.contacts
    elif key in request.mailbox.contact_folders:
        items = request.mailbox.contact_folders[key][1]
    else:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    rows = [(item["id"], {**item, "parentFolderId": key}) for item in items]
    return _delta_round(server, request, key, "contact:delta", rows)


def _occurrences(event: dict) -> list[tuple[str, dict]]:
    """What a calendar view holds of an event: a series as (here, one of) its occurrences."""
    if event.get("type") != "seriesMaster":
        return [(event["id"], {**event, "type": event.get("type", "singleInstance")})]
    return [(event["id"], {"id": f"{event['id']}-OCC1", "type": "occurrence",
                           "seriesMasterId": event["id"], "start": event.get("start"),
                           "end": event.get("end")})]


@route(r"/users/[^/]+/calendars/([^/]+)/calendarView/delta(?:\(\))?")
def _calendar_view_delta(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    key = unquote(match.group(1))
    found = request.mailbox.calendars.get(key)
    if found is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    tokens = {"$skiptoken", "$deltatoken"} & set(request.query)
    if not tokens and not {"startDateTime", "endDateTime"} <= set(request.query):
        return _error(400, "ErrorInvalidParameter",
                      "This request requires a time window specified by the query string "
                      "parameters StartDateTime and EndDateTime.")
    if not tokens:  # the window asked, in days each side of its middle
        start, end = (datetime.fromisoformat(request.query[name].replace("Z", "+00:00"))
                      for name in ("startDateTime", "endDateTime"))
        server.requests[f"event:delta:window:{(end - start).days // 2}"] += 1
    rows = [row for event in found[1] for row in _occurrences(event)]
    return _delta_round(server, request, key, "event:delta", rows)


@route(r"/users/[^/]+/calendars/([^/]+)/events/([^/]+)")
def _event(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    found = request.mailbox.calendars.get(unquote(match.group(1)))
    key = unquote(match.group(2))
    event = next((e for e in found[1] if e["id"] == key), None) if found else None
    server.requests["event"] += 1
    if event is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    return _json({"@odata.context": f"{server.url}/$metadata#event", **event})
