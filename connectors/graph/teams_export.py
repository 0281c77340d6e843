"""The Teams export listings (``getAllMessages``) regrouped into conversations.

``GET /teams/{id}/channels/getAllMessages`` gives every message and reply of a team's
channels, and ``GET /users/{id}/chats/getAllMessages`` every message of a user's chats, in
one listing of their own order. The copy wants them per conversation, oldest first, each
channel reply right after its thread's first message, as the per-channel listings give
them, so that the archive (and ``verify``) is the same whichever listing was read.

The listing is spooled to a temporary file as it comes (the exact JSON text of each
message); only a small index entry per message stays in memory.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from .teams_json import RawItem
from .teams_map import when

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Entry:
    """Where one message's JSON is in the spool, and what orders it."""

    created: datetime
    id: str
    reply_to: str | None
    offset: int
    length: int


def channel_of(data: dict) -> str | None:
    """The channel a getAllMessages channel message belongs to (``channelIdentity``)."""
    where = data.get("channelIdentity")
    return where.get("channelId") if isinstance(where, dict) else None


def chat_of(data: dict) -> str | None:
    """The chat a getAllMessages chat message belongs to (``chatId``)."""
    value = data.get("chatId")
    return value if isinstance(value, str) else None


class ExportSpool:
    """One export listing, spooled and indexed by conversation (see the module doc)."""

    def __init__(self, items: Iterable[RawItem], conversation_of: Callable[[dict], str | None],
                 what: str) -> None:
        self.what = what
        self._file = tempfile.TemporaryFile()
        self._index: dict[str, list[_Entry]] = defaultdict(list)
        for item in items:
            key = conversation_of(item.data)
            if not key or not item.data.get("id"):
                log.error("%s: a message without its conversation or id is skipped: %.200s",
                          what, item.text)
                continue
            data = item.text.encode("utf-8", "surrogatepass")
            offset = self._file.seek(0, 2)
            self._file.write(data)
            reply_to = item.data.get("replyToId") or None
            self._index[key].append(_Entry(when(item.data.get("createdDateTime")) or _EPOCH,
                                           str(item.data["id"]), reply_to, offset, len(data)))

    def _read(self, entry: _Entry) -> RawItem:
        self._file.seek(entry.offset)
        text = self._file.read(entry.length).decode("utf-8", "surrogatepass")
        return RawItem(json.loads(text), text)

    def thread_messages(self, conversation: str) -> Iterator[tuple[RawItem, str | None]]:
        """A channel's messages: first messages oldest first, each followed by its replies
        (oldest first) with the first message's id; replies whose first message is not
        listed come last, so that nothing is lost."""
        entries = self._index.pop(conversation, [])
        roots = sorted((e for e in entries if e.reply_to in (None, e.id)), key=_order)
        replies: dict[str, list[_Entry]] = defaultdict(list)
        for entry in entries:
            if entry.reply_to not in (None, entry.id):
                replies[entry.reply_to].append(entry)
        for root in roots:
            yield self._read(root), None
            for reply in sorted(replies.pop(root.id, ()), key=_order):
                yield self._read(reply), root.id
        orphans = sorted((e for rs in replies.values() for e in rs), key=_order)
        if orphans:
            log.warning("%s: %d replies in %s whose first message is not listed are kept "
                        "after the threads", self.what, len(orphans), conversation)
        for reply in orphans:
            yield self._read(reply), reply.reply_to

    def chat_messages(self, conversation: str) -> Iterator[RawItem]:
        """A chat's messages, oldest first."""
        for entry in sorted(self._index.pop(conversation, []), key=_order):
            yield self._read(entry)

    def close(self) -> None:
        """Release the spool; say how many messages belonged to no listed conversation."""
        left = sum(len(v) for v in self._index.values())
        if left:
            log.warning("%s: %d messages of %d conversations that were not listed are not "
                        "copied", self.what, left, len(self._index))
        self._file.close()


def _order(entry: _Entry) -> tuple[datetime, str]:
    return entry.created, entry.id
