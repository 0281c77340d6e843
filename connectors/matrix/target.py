"""Writing chat into Matrix as an application service: each person speaks as themselves
(their mapped account, or a puppet), at the original time (timestamp massaging, ``ts``).

A team becomes a space, a channel or chat a room (found again by its alias, derived from
the source id: a rerun reuses it). Members join with membership events dated like the
conversation, or like their first message. A message is its ``m.room.message`` event, then
one event per attachment (media uploaded to the repository), its reactions
(``m.annotation``), its later versions (``m.replace``) and its deletion (a redaction).

Nothing twice: every event carries its source id and part (``content.SOURCE_KEY``) and is
sent with a transaction id derived from them; before sending a part the tool looks in the
room's index (``rooms.RoomIndex``), which is read from the timeline whenever this run has
not itself sent what it looks for. So ``post`` of a message a dead run half sent, and
``update`` called again, only send the parts that are missing.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

from mautrix.api import Method, Path
from mautrix.types import EventType, Membership, MemberStateEventContent, RoomCreatePreset

from migrate.connector import ChatTarget
from migrate.errors import ItemError
from migrate.model import Blob, ChatMessage, Conversation, Identity, Person, Workspace

from .content import (
    CONVERSATION_KEY,
    MESSAGE_PART,
    REDACTION_PART,
    attachment_content,
    body_content,
    carried_fields,
    part_hash,
    reaction_key,
    signed,
    source_marker,
)
from .people import puppet_id
from .rooms import Room
from .session import MatrixSession

_MEMBER = EventType.ROOM_MEMBER
_PAGE = 500


def millis(moment: datetime | None) -> int | None:
    """A datetime as the milliseconds since the epoch Matrix uses (None stays None; a time
    without offset, as some sources give, is taken as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def alias_localpart(prefix: str, kind: str, source_id: str) -> str:
    """The alias of the room standing for a source conversation or workspace."""
    return f"{prefix}_{kind}_{hashlib.sha256(source_id.encode()).hexdigest()[:32]}"


class MatrixTarget(ChatTarget):
    """A homeserver written through the appservice (see the module doc)."""

    def __init__(self, session: MatrixSession, mapping: dict[str, str]) -> None:
        self.session, self.mapping = session, mapping
        self.server_name = session.settings.server_name
        self.prefix = session.prefix
        self._rooms: dict[str, Room] = {}
        self._spaces: dict[str, str] = {}
        self._broken: dict[str, ItemError] = {}  # conversations whose room was refused
        self._media: dict[str, str] = {}  # sha256 → mxc URI of blobs uploaded this run
        self._puppets: dict[str, str | None] = {}  # registered this run → display name
        for account in mapping.values():  # real accounts: never registered by the tool
            session.call("mapped account", lambda a=account: session.state_store.registered(a))

    # --- people ------------------------------------------------------------------------

    def user_for(self, identity: Identity | None) -> str:
        """The Matrix user who speaks for ``identity`` (the bot for a system event, and for
        everyone in bot mode)."""
        if identity is None or self.session.bot_mode:
            return self.session.bot_id
        mapped = self.mapping.get(identity.source_id)
        if mapped:
            return mapped
        user_id = puppet_id(identity.source_id, self.prefix, self.server_name)
        known = self._puppets.get(user_id, False)
        if known is False or (identity.display_name and known != identity.display_name):
            intent = self.session.intent(user_id)
            self.session.call(f"registering {user_id}", intent.ensure_registered)
            if identity.display_name:
                self.session.call(f"display name of {user_id}",
                                  lambda: intent.set_displayname(identity.display_name))
            self._puppets[user_id] = identity.display_name or known or None
        return user_id

    def put_people(self, people: Iterable[Person]) -> None:
        """Give the puppets of everyone seen the name the source's directory knows."""
        for person in people:
            if person.display_name:
                self.user_for(Identity(person.source_id, person.display_name, person.email))

    # --- rooms -------------------------------------------------------------------------

    def _find_or_create(self, kind: str, source_id: str, create) -> tuple[str, bool]:
        """The room with the alias of ``source_id``, and whether ``create(localpart)``
        created it just now (there was none)."""
        localpart = alias_localpart(self.prefix, kind, source_id)
        bot = self.session.intent()
        alias = f"#{localpart}:{self.server_name}"
        try:
            return self.session.call(f"room {alias}",
                                     lambda: bot.resolve_room_alias(alias)).room_id, False
        except ItemError:
            pass
        try:
            return self.session.call(f"creating {alias}", lambda: create(localpart)), True
        except ItemError as refused:  # created meanwhile (M_ROOM_IN_USE)? else say why not
            try:
                return self.session.call(f"room {alias}",
                                         lambda: bot.resolve_room_alias(alias)).room_id, False
            except ItemError:
                raise refused from None

    def _space(self, workspace: Workspace, ts: int | None) -> str:
        if workspace.source_id in self._spaces:
            return self._spaces[workspace.source_id]
        bot = self.session.intent()

        def create(localpart: str):
            return bot.create_room(alias_localpart=localpart, preset=RoomCreatePreset.PRIVATE,
                                   creation_content={"type": "m.space", CONVERSATION_KEY: {
                                       "id": workspace.source_id, "kind": "workspace"}})
        space_id, _ = self._find_or_create("space", workspace.source_id, create)
        self.session.call("space state", lambda: self.session.state_store.joined(
            space_id, self.session.bot_id))
        self._ensure_state(space_id, EventType.ROOM_NAME, {"name": workspace.name}, ts)
        if workspace.description:
            self._ensure_state(space_id, EventType.ROOM_TOPIC,
                               {"topic": workspace.description}, ts)
        self._spaces[workspace.source_id] = space_id
        return space_id

    def _ensure_state(self, room_id: str, event_type: EventType, content: dict,
                      ts: int | None, state_key: str = "") -> None:
        """Set a state event unless the room already holds that content."""
        bot = self.session.intent()
        try:
            current = self.session.call("room state", lambda: bot.get_state_event(
                room_id, event_type, state_key))
            if current is not None and current.serialize() == content:
                return
        except ItemError:  # M_NOT_FOUND: not set yet
            pass
        self.session.call(f"{event_type} of {room_id}", lambda: bot.send_state_event(
            room_id, event_type, content, state_key, timestamp=ts))

    def prepare_conversation(self, conversation: Conversation) -> None:
        """Find or create the conversation's room (and its team's space), name it, and
        let its members in, dated like the conversation. A room the homeserver refuses
        fails that conversation's messages (recorded, retried next run), not the run."""
        if conversation.source_id in self._rooms:
            return
        self._broken.pop(conversation.source_id, None)
        try:
            self._prepare(conversation)
        except ItemError as exc:
            self._broken[conversation.source_id] = exc

    def _prepare(self, conversation: Conversation) -> None:
        ts = millis(conversation.created)
        bot = self.session.intent()
        space = self._space(conversation.workspace, ts) if conversation.workspace else None

        def create(localpart: str):
            return bot.create_room(
                alias_localpart=localpart, preset=RoomCreatePreset.PRIVATE,
                power_level_override={"users": {self.session.bot_id: 100}},
                creation_content={CONVERSATION_KEY: {"id": conversation.source_id,
                                               "kind": str(conversation.kind)}})
        room_id, created = self._find_or_create("room", conversation.source_id, create)
        room = Room(room_id)
        room.index.loaded = created  # a new room holds nothing yet; an old one is read
        joined = self.session.call("room members", lambda: bot.get_joined_members(
            room_id, ensure_joined=False))
        room.members.update(joined)
        for user_id in room.members:
            self.session.call("room state", lambda u=user_id: self.session.state_store.joined(
                room_id, u))
        if conversation.name:
            self._ensure_state(room_id, EventType.ROOM_NAME, {"name": conversation.name}, ts)
        if conversation.topic:
            self._ensure_state(room_id, EventType.ROOM_TOPIC, {"topic": conversation.topic},
                               ts)
        if space is not None:
            via = {"via": [self.server_name]}
            self._ensure_state(space, EventType.SPACE_CHILD, via, ts, room_id)
            self._ensure_state(room_id, EventType.SPACE_PARENT, {**via, "canonical": True}, ts,
                               space)
        self._rooms[conversation.source_id] = room
        for member in conversation.members:
            if not self.session.bot_mode:
                self._join(room, self.user_for(member), ts)
            elif member.source_id in self.mapping:  # bot mode: people with an account
                self._invite(room, self.mapping[member.source_id])

    def _invite(self, room: Room, user_id: str) -> None:
        """Bot mode: invite a mapped person (once; one already in the room is fine)."""
        if user_id in room.members:
            return
        bot = self.session.intent()
        current = None
        with contextlib.suppress(ItemError):  # never a member
            current = self.session.call("room state", lambda: bot.get_state_event(
                room.room_id, _MEMBER, user_id))
        if current is None or current.membership not in (Membership.INVITE,
                                                           Membership.JOIN):
            self.session.call(f"inviting {user_id}", lambda: bot.send_state_event(
                room.room_id, _MEMBER, MemberStateEventContent(Membership.INVITE), user_id))

    def _join(self, room: Room, user_id: str, ts: int | None) -> None:
        """Invite (as the bot) and join ``user_id``, both membership events dated ``ts``."""
        if user_id in room.members:
            return
        bot, intent = self.session.intent(), self.session.intent(user_id)
        self.session.call(f"inviting {user_id}", lambda: bot.send_state_event(
            room.room_id, _MEMBER, MemberStateEventContent(Membership.INVITE), user_id,
            timestamp=ts))
        self.session.call(f"{user_id} joining", lambda: intent.send_state_event(
            room.room_id, _MEMBER, MemberStateEventContent(Membership.JOIN), user_id,
            timestamp=ts, ensure_joined=False))
        self.session.call("room state", lambda: self.session.state_store.joined(
            room.room_id, user_id))
        room.members.add(user_id)

    def _room(self, conversation: Conversation) -> Room:
        if conversation.source_id not in self._rooms:
            self.prepare_conversation(conversation)
        if conversation.source_id in self._broken:
            name = conversation.name or conversation.source_id
            raise ItemError(f"conversation {name}: its room could not be prepared: "
                            f"{self._broken[conversation.source_id]}")
        return self._rooms[conversation.source_id]

    def _load_index(self, room: Room) -> None:
        """Read the room's timeline once, indexing the events this tool sent."""
        if room.index.loaded:
            return
        bot = self.session.intent()
        token = None
        while True:
            query = {"dir": "b", "limit": str(_PAGE), **({"from": token} if token else {})}
            page = self.session.call("reading the room", lambda q=query: bot.api.request(
                Method.GET, Path.v3.rooms[room.room_id].messages, query_params=q))
            for event in page.get("chunk", []):
                room.index.add_event(event)
            token = page.get("end")
            if not token or not page.get("chunk"):
                break
        room.index.loaded = True

    def _lookup(self, room: Room, source_id: str, part: str) -> str | None:
        found = room.index.get(source_id, part)
        if found is None and not room.index.loaded:
            self._load_index(room)
            found = room.index.get(source_id, part)
        return found

    # --- events ------------------------------------------------------------------------

    def _send(self, room: Room, conversation: Conversation, user_id: str, source_id: str,
              part: str, event_type: EventType, content: dict, ts: int | None,
              carried: dict | None = None) -> str:
        """Send one part of a message unless the room has it; its event id."""
        known = room.index.get(source_id, part)
        if known is not None:
            return known
        if self.session.bot_mode:
            ts = None  # only an appservice may date events
        self._join(room, user_id, ts)
        content = {**content, **source_marker(source_id, part, carried)}
        txn = "sm" + part_hash(conversation.source_id, source_id, part)
        intent = self.session.intent(user_id)
        event_id = self.session.call(
            f"message {source_id} ({part})", lambda: intent.send_message_event(
                room.room_id, event_type, content, txn_id=txn, timestamp=ts))
        room.index.put(source_id, part, event_id)
        return event_id

    def _relation(self, room: Room, message: ChatMessage) -> dict:
        """Thread (``m.thread``) and reply (``m.in_reply_to``) of a message."""
        root = message.thread_root_id
        if root and root != message.source_id:
            root_event = self._lookup(room, root, MESSAGE_PART)
            if root_event is None:
                raise ItemError(f"message {message.source_id}: its thread's first message "
                                f"{root} is not in the room yet (it is retried next run)")
            reply = message.reply_to_id if message.reply_to_id not in (None, root) else None
            reply_event = self._lookup(room, reply, MESSAGE_PART) if reply else None
            return {"m.relates_to": {"rel_type": "m.thread", "event_id": root_event,
                                     "is_falling_back": reply_event is None,
                                     "m.in_reply_to": {"event_id": reply_event or root_event}}}
        if message.reply_to_id:
            reply_event = self._lookup(room, message.reply_to_id, MESSAGE_PART)
            if reply_event:
                return {"m.relates_to": {"m.in_reply_to": {"event_id": reply_event}}}
        return {}

    def _mention_users(self, message: ChatMessage) -> dict[str, str]:
        return {m.source_id: self.user_for(m) for m in message.mentions}

    def put_blob(self, blob: Blob) -> None:
        """Upload the bytes to the media repository (once per run and blob)."""
        sha = blob.content.sha256
        if sha in self._media:
            return
        bot = self.session.intent()

        async def chunks() -> AsyncIterator[bytes]:  # streamed: memory stays flat
            for chunk in blob.content.iter_chunks():
                yield chunk
        self._media[sha] = str(self.session.call(
            f"uploading {blob.name or sha}", lambda: bot.upload_media(
                chunks(), mime_type=blob.media_type or "application/octet-stream",
                filename=blob.name, size=blob.content.size)))

    def post(self, conversation: Conversation, message: ChatMessage) -> str:
        """Send the message's parts; in a room made by an earlier run, only those missing
        (its timeline is read once: the state may have been lost, or a run died)."""
        room = self._room(conversation)
        self._load_index(room)
        return self._complete(room, conversation, message)

    def find_chat(self, conversation: Conversation, message: ChatMessage) -> str | None:
        """The message's event if the room holds it with all its attachments (a message
        whose files a dead run did not send is posted again: only what is missing goes)."""
        room = self._room(conversation)
        found = self._lookup(room, message.source_id, MESSAGE_PART)
        if found is None or any(room.index.get(message.source_id, f"attachment:{n}") is None
                                for n in range(len(message.attachments))):
            return None
        return found

    def update(self, conversation: Conversation, message: ChatMessage, key: str) -> str:
        """Send what the room lacks of ``message``'s current version (idempotent)."""
        return self.post(conversation, message)

    def _complete(self, room: Room, conversation: Conversation, message: ChatMessage) -> str:
        """Send every part of ``message`` the room does not hold yet; the message's event."""
        user_id = self.user_for(message.author)
        first = message.edits[0] if message.edits else message  # as first written
        mentions = self._mention_users(message)
        content = {**self._body(message, first.body_html, first.body_text, mentions),
                   **self._relation(room, message)}
        carried = carried_fields(message, first.body_html, first.body_text)
        event_id = self._send(room, conversation, user_id, message.source_id, MESSAGE_PART,
                              EventType.ROOM_MESSAGE, content, millis(message.created),
                              carried)
        room.index.posted_bodies.setdefault(message.source_id,
                                            part_hash(first.body_html, first.body_text))
        relation = content.get("m.relates_to", {})
        thread = {"m.relates_to": relation} if relation.get("rel_type") == "m.thread" else {}
        self._send_attachments(room, conversation, user_id, message, thread)
        if message.deleted is None:  # (emptied by a deletion: the redaction says it)
            self._send_versions(room, conversation, user_id, message, event_id, mentions)
        self._send_reactions(room, conversation, message, event_id)
        if message.deleted is not None:
            self._redact(room, conversation, user_id, message, event_id, carried)
        return event_id

    def _send_attachments(self, room: Room, conversation: Conversation, user_id: str,
                          message: ChatMessage, thread: dict) -> None:
        """One ``m.image`` / ``m.file`` per attachment, in the message's thread."""
        for number, ref in enumerate(message.attachments):
            part = f"attachment:{number}"
            if room.index.get(message.source_id, part) is not None:
                continue
            mxc = self._media.get(ref.sha256)
            if mxc is None:
                raise ItemError(f"message {message.source_id}: attachment {ref.name or ''} "
                                "was not uploaded")
            self._send(room, conversation, user_id, message.source_id, part,
                       EventType.ROOM_MESSAGE, {**attachment_content(ref, mxc), **thread},
                       millis(message.created), {"sha256": ref.sha256})

    def _send_versions(self, room: Room, conversation: Conversation, user_id: str,
                       message: ChatMessage, event_id: str, mentions: dict[str, str]) -> None:
        """An ``m.replace`` for each version whose body is not the one posted (the former
        versions the source gave, then the current one)."""
        posted = room.index.posted_bodies[message.source_id]
        dated = [*((edit, edit.edited) for edit in message.edits), (message, message.edited)]
        for version, when in dated:
            if part_hash(version.body_html, version.body_text) != posted:
                self._replace(room, conversation, user_id, message, event_id, version, when,
                              mentions)

    def _send_reactions(self, room: Room, conversation: Conversation, message: ChatMessage,
                        event_id: str) -> None:
        """Each reaction as its author's ``m.annotation`` (in bot mode: once per emoji, as
        the account), and the withdrawn ones redacted."""
        wanted = set()
        for reaction in message.reactions:
            key = reaction_key(reaction.key)
            base = part_hash("" if self.session.bot_mode else reaction.author.source_id, key)
            undone = len(room.index.parts(message.source_id, f"unreaction:{base}"))
            part = f"reaction:{base}" + (f":{undone}" if undone else "")
            wanted.add(part)
            self._send(room, conversation, self.user_for(reaction.author), message.source_id,
                       part, EventType.REACTION,
                       {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id,
                                         "key": key}},
                       millis(reaction.created) or millis(message.created),
                       {"key": reaction.key})
        self._withdraw_reactions(room, conversation, message, wanted)

    def _withdraw_reactions(self, room: Room, conversation: Conversation,
                            message: ChatMessage, wanted: set[str]) -> None:
        """Redact the reactions withdrawn at the source, as the bot (the rooms' admin: the
        index does not say who reacted); each once: an ``unreaction`` part, numbered so that
        a reaction given again later is a new part."""
        for part, reaction in room.index.parts(message.source_id, "reaction:").items():
            if part in wanted:
                continue
            base = part.split(":")[1]
            undone = len(room.index.parts(message.source_id, f"unreaction:{base}"))
            self._send(room, conversation, self.session.bot_id, message.source_id,
                       f"unreaction:{base}:{undone}", EventType.ROOM_REDACTION,
                       {"redacts": reaction}, millis(message.edited) or millis(message.created))
            room.index.drop(message.source_id, part)

    def _body(self, message: ChatMessage, body_html: str | None, body_text: str | None,
              mentions: dict[str, str]) -> dict:
        """A version's content; in bot mode with its author and time written first."""
        content = body_content(message, body_html, body_text, mentions)
        if not self.session.bot_mode:
            return content
        author = message.author
        name = (author.display_name or author.source_id) if author else "—"
        return signed(content, name, message.created)

    def _replace(self, room: Room, conversation: Conversation, user_id: str,
                 message: ChatMessage, event_id: str, version, when: datetime | None,
                 mentions: dict[str, str]) -> None:
        """An ``m.replace`` edit carrying one later version of the body (once)."""
        part = f"version:{part_hash(version.body_html, version.body_text)}"
        new = self._body(message, version.body_html, version.body_text, mentions)
        content = {**new, "body": f"* {new['body']}", "m.new_content": new,
                   "m.relates_to": {"rel_type": "m.replace", "event_id": event_id}}
        self._send(room, conversation, user_id, message.source_id, part,
                   EventType.ROOM_MESSAGE, content, millis(when) or millis(message.created),
                   {"html": version.body_html, "text": version.body_text,
                    "edited": when.isoformat() if when else None})

    def _redact(self, room: Room, conversation: Conversation, user_id: str,
                message: ChatMessage, event_id: str, carried: dict) -> None:
        """Redact a message deleted at the source (once), as its author, dated then: sent
        through ``/send`` with ``redacts`` in the content (room versions 11 and later, which
        the rooms this tool creates are), since ``/redact`` takes no timestamp. The
        redaction carries what the redacted event loses (its content, relations included)."""
        thread = {"thread": message.thread_root_id, "reply": message.reply_to_id}
        self._send(room, conversation, user_id, message.source_id, REDACTION_PART,
                   EventType.ROOM_REDACTION, {"redacts": event_id},
                   millis(message.deleted) or millis(message.created), {**carried, **thread})

    def close(self, complete: bool = True) -> None:
        self.session.close()
