"""A fake Microsoft Graph server on 127.0.0.1, for driving the real, unmodified msgraph-sdk.

It answers, over plain HTTP with bearer tokens, the requests the Graph connector makes, in
the JSON shapes Microsoft documents: ``/users/{id}/mailFolders`` and ``…/childFolders``
(paged with ``$top``/``$skip`` and an absolute ``@odata.nextLink``; hidden folders with
``includeHiddenFolders=true``), a folder by id or well-known name (``inbox``,
``msgfolderroot`` …), ``…/mailFolders/{id}/messages/delta`` (pages sized by ``Prefer:
odata.maxpagesize``, absolute ``@odata.nextLink`` then ``@odata.deltaLink``; from a delta
token, only the messages changed since and ``@removed`` entries), and
``/users/{id}/messages/{id}/$value`` (the MIME, streamed).

Faults a test can set: tokens it stops accepting (401 ``InvalidAuthenticationToken``),
``storm(n, retry_after, status)`` (the next n requests get 429 or 503 with Retry-After),
``expire_deltas`` (410 ``SyncStateNotFound`` for delta tokens), and it checks Graph's
mailbox concurrency: more than ``MAILBOX_LIMIT`` requests in flight on one mailbox are
answered 429 ``ApplicationThrottled`` and counted in ``over_limit``. ``requests`` counts
requests by kind, ``delay`` keeps each one in flight a little while.

Other parts of the fake (Teams, calendars, writes …) can add routes with ``route``, for
one HTTP method each (GET unless said).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

MAILBOX_LIMIT = 4
#: The answer of a route that closes the connection without answering (a dropped link).
DROP = (0, b"", {})
_ids = itertools.count(1)

#: Routes added by other modules: (regex on the path after /v1.0, HTTP method,
#: answer(server, request, match)).
ROUTES: list[tuple[re.Pattern, str, Callable]] = []
#: Paths answered without a bearer token (pre-authenticated URLs, such as an importUrl).
OPEN_PATHS: list[re.Pattern] = []


def route(pattern: str, method: str = "GET", bearer: bool = True):
    """Register ``function(server, request, match) -> (status, body, headers)``; with
    ``bearer=False`` the path needs no token (its URL carries its own authorization)."""
    def register(function):
        ROUTES.append((re.compile(pattern), method, function))
        if not bearer:
            OPEN_PATHS.append(re.compile(pattern))
        return function
    return register


@dataclass
class FakeMessage:
    """One message as the server holds it: MIME bytes and the properties beside them."""

    mime: bytes
    received: datetime = field(default_factory=lambda: datetime(2024, 3, 1, 9, 30, tzinfo=UTC))
    is_read: bool = False
    flagged: bool = False
    categories: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: f"AAkALgImmutable{next(_ids):06d}AAA=")
    changed: int = 0  # the mailbox sequence number of its last change
    draft: bool = False  # isDraft: true for a message created from MIME
    properties: dict[str, str] = field(default_factory=dict)  # extended properties by id

    @property
    def size(self) -> int:  # PidTagMessageSize: larger than the MIME bytes
        return len(self.mime) + 1024

    def json(self) -> dict:
        return {
            "@odata.type": "#microsoft.graph.message",
            "@odata.etag": f'W/"CQAAABYAAAA{self.changed:08d}"',
            "id": self.id,
            "receivedDateTime": self.received.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "isRead": self.is_read,
            "categories": list(self.categories),
            "flag": {"flagStatus": "flagged" if self.flagged else "notFlagged"},
            "singleValueExtendedProperties": [{"id": "Long 0xe08", "value": str(self.size)}],
        }


@dataclass
class FakeFolder:
    """A mail folder: display name (localized), well-known name if any, parent id."""

    name: str
    parent: str | None
    well_known: str | None = None
    hidden: bool = False
    messages: list[FakeMessage] = field(default_factory=list)
    removed: list[tuple[int, str]] = field(default_factory=list)  # (sequence, message id)
    id: str = field(default_factory=lambda: f"AAMkFolder{next(_ids):06d}AAA=")


class FakeMailbox:
    """A user's mailbox; changes go through its methods so that delta queries see them."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.seq = 0
        self.folders: dict[str, FakeFolder] = {}
        self.root = FakeFolder("Haut de la banque d'informations", None, "msgfolderroot")
        self.folders[self.root.id] = self.root
        # Calendars and address books, as Graph JSON (tests/fake_graph_pim.py serves them):
        self.calendars: dict[str, tuple[str, list[dict]]] = {}  # id → (name, events)
        self.contacts: list[dict] = []  # the default address book
        self.contact_folders: dict[str, tuple[str, list[dict]]] = {}  # id → (name, contacts)
        self.pim_changed: dict[str, int] = {}  # entry id → sequence of its last change
        self.pim_removed: dict[str, list[tuple[int, str]]] = {}  # collection id → deletions

    def add_folder(self, name: str, parent: FakeFolder | None = None,
                   well_known: str | None = None, hidden: bool = False) -> FakeFolder:
        folder = FakeFolder(name, (parent or self.root).id, well_known, hidden)
        self.folders[folder.id] = folder
        return folder

    def by_well_known(self, name: str) -> FakeFolder | None:
        return next((f for f in self.folders.values() if f.well_known == name), None)

    def _tick(self) -> int:
        self.seq += 1
        return self.seq

    def add(self, folder: FakeFolder, *messages: FakeMessage) -> None:
        for message in messages:
            message.changed = self._tick()
            folder.messages.append(message)

    def change(self, message: FakeMessage, **values) -> None:
        """Change a message's properties (is_read, flagged, categories)."""
        for name, value in values.items():
            setattr(message, name, value)
        message.changed = self._tick()

    def delete(self, folder: FakeFolder, message: FakeMessage) -> None:
        folder.messages.remove(message)
        folder.removed.append((self._tick(), message.id))

    def message(self, key: str) -> FakeMessage | None:
        return next((m for f in self.folders.values() for m in f.messages if m.id == key), None)

    def children(self, parent_id: str) -> list[FakeFolder]:
        return [f for f in self.folders.values() if f.parent == parent_id]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message  # case-insensitive, as received
    mailbox: FakeMailbox | None
    body: bytes = b""


def _error(status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    body = {"error": {"code": code, "message": message,
                      "innerError": {"date": "2026-11-29T02:00:00", "request-id": "fake"}}}
    return status, json.dumps(body).encode(), headers or {}


def _json(data: dict) -> tuple[int, bytes, dict[str, str]]:
    return 200, json.dumps(data).encode(), {}


class FakeGraph:
    """The server: ``url`` is the Graph base URL (``http://127.0.0.1:PORT/v1.0``)."""

    def __init__(self, *mailboxes: FakeMailbox, tokens: set[str] | None = None) -> None:
        self.mailboxes = {m.user.lower(): m for m in mailboxes}
        self.tokens = set(tokens if tokens is not None else {"good-token"})
        self.requests: Counter[str] = Counter()
        self.delay = 0.0  # seconds each request stays in flight
        self.expire_deltas = False
        self.teams = None  # a fake_graph_teams.FakeTeams, for the Teams routes
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight = 0
        self.over_limit = 0
        self._storm: list[tuple[int, float]] = []  # (status, retry_after) per next request
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1.0"

    def start(self) -> FakeGraph:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def storm(self, count: int, retry_after: float = 1, status: int = 429) -> None:
        """Answer the next ``count`` requests with ``status`` and this Retry-After."""
        with self._lock:
            self._storm += [(status, retry_after)] * count

    # --- HTTP ------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args) -> None:  # quiet
                pass

            def setup(self) -> None:  # headers and body go out at once (no Nagle delay)
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                server._serve(self)

            def do_POST(self) -> None:
                server._serve(self)

            def do_PATCH(self) -> None:
                server._serve(self)

            def do_DELETE(self) -> None:
                server._serve(self)

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = parts.path.removeprefix("/v1.0")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        user = re.match(r"/users/([^/]+)", path)
        mailbox = self.mailboxes.get(unquote(user.group(1)).lower()) if user else None
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(handler.command, path, query, handler.headers, mailbox, body)
        who = mailbox.user if mailbox else "-"
        with self._lock:
            self.in_flight[who] += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight[who])
            crowded = self.in_flight[who] > MAILBOX_LIMIT
            if crowded:
                self.over_limit += 1
        try:
            if self.delay:
                time.sleep(self.delay)
            if crowded:
                self.requests["429"] += 1
                answer = _error(429, "ApplicationThrottled",
                                "Application is over its MailboxConcurrency limit.",
                                {"Retry-After": "1"})
            else:
                answer = self._answer(request)
            status, body, headers = answer
            if status == 0:  # DROP: no answer at all
                handler.close_connection = True
                return
            if callable(body):  # a streamed body: (length, chunks)
                length, chunks = body()
                handler.send_response(status)
                for name, value in headers.items():
                    handler.send_header(name, value)
                handler.send_header("Content-Length", str(length))
                handler.end_headers()
                for chunk in chunks:
                    handler.wfile.write(chunk)
                return
            handler.send_response(status)
            handler.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._lock:
                self.in_flight[who] -= 1

    def _answer(self, request: Request):
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens and not any(p.fullmatch(request.path)
                                                for p in OPEN_PATHS):
            self.requests["401"] += 1
            return _error(401, "InvalidAuthenticationToken",
                          "Lifetime validation failed, the token is expired.",
                          {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})
        with self._lock:
            if self._storm:
                status, wait = self._storm.pop(0)
                self.requests[str(status)] += 1
                code = "ApplicationThrottled" if status == 429 else "ServiceUnavailable"
                return _error(status, code, "Too many requests; try again later.",
                              {"Retry-After": f"{wait:g}"})
        for pattern, method, answer in ROUTES:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                return answer(self, request, match)
        return _error(400, "BadRequest", f"{request.path} is not faked")

    def base(self, request: Request) -> str:
        return f"{self.url}/users/{request.mailbox.user}" if request.mailbox else self.url


# --- routes ---------------------------------------------------------------------------------


def _no_mailbox(request: Request):
    return _error(404, "ErrorInvalidUser",
                  "The requested user is invalid.") if request.mailbox is None else None


def _folder_json(folder: FakeFolder, mailbox: FakeMailbox) -> dict:
    return {"id": folder.id, "displayName": folder.name,
            "parentFolderId": folder.parent or "",
            "childFolderCount": len(mailbox.children(folder.id)),
            "unreadItemCount": sum(not m.is_read for m in folder.messages),
            "totalItemCount": len(folder.messages), "isHidden": folder.hidden,
            "singleValueExtendedProperties": [
                {"id": "Long 0xe08", "value": str(sum(m.size for m in folder.messages))}]}


def _find_folder(mailbox: FakeMailbox, key: str) -> FakeFolder | None:
    return mailbox.folders.get(key) or mailbox.by_well_known(key.lower())


@route(r"/users/[^/]+/mailFolders/([^/]+)")
def _get_folder(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    key = unquote(match.group(1))
    server.requests["mailFolder" if key in request.mailbox.folders else "wellKnown"] += 1
    folder = _find_folder(request.mailbox, key)
    if folder is None:
        return _error(404, "ErrorItemNotFound",
                      "The specified object was not found in the store.")
    return _json({"@odata.context": f"{server.url}/$metadata#users('{request.mailbox.user}')"
                  "/mailFolders/$entity", **_folder_json(folder, request.mailbox)})


@route(r"/users/[^/]+/mailFolders(?:/([^/]+)/childFolders)?")
def _list_folders(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    mailbox = request.mailbox
    parent = _find_folder(mailbox, unquote(match.group(1))) if match.group(1) else mailbox.root
    if parent is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    server.requests["childFolders" if match.group(1) else "mailFolders"] += 1
    hidden = request.query.get("includeHiddenFolders") == "true"
    found = [f for f in mailbox.children(parent.id) if hidden or not f.hidden]
    top, skip = int(request.query.get("$top", 10)), int(request.query.get("$skip", 0))
    page = {"@odata.context": f"{server.url}/$metadata#users('{mailbox.user}')/mailFolders",
            "value": [_folder_json(f, mailbox) for f in found[skip:skip + top]]}
    if skip + top < len(found):
        more = f"$top={top}&$skip={skip + top}" + ("&includeHiddenFolders=true" if hidden else "")
        page["@odata.nextLink"] = f"{server.url}{request.path}?{more}"
    return _json(page)


def _token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _untoken(text: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _page_size(request: Request) -> int:
    found = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
    return int(found.group(1)) if found else 10


@route(r"/users/[^/]+/mailFolders/([^/]+)/messages/delta(?:\(\))?")
def _delta(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    mailbox = request.mailbox
    folder = _find_folder(mailbox, unquote(match.group(1)))
    if folder is None:
        return _error(404, "ErrorItemNotFound", "The specified object was not found.")
    if "$skiptoken" in request.query:
        state = _untoken(request.query["$skiptoken"])
        server.requests["delta:next"] += 1
    elif "$deltatoken" in request.query:
        if server.expire_deltas:
            server.requests["410"] += 1
            return _error(410, "SyncStateNotFound", "The sync state has expired.")
        server.requests["delta:token"] += 1
        state = {"since": int(request.query["$deltatoken"]), "until": mailbox.seq, "at": 0}
    else:
        server.requests["delta:initial"] += 1
        server.requests["delta:select"] += "$select" in request.query
        state = {"since": -1, "until": mailbox.seq, "at": 0}
    since, until, at = state["since"], state["until"], state["at"]
    if since < 0:  # the first round: every message there now
        entries = [m.json() for m in folder.messages]
    else:
        entries = [m.json() for m in sorted(folder.messages, key=lambda m: m.changed)
                   if since < m.changed <= until]
        entries += [{"@odata.type": "#microsoft.graph.message", "id": key,
                     "@removed": {"reason": "deleted"}}
                    for seq, key in folder.removed if since < seq <= until]
    size = _page_size(request)
    link = f"{server.url}{request.path}"
    page = {"@odata.context": f"{server.url}/$metadata#Collection(message)",
            "value": entries[at:at + size]}
    if at + size < len(entries):
        page["@odata.nextLink"] = f"{link}?$skiptoken={_token({**state, 'at': at + size})}"
    else:
        page["@odata.deltaLink"] = f"{link}?$deltatoken={until}"
    return _json(page)


@route(r"/users/[^/]+/messages/([^/]+)/\$value")
def _value(server: FakeGraph, request: Request, match):
    if (missing := _no_mailbox(request)) is not None:
        return missing
    server.requests["$value"] += 1
    immutable = 'IdType="ImmutableId"' in request.headers.get("Prefer", "")
    server.requests["$value:immutable"] += immutable
    message = request.mailbox.message(unquote(match.group(1)))
    if message is None:
        return _error(404, "ErrorItemNotFound",
                      "The specified object was not found in the store.")
    data = message.mime

    def body():
        step = 1024 * 1024
        return len(data), (data[i:i + step] for i in range(0, len(data), step))

    return 200, body, {"Content-Type": "text/plain"}


# The other parts of the fake register their routes when imported (at the end, so that they
# can import what this module defines).
import fake_graph_import  # noqa: E402, F401
import fake_graph_pim  # noqa: E402, F401
import fake_graph_pim_write  # noqa: E402, F401
import fake_graph_teams  # noqa: E402, F401
import fake_graph_teams_files  # noqa: E402, F401
import fake_graph_write  # noqa: E402, F401
