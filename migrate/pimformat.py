"""Writing iCalendar (RFC 5545) and vCard (RFC 6350) text: escaping, folding, UTC stamps.

For sources that translate their own records into these formats (a .pst file keeps MAPI
properties); the bytes a server serves as iCalendar or vCard are never rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime


def escape(text: str) -> str:
    """A TEXT value: backslash, semicolon, comma and line breaks escaped (RFC 5545 3.3.11)."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def param(text: str) -> str:
    """A parameter value, quoted when it holds separators (quotes themselves dropped)."""
    text = text.replace('"', "")
    return f'"{text}"' if any(c in text for c in ":;,") else text


def fold(line: str) -> str:
    """A content line folded at 75 octets, never inside a UTF-8 sequence; CRLF ended."""
    out: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode())
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out) + "\r\n"


def document(lines: Iterable[str]) -> bytes:
    """Content lines as one iCalendar or vCard document (folded, CRLF, UTF-8)."""
    return "".join(fold(line) for line in lines).encode()


def utc_stamp(value: datetime | None) -> str | None:
    """A DATE-TIME in UTC (``20240131T080000Z``); a naive value is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
