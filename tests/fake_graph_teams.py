"""Teams for the fake Graph server (tests/fake_graph.py): ``/teams``, ``/teams/{id}``,
``…/channels`` (each with its ``membershipType``), ``…/allChannels`` (with the shared
channels other teams share with this one, ``FakeTeam.incoming``; ``all_channels_status``
refuses it), ``…/channels/{id}/members``, ``…/channels/{id}/messages`` (newest first, as
Graph lists them), ``…/messages/{id}/replies``, ``/users/{id}``, ``/users/{id}/chats``
(members with ``$expand=members``), ``/chats/{id}/messages`` and the ``hostedContents/{id}/
$value`` of channel messages, replies and chat messages. Collections are paged by ``$top``
with an absolute ``@odata.nextLink`` (``$skiptoken``). The data is a ``FakeTeams`` that a
test puts in ``server.teams``; messages are chatMessage JSON as Graph documents it. With
``protected`` set, message listings are refused (403) as for an app Microsoft has not
approved. ``FakeTeams.edit/react/delete/add_reply`` change messages between runs;
``failing_replies`` makes a thread's replies listing fail. Channel delta rounds and the
chat messages' ``$filter=lastModifiedDateTime gt`` are in fake_graph_teams_delta.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from fake_graph import FakeGraph, Request, _error, _json, route

GRAPH = "https://graph.microsoft.com/v1.0"
TENANT_ID = "7a0e9c1f-0000-4000-8000-000000000001"


def user(user_id: str, name: str | None) -> dict:
    """A chatMessageFromIdentitySet naming a user."""
    return {"application": None, "device": None,
            "user": {"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": user_id,
                     "displayName": name, "userIdentityType": "aadUser",
                     "tenantId": TENANT_ID}}


def member(user_id: str, name: str, email: str) -> dict:
    """An aadUserConversationMember."""
    return {"@odata.type": "#microsoft.graph.aadUserConversationMember",
            "id": f"MCMjMSMj{user_id}", "roles": ["owner"], "displayName": name,
            "userId": user_id, "email": email, "tenantId": TENANT_ID,
            "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z"}


def message(key: str, created: str, author: dict | None, html: str, **extra) -> dict:
    """A chatMessage with every documented property; ``extra`` overrides (camelCase)."""
    data = {
        "id": key, "replyToId": None, "etag": key, "messageType": "message",
        "createdDateTime": created, "lastModifiedDateTime": created,
        "lastEditedDateTime": None, "deletedDateTime": None, "subject": None,
        "summary": None, "chatId": None, "importance": "normal", "locale": "en-us",
        "webUrl": f"https://teams.microsoft.com/l/message/{key}", "policyViolation": None,
        "eventDetail": None, "from": author,
        "body": {"contentType": "html", "content": html},
        "channelIdentity": None, "attachments": [], "mentions": [], "reactions": [],
        "messageHistory": [],
    }
    data.update(extra)
    return data


@dataclass
class FakeChannel:
    id: str
    name: str
    description: str | None = None
    members: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)  # first messages of threads
    replies: dict[str, list[dict]] = field(default_factory=dict)  # root id → replies
    membership: str = "standard"  # Graph's membershipType: standard, private, shared


@dataclass
class FakeTeam:
    id: str
    name: str
    description: str | None = None
    channels: list[FakeChannel] = field(default_factory=list)
    #: Shared channels other teams host and share with this one: (host team id, tenant id,
    #: channel); only ``allChannels`` lists them, as Graph does.
    incoming: list[tuple[str, str, FakeChannel]] = field(default_factory=list)


@dataclass
class FakeChat:
    id: str
    chat_type: str  # oneOnOne, group, meeting
    topic: str | None = None
    members: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)


@dataclass
class FakeTeams:
    """The tenant's teams, users' chats and the bytes of hosted contents (by id)."""

    teams: list[FakeTeam] = field(default_factory=list)
    chats: dict[str, list[FakeChat]] = field(default_factory=dict)  # user → chats
    #: user id or UPN → display name, or the whole user record (id, userPrincipalName …)
    users: dict[str, str | dict] = field(default_factory=dict)
    hosted: dict[str, bytes] = field(default_factory=dict)
    protected: bool = False  # message APIs refused: the app lacks Microsoft's approval
    #: Kinds of request ("replies", "hostedContents" …) whose next one is answered 429.
    throttle_once: set[str] = field(default_factory=set)
    #: First message id → HTTP status its replies listing is answered with (until removed).
    failing_replies: dict[str, int] = field(default_factory=dict)
    #: Change tracking for delta rounds (fake_graph_teams_delta): a counter, and per first
    #: message of a channel the counter value of its last change.
    seq: int = 0
    changed: dict[str, int] = field(default_factory=dict)
    delta_filter: bool = True  # a channel delta round accepts $filter=lastModifiedDateTime
    #: HTTP status allChannels is answered with (e.g. 403: the permission is missing)
    all_channels_status: int | None = None

    def team(self, key: str) -> FakeTeam | None:
        return next((t for t in self.teams if t.id == key), None)

    def chat(self, key: str) -> FakeChat | None:
        return next((c for chats in self.chats.values() for c in chats if c.id == key), None)

    # --- changes between runs, as users make them (seen by delta and $filter) ------------

    def _find(self, key: str) -> tuple[dict, str | None]:
        """A message by id, and its thread's first message id (channels only)."""
        for team in self.teams:
            for channel in team.channels:
                for item in channel.messages:
                    if item["id"] == key:
                        return item, key
                for root, replies in channel.replies.items():
                    for item in replies:
                        if item["id"] == key:
                            return item, root
        for chats in self.chats.values():
            for chat in chats:
                for item in chat.messages:
                    if item["id"] == key:
                        return item, None
        raise KeyError(key)

    def _touch(self, item: dict, root: str | None, at: str) -> None:
        item["lastModifiedDateTime"] = at
        item["etag"] = f"{item['id']}-{at}"
        self.seq += 1
        if root == item["id"]:  # a first message changed: delta reports it. A reply does
            self.changed[root] = self.seq  # not touch its first message (Graph's docs)

    def edit(self, key: str, html: str, at: str) -> None:
        """The author edits the message's text."""
        item, root = self._find(key)
        item["body"] = {"contentType": "html", "content": html}
        item["lastEditedDateTime"] = at
        self._touch(item, root, at)

    def react(self, key: str, reaction: str, user_id: str, at: str) -> None:
        """Someone reacts to the message (Graph updates lastModifiedDateTime)."""
        item, root = self._find(key)
        item["reactions"] = [*item["reactions"], {
            "reactionType": reaction, "displayName": reaction, "reactionContentUrl": None,
            "createdDateTime": at, "user": user(user_id, None)}]
        self._touch(item, root, at)

    def delete(self, key: str, at: str) -> None:
        """The message is deleted: Graph keeps it, emptied, with deletedDateTime set."""
        item, root = self._find(key)
        item["deletedDateTime"] = at
        item["body"] = {"contentType": "html", "content": ""}
        self._touch(item, root, at)

    def add_reply(self, root: str, data: dict) -> None:
        """A new reply in a channel thread."""
        for team in self.teams:
            for channel in team.channels:
                if any(m["id"] == root for m in channel.messages):
                    channel.replies.setdefault(root, []).append(data)
                    self._touch(data, root, data["lastModifiedDateTime"])
                    return
        raise KeyError(root)


def _page(server: FakeGraph, request: Request, items: list[dict], kind: str):
    top = int(request.query.get("$top", 20))
    skip = int(request.query.get("$skiptoken", 0))
    page = {"@odata.context": f"{server.url}/$metadata#{kind}",
            "@odata.count": len(items), "value": items[skip:skip + top]}
    if skip + top < len(items):
        page["@odata.nextLink"] = f"{server.url}{request.path}?$top={top}&$skiptoken=" \
                                  f"{skip + top}"
    return _json(page)


def _data(server: FakeGraph) -> FakeTeams:
    return getattr(server, "teams", None) or FakeTeams()


def _protected(server: FakeGraph):
    """403 as Graph answers an app not approved for Teams' protected APIs, or None."""
    if not _data(server).protected:
        return None
    return _error(403, "Forbidden", "Invoked API requires Protected API access in "
                  "application-only context when not using Resource Specific Consent.")


def _throttled(server: FakeGraph, kind: str):
    """429 with Retry-After the first time ``kind`` is asked for, if the test wants it."""
    waiting = _data(server).throttle_once
    if kind not in waiting:
        return None
    waiting.discard(kind)
    server.requests[f"429:{kind}"] += 1
    return _error(429, "TooManyRequests", "Too many requests.", {"Retry-After": "0.2"})


def _not_found(what: str):
    return _error(404, "NotFound", f"{what} not found")


def _channel(server: FakeGraph, team_id: str, channel_id: str) -> FakeChannel | None:
    team = _data(server).team(unquote(team_id))
    if team is None:
        return None
    return next((c for c in team.channels if c.id == unquote(channel_id)), None)


@route(r"/teams")
def _teams(server: FakeGraph, request: Request, match):
    server.requests["teams"] += 1
    items = [{"id": t.id, "displayName": t.name, "description": t.description}
             for t in _data(server).teams]
    return _page(server, request, items, "teams")


@route(r"/teams/([^/]+)")
def _team(server: FakeGraph, request: Request, match):
    team = _data(server).team(unquote(match.group(1)))
    if team is None:
        return _not_found("team")
    return _json({"id": team.id, "displayName": team.name, "description": team.description,
                  "isArchived": False, "visibility": "private"})


@route(r"/teams/([^/]+)/channels")
def _channels(server: FakeGraph, request: Request, match):
    team = _data(server).team(unquote(match.group(1)))
    if team is None:
        return _not_found("team")
    items = [_channel_json(c) for c in team.channels]
    return _page(server, request, items, "teams('x')/channels")


def _channel_json(channel: FakeChannel) -> dict:
    """A channel resource as List channels gives it."""
    return {"id": channel.id, "displayName": channel.name, "description": channel.description,
            "createdDateTime": "2024-01-02T08:00:00Z", "membershipType": channel.membership,
            "email": "", "webUrl": f"https://teams.microsoft.com/l/channel/{channel.id}"}


@route(r"/teams/([^/]+)/allChannels")
def _all_channels(server: FakeGraph, request: Request, match):
    """The team's own channels and the shared channels other teams share with it, each
    with the ``@odata.id`` (under its host team) and ``tenantId`` List allChannels adds."""
    team = _data(server).team(unquote(match.group(1)))
    if team is None:
        return _not_found("team")
    server.requests["allChannels"] += 1
    if (status := _data(server).all_channels_status) is not None:
        return _error(status, "Forbidden", "Missing role permissions on the request.")
    hosted = [(team.id, TENANT_ID, c) for c in team.channels]
    items = [{"@odata.id": f"{GRAPH}/tenants/{tenant}/teams/{host}/channels/{c.id}",
              **_channel_json(c), "tenantId": tenant}
             for host, tenant, c in hosted + team.incoming]
    return _page(server, request, items, "teams('x')/allChannels")


@route(r"/teams/([^/]+)/channels/([^/]+)/members")
def _channel_members(server: FakeGraph, request: Request, match):
    channel = _channel(server, match.group(1), match.group(2))
    if channel is None:
        return _not_found("channel")
    return _page(server, request, channel.members, "conversationMembers")


@route(r"/teams/([^/]+)/channels/([^/]+)/messages")
def _channel_messages(server: FakeGraph, request: Request, match):
    channel = _channel(server, match.group(1), match.group(2))
    if channel is None:
        return _not_found("channel")
    if (refused := _protected(server)) is not None:
        return refused
    if (busy := _throttled(server, "channel messages")) is not None:
        return busy
    server.requests["channel messages"] += 1
    newest_first = sorted(channel.messages, key=lambda m: m["lastModifiedDateTime"],
                          reverse=True)
    return _page(server, request, newest_first, "chatMessages")


@route(r"/teams/([^/]+)/channels/([^/]+)/messages/([^/]+)/replies")
def _replies(server: FakeGraph, request: Request, match):
    channel = _channel(server, match.group(1), match.group(2))
    if channel is None:
        return _not_found("channel")
    if (busy := _throttled(server, "replies")) is not None:
        return busy
    server.requests["replies"] += 1
    failing = _data(server).failing_replies.get(unquote(match.group(3)))
    if failing is not None:
        return _error(failing, {403: "Forbidden", 404: "NotFound"}.get(failing, "InternalError"),
                      "The thread cannot be read.")
    replies = channel.replies.get(unquote(match.group(3)), [])
    return _page(server, request, list(reversed(replies)), "chatMessages")


def _hosted(server: FakeGraph, key: str):
    data = _data(server).hosted.get(unquote(key))
    if data is None:
        return _not_found("hosted content")
    if (busy := _throttled(server, "hostedContents")) is not None:
        return busy
    server.requests["hostedContents"] += 1

    def body():
        return len(data), iter([data])

    return 200, body, {"Content-Type": "image/png"}


@route(r"/teams/[^/]+/channels/[^/]+/messages/[^/]+(?:/replies/[^/]+)?"
       r"/hostedContents/([^/]+)/\$value")
def _channel_hosted(server: FakeGraph, request: Request, match):
    return _hosted(server, match.group(1))


@route(r"/users/([^/]+)")
def _user(server: FakeGraph, request: Request, match):
    key = unquote(match.group(1))
    name = _data(server).users.get(key)
    if name is None:
        return _error(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist.")
    server.requests[f"user:{key}"] += 1
    if isinstance(name, dict):
        return _json(name)
    return _json({"id": key, "displayName": name, "userPrincipalName": key})


@route(r"/users/([^/]+)/chats")
def _chats(server: FakeGraph, request: Request, match):
    chats = _data(server).chats.get(unquote(match.group(1)))
    if chats is None:
        return _error(404, "Request_ResourceNotFound", "The user does not exist.")
    expand = "members" in request.query.get("$expand", "")
    items = [{"id": c.id, "topic": c.topic, "chatType": c.chat_type,
              "createdDateTime": "2024-02-01T08:00:00Z", "tenantId": TENANT_ID,
              "webUrl": f"https://teams.microsoft.com/l/chat/{c.id}/0",
              **({"members": c.members} if expand else {})} for c in chats]
    return _page(server, request, items, "chats")


@route(r"/chats/([^/]+)/messages")
def _chat_messages(server: FakeGraph, request: Request, match):
    chat = _data(server).chat(unquote(match.group(1)))
    if chat is None:
        return _not_found("chat")
    if (refused := _protected(server)) is not None:
        return refused
    if (busy := _throttled(server, "chat messages")) is not None:
        return busy
    server.requests["chat messages"] += 1
    newest_first = sorted(chat.messages, key=lambda m: m["lastModifiedDateTime"], reverse=True)
    if "$filter" in request.query:
        return modified_since(server, request, newest_first)
    return _page(server, request, newest_first, "chatMessages")


@route(r"/chats/[^/]+/messages/[^/]+/hostedContents/([^/]+)/\$value")
def _chat_hosted(server: FakeGraph, request: Request, match):
    return _hosted(server, match.group(1))


# Delta rounds and $filter on lastModifiedDateTime (incremental passes) live in their own
# module; imported last, as it imports what this one defines.
from fake_graph_teams_delta import modified_since  # noqa: E402
