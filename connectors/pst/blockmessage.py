"""A message read straight from the file's blocks (``ltp``), not through libpff: its
attachments and the messages attached to it, at any depth. The recovery of a damaged
file reads every message this way; an intact file's reader only the attached messages,
which libpff does not give."""

from __future__ import annotations

import logging
import struct

from migrate.errors import BadInputError

from . import props as P
from .fields import add_recipients, lost_attachment, parts_of
from .ltp import Subnode, node_blocks, property_context, subnodes, table_rows
from .ndb import BlockReader
from .parts import Address, Attachment, MessageParts
from .props import Properties

NID_TYPE_ATTACHMENT = 0x05
MAX_DEPTH = 32  # attached messages within attached messages
EMBEDDED = 5  # PidTagAttachMethod afEmbeddedMessage
_DISPLAY_TO, _DISPLAY_CC = 0x0E04, 0x0E03
_NID_RECIPIENTS = 0x692  # a message's recipient table (NID_RECIPIENT_TABLE, 2.4.4.1)

log = logging.getLogger(__name__)


def message_from_blocks(blocks: BlockReader, props: Properties, bid_sub: int | None,
                        seed: str, depth: int = 0) -> MessageParts:
    """The message whose properties are ``props`` and whose subnode tree is at
    ``bid_sub``, with its attachments (those whose blocks are gone are notes saying so);
    ``depth``: how many messages it is attached in."""
    parts = parts_of(props, seed)
    children = subnodes(blocks, bid_sub, seed) if bid_sub else {}
    _recipients(blocks, props, children.get(_NID_RECIPIENTS), parts, seed)
    if children:
        attached = sorted(n for n in children if n & 0x1F == NID_TYPE_ATTACHMENT)
        for number, nid in enumerate(attached):
            parts.attachments.append(_attachment(
                blocks, children[nid].bid_data, children[nid].bid_sub, f"{seed}/{number}",
                depth))
    return parts


def attached_message(blocks: BlockReader, props: Properties, bid_sub: int,
                     filename: str | None, seed: str, depth: int = 0) -> Attachment:
    """An attachment that is a message: PidTagAttachDataObject (``props``: the
    attachment's) names the node, among the attachment's subnodes at ``bid_sub``, that
    holds it (2.4.6.2.2); a note saying why when it cannot be read. ``depth``: how many
    messages this one is attached in."""
    reference = props.binary(P.ATTACH_DATA) or b""
    try:
        if depth >= MAX_DEPTH:  # a real mail is a few forwards deep; a hostile file loops
            raise BadInputError(f"attached messages nested more than {MAX_DEPTH} deep")
        if len(reference) < 4:
            raise BadInputError("the attached message's reference is missing")
        nid = struct.unpack_from("<I", reference)[0]
        child = subnodes(blocks, bid_sub, seed).get(nid)
        if child is None:
            raise BadInputError(f"the attached message's node {nid:#x} is not there")
        pages = node_blocks(blocks, child.bid_data, f"attached message {seed}")
        inner = Properties(property_context(blocks, pages, child.bid_sub or None, seed))
        embedded = message_from_blocks(blocks, inner, child.bid_sub or None, seed, depth + 1)
    except BadInputError as exc:
        return lost_attachment(filename, "pst.lost.damaged", why=str(exc))
    return Attachment(filename=None, embedded=embedded)


def _attachment(blocks: BlockReader, bid_data: int, bid_sub: int, seed: str,
                depth: int) -> Attachment:
    try:
        pages = node_blocks(blocks, bid_data, f"attachment {seed}")
        raw = property_context(blocks, pages, bid_sub or None, seed,
                               deferred=frozenset({P.ATTACH_DATA}))
    except BadInputError as exc:
        return lost_attachment(None, "pst.lost.damaged", why=str(exc))
    props = Properties(raw)
    filename = (props.text(P.ATTACH_LONG_FILENAME) or props.text(P.ATTACH_FILENAME)
                or props.text(P.DISPLAY_NAME_ATTACH))
    if props.integer(P.ATTACH_METHOD) == EMBEDDED:
        return attached_message(blocks, props, bid_sub, filename, seed, depth)
    data = raw.get(P.ATTACH_DATA)
    if data is None:
        where = props.text(P.ATTACH_LONG_PATHNAME) or "?"
        return lost_attachment(filename, "pst.lost.link", where=where)
    small = data.data
    return Attachment(filename=filename, mime_type=props.text(P.ATTACH_MIME_TAG),
                      content_id=props.text(P.ATTACH_CONTENT_ID),
                      read=data.chunks or (lambda: iter([small])),
                      inline=bool(props.boolean(P.ATTACHMENT_HIDDEN)))


def _recipients(blocks: BlockReader, props: Properties, table: Subnode | None,
                parts: MessageParts, seed: str) -> None:
    """To, Cc and Bcc from the message's recipient table; by display name only
    (PidTagDisplayTo/Cc) when the table is not there or its blocks are gone: the
    transport headers, when present, still give the addresses."""
    if table is not None:
        try:
            rows = table_rows(blocks, table.bid_data, table.bid_sub or None,
                              f"{seed}, recipients")
        except BadInputError as exc:
            log.warning("message %s: its recipient table cannot be read (%s); the "
                        "recipients are named without their addresses", seed, exc)
        else:
            add_recipients(parts, (Properties(row) for row in rows))
            return
    for tag, people in ((_DISPLAY_TO, parts.to), (_DISPLAY_CC, parts.cc)):
        for name in (props.text(tag) or "").split(";"):
            if name.strip():
                people.append(Address(name.strip(), None))
