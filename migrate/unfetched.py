"""Messages a server source listed but has not fetched yet: loading one fetches a few.

A server source (IMAP, EWS, Graph) lists messages with deferred contents. When the engine
asks for one message's bytes outside a batch prefetch, fetching it alone would cost a
round trip per message; this keeps the last listed chunk so that the source fetches the
message together with the next few not yet loaded, and hands each its bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

from .model import Content, MailMessage

#: What a source's fetch gives for each key: the bytes, or the error that key met.
Fetched = Mapping[str, Content | Exception]


class Unfetched:
    """The listed chunk of messages whose bytes a source still has to fetch."""

    def __init__(self, read_ahead: int) -> None:
        self._ahead = read_ahead
        self._messages: dict[str, MailMessage] = {}

    def listed(self, messages: list[MailMessage]) -> None:
        """The chunk just listed (the previous one is the consumer's to keep, not ours)."""
        self._messages = {m.source_id: m for m in messages}

    def group(self, key: str) -> list[str]:
        """``key`` and the next listed keys whose bytes are not loaded yet."""
        keys = list(self._messages)
        if key not in self._messages:
            return [key]
        start = keys.index(key) + 1
        return [key] + [k for k in keys[start:start + self._ahead]
                        if not self._messages[k].content.loaded]

    def deliver(self, key: str, fetched: Fetched) -> Content | Exception | None:
        """Give the other fetched messages their bytes and forget them all; ``key``'s own
        bytes (or error) are returned, None when the server sent nothing for it."""
        for other, body in fetched.items():
            message = self._messages.pop(other, None)
            if other != key and message is not None and isinstance(body, Content):
                message.content.provide(body)
        self._messages.pop(key, None)
        return fetched.get(key)

    def provide(self, messages: list[MailMessage], fetched: Fetched) -> None:
        """Give a prefetched batch its bytes (those the server sent) and forget it."""
        for message in messages:
            self._messages.pop(message.source_id, None)
            body = fetched.get(message.source_id)
            if isinstance(body, Content):
                message.content.provide(body)
