"""Teams files and export listings for the fake Graph server (tests/fake_graph.py), as
Microsoft documents them:

- ``GET /shares/{u!…}/driveItem`` (the driveItem JSON of a shared file) and ``…/driveItem/
  content`` (302 to a download URL on the same host, which streams the bytes: a large file
  is generated chunk by chunk, never held whole). The share id is decoded as Graph does
  (``u!`` + unpadded base64url of the file URL). A file with ``status`` 404 or 403 answers
  that, as for a deleted file or one the app may not read.
- ``GET /teams/{id}/channels/getAllMessages`` and ``GET /users/{id}/chats/getAllMessages``
  (Teams export APIs): every message and reply of the team's public and private channels,
  not shared ones, as Graph documents (each naming its
  ``channelIdentity``) or of the user's chats (each naming its ``chatId``), in an order of
  their own (last modified first), paged by ``$top``; the ``model`` query parameter is
  counted in ``server.requests["getAllMessages model=X"]``; throttled once with
  ``throttle_once`` {"getAllMessages"}.

The files are a ``FakeFiles`` a test puts in ``server.teams_files``; the Teams data is
``server.teams`` (tests/fake_graph_teams.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from fake_graph import FakeGraph, Request, _error, _json, route
from fake_graph_teams import _data, _page, _protected, _throttled

CHUNK = 1024 * 1024


def generated(size: int, seed: str) -> Iterator[bytes]:
    """``size`` bytes that depend on ``seed`` only, a megabyte at a time (never whole)."""
    block = hashlib.sha256(seed.encode()).digest() * (CHUNK // 32)
    sent = 0
    counter = 0
    while sent < size:
        chunk = bytes([counter % 256]) + block[1:]
        chunk = chunk[:size - sent]
        sent += len(chunk)
        counter += 1
        yield chunk


@dataclass
class FakeFile:
    """A SharePoint or OneDrive file: its bytes (or a size and seed to generate them)."""

    url: str
    name: str
    data: bytes | None = None
    size: int = 0  # for generated files (data None)
    seed: str = ""
    mime_type: str = "application/octet-stream"
    status: int = 200  # 404: deleted; 403: the app may not read it
    #: When set, the download stops after its first chunk until the test sets it again
    #: (``sending`` tells the test it is there): a copy can be killed mid-file.
    hold: threading.Event | None = None
    sending: threading.Event = field(default_factory=threading.Event)

    def length(self) -> int:
        return len(self.data) if self.data is not None else self.size

    def chunks(self) -> Iterator[bytes]:
        chunks = iter([self.data]) if self.data is not None else \
            generated(self.size, self.seed)
        for number, chunk in enumerate(chunks):
            yield chunk
            if number == 0 and self.hold is not None:
                self.sending.set()
                self.hold.wait(60)

    def drive_item(self) -> dict:
        key = hashlib.sha1(self.url.encode()).hexdigest()[:16].upper()
        return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#driveItem",
                "id": f"01{key}", "name": self.name, "size": self.length(),
                "eTag": f'"{{{key}}},3"', "cTag": f'"c:{{{key}}},3"',
                "webUrl": self.url, "createdDateTime": "2024-03-01T08:00:00Z",
                "lastModifiedDateTime": "2024-03-01T08:30:00Z",
                "file": {"mimeType": self.mime_type}}


@dataclass
class FakeFiles:
    """The files messages link to, by URL."""

    files: dict[str, FakeFile] = field(default_factory=dict)

    def add(self, *files: FakeFile) -> None:
        for file in files:
            self.files[file.url] = file


def reference(file: FakeFile, key: str) -> dict:
    """A chatMessageAttachment linking to ``file`` (``contentType: "reference"``)."""
    return {"id": key, "contentType": "reference", "contentUrl": file.url, "content": None,
            "name": file.name, "thumbnailUrl": None, "teamsAppId": None}


def _file(server: FakeGraph, share: str):
    """The file a share id names, or the error answer Graph gives."""
    share = unquote(share)
    if not share.startswith("u!"):
        return None, _error(400, "invalidRequest", "Invalid shares key.")
    encoded = share[2:]
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, _error(400, "invalidRequest", "Invalid shares key.")
    files = getattr(server, "teams_files", None) or FakeFiles()
    found = files.files.get(url)
    if found is None or found.status == 404:
        return None, _error(404, "itemNotFound", "The resource could not be found.")
    if found.status == 403:
        return None, _error(403, "accessDenied", "Access denied. You do not have permission "
                            "to perform this action or access this resource.")
    return found, None


@route(r"/shares/([^/]+)/driveItem")
def _drive_item(server: FakeGraph, request: Request, match):
    found, failed = _file(server, match.group(1))
    if failed is not None:
        return failed
    server.requests["driveItem"] += 1
    return _json(found.drive_item())


@route(r"/shares/([^/]+)/driveItem/content")
def _content(server: FakeGraph, request: Request, match):
    _, failed = _file(server, match.group(1))
    if failed is not None:
        return failed
    if (busy := _throttled(server, "shares")) is not None:
        return busy
    return 302, b"", {"Location": f"{server.url}/_download/{match.group(1)}"}


@route(r"/_download/([^/]+)")
def _download(server: FakeGraph, request: Request, match):
    found, failed = _file(server, match.group(1))
    if failed is not None:
        return failed
    server.requests["download"] += 1
    server.requests[f"download:{found.name}"] += 1
    return 200, lambda: (found.length(), found.chunks()), {"Content-Type": found.mime_type}


def _export(server: FakeGraph, request: Request, messages: list[dict]):
    """A getAllMessages answer: protected, metered (``model``), throttled once, paged."""
    if (refused := _protected(server)) is not None:
        return refused
    if (busy := _throttled(server, "getAllMessages")) is not None:
        return busy
    server.requests[f"getAllMessages model={request.query.get('model', '-')}"] += 1
    ordered = sorted(messages, key=lambda m: (m["lastModifiedDateTime"], m["id"]),
                     reverse=True)
    return _page(server, request, ordered, "Collection(chatMessage)")


@route(r"/teams/([^/]+)/channels/getAllMessages(?:\(\))?")
def _team_export(server: FakeGraph, request: Request, match):
    team = _data(server).team(unquote(match.group(1)))
    if team is None:
        return _error(404, "NotFound", "team not found")
    found = []
    for channel in team.channels:
        if channel.membership == "shared":
            continue  # Graph documents "all the messages in all public and private channels"
        where = {"teamId": team.id, "channelId": channel.id}
        for item in channel.messages + [r for rs in channel.replies.values() for r in rs]:
            found.append({**item, "channelIdentity": item.get("channelIdentity") or where})
    return _export(server, request, found)


@route(r"/users/([^/]+)/chats/getAllMessages(?:\(\))?")
def _chats_export(server: FakeGraph, request: Request, match):
    chats = _data(server).chats.get(unquote(match.group(1)))
    if chats is None:
        return _error(404, "Request_ResourceNotFound", "The user does not exist.")
    found = [{**item, "chatId": item.get("chatId") or chat.id}
             for chat in chats for item in chat.messages]
    return _export(server, request, found)


def directory_user(user_id: str, upn: str, name: str, mail: str | None) -> dict:
    """A user as ``GET /users/{id}?$select=id,userPrincipalName,displayName,mail`` gives."""
    return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users("
            "id,userPrincipalName,displayName,mail)/$entity",
            "id": user_id, "userPrincipalName": upn, "displayName": name, "mail": mail}

