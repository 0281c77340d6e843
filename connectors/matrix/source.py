"""Reading rooms into the neutral chat model: the rooms the tool wrote (so that ``verify``
and ``roundtrip`` work on Matrix), and, when the endpoint selects rooms (``rooms=``,
``space=``), rooms people wrote, read from Matrix itself by ``native``.

What Matrix itself holds is read from Matrix: who sent each event (a puppet or a mapped
account, back to the source person), when (``origin_server_ts``), threads and replies
(``m.relates_to``), reactions (``m.annotation`` events), deletions (redactions), files (the
media repository, checked against their sha256). What Matrix shows converted or cannot
date is read from what the events carry (``content.carried_fields``): the body as the
source wrote it, the subject, the edit times.

A room the tool wrote has its timeline read whole (one conversation's events at a time in
memory), since a message's reactions and edits come after it.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path as FilePath

from mautrix.api import Method, Path

from migrate.connector import ChatSource
from migrate.errors import BadInputError, ConfigError, ItemError
from migrate.model import (
    Blob,
    BlobRef,
    ChatMessage,
    ChatMessageType,
    Content,
    Conversation,
    ConversationKind,
    Edit,
    Identity,
    Reaction,
    Workspace,
)

from .content import CONVERSATION_KEY, MESSAGE_PART, REDACTION_PART, SOURCE_KEY
from .native import NativeRoomReader, encrypted_room_error, spool_directory
from .people import source_of_puppet
from .session import MatrixSession

_PAGE = 500


def _time(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass
class _Parts:
    """The events of one source message, gathered from the timeline."""

    message: dict | None = None
    redaction: dict | None = None
    attachments: list[tuple[int, dict]] = field(default_factory=list)
    reactions: list[dict] = field(default_factory=list)
    versions: list[dict] = field(default_factory=list)  # m.replace, in timeline order


class MatrixSource(ChatSource):
    """The rooms the tool made (and its account is in), read back; with a room selection,
    the rooms people wrote too (see the module doc)."""

    def __init__(self, session: MatrixSession, mapping: dict[str, str]) -> None:
        self.session = session
        self._account_of = {account: source for source, account in mapping.items()}
        self._room_of: dict[str, str] = {}  # conversation source id → room id
        self._media: dict[str, str] = {}  # sha256 → mxc URI
        self._native: dict[str, tuple[str, dict[str, str]]] = {}  # room → (label, names)
        self._encrypted: set[str] = set()  # native rooms with end-to-end encryption
        self._reader: NativeRoomReader | None = None  # the native room being read
        self._spool = spool_directory() if session.settings.selects_rooms else None

    def _get(self, what: str, path, **query: str) -> dict:
        bot = self.session.intent()
        return self.session.call(what, lambda: bot.api.request(Method.GET, path,
                                                               query_params=query or None))

    def _state(self, room_id: str, event_type: str, state_key: str = "") -> dict | None:
        try:
            return self._get("room state",
                             Path.v3.rooms[room_id].state[event_type][state_key])
        except ItemError:  # not set
            return None

    def identity(self, user_id: str, name: str | None = None) -> Identity | None:
        """The source person a Matrix sender stands for (None for the tool's bot)."""
        if user_id == self.session.bot_id:
            return None
        source = self._account_of.get(user_id) or \
            source_of_puppet(user_id, self.session.prefix)
        return Identity(source or user_id, name)

    def _joined(self) -> list[str]:
        return self._get("listing rooms", Path.v3.joined_rooms).get("joined_rooms", [])

    def _room_id(self, room: str) -> str:
        """A room id, an alias resolved through the room directory."""
        if room.startswith("!"):
            return room
        try:
            return self._get(f"finding room {room}", Path.v3.directory.room[room])["room_id"]
        except ItemError as exc:
            raise ConfigError(f"{self.session.settings.display}: no room is known by the "
                              f"alias {room} ({exc})") from None

    def _selected(self) -> tuple[list[str], Workspace | None]:
        """The rooms the endpoint names (``rooms=``, ``space=``) and the space asked for."""
        settings = self.session.settings
        rooms: list[str] = []
        for room in settings.rooms:
            rooms += sorted(self._joined()) if room == "joined" else [self._room_id(room)]
        space = None
        if settings.space:
            space_id = self._room_id(settings.space)
            space = self._space(space_id)
            state = self._get(f"reading space {settings.space}",
                              Path.v3.rooms[space_id].state)
            rooms += sorted(e["state_key"] for e in state
                            if e.get("type") == "m.space.child" and e.get("content"))
        return list(dict.fromkeys(rooms)), space

    def conversations(self) -> Iterator[Conversation]:
        selecting = self.session.settings.selects_rooms
        rooms, space = self._selected() if selecting else (sorted(self._joined()), None)
        for room_id in rooms:
            create = self._state(room_id, "m.room.create") or {}
            if create.get("type") == "m.space":
                continue
            made = create.get(CONVERSATION_KEY) or {}
            if not made.get("id"):  # a room the tool did not make: people wrote it
                if selecting:
                    yield self._native_conversation(room_id, space)
                continue
            source_id = made["id"]
            kinds = {str(k): k for k in ConversationKind}
            name = (self._state(room_id, "m.room.name") or {}).get("name")
            topic = (self._state(room_id, "m.room.topic") or {}).get("topic")
            members = self._get("room members", Path.v3.rooms[room_id].joined_members)
            identities = tuple(sorted(
                (i for u, info in (members.get("joined") or {}).items()
                 if (i := self.identity(u, info.get("display_name"))) is not None),
                key=lambda i: i.source_id))
            self._room_of[source_id] = room_id
            yield Conversation(source_id, kinds.get(made.get("kind"), ConversationKind.ROOM),
                               name, topic, identities, self._workspace(room_id))

    def _workspace(self, room_id: str, state: list[dict] | None = None) -> Workspace | None:
        if state is None:
            state = self._get("room state", Path.v3.rooms[room_id].state)
        for event in state:
            if event.get("type") == "m.space.parent" and event.get("content"):
                return self._space(event["state_key"])
        return None

    def _space(self, space: str) -> Workspace:
        create = self._state(space, "m.room.create") or {}
        made = create.get(CONVERSATION_KEY) or {}
        name = (self._state(space, "m.room.name") or {}).get("name") or space
        topic = (self._state(space, "m.room.topic") or {}).get("topic")
        return Workspace(made.get("id") or space, name, topic)

    def _native_conversation(self, room_id: str, space: Workspace | None) -> Conversation:
        """A room people wrote, from its state: name, topic, members (by their Matrix id,
        with their display name), its space; encrypted rooms noted to fail when read."""
        try:
            state = self._get(f"reading room {room_id}", Path.v3.rooms[room_id].state)
        except ItemError:  # not a member: reading its messages fails with the reason
            state = []
        current = {(e.get("type"), e.get("state_key")): e.get("content") or {} for e in state}
        name = current.get(("m.room.name", ""), {}).get("name")
        topic = current.get(("m.room.topic", ""), {}).get("topic")
        names = {key: content.get("displayname") for (kind, key), content in current.items()
                 if kind == "m.room.member" and content.get("displayname")}
        members = tuple(Identity(key, names.get(key)) for (kind, key), content
                        in sorted(current.items(), key=lambda item: str(item[0][1]))
                        if kind == "m.room.member" and content.get("membership") == "join")
        if ("m.room.encryption", "") in current:
            self._encrypted.add(room_id)
        label = f"{name} ({room_id})" if name else room_id
        self._native[room_id] = (label, names)
        created = next((_time(e["origin_server_ts"]) for e in state
                        if e.get("type") == "m.room.create" and "origin_server_ts" in e), None)
        return Conversation(room_id, ConversationKind.ROOM, name, topic, members,
                            self._workspace(room_id, state) or space, created)

    def _timeline(self, room_id: str, what: str = "reading the room") -> Iterator[dict]:
        token = None
        while True:
            query = {"dir": "f", "limit": str(_PAGE), **({"from": token} if token else {})}
            page = self._get(what, Path.v3.rooms[room_id].messages, **query)
            yield from page.get("chunk", [])
            token = page.get("end")
            if not token or not page.get("chunk"):
                return

    def chat_messages(self, conversation: Conversation,
                      cursor: str | None = None) -> Iterator[ChatMessage]:
        """Every message the tool wrote in the room, oldest first (no cursor: all); in a
        room people wrote, every message."""
        if conversation.source_id in self._native:
            yield from self._native_messages(conversation.source_id)
            return
        room_id = self._room_of.get(conversation.source_id)
        if room_id is None:
            return
        parts: dict[str, _Parts] = {}
        source_of_event: dict[str, str] = {}
        order: list[str] = []  # event ids of the messages, in timeline order
        redacted: dict[str, dict] = {}  # a redacted message event lost its marker
        for event in self._timeline(room_id):
            marker = (event.get("content") or {}).get(SOURCE_KEY)
            if not isinstance(marker, dict) or not isinstance(marker.get("id"), str):
                if (event.get("unsigned") or {}).get("redacted_because") and \
                        event.get("type") == "m.room.message":
                    redacted[event["event_id"]] = event
                    order.append(event["event_id"])
                continue
            source_id, part = marker["id"], str(marker.get("part"))
            gathered = parts.setdefault(source_id, _Parts())
            if part == MESSAGE_PART:
                gathered.message = event
                source_of_event[event["event_id"]] = source_id
                order.append(event["event_id"])
            elif part == REDACTION_PART:
                gathered.redaction = event
                redacts = event.get("redacts") or event["content"].get("redacts")
                if redacts in redacted:
                    gathered.message = redacted[redacts]
                    source_of_event[redacts] = source_id
            elif part.startswith("attachment:"):
                gathered.attachments.append((int(part.split(":", 1)[1]), event))
            elif part.startswith("reaction:"):
                gathered.reactions.append(event)
            elif part.startswith("version:"):
                gathered.versions.append(event)
        for event_id in order:
            source_id = source_of_event.get(event_id)
            if source_id is not None:  # (a redacted event the tool did not send: skipped)
                yield self._message(conversation, source_id, parts[source_id],
                                    source_of_event)

    def _message(self, conversation: Conversation, source_id: str, parts: _Parts,
                 source_of_event: dict[str, str]) -> ChatMessage:
        event = parts.message or {}
        # a redacted message lost its content: what it carried is in the redaction
        carried = (parts.redaction or event)["content"][SOURCE_KEY]
        content = event.get("content") or {}
        relation = content.get("m.relates_to") or {}
        root = reply = None
        if relation.get("rel_type") == "m.thread":
            root = source_of_event.get(relation.get("event_id"))
        in_reply_to = (relation.get("m.in_reply_to") or {}).get("event_id")
        if in_reply_to:
            reply = source_of_event.get(in_reply_to)
        if parts.redaction is not None:  # the redaction stripped the relations
            root, reply = carried.get("thread"), carried.get("reply")
        bodies = [(carried.get("html"), carried.get("text"))] + \
            [(v["content"][SOURCE_KEY].get("html"), v["content"][SOURCE_KEY].get("text"))
             for v in parts.versions]
        edits = tuple(Edit(_parse(at), html, text) for at, (html, text)
                      in zip(carried.get("edits_at") or [], bodies, strict=False) if at)
        attachments = []
        for _number, attachment in sorted(parts.attachments, key=lambda item: item[0]):
            data = attachment["content"]
            info = data.get("info") or {}
            sha = data[SOURCE_KEY].get("sha256", "")
            self._media[sha] = data.get("url", "")
            attachments.append(BlobRef(sha, info.get("size", 0), data.get("body"),
                                       info.get("mimetype")))
        reactions = tuple(Reaction(self.identity(r["sender"]) or Identity(r["sender"]),
                                   r["content"][SOURCE_KEY].get("key")
                                   or r["content"]["m.relates_to"]["key"],
                                   _time(r["origin_server_ts"])) for r in parts.reactions)
        # the last edit's time: carried by its m.replace, else by the message (an edit the
        # source gave without its former version has no m.replace)
        edited = parts.versions[-1]["content"][SOURCE_KEY].get("edited") if parts.versions \
            else carried.get("edited")
        kinds = {str(k): k for k in ChatMessageType}
        html, text = bodies[-1]
        return ChatMessage(
            source_id, conversation.source_id, self.identity(event.get("sender", "")),
            _time(event.get("origin_server_ts", 0)), html, text,
            thread_root_id=root, reply_to_id=reply, edited=_parse(edited),
            deleted=_time(parts.redaction["origin_server_ts"]) if parts.redaction else None,
            subject=carried.get("subject"),
            message_type=kinds.get(carried.get("type"), ChatMessageType.MESSAGE),
            reactions=reactions, edits=edits, attachments=tuple(attachments))

    def _native_messages(self, room_id: str) -> Iterator[ChatMessage]:
        label, names = self._native[room_id]
        if room_id in self._encrypted:
            raise encrypted_room_error(label)
        self._forget_files()
        assert self._spool is not None
        self._reader = NativeRoomReader(
            label, room_id, lambda: self._timeline(room_id, f"reading room {label}"), names,
            self._download, FilePath(self._spool.name))
        yield from self._reader.messages()

    def _forget_files(self) -> None:
        """Remove the files the previous native room spooled (the copier took them)."""
        if self._reader is not None:
            for path, _ref in self._reader.blobs.values():
                path.unlink(missing_ok=True)
            self._reader = None

    def _download(self, mxc: str, path: FilePath) -> None:
        """Stream one file from the media repository into ``path`` (the authenticated
        ``/_matrix/client/v1/media/download`` endpoint, Matrix 1.11)."""
        api = self.session.intent().api

        async def fetch() -> None:
            url = api.get_download_url(mxc, authenticated=True)
            query = {"user_id": api.as_user_id} if api.as_user_id else {}
            headers = {"Authorization": f"Bearer {api.token}"}
            async with api.session.get(url, params=query, headers=headers) as response:
                if response.status >= 400:
                    raise ItemError(f"downloading {mxc}: the homeserver answers "
                                    f"{response.status} {response.reason}")
                with open(path, "wb") as out:
                    async for chunk in response.content.iter_chunked(1 << 20):
                        out.write(chunk)

        self.session.call(f"downloading {urllib.parse.unquote(mxc)}", fetch)

    def blob(self, ref: BlobRef) -> Blob:
        """The file's bytes from the media repository, checked against their sha256."""
        if self._reader is not None and ref.sha256 in self._reader.blobs:
            path, known = self._reader.blobs[ref.sha256]
            return Blob(Content.from_file(path), known.name, known.media_type)
        if self._reader is not None and ref.sha256 in self._reader.unreadable:
            raise self._reader.unreadable[ref.sha256]
        mxc = self._media.get(ref.sha256)
        if not mxc:
            raise ItemError(f"{ref.name or ref.sha256}: not in any room read")
        bot = self.session.intent()
        data = self.session.call(f"downloading {ref.name or mxc}",
                                 lambda: bot.download_media(mxc))
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise BadInputError(f"{ref.name or mxc}: the media repository serves other bytes "
                                "than were uploaded (sha256 differs)")
        return Blob(Content.from_bytes(data), ref.name, ref.media_type)

    def close(self) -> None:
        try:
            self.session.close()
        finally:
            if self._spool is not None:
                self._spool.cleanup()

