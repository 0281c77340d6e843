"""Writes for the fake Graph server (tests/fake_graph.py), as Microsoft documents them.

``POST mailFolders`` / ``…/childFolders`` (201 with the folder; 409 ``ErrorFolderExists``
for a name taken, case ignored); ``POST mailFolders/{id}/messages`` with ``Content-Type:
text/plain`` and base64 MIME (201; the message is a draft, read, received now, its
``internetMessageId`` from the ``Message-ID`` header; counted in ``requests["upload"]``);
``GET mailFolders/{id}/messages`` (``$select``, ``$expand=singleValueExtendedProperties(
$filter=id eq '…')``, paged with ``$top``/``$skip``); ``PATCH messages/{id}`` (isRead, flag,
categories, extended properties; ``isDraft`` is read-only once created, as on Graph) and
``POST messages/{id}/move``.

Faults and limits a test sets on the server: ``drop_answers`` (the next n uploads are
stored but their connection is closed before any answer, as when a link drops),
``max_request`` (bytes of request body; more → 413 ``RequestEntityTooLarge``) and a
mailbox's ``quota`` attribute (bytes of MIME it may hold; more → 507 ``ErrorQuotaExceeded``).
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import json
import re
from datetime import UTC, datetime
from urllib.parse import unquote

from fake_graph import (
    DROP,
    FakeFolder,
    FakeGraph,
    FakeMailbox,
    FakeMessage,
    Request,
    _error,
    _find_folder,
    _folder_json,
    _no_mailbox,
    route,
)

#: Graph refuses request bodies over 4 MB (a test may lower it: ``server.max_request``).
MAX_REQUEST = 4 * 1024 * 1024


def _created(data: dict) -> tuple[int, bytes, dict[str, str]]:
    return 201, json.dumps(data).encode(), {}


def _message_json(message: FakeMessage, wanted: str | None = None) -> dict:
    out = {**message.json(), "isDraft": message.draft,
           "internetMessageId": _message_id(message.mime)}
    props = [{"id": key, "value": value} for key, value in message.properties.items()
             if wanted is not None and key.lower() == wanted.lower()]
    if props:
        out["singleValueExtendedProperties"] = props
    else:
        out.pop("singleValueExtendedProperties", None)
    return out


def _message_id(mime: bytes) -> str | None:
    head = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(mime)
    value = head.get("Message-ID")
    return str(value).strip() if value else None


def _used(mailbox: FakeMailbox) -> int:
    return sum(len(m.mime) for f in mailbox.folders.values() for m in f.messages)


def _located(mailbox: FakeMailbox, key: str) -> tuple[FakeFolder, FakeMessage] | None:
    for folder in mailbox.folders.values():
        for message in folder.messages:
            if message.id == key:
                return folder, message
    return None


@route(r"/users/[^/]+/mailFolders(?:/([^/]+)/childFolders)?", "POST")
def _create_folder(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    mailbox = request.mailbox
    parent = _find_folder(mailbox, unquote(match.group(1))) if match.group(1) else mailbox.root
    if parent is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    asked = json.loads(request.body or b"{}")
    name = asked.get("displayName") or ""
    if not name:
        return _error(400, "ErrorInvalidRequest", "displayName is required.")
    if any(f.name.casefold() == name.casefold() for f in mailbox.children(parent.id)):
        return _error(409, "ErrorFolderExists", "A folder with the specified name already "
                      "exists.")
    server.requests["createFolder"] += 1
    made = mailbox.add_folder(name, parent, hidden=bool(asked.get("isHidden")))
    return _created(_folder_json(made, mailbox))


@route(r"/users/[^/]+/mailFolders/([^/]+)/messages", "POST")
def _create_message(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    mailbox = request.mailbox
    folder = _find_folder(mailbox, unquote(match.group(1)))
    if folder is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    if len(request.body) > getattr(server, "max_request", MAX_REQUEST):
        server.requests["413"] += 1
        return _error(413, "RequestEntityTooLarge", "The request body is too large.")
    if not request.headers.get("Content-Type", "").startswith("text/plain"):
        return _error(415, "UnsupportedMediaType", "This fake takes MIME messages only.")
    try:
        mime = base64.b64decode(request.body, validate=True)
    except (binascii.Error, ValueError):
        return _error(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string "
                      "for MIME content.")
    quota = getattr(mailbox, "quota", None)
    if quota is not None and _used(mailbox) + len(mime) > quota:
        server.requests["507"] += 1
        return _error(507, "ErrorQuotaExceeded", "The mailbox quota has been exceeded.")
    message = FakeMessage(mime, received=datetime.now(UTC).replace(microsecond=0),
                          is_read=True, draft=True)
    mailbox.add(folder, message)
    server.requests["upload"] += 1
    if getattr(server, "drop_answers", 0):  # stored, but the answer is lost on the way
        server.drop_answers -= 1
        return DROP
    return _created(_message_json(message))


@route(r"/users/[^/]+/mailFolders/([^/]+)/messages")
def _list_messages(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    folder = _find_folder(request.mailbox, unquote(match.group(1)))
    if folder is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    server.requests["messages"] += 1
    wanted = re.search(r"id eq '([^']+)'", request.query.get("$expand", ""))
    top, skip = int(request.query.get("$top", 10)), int(request.query.get("$skip", 0))
    found = folder.messages
    if (same := re.fullmatch(r"internetMessageId eq '(.*)'", request.query.get("$filter", ""))):
        server.requests["messages:filter"] += 1
        found = [m for m in found if _message_id(m.mime) == same.group(1).replace("''", "'")]
    items = [_message_json(m, wanted.group(1) if wanted else None) for m in found]
    page = {"@odata.context": f"{server.url}/$metadata#Collection(message)",
            "value": items[skip:skip + top]}
    if skip + top < len(items):
        more = f"$top={top}&$skip={skip + top}"
        if wanted:
            more += f"&$expand={request.query['$expand']}"
        page["@odata.nextLink"] = f"{server.url}{request.path}?{more}"
    return 200, json.dumps(page).encode(), {}


@route(r"/users/[^/]+/messages/([^/]+)", "PATCH")
def _update_message(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    message = request.mailbox.message(unquote(match.group(1)))
    if message is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    body = json.loads(request.body or b"{}")
    changes: dict = {}
    if "isRead" in body:
        changes["is_read"] = bool(body["isRead"])
    if "flag" in body:
        changes["flagged"] = (body["flag"] or {}).get("flagStatus") == "flagged"
    if "categories" in body:
        changes["categories"] = tuple(body["categories"] or ())
    for prop in body.get("singleValueExtendedProperties") or ():
        message.properties[prop["id"]] = prop["value"]
    request.mailbox.change(message, **changes)
    server.requests["patch"] += 1
    return 200, json.dumps(_message_json(message)).encode(), {}


@route(r"/users/[^/]+/messages/([^/]+)/move", "POST")
def _move_message(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    mailbox = request.mailbox
    found = _located(mailbox, unquote(match.group(1)))
    body = {k.lower(): v for k, v in json.loads(request.body or b"{}").items()}
    target = _find_folder(mailbox, body.get("destinationid") or "")  # the SDK says DestinationId
    if found is None or target is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    folder, message = found
    mailbox.delete(folder, message)
    mailbox.add(target, message)
    server.requests["move"] += 1
    return _created(_message_json(message))
