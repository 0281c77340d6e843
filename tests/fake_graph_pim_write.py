"""Calendar and contact writes for the fake Graph server (tests/fake_graph.py), stored into
the same mailbox model ``fake_graph_pim`` serves, so that what is written reads back.

``GET /users/{u}/calendar`` (the default calendar: the mailbox's ``default_calendar`` id,
else its first calendar, else a new "Calendar"); ``POST /calendars`` (201; 409
``ErrorFolderExists`` for a name taken, case ignored); ``POST /calendars/{id}/events``
(201: the event as Graph keeps it: its own ``id`` and ``iCalUId``, the mailbox owner as
organizer, attendees' answers reset to ``none``, start and end turned into UTC, as the
source asks for them, with ``originalStartTimeZone``; 400 for a time-zone name the fake
does not know (it knows IANA names and UTC) or an all-day event not on midnights);
``POST /contactFolders`` (201; 409 for a name taken); ``POST /contacts`` and
``/contactFolders/{id}/contacts`` (201; 400 for more than three e-mail addresses).
Writes are counted in ``requests["createEvent"]``, ``["createContact"]``,
``["createCalendar"]``, ``["createContactFolder"]``; ``server.drop_answers`` drops the
answer of the next n event or contact POSTs after storing them (a link that drops).

Extended properties sent with an item are kept beside it (never in the served JSON): the
listings of events and contacts show them only when asked with ``$expand=
singleValueExtendedProperties($filter=id eq '…')`` (the next page link keeps the
``$expand``), and answer ``$filter=singleValueExtendedProperties/any(ep: ep/id eq '…' and
ep/value eq '…')`` over the whole collection.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fake_graph import (
    DROP,
    ROUTES,
    FakeGraph,
    FakeMailbox,
    Request,
    _error,
    _ids,
    _no_mailbox,
    route,
)

_FILTER = re.compile(r"singleValueExtendedProperties/any\(ep: ep/id eq '([^']+)' and "
                     r"ep/value eq '([^']*)'\)")
_MAX_EMAILS = 3


def properties(mailbox: FakeMailbox) -> dict[str, dict[str, str]]:
    """Item id → its extended properties (id → value), kept beside the served JSON."""
    return mailbox.__dict__.setdefault("pim_properties", {})


def _created(data: dict) -> tuple[int, bytes, dict[str, str]]:
    return 201, json.dumps(data).encode(), {}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(request: Request) -> dict | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _keep_properties(mailbox: FakeMailbox, item_id: str, body: dict) -> None:
    for prop in body.pop("singleValueExtendedProperties", None) or ():
        properties(mailbox).setdefault(item_id, {})[prop["id"]] = prop["value"]


def _answer(server: FakeGraph, data: dict):
    if getattr(server, "drop_answers", 0):
        server.drop_answers -= 1
        return DROP
    return _created(data)


# --- calendars -----------------------------------------------------------------------------


@route(r"/users/[^/]+/calendar")
def _default_calendar(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    mailbox = request.mailbox
    key = mailbox.__dict__.get("default_calendar") or next(iter(mailbox.calendars), None)
    if key is None:
        key = f"AAMkCalendarDefault{next(_ids):06d}"
        mailbox.calendars[key] = ("Calendar", [])
    mailbox.default_calendar = key
    return 200, json.dumps({"id": key, "name": mailbox.calendars[key][0],
                            "isDefaultCalendar": True}).encode(), {}


@route(r"/users/[^/]+/calendars", "POST")
def _create_calendar(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    body = _body(request) or {}
    name = body.get("name") or ""
    if not name:
        return _error(400, "ErrorInvalidRequest", "name is required.")
    calendars = request.mailbox.calendars
    if any(n.casefold() == name.casefold() for n, _ in calendars.values()):
        return _error(409, "ErrorFolderExists", "A folder with the specified name already "
                      "exists.")
    key = f"AAMkCalendar{next(_ids):06d}"
    calendars[key] = (name, [])
    server.requests["createCalendar"] += 1
    return _created({"id": key, "name": name, "canEdit": True})


def _utc(moment: dict | None, all_day: bool) -> tuple[dict, str] | str:
    """A dateTimeTimeZone as the source asks for it (UTC), or the error message."""
    if not isinstance(moment, dict) or not moment.get("dateTime"):
        return "start and end need a dateTime and a timeZone."
    zone = moment.get("timeZone") or ""
    try:
        local = datetime.fromisoformat(moment["dateTime"].split(".")[0])
        tz = UTC if zone == "UTC" else ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        return f"TimeZoneNotSupportedException: {zone!r}"
    if all_day:
        if local.time() != datetime.min.time():
            return "An all-day event must start and end at midnight."
        return {"dateTime": f"{local:%Y-%m-%dT%H:%M:%S}.0000000", "timeZone": "UTC"}, zone
    stamp = local.replace(tzinfo=tz).astimezone(UTC)
    return {"dateTime": f"{stamp:%Y-%m-%dT%H:%M:%S}.0000000", "timeZone": "UTC"}, zone


@route(r"/users/[^/]+/calendars/([^/]+)/events", "POST")
def _create_event(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    mailbox = request.mailbox
    found = mailbox.calendars.get(unquote(match.group(1)))
    if found is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    body = _body(request)
    if body is None:
        return _error(400, "BadRequest", "The request body is not a JSON object.")
    all_day = bool(body.get("isAllDay"))
    times = [_utc(body.get(name), all_day) for name in ("start", "end")]
    for problem in times:
        if isinstance(problem, str):
            return _error(400, "ErrorInvalidRequest", problem)
    key = f"AAMkEvent{next(_ids):06d}AAA="
    _keep_properties(mailbox, key, body)
    (start, start_zone), (end, end_zone) = times  # type: ignore[misc]
    event = {**body, "id": key, "start": start, "end": end,
             "originalStartTimeZone": start_zone, "originalEndTimeZone": end_zone,
             "iCalUId": f"040000008200E00074C5B7101A82E008{next(_ids):032X}",
             "createdDateTime": _now(), "lastModifiedDateTime": _now(),
             "isCancelled": False, "type": "seriesMaster" if body.get("recurrence")
             else "singleInstance",
             "organizer": {"emailAddress": {"name": mailbox.user, "address": mailbox.user}},
             "attendees": [{**a, "status": {"response": "none",
                                            "time": "0001-01-01T00:00:00Z"}}
                           for a in body.get("attendees") or ()]}
    found[1].append(event)
    server.requests["createEvent"] += 1
    return _answer(server, event)


# --- contacts ------------------------------------------------------------------------------


@route(r"/users/[^/]+/contactFolders", "POST")
def _create_contact_folder(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    name = (_body(request) or {}).get("displayName") or ""
    if not name:
        return _error(400, "ErrorInvalidRequest", "displayName is required.")
    folders = request.mailbox.contact_folders
    if any(n.casefold() == name.casefold() for n, _ in folders.values()):
        return _error(409, "ErrorFolderExists", "A folder with the specified name already "
                      "exists.")
    key = f"AAMkContactFolder{next(_ids):06d}"
    folders[key] = (name, [])
    server.requests["createContactFolder"] += 1
    return _created({"id": key, "displayName": name, "parentFolderId": "contacts"})


@route(r"/users/[^/]+/(?:contactFolders/([^/]+)/)?contacts", "POST")
def _create_contact(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    mailbox = request.mailbox
    if match.group(1):
        found = mailbox.contact_folders.get(unquote(match.group(1)))
        if found is None:
            return _error(404, "ErrorItemNotFound", "The specified object was not found.")
        into = found[1]
    else:
        into = mailbox.contacts
    body = _body(request)
    if body is None:
        return _error(400, "BadRequest", "The request body is not a JSON object.")
    if len(body.get("emailAddresses") or ()) > _MAX_EMAILS:
        return _error(400, "ErrorInvalidRequest", "A contact holds at most three e-mail "
                      "addresses.")
    key = f"AAMkContact{next(_ids):06d}AAA="
    _keep_properties(mailbox, key, body)
    contact = {**body, "id": key, "createdDateTime": _now(), "lastModifiedDateTime": _now()}
    into.append(contact)
    server.requests["createContact"] += 1
    return _answer(server, contact)


# --- listings with extended properties -----------------------------------------------------


def _collection(mailbox: FakeMailbox, path: str) -> list[dict] | None:
    """The stored items a listing path serves."""
    if (found := re.fullmatch(r"/users/[^/]+/calendars/([^/]+)/events", path)):
        return (mailbox.calendars.get(unquote(found.group(1))) or (None, None))[1]
    if re.fullmatch(r"/users/[^/]+/contacts", path):
        return mailbox.contacts
    if (found := re.fullmatch(r"/users/[^/]+/contactFolders/([^/]+)/contacts", path)):
        return (mailbox.contact_folders.get(unquote(found.group(1))) or (None, None))[1]
    return None


def _with_properties(answer):
    """A listing route that also shows (``$expand``) and filters by (``$filter``) the
    extended properties kept beside the items."""
    def listing(server: FakeGraph, request: Request, match):
        wanted = re.search(r"id eq '([^']+)'", request.query.get("$expand", ""))
        same = _FILTER.fullmatch(request.query.get("$filter", ""))
        if request.mailbox is None or not (wanted or same):
            return answer(server, request, match)
        kept = properties(request.mailbox)
        if same:
            items = _collection(request.mailbox, request.path)
            if items is None:
                return _error(404, "ErrorItemNotFound", "The specified object was not found.")
            server.requests["pim:filter"] += 1
            chosen = [i for i in items
                      if kept.get(i["id"], {}).get(same.group(1)) == same.group(2)]
            page = {"value": [{"id": i["id"]} for i in chosen]}
        else:
            status, body, headers = answer(server, request, match)
            if status != 200:
                return status, body, headers
            page = json.loads(body)
            if page.get("@odata.nextLink"):
                page["@odata.nextLink"] += f"&$expand={request.query['$expand']}"
        server.requests["pim:expand"] += bool(wanted)
        for item in page["value"]:
            value = kept.get(item["id"], {}).get(wanted.group(1)) if wanted else None
            item.pop("singleValueExtendedProperties", None)
            if value is not None:
                item["singleValueExtendedProperties"] = [{"id": wanted.group(1),
                                                          "value": value}]
        return 200, json.dumps(page).encode(), {}
    return listing


def _wrap_listings() -> None:
    samples = ("/users/u/calendars/c/events", "/users/u/contacts",
               "/users/u/contactFolders/f/contacts")
    for n, (pattern, method, answer) in enumerate(ROUTES):
        if method == "GET" and any(pattern.fullmatch(s) for s in samples):
            ROUTES[n] = (pattern, method, _with_properties(answer))


_wrap_listings()
