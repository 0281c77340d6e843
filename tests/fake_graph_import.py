"""The mailbox import/export API for the fake Graph server (tests/fake_graph.py), as
Microsoft documents it, on the fake's one mailbox model.

``GET /users/{id}/settings/exchange`` (``primaryMailboxId``); ``POST /admin/exchange/
mailboxes/{id}/exportItems`` (up to 20 ids; each item as a FastTransfer stream in base64,
or an ``error`` for an id it does not hold); ``POST …/createImportSession`` (an ``importUrl``
on this server, pre-authenticated by a token in its query, and ``expirationDateTime``); the
``importUrl`` itself (``POST`` of ``{"FolderId", "Mode": "create", "Data"}`` without an
``Authorization`` header → ``{"itemId", "changeKey"}``, the item id in REST form);
``POST /users/{id}/translateExchangeIds`` and ``POST /users/{id}/messages/{id}/
permanentDelete``.

The stream the fake exports is built from the message as the fake holds it (records
``type, length, payload``: a header, a named-property map, a short record, and the property
stream with PidTagMessageFlags, PidTagMessageDeliveryTime, the message class, subject,
importance, PidTagFlagStatus, categories and extended properties as named properties, the
MIME in a binary property of the fake's own, then one recipient between markers). An
imported stream is read back the same way: ``isDraft`` from MSGFLAG_UNSENT, ``isRead`` from
MSGFLAG_READ, ``receivedDateTime`` from PidTagMessageDeliveryTime, ``$value`` from the MIME
property. A stream it cannot read is refused (400), as Exchange would refuse it.

Faults and counts: ``server.import_denied`` (403 ``ErrorAccessDenied`` on exportItems and
createImportSession, or only on ``"export"`` or ``"session"``: the app lacks
MailboxItem.ImportExport.All), ``expire_imports(server)``
(every importUrl issued so far answers 401), ``stall(server, kind)`` (the next request of
that kind — ``"import"`` or ``"permanentDelete"`` — waits, unanswered and not carried out,
until ``release(server)``, then its connection is closed: what a client killed meanwhile
leaves behind), ``server.drop_imports`` (the next n imports are stored but their answer is
lost), ``server.corrupt_exports`` (the next n exported streams end with a property of a
type nobody knows), ``server.refuse_imports`` (the next n imports answer 400 with their URL,
token included, in the message), ``server.untranslatable`` (the next n translateExchangeIds
requests translate no id), ``server.throttle_imports`` (the next n imports answer 429 with
``Retry-After``); ``requests["export"]``, ``["import"]``, ``["importSession"]``,
``["permanentDelete"]``, ``["translate"]``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import re
import secrets
import struct
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from fake_graph import (
    DROP,
    FakeGraph,
    FakeMailbox,
    FakeMessage,
    Request,
    _error,
    _find_folder,
    _json,
    _no_mailbox,
    route,
)

MESSAGE_FLAGS, DELIVERY_TIME, LAST_VERB = 0x0E070003, 0x0E060040, 0x10810003
IMPORTANCE, MESSAGE_CLASS, SUBJECT, FLAG_STATUS = 0x00170003, 0x001A84B0, 0x0037001F, 0x10900003
MIME = 0x67F00102  # the fake's own: the MIME it rebuilds $value from
DISPLAY_NAME = 0x3001001F
START_RECIP, END_TO_RECIP = 0x40030003, 0x40040003
UNSENT, READ = 0x8, 0x1
CATEGORIES = "StringArray {00020329-0000-0000-C000-000000000046} Name Keywords"
#: Microsoft's example, records 1 and 4 (the header and the short record), as they are.
_HEADER, _SHORT = bytes.fromhex("0000000001000000"), bytes.fromhex("140fd6918617")
_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_rest = itertools.count(1)


def mailbox_id(mailbox: FakeMailbox) -> str:
    """The ``primaryMailboxId`` of a mailbox (``MBX:guid@tenant``, as Graph shows it)."""
    return f"MBX:{hashlib.sha1(mailbox.user.lower().encode()).hexdigest()[:8]}@a7809c93"


# --- the stream ------------------------------------------------------------------------------

def record(kind: int, payload: bytes) -> bytes:
    return struct.pack("<iI", kind, len(payload)) + payload


def prop(tag: int, value: bytes | str | int | datetime | list[str]) -> bytes:
    """One property of a stream: its tag and its value, encoded by the tag's type."""
    kind = tag & 0xFFFF
    head = struct.pack("<I", tag)
    if kind == 0x0003:
        return head + struct.pack("<I", value)
    if kind == 0x0040:
        delta = value.astimezone(UTC) - _EPOCH
        ticks = (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
        return head + struct.pack("<Q", ticks)
    if kind in (0x001F, 0x84B0):
        data = (value + "\0").encode("utf-16-le")
        return head + struct.pack("<I", len(data)) + data
    if kind == 0x0102:
        return head + struct.pack("<I", len(value)) + value
    if kind == 0x101F:
        data = b"".join(struct.pack("<I", len(s) * 2 + 2) + (s + "\0").encode("utf-16-le")
                        for s in value)
        return head + struct.pack("<I", len(value)) + data
    raise ValueError(f"the fake cannot write type 0x{kind:04X}")


def stream(properties: bytes, tail: bytes = b"", names: list[str] = ()) -> bytes:
    """A whole exported item: header, named-property map, short record, property stream."""
    table = struct.pack("<I", len(names)) + b"".join(
        struct.pack("<HI", 0x8000 + n, len(name) * 2) + name.encode("utf-16-le")
        for n, name in enumerate(names))
    return (record(1, _HEADER) + record(3, table) + record(4, _SHORT)
            + record(2, properties + tail))


def export(message: FakeMessage, extra: bytes = b"") -> bytes:
    """The stream of a message the fake holds (``extra`` bytes at the end of its own
    properties)."""
    names = [*message.properties, CATEGORIES]
    flags = (UNSENT if message.draft else 0) | (READ if message.is_read else 0)
    body = (prop(IMPORTANCE, 1) + prop(MESSAGE_CLASS, "IPM.Note")
            + prop(SUBJECT, _subject(message.mime)) + prop(MESSAGE_FLAGS, flags)
            + prop(DELIVERY_TIME, message.received) + prop(FLAG_STATUS, 2 * message.flagged)
            + b"".join(prop((0x8000 + n) << 16 | 0x001F, value)
                       for n, value in enumerate(message.properties.values()))
            + prop((0x8000 + len(names) - 1) << 16 | 0x101F, list(message.categories))
            + prop(MIME, message.mime) + extra)
    recipient = (struct.pack("<I", START_RECIP) + prop(DISPLAY_NAME, "Agent")
                 + struct.pack("<I", END_TO_RECIP))
    return stream(body, recipient, names)


def _subject(mime: bytes) -> str:
    found = re.search(rb"^Subject: ?(.*?)\r?$", mime, re.M | re.I)
    return found.group(1).decode("ascii", "replace") if found else ""


def parse(data: bytes) -> tuple[dict[int, object], list[str]]:
    """Top-level properties (tag → value) and named-property names of a stream; ValueError
    for anything the fake did not write."""
    at, names, props = 0, [], None
    while at < len(data):
        kind, length = struct.unpack_from("<iI", data, at)
        payload = data[at + 8:at + 8 + length]
        if len(payload) != length:
            raise ValueError("record cut")
        if kind == 3:
            count, off = struct.unpack_from("<I", payload)[0], 4
            for _ in range(count):
                _, size = struct.unpack_from("<HI", payload, off)
                names.append(payload[off + 6:off + 6 + size].decode("utf-16-le"))
                off += 6 + size
        elif kind == 2:
            props = _properties(payload)
        at += 8 + length
    if props is None:
        raise ValueError("no property record")
    return props, names


def _properties(payload: bytes) -> dict[int, object]:
    found: dict[int, object] = {}
    at = 0
    while at < len(payload):
        tag = struct.unpack_from("<I", payload, at)[0]
        if tag >> 16 >= 0x4000 and tag >> 16 < 0x4020:  # a marker: the message's own end
            break
        kind, at = tag & 0xFFFF, at + 4
        if kind == 0x0003:
            found[tag], at = struct.unpack_from("<I", payload, at)[0], at + 4
        elif kind == 0x0040:
            ticks = struct.unpack_from("<Q", payload, at)[0]
            found[tag], at = _EPOCH + timedelta(microseconds=ticks // 10), at + 8
        elif kind in (0x001F, 0x84B0, 0x0102):
            size = struct.unpack_from("<I", payload, at)[0]
            raw = payload[at + 4:at + 4 + size]
            found[tag] = raw if kind == 0x0102 else raw.decode("utf-16-le").rstrip("\0")
            at += 4 + size
        elif kind == 0x101F:
            count, at, values = struct.unpack_from("<I", payload, at)[0], at + 4, []
            for _ in range(count):
                size = struct.unpack_from("<I", payload, at)[0]
                values.append(payload[at + 4:at + 4 + size].decode("utf-16-le").rstrip("\0"))
                at += 4 + size
            found[tag] = values
        else:
            raise ValueError(f"type 0x{kind:04X}")
    if at > len(payload):
        raise ValueError("property cut")
    return found


def imported(data: bytes) -> FakeMessage:
    """The message an imported stream describes."""
    props, names = parse(data)
    flags = props.get(MESSAGE_FLAGS, 0)
    named = {names[(tag >> 16) - 0x8000]: value for tag, value in props.items()
             if tag >> 16 >= 0x8000 and (tag >> 16) - 0x8000 < len(names)}
    categories = tuple(named.pop(CATEGORIES, ()))
    extended = {key: value for key, value in named.items() if isinstance(value, str)}
    if LAST_VERB in props:
        extended["Integer 0x1081"] = str(props[LAST_VERB])
    return FakeMessage(props[MIME], received=props.get(DELIVERY_TIME, datetime.now(UTC)),
                       is_read=bool(flags & READ), draft=bool(flags & UNSENT),
                       flagged=props.get(FLAG_STATUS) == 2, categories=categories,
                       properties=extended)


# --- faults ---------------------------------------------------------------------------------

def expire_imports(server: FakeGraph) -> None:
    """Every importUrl issued so far stops working (401), as when its token expires."""
    server.import_tokens = set()


def stall(server: FakeGraph, kind: str) -> None:
    """The next ``kind`` request waits, not carried out, until ``release``; then dropped."""
    server.stalled = (kind, threading.Event())


def release(server: FakeGraph) -> None:
    kind_event = getattr(server, "stalled", None)
    if kind_event:
        kind_event[1].set()


def _stalls(server: FakeGraph, kind: str) -> bool:
    kind_event = getattr(server, "stalled", None)
    if not kind_event or kind_event[0] != kind:
        return False
    server.stalled = None
    server.requests[f"stalled:{kind}"] += 1
    kind_event[1].wait(30)
    return True


# --- routes ---------------------------------------------------------------------------------

def _by_mailbox_id(server: FakeGraph, key: str) -> FakeMailbox | None:
    return next((m for m in server.mailboxes.values() if mailbox_id(m) == key), None)


def _denied(server: FakeGraph, kind: str):
    if getattr(server, "import_denied", False) in (True, kind):
        server.requests["403"] += 1
        return _error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try "
                      "again.")
    return None


@route(r"/users/[^/]+/settings/exchange")
def _exchange_settings(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    server.requests["settings/exchange"] += 1
    return _json({"@odata.context": f"{server.url}/$metadata#users('{request.mailbox.user}')"
                  "/settings/exchange/$entity", "primaryMailboxId": mailbox_id(request.mailbox)})


@route(r"/admin/exchange/mailboxes/([^/]+)/exportItems", "POST")
def _export_items(server: FakeGraph, request: Request, match):
    if (denied := _denied(server, "export")) is not None:
        return denied
    mailbox = _by_mailbox_id(server, unquote(match.group(1)))
    if mailbox is None:
        return _error(404, "ErrorMailboxNotFound", "The mailbox was not found.")
    asked = {k.lower(): v for k, v in json.loads(request.body or b"{}").items()}
    ids = asked.get("itemids") or []  # the SDK says ItemIds
    if not ids or len(ids) > 20:
        return _error(400, "ErrorInvalidRequest", "itemIds takes 1 to 20 ids.")
    server.requests["export"] += 1
    out = []
    for key in ids:
        message = mailbox.message(key)
        if message is None:
            out.append({"itemId": key, "error": {"code": "ErrorItemNotFound",
                                                 "message": "The item was not found."}})
        else:
            strange = b""
            if getattr(server, "corrupt_exports", 0):  # a property whose type is unknown
                server.corrupt_exports -= 1
                strange = struct.pack("<I", 0x7FFF0099) + bytes(8)
            data = export(message, strange)
            out.append({"itemId": key, "changeKey": f"CQAAABYAAAA{message.changed:08d}",
                        "data": base64.b64encode(data).decode()})
    return _json({"@odata.context": f"{server.url}/$metadata#Collection("
                  "microsoft.graph.exportItemResponse)", "value": out})


@route(r"/admin/exchange/mailboxes/([^/]+)/createImportSession", "POST")
def _create_import_session(server: FakeGraph, request: Request, match):
    if (denied := _denied(server, "session")) is not None:
        return denied
    mailbox = _by_mailbox_id(server, unquote(match.group(1)))
    if mailbox is None:
        return _error(404, "ErrorMailboxNotFound", "The mailbox was not found.")
    server.requests["importSession"] += 1
    token = secrets.token_urlsafe(24)
    if not hasattr(server, "import_tokens"):
        server.import_tokens = set()
    server.import_tokens.add(token)
    root = server.url.removesuffix("/v1.0")
    expires = datetime.now(UTC) + timedelta(seconds=getattr(server, "import_lifetime", 3600))
    return _json({"@odata.context": f"{server.url}/$metadata#microsoft.graph."
                  "mailboxItemImportSession",
                  "importUrl": f"{root}/api/gbeta/Mailboxes('{mailbox_id(mailbox)}')"
                               f"/importItem?authtoken={token}",
                  "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})


@route(r"/api/gbeta/Mailboxes\('([^']+)'\)/importItem", "POST", bearer=False)
def _import_item(server: FakeGraph, request: Request, match):
    if request.headers.get("Authorization") is not None:
        return _error(400, "ErrorInvalidRequest", "The importUrl takes no Authorization.")
    if request.query.get("authtoken") not in getattr(server, "import_tokens", set()):
        server.requests["import:401"] += 1
        return _error(401, "InvalidAuthenticationToken", "The import session has expired.")
    if getattr(server, "throttle_imports", 0):  # as Exchange answers a busy mailbox
        server.throttle_imports -= 1
        server.requests["import:429"] += 1
        return _error(429, "ApplicationThrottled", "Too many requests.", {"Retry-After": "0.1"})
    if getattr(server, "refuse_imports", 0):  # refused, the URL (and its token) quoted
        server.refuse_imports -= 1
        return _error(400, "ErrorInvalidRequest", f"Cannot import through {request.path}"
                      f"?authtoken={request.query['authtoken']}.")
    mailbox = _by_mailbox_id(server, unquote(match.group(1)))
    body = json.loads(request.body or b"{}")
    folder = _find_folder(mailbox, body.get("FolderId") or "") if mailbox else None
    if folder is None:
        return _error(404, "ErrorItemNotFound", "The folder was not found.")
    if body.get("Mode") != "create":
        return _error(400, "ErrorInvalidRequest", "Mode must be create.")
    try:
        message = imported(base64.b64decode(body.get("Data") or "", validate=True))
    except (binascii.Error, ValueError, KeyError, IndexError, struct.error) as exc:
        return _error(400, "ErrorCorruptData", f"The item data is not valid: {exc}")
    if _stalls(server, "import"):
        return DROP
    mailbox.add(folder, message)
    rest = f"AAMkRest{next(_rest):06d}-_AAA="
    server.rest_ids = {**getattr(server, "rest_ids", {}), rest: message.id}
    server.requests["import"] += 1
    if getattr(server, "drop_imports", 0):  # stored, but the answer is lost on the way
        server.drop_imports -= 1
        return DROP
    return _json({"itemId": rest, "changeKey": f"CQAAABYAAAA{message.changed:08d}"})


@route(r"/users/[^/]+/translateExchangeIds", "POST")
def _translate(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    body = {k.lower(): v for k, v in json.loads(request.body or b"{}").items()}
    if (body.get("sourceidtype"), body.get("targetidtype")) != ("restId",
                                                                "restImmutableEntryId"):
        return _error(400, "ErrorInvalidRequest", "The fake translates restId to "
                      "restImmutableEntryId only.")
    server.requests["translate"] += 1
    known = getattr(server, "rest_ids", {})
    if getattr(server, "untranslatable", 0):  # the next n requests translate nothing
        server.untranslatable -= 1
        known = {}
    out = [{"sourceId": key, "targetId": known[key]} if key in known else
           {"sourceId": key, "errorDetails": {"code": "ErrorItemNotFound",
                                              "message": "The id was not found."}}
           for key in body.get("inputids") or ()]
    return _json({"@odata.context": f"{server.url}/$metadata#Collection(microsoft.graph."
                  "convertIdResult)", "value": out})


@route(r"/users/[^/]+/messages/([^/]+)/permanentDelete", "POST")
def _permanent_delete(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    mailbox = request.mailbox
    key = unquote(match.group(1))
    found = next(((f, m) for f in mailbox.folders.values() for m in f.messages if m.id == key),
                 None)
    if found is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    if _stalls(server, "permanentDelete"):
        return DROP
    mailbox.delete(*found)
    server.requests["permanentDelete"] += 1
    return 204, b"", {}
