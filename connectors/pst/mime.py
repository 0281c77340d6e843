"""Rebuilding a PST message as RFC 5322 bytes: a PST keeps properties, not the MIME.

The transport headers (PidTagTransportMessageHeaders) are kept verbatim when the file has
them, except the fields that describe the old body's structure (Content-Type,
Content-Transfer-Encoding, MIME-Version, Content-Disposition), which the rebuilt body
replaces; lines that are not header fields are dropped. Without transport headers, the
header is built from the properties. Bodies: plain text and HTML (multipart/alternative
when both); an RTF body that encapsulates HTML gives the HTML; any other RTF body
(authored in RTF) is kept, as it is, as a ``message.rtf`` attachment beside the text.
Attachments follow, an attached message as ``message/rfc822`` (where libpff can open
it; see ``fields.lost_attachment`` for what stands in otherwise). The output is
deterministic: boundaries derive from the item's identifier, no "now" anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import quopri
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import encode_rfc2231

from .headers import CRLF, header_block
from .parts import Attachment, MessageParts
from .rtf import html_from_rtf, is_encapsulated_html

_BASE64_READ = 57 * 16 * 1024  # whole base64 lines per chunk


def render(parts: MessageParts) -> Iterator[bytes]:
    """The message as RFC 5322 bytes, in chunks (attachments are streamed)."""
    body = _body(parts)
    yield from header_block(parts)
    yield from _part(body, parts.seed, "m", top=True)


# --- the part tree ------------------------------------------------------------------------


@dataclass
class _Part:
    headers: list[tuple[str, str]]
    chunks: Callable[[], Iterator[bytes]] | None = None
    children: list[_Part] = field(default_factory=list)
    subtype: str = ""  # of a multipart


def _body(parts: MessageParts) -> _Part:
    html, html_charset = parts.html, parts.html_charset
    rtf_kept = None
    if parts.rtf and html is None:
        if is_encapsulated_html(parts.rtf):
            html, html_charset = html_from_rtf(parts.rtf), _rtf_charset(parts.rtf)
        elif b"\\fromtext" not in parts.rtf[:1024]:  # authored in RTF: keep it as it is
            rtf_kept = parts.rtf
    alternatives = []
    if parts.text is not None or html is None:
        alternatives.append(_text_part(parts.text or ""))
    if html is not None:
        alternatives.append(_html_part(html, html_charset))
    body = alternatives[0] if len(alternatives) == 1 else \
        _Part([], children=alternatives, subtype="alternative")
    attached = [_attachment_part(a, parts.seed, f"a{n}")
                for n, a in enumerate(parts.attachments)]
    if rtf_kept is not None:
        attached.insert(0, _file_part("message.rtf", "application/rtf", None,
                                      lambda data=rtf_kept: iter([data])))
    if not attached:
        return body
    return _Part([], children=[body, *attached], subtype="mixed")


def _text_part(text: str) -> _Part:
    data = text.replace("\r\n", "\n").encode("utf-8", "surrogatepass")
    return _Part([("Content-Type", "text/plain; charset=utf-8"),
                  ("Content-Transfer-Encoding", "quoted-printable")],
                 lambda: iter([_quoted_printable(data)]))


def _html_part(html: bytes, charset: str | None) -> _Part:
    if charset is None:  # no code page recorded: UTF-8 if it decodes, else Windows' Latin-1
        try:
            html.decode("utf-8")
            charset = "utf-8"
        except UnicodeDecodeError:
            charset = "windows-1252"
    return _Part([("Content-Type", f"text/html; charset={charset}"),
                  ("Content-Transfer-Encoding", "quoted-printable")],
                 lambda: iter([_quoted_printable(html.replace(b"\r\n", b"\n"))]))


def _attachment_part(attachment: Attachment, seed: str, place: str) -> _Part:
    if attachment.embedded is not None:
        embedded = attachment.embedded
        name = attachment.filename or f"{embedded.subject or 'message'}.eml"
        return _Part([("Content-Type", "message/rfc822"),
                      ("Content-Disposition", f"attachment; {_param('filename', name)}")],
                     lambda: render(embedded))
    mime_type = attachment.mime_type or (mimetypes.guess_type(attachment.filename.lower())[0]
                                         if attachment.filename else None)
    return _file_part(attachment.filename, mime_type or "application/octet-stream",
                      attachment.content_id, attachment.read or (lambda: iter([b""])),
                      attachment.inline)


def _file_part(filename: str | None, mime_type: str, content_id: str | None,
               read: Callable[[], Iterator[bytes]], inline: bool = False) -> _Part:
    content_type = mime_type.strip().lower() if "/" in mime_type else "application/octet-stream"
    disposition = "inline" if inline else "attachment"
    if filename:
        content_type += f"; {_param('name', filename)}"
        disposition += f"; {_param('filename', filename)}"
    headers = [("Content-Type", content_type), ("Content-Transfer-Encoding", "base64"),
               ("Content-Disposition", disposition)]
    if content_id:
        headers.append(("Content-ID", f"<{content_id.strip('<>')}>"))
    return _Part(headers, lambda: _base64(read()))


def _part(part: _Part, seed: str, place: str, top: bool = False) -> Iterator[bytes]:
    """A part's own header fields (``top``: the message's MIME fields), a blank line, body."""
    headers = list(part.headers)
    boundary = _boundary(seed, place) if part.children else ""
    if part.children:
        headers = [("Content-Type", f'multipart/{part.subtype}; boundary="{boundary}"')]
    if top:
        headers.insert(0, ("MIME-Version", "1.0"))
    for name, value in headers:
        yield f"{name}: {value}".encode("ascii") + CRLF
    yield CRLF
    if not part.children:
        assert part.chunks is not None
        yield from part.chunks()
        return
    for number, child in enumerate(part.children):
        yield b"--" + boundary.encode("ascii") + CRLF
        yield from _part(child, seed, f"{place}.{number}")
        yield CRLF
    yield b"--" + boundary.encode("ascii") + b"--" + CRLF


def _boundary(seed: str, place: str) -> str:
    return "=_pst_" + hashlib.sha256(f"{seed}\0{place}".encode()).hexdigest()[:32]


# --- header ----------------------------------------------------------------------------


def _param(name: str, value: str) -> str:
    """A MIME parameter: quoted when ASCII, RFC 2231 when not."""
    value = " ".join(value.split())
    if value.isascii():
        return f'{name}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
    return f"{name}*={encode_rfc2231(value, 'utf-8')}"


# --- encodings -----------------------------------------------------------------------------


def _quoted_printable(data: bytes) -> bytes:
    encoded = quopri.encodestring(data)
    if encoded and not encoded.endswith(b"\n"):
        encoded += b"\n"
    return encoded.replace(b"\n", CRLF)


def _base64(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Base64 in 76-character CRLF lines, streamed: only whole 57-byte groups per chunk."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        whole = len(pending) - len(pending) % _BASE64_READ
        if whole:
            yield base64.encodebytes(pending[:whole]).replace(b"\n", CRLF)
            pending = pending[whole:]
    if pending:
        yield base64.encodebytes(pending).replace(b"\n", CRLF)


_ANSICPG = re.compile(rb"\\ansicpg(\d+)")
_CODEPAGES = {65001: "utf-8", 20127: "us-ascii", 28591: "iso-8859-1", 28605: "iso-8859-15",
              50220: "iso-2022-jp", 932: "shift_jis", 936: "gb2312", 949: "ks_c_5601-1987",
              950: "big5", 20866: "koi8-r", 51932: "euc-jp", 1200: "utf-16le"}


def charset_name(codepage: int | None) -> str | None:
    """The MIME charset name of a Windows code page (None when unknown)."""
    if codepage is None:
        return None
    if codepage in _CODEPAGES:
        return _CODEPAGES[codepage]
    if 1250 <= codepage <= 1258 or codepage == 874:
        return f"windows-{codepage}"
    return None


def _rtf_charset(rtf: bytes) -> str | None:
    found = _ANSICPG.search(rtf[:1024])
    return charset_name(int(found.group(1))) if found else None
