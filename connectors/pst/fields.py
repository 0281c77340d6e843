"""A message's header fields and bodies from its properties, and the note that stands in
for an attachment the file does not give: shared by the libpff reader (``reader``) and the
reader of blocks (``blockmessage``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from migrate.errors import BadInputError
from migrate.i18n import MESSAGES

from . import props as P
from .mime import charset_name
from .parts import Address, Attachment, MessageParts
from .props import Properties
from .rtf import decompress

log = logging.getLogger(__name__)

_TO, _CC, _BCC = 1, 2, 3
_ADDR_SPEC = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")


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


def add_recipients(parts: MessageParts, rows: Iterable[Properties]) -> None:
    """To, Cc and Bcc from the rows of a message's recipient table: each person's
    Internet address where the row gives one, with the display name."""
    for props in rows:
        email = props.text(P.SMTP_ADDRESS) or internet_address(
            props.text(P.ADDRESS_TYPE), props.text(P.EMAIL_ADDRESS))
        person = Address(props.text(P.DISPLAY_NAME), email)
        kind = props.integer(P.RECIPIENT_TYPE)
        {_CC: parts.cc, _BCC: parts.bcc}.get(kind or _TO, parts.to).append(person)


def internet_address(address_type: str | None, address: str | None) -> str | None:
    """``address`` when it is an Internet one: of type SMTP, or of a type other than
    Exchange's (whose addresses are directory names, never mail addresses) shaped as
    local@domain; None otherwise."""
    kind = (address_type or "").upper()
    if address is None or kind == "EX":
        return None
    return address if kind == "SMTP" or _ADDR_SPEC.fullmatch(address) else None


def _sender(props: Properties) -> Address | None:
    """Who sent it: the sender's (or the represented sender's) SMTP address and name."""
    name = props.text(P.SENDER_NAME) or props.text(P.SENT_REPRESENTING_NAME)
    email = (props.text(P.SENDER_SMTP) or props.text(P.SENT_REPRESENTING_SMTP)
             or internet_address(props.text(P.SENDER_ADDRESS_TYPE),
                                 props.text(P.SENDER_EMAIL))
             or internet_address(props.text(P.SENT_REPRESENTING_ADDRESS_TYPE),
                                 props.text(P.SENT_REPRESENTING_EMAIL)))
    return Address(name, email) if name or email else None


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
                      read=lambda: iter([note]))
