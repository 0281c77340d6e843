"""A libpff message read into ``MessageParts``: its properties, recipients, bodies and
attachments (whose data is streamed when the MIME is written, not before)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from migrate.errors import BadInputError

from . import props as P
from .blockmessage import EMBEDDED, attached_message
from .fields import add_recipients, lost_attachment, parts_of
from .ltp import subnodes
from .ndb import IndexedFile
from .parts import Attachment, MessageParts
from .props import NameMap, Properties

_CHUNK = 1024 * 1024
_BY_VALUE, _OLE = 1, 6


def message_parts(item: Any, seed: str, names: NameMap,
                  blocks: Callable[[], IndexedFile]) -> MessageParts:
    """Everything needed to write ``item`` (a pypff message) as MIME; ``blocks`` opens the
    file's own index, for the attached messages libpff does not give."""
    parts = parts_of(Properties.of(item, names), seed)
    _recipients(item, parts)
    for index in range(_count(item, "number_of_attachments")):
        parts.attachments.append(_attachment(item.get_attachment(index), item.identifier,
                                             f"{seed}/{index}", names, blocks))
    return parts


def _recipients(item: Any, parts: MessageParts) -> None:
    table = getattr(item, "recipients", None)
    if table is not None:
        add_recipients(parts, (Properties.of(table, record_set=index)
                               for index in range(table.number_of_record_sets)))


def _attachment(item: Any, message_nid: int, seed: str, names: NameMap,
                blocks: Callable[[], IndexedFile]) -> Attachment:
    props = Properties.of(item, names)
    method = props.integer(P.ATTACH_METHOD)
    filename = (props.text(P.ATTACH_LONG_FILENAME) or props.text(P.ATTACH_FILENAME)
                or props.text(P.DISPLAY_NAME_ATTACH))
    if method == EMBEDDED:
        return _attached(item.identifier, message_nid, props, filename, seed, blocks)
    if method in (_BY_VALUE, _OLE) or (method is None and P.ATTACH_DATA in props):
        return Attachment(filename=filename, mime_type=props.text(P.ATTACH_MIME_TAG),
                          content_id=props.text(P.ATTACH_CONTENT_ID),
                          read=lambda: _stream(item),
                          inline=bool(props.boolean(P.ATTACHMENT_HIDDEN)))
    where = props.text(P.ATTACH_LONG_PATHNAME) or "?"
    return lost_attachment(filename, "pst.lost.link", where=where)


def _attached(attachment_nid: int, message_nid: int, props: Properties,
              filename: str | None, seed: str,
              blocks: Callable[[], IndexedFile]) -> Attachment:
    """An attached message, read from the file's blocks: libpff gives the attachment's
    properties but not the message in it. The message's node leads to the attachment's
    subnode, whose subnodes hold the attached message."""
    try:
        index = blocks()
        message = index.node(message_nid)
        if message is None:
            raise BadInputError(f"message node {message_nid:#x} is not in the file's index")
        attachment = subnodes(index, message.bid_sub, seed).get(attachment_nid)
        if attachment is None:
            raise BadInputError(f"attachment node {attachment_nid:#x} is not among the "
                                f"message's subnodes")
    except BadInputError as exc:
        return lost_attachment(filename, "pst.lost.embedded", why=str(exc))
    return attached_message(index, props, attachment.bid_sub, filename, seed)


def _stream(item: Any) -> Iterator[bytes]:
    """An attachment's data in chunks (libpff reads it from the file as asked)."""
    item.seek_offset(0, 0)
    left = item.size
    while left > 0:
        chunk = item.read_buffer(min(_CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        yield chunk
    if left > 0:
        raise BadInputError(f"attachment data cut short: {left} of {item.size} bytes missing")


def _count(item: Any, attribute: str) -> int:
    return getattr(item, attribute, 0) or 0
