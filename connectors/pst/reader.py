"""A libpff message read into ``MessageParts``: its properties, recipients, bodies and
attachments (whose data is streamed when the MIME is written, not before)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from migrate.errors import BadInputError
from migrate.i18n import MESSAGES

from . import props as P
from .mime import charset_name
from .parts import Address, Attachment, MessageParts
from .props import NameMap, Properties
from .rtf import decompress

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_BY_VALUE, _EMBEDDED, _OLE = 1, 5, 6
_TO, _CC, _BCC = 1, 2, 3


def message_parts(item: Any, seed: str, names: NameMap) -> MessageParts:
    """Everything needed to write ``item`` (a pypff message or an attached one) as MIME."""
    parts = parts_of(Properties.of(item, names), seed)
    _recipients(item, parts)
    for index in range(_count(item, "number_of_attachments")):
        parts.attachments.append(
            _attachment(item.get_attachment(index), f"{seed}/{index}", names))
    return parts


def parts_of(props: Properties, seed: str) -> MessageParts:
    """A message's header fields and bodies from its properties (without recipients and
    attachments, which libpff and the recovery reader each find their own way)."""
    parts = MessageParts(
        seed=seed, transport_headers=props.text(P.TRANSPORT_HEADERS),
        subject=props.subject(), sender=_sender(props),
        date=(props.time(P.CLIENT_SUBMIT_TIME) or props.time(P.DELIVERY_TIME)
              or props.time(P.CREATION_TIME)),  # a draft was never sent nor received
        message_id=props.text(P.INTERNET_MESSAGE_ID), in_reply_to=props.text(P.IN_REPLY_TO),
        references=props.text(P.REFERENCES), text=props.text(P.BODY),
        html=props.binary(P.HTML) or None,
        html_charset=charset_name(props.integer(P.INTERNET_CODEPAGE)),
    )
    rtf = props.binary(P.RTF_COMPRESSED)
    if rtf and parts.html is None:
        try:
            parts.rtf = decompress(rtf)
        except BadInputError as exc:
            if parts.text is None:  # the only body: the message fails, named, retried
                raise
            log.warning("message %s: its RTF body is left out (%s); the plain text is kept",
                        seed, exc)
    return parts


def _sender(props: Properties) -> Address | None:
    """Who sent it: the sender's (or the represented sender's) SMTP address and name."""
    name = props.text(P.SENDER_NAME) or props.text(P.SENT_REPRESENTING_NAME)
    email = props.text(P.SENDER_SMTP) or props.text(P.SENT_REPRESENTING_SMTP)
    if email is None and (props.text(P.SENDER_ADDRESS_TYPE) or "").upper() == "SMTP":
        email = props.text(P.SENDER_EMAIL)
    if email is None and \
            (props.text(P.SENT_REPRESENTING_ADDRESS_TYPE) or "").upper() == "SMTP":
        email = props.text(P.SENT_REPRESENTING_EMAIL)
    return Address(name, email) if name or email else None


def _recipients(item: Any, parts: MessageParts) -> None:
    table = getattr(item, "recipients", None)
    if table is None:
        return
    for index in range(table.number_of_record_sets):
        props = Properties.of(table, record_set=index)
        email = props.text(P.SMTP_ADDRESS)
        if email is None and (props.text(P.ADDRESS_TYPE) or "").upper() == "SMTP":
            email = props.text(P.EMAIL_ADDRESS)
        person = Address(props.text(P.DISPLAY_NAME), email)
        kind = props.integer(P.RECIPIENT_TYPE)
        {_CC: parts.cc, _BCC: parts.bcc}.get(kind or _TO, parts.to).append(person)


def _attachment(item: Any, seed: str, names: NameMap) -> Attachment:
    props = Properties.of(item, names)
    method = props.integer(P.ATTACH_METHOD)
    filename = (props.text(P.ATTACH_LONG_FILENAME) or props.text(P.ATTACH_FILENAME)
                or props.text(P.DISPLAY_NAME_ATTACH))
    if method == _EMBEDDED:
        if _count(item, "number_of_sub_items"):
            embedded = message_parts(item.get_sub_item(0), seed, names)
            return Attachment(filename=None, embedded=embedded)
        return lost_attachment(filename, "pst.lost.embedded")
    if method in (_BY_VALUE, _OLE) or (method is None and P.ATTACH_DATA in props):
        return Attachment(filename=filename, mime_type=props.text(P.ATTACH_MIME_TAG),
                          content_id=props.text(P.ATTACH_CONTENT_ID),
                          size=item.size, read=lambda: _stream(item),
                          inline=bool(props.boolean(P.ATTACHMENT_HIDDEN)))
    where = props.text(P.ATTACH_LONG_PATHNAME) or "?"
    return lost_attachment(filename, "pst.lost.link", where=where)


def lost_attachment(filename: str | None, reason: str, **values: str) -> Attachment:
    """What stands in for an attachment the file does not give: a short text part saying,
    in English and French, what it was and why it is missing, so that the loss shows in
    the message itself (and in the log), never silently. ``reason`` is an i18n key."""
    name = filename or "attachment"
    lines = [MESSAGES["pst.attachment_not_kept"][language].format(
        name=name, why=MESSAGES[reason][language].format(**values)) for language in ("en", "fr")]
    log.warning("%s", lines[0])
    note = "\r\n".join(lines).encode() + b"\r\n"
    return Attachment(filename=f"{name} (not kept).txt", mime_type="text/plain; charset=utf-8",
                      size=len(note), read=lambda: iter([note]))


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
