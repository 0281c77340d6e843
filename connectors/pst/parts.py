"""What a PST holds of one message, as the MIME writer needs it: people, bodies and
attachments (whose data is read only when written)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Address:
    """A sender or recipient as the PST holds it."""

    name: str | None
    email: str | None


@dataclass
class Attachment:
    """One attachment: file data read by ``read`` (streamed), or an attached message."""

    filename: str | None
    mime_type: str | None = None
    content_id: str | None = None
    read: Callable[[], Iterator[bytes]] | None = None
    embedded: MessageParts | None = None
    inline: bool = False  # shown in the body (an image the HTML refers to), not listed


@dataclass
class MessageParts:
    """What a PST holds of one message, ready to be written as MIME."""

    seed: str                        # the item's identity: boundaries derive from it
    transport_headers: str | None = None
    subject: str | None = None
    sender: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    date: datetime | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: str | None = None
    text: str | None = None
    html: bytes | None = None
    html_charset: str | None = None
    rtf: bytes | None = None         # decompressed
    attachments: list[Attachment] = field(default_factory=list)
