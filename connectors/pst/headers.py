"""The header block of a rebuilt message: the transport headers as the PST keeps them
(minus the fields that described the old body), or fields built from its properties."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.header import Header
from email.utils import format_datetime, formataddr

from .parts import Address, MessageParts

CRLF = b"\r\n"
_BODY_FIELDS = {"content-type", "content-transfer-encoding", "mime-version",
                "content-disposition"}
_FIELD = re.compile(r"[!-9;-~]+:")


def header_block(parts: MessageParts) -> Iterator[bytes]:
    """The message's header fields before its MIME ones: transport or built."""
    if parts.transport_headers and parts.transport_headers.strip():
        yield from transport_fields(parts.transport_headers)
        return
    fields: list[tuple[str, str]] = []
    if parts.date is not None:
        fields.append(("Date", format_datetime(parts.date)))
    if parts.sender is not None:
        fields.append(("From", _addresses([parts.sender])))
    for name, people in (("To", parts.to), ("Cc", parts.cc), ("Bcc", parts.bcc)):
        if people:
            fields.append((name, _addresses(people)))
    if parts.subject is not None:
        fields.append(("Subject", _encoded(parts.subject)))
    for name, value in (("Message-ID", parts.message_id), ("In-Reply-To", parts.in_reply_to),
                        ("References", parts.references)):
        if value and value.isascii():
            fields.append((name, " ".join(value.split())))
    for name, value in fields:
        yield f"{name}: {value}".encode("ascii") + CRLF


def transport_fields(text: str) -> Iterator[bytes]:
    """The transport header block's fields, verbatim (CRLF line ends), without those
    that describe the old body and without lines that are not header fields."""
    keep = False
    for line in re.split(r"\r\n|\n|\r", text):
        if not line:  # the block ends at its first empty line
            break
        if line[0] in " \t":
            if keep:
                yield line.encode("utf-8", "surrogateescape") + CRLF
            continue
        if not _FIELD.match(line):
            keep = False  # not a header field ("Microsoft Mail Internet Headers ..."): dropped
            continue
        keep = line.split(":", 1)[0].strip().lower() not in _BODY_FIELDS
        if keep:
            yield line.encode("utf-8", "surrogateescape") + CRLF


def _addresses(people: list[Address]) -> str:
    """An address list; a person the file names without an Internet address (an Exchange
    user, the system) becomes an empty group ``"Name":;`` (RFC 6854), never a made-up
    address."""
    rendered = []
    for person in people:
        email = person.email if person.email and person.email.isascii() \
            and "@" in person.email else ""
        name = " ".join((person.name or "").split())
        if name and not name.isascii():
            name = Header(name, "utf-8").encode()
        if email:
            rendered.append(formataddr((name, email)))
        elif name:
            quoted = name if name.startswith("=?") else \
                '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
            rendered.append(f"{quoted}:;")
    return ", ".join(rendered) or "undisclosed-recipients:;"


def _encoded(text: str) -> str:
    text = " ".join(text.split())
    return text if text.isascii() else Header(text, "utf-8").encode(linesep="\r\n")
