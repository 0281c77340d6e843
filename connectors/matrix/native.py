"""Rooms written by people (Element, Tchap …), read into the neutral chat model from Matrix
itself, so that a community can leave a homeserver: every ``m.room.message`` becomes a
``ChatMessage`` keyed by its event id, with its author (``sender`` and the member's display
name), time (``origin_server_ts``), thread, reply, edits (``m.replace``), reactions
(``m.annotation``, redacted ones left out), deletion (the redaction's time), mentions and
files (downloaded from the media repository into a spool, named by their sha256).

A room is read in two passes over ``/messages?dir=f``: the first keeps only what relates to
other events (each edit's new content and time, each reaction), the second streams the
messages and gives each its relations. Memory: the room's edits and reactions, never its
messages; files spool to disk, one conversation's at a time (removed when the next room is
read). A file's sha256 is needed to name it in the message, so every read downloads the
room's files (a rerun too).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from migrate.errors import BadInputError, ItemError
from migrate.model import BlobRef, ChatMessage, Content, Edit, Identity, Reaction

#: Message types whose event is a file in the media repository.
MEDIA_TYPES = frozenset({"m.image", "m.file", "m.video", "m.audio"})
_HTML = "org.matrix.custom.html"
#: The start of the reference of a file the media repository did not give.
UNREADABLE = "unreadable:"
_PILL = re.compile(r'href="https://matrix\.to/#/(@[^"/?]+)"')


def event_time(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


#: What the homeserver adds to an event about the moment and the account reading it (its
#: ``age``, the reader's ``membership``): left out of the record, or every read would look
#: like a change and two readers would disagree.
_READING_KEYS = frozenset({"age", "membership"})


def stable_json(event: dict) -> str:
    """The event as the homeserver serves it, without what describes the reading rather
    than the event (``_READING_KEYS``, in it and in the events bundled with it)."""
    def strip(value: object) -> object:
        if isinstance(value, list):
            return [strip(item) for item in value]
        if not isinstance(value, dict):
            return value
        is_event = "event_id" in value
        kept = {key: strip(item) for key, item in value.items()
                if not (is_event and key == "age")}
        if is_event and isinstance(kept.get("unsigned"), dict):
            kept["unsigned"] = {k: v for k, v in kept["unsigned"].items()
                                if k not in _READING_KEYS}
        return kept
    return json.dumps(strip(event), ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True)


def encrypted_room_error(room: str) -> ItemError:
    return BadInputError(f"{room}: the room is end-to-end encrypted; its messages cannot be "
                         "read without the members' keys, so it is not exported (export "
                         "it from a client that holds the keys)")


@dataclass
class _Relations:
    """What later events say of one message: its versions and reactions."""

    versions: list[tuple[datetime, dict]] = field(default_factory=list)  # m.new_content
    reactions: list[Reaction] = field(default_factory=list)


def _relation(event: dict) -> dict:
    relation = (event.get("content") or {}).get("m.relates_to")
    return relation if isinstance(relation, dict) else {}


def _redacted(event: dict) -> bool:
    return bool((event.get("unsigned") or {}).get("redacted_because"))


class NativeRoomReader:
    """One native room's messages; ``timeline`` pages through the room (oldest first),
    ``download`` streams one mxc URI's bytes into a file."""

    def __init__(self, room: str, conversation_id: str, timeline: Callable[[], Iterator[dict]],
                 names: dict[str, str], download: Callable[[str, Path], None],
                 spool: Path) -> None:
        self.room, self.conversation_id = room, conversation_id
        self._timeline, self._names = timeline, names
        self._download, self._spool = download, spool
        self.blobs: dict[str, tuple[Path, BlobRef]] = {}  # sha256 → (spooled file, ref)
        self.unreadable: dict[str, ItemError] = {}  # placeholder reference → why

    def identity(self, user_id: str) -> Identity:
        return Identity(user_id, self._names.get(user_id))

    def _relations(self) -> dict[str, _Relations]:
        """First pass: every edit and live reaction, by the event it relates to."""
        found: dict[str, _Relations] = {}
        for event in self._timeline():
            self._refuse_encrypted(event)
            relation = _relation(event)
            target = relation.get("event_id")
            if not target or _redacted(event):
                continue
            if event.get("type") == "m.reaction" and relation.get("rel_type") == "m.annotation":
                found.setdefault(target, _Relations()).reactions.append(Reaction(
                    self.identity(event.get("sender", "")), str(relation.get("key", "")),
                    event_time(event.get("origin_server_ts", 0))))
            elif event.get("type") == "m.room.message" and \
                    relation.get("rel_type") == "m.replace":
                new = event["content"].get("m.new_content")
                if isinstance(new, dict):
                    found.setdefault(target, _Relations()).versions.append(
                        (event_time(event.get("origin_server_ts", 0)), new))
        return found

    def _refuse_encrypted(self, event: dict) -> None:
        if event.get("type") == "m.room.encrypted":
            raise encrypted_room_error(self.room)

    def messages(self) -> Iterator[ChatMessage]:
        """Second pass: each message (not its edits), oldest first, with its relations."""
        relations = self._relations()
        for event in self._timeline():
            if event.get("type") != "m.room.message" or \
                    _relation(event).get("rel_type") == "m.replace":
                continue
            yield self._message(event, relations.get(event["event_id"]) or _Relations())

    def _message(self, event: dict, related: _Relations) -> ChatMessage:
        created = event_time(event.get("origin_server_ts", 0))
        author = self.identity(event.get("sender", ""))
        raw = stable_json(event)
        if _redacted(event):  # the redaction took its content and relations
            because = event["unsigned"]["redacted_because"]
            return ChatMessage(event["event_id"], self.conversation_id, author, created,
                               deleted=event_time(because.get("origin_server_ts", 0)),
                               raw=raw)
        content = event.get("content") or {}
        relation = _relation(event)
        thread = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
        in_reply = relation.get("m.in_reply_to") or {}
        reply = None if relation.get("is_falling_back") else in_reply.get("event_id")
        versions = [(created, content), *related.versions]
        current = versions[-1][1]
        html, text = _bodies(current)
        edits = tuple(Edit(at, *_bodies(former)) for at, former in versions[:-1])
        attachments = (self._attachment(event, current),) \
            if current.get("msgtype") in MEDIA_TYPES else ()
        return ChatMessage(
            event["event_id"], self.conversation_id, author, created, html, text,
            thread_root_id=thread, reply_to_id=reply,
            edited=related.versions[-1][0] if related.versions else None,
            mentions=self._mentions(current, html), reactions=tuple(related.reactions),
            edits=edits, attachments=attachments, raw=raw)

    def _mentions(self, content: dict, html: str | None) -> tuple[Identity, ...]:
        users = list((content.get("m.mentions") or {}).get("user_ids") or [])
        users += _PILL.findall(html or "")
        return tuple(self.identity(user) for user in dict.fromkeys(users))

    def _attachment(self, event: dict, content: dict) -> BlobRef:
        """The file of a media message, downloaded into the spool (once per mxc URI). A
        file that cannot be had gets a placeholder reference (``UNREADABLE`` + its mxc URI)
        whose ``blob`` raises the reason: that message fails alone, and a rerun tries again."""
        info = content.get("info") or {}
        name = content.get("filename") or content.get("body")
        mxc = content.get("url")
        if not isinstance(mxc, str) or not mxc.startswith("mxc://"):
            return self._unreadable(str(mxc), name, info, BadInputError(
                f"{self.room}: message {event['event_id']} has no readable file (an "
                "encrypted attachment or a broken event)"))
        path = self._spool / re.sub(r"[^A-Za-z0-9]", "_", mxc)
        if not path.exists():
            partial = path.with_suffix(".part")
            try:
                self._download(mxc, partial)
            except ItemError as exc:  # ConnectError goes up: the run stops, to be rerun
                partial.unlink(missing_ok=True)
                return self._unreadable(mxc, name, info, exc)
            partial.rename(path)
        data = Content.from_file(path)
        ref = BlobRef(data.sha256, data.size, name, info.get("mimetype"))
        self.blobs[ref.sha256] = (path, ref)
        return ref

    def _unreadable(self, mxc: str, name: str | None, info: dict,
                    error: ItemError) -> BlobRef:
        key = f"{UNREADABLE}{mxc}"
        self.unreadable[key] = error
        size = info.get("size")
        return BlobRef(key, size if isinstance(size, int) else 0, name, info.get("mimetype"))


def _bodies(content: dict) -> tuple[str | None, str | None]:
    """(html, text) of a message content: ``formatted_body`` only when it is HTML; a file's
    body is its caption only when a separate ``filename`` names the file."""
    html = content.get("formatted_body") if content.get("format") == _HTML else None
    text = content.get("body")
    if content.get("msgtype") in MEDIA_TYPES and not content.get("filename"):
        text = None  # the body is the file's name
    return (html if isinstance(html, str) else None), (text if isinstance(text, str) else None)


def spool_directory() -> tempfile.TemporaryDirectory:
    """Where a source's downloaded files wait for the copier (removed on close)."""
    return tempfile.TemporaryDirectory(prefix="sovereign-migrate-matrix-")
