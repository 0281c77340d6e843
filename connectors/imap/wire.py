"""The one adapter that reaches below imapclient: APPEND with untouched bytes, CREATE … USE.

imapclient's ``append`` goes through imaplib, which rewrites line endings; its
``multiappend`` holds every message in memory and checks no answer. ``append`` here sends
one message or many (MULTIAPPEND, RFC 3502) in a single command, streaming each literal
from its ``Content`` exactly as it is, non-synchronizing (LITERAL+, RFC 7888) when the
server allows it. It uses imaplib's tag and response reading (``_new_tag``,
``_get_response``, ``_command_complete``), as imapclient itself does; the append tests
of ``tests/test_imap_connector.py`` (bytes, flags, dates, MULTIAPPEND with a refusal) pin
that behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from imapclient import IMAPClient
from imapclient.datetime_util import datetime_to_INTERNALDATE
from imapclient.exceptions import IMAPClientError
from imapclient.imap_utf7 import encode as encode_utf7

from migrate.model import Content

_ATOM = re.compile(r"^\\?[^\x00-\x20\x7f-\U0010ffff(){%*\"\\\]]+$")  # ASCII, no specials
_CODE = re.compile(r"^\[([A-Z-]+)(?: ([^\]]*))?\]")
_CHUNK = 1024 * 1024
_LITERAL_MINUS_MAX = 4096


@dataclass(frozen=True)
class Outgoing:
    """One message for APPEND: its bytes, flags and internal date."""

    content: Content
    flags: tuple[str, ...] = ()
    date: datetime | None = None


@dataclass(frozen=True)
class Reply:
    """A tagged answer: ``status`` OK, NO or BAD, and the text after it."""

    status: str
    text: str

    @property
    def ok(self) -> bool:
        return self.status == "OK"

    @property
    def code(self) -> tuple[str, str] | None:
        """The response code, e.g. ``("APPENDUID", "38505 3955")``, if any."""
        found = _CODE.match(self.text)
        return (found.group(1), found.group(2) or "") if found else None


def is_atom(flag: str) -> bool:
    """Whether ``flag`` can be sent as an IMAP flag (an atom, or a backslash one)."""
    return bool(_ATOM.match(flag))


def quote(text: str) -> bytes:
    """A mailbox name as a quoted string, in modified UTF-7."""
    raw = encode_utf7(text)
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def append(client: IMAPClient, mailbox: str, messages: Sequence[Outgoing]) -> Reply:
    """APPEND ``messages`` (several: MULTIAPPEND) to ``mailbox``, bytes untouched.

    Returns the server's tagged answer. A synchronizing literal refused before it is sent
    ends the command with that answer. imaplib's abort and socket errors pass through.
    """
    imap = client._imap
    literal_plus = client.has_capability("LITERAL+")
    literal_minus = client.has_capability("LITERAL-")
    tag = imap._new_tag()
    try:
        imap.send(tag + b" APPEND " + quote(mailbox))
        for message in messages:
            message.content.open().close()  # a deferred content loads: its size is exact
            size = message.content.size
            plus = literal_plus or (literal_minus and size <= _LITERAL_MINUS_MAX)
            imap.send(_attributes(message) + b"{%d%s}\r\n" % (size, b"+" if plus else b""))
            if not plus:
                refused = _continuation(imap, tag)
                if refused is not None:
                    return refused
            for chunk in message.content.iter_chunks(_CHUNK):
                imap.send(chunk)
        imap.send(b"\r\n")
        status, data = imap._command_complete("APPEND", tag)
        return Reply(status, _text(data[0] if data else b""))
    finally:
        imap.tagged_commands.pop(tag, None)
        imap.untagged_responses.clear()  # APPENDUID, EXISTS … would pile up otherwise


def _attributes(message: Outgoing) -> bytes:
    out = b" "
    flags = [f for f in message.flags if is_atom(f)]
    if flags:
        out += b"(" + " ".join(flags).encode("ascii") + b") "
    if message.date is not None:
        when = message.date if message.date.tzinfo else message.date.replace(tzinfo=UTC)
        out += b'"' + datetime_to_INTERNALDATE(when).encode("ascii") + b'" '
    return out


def _continuation(imap, tag: bytes) -> Reply | None:
    """Wait for ``+`` before a synchronizing literal; a tagged answer instead ends it."""
    while imap._get_response() is not None:  # None: the continuation
        done = imap.tagged_commands.get(tag)
        if done is not None:
            status, data = done
            return Reply(status, _text(data[0] if data else b""))
    return None


def create(client: IMAPClient, mailbox: str, use: str | None = None) -> Reply:
    """CREATE ``mailbox``, with ``(USE (\\Sent))`` when ``use`` is given (RFC 6154)."""
    imap = client._imap
    args = [quote(mailbox).decode("ascii")]
    if use:
        args.append(f"(USE ({use}))")
    try:
        status, data = imap._simple_command("CREATE", *args)
    finally:
        imap.untagged_responses.clear()
    return Reply(status, _text(data[0] if data else b""))


def vanished(client: IMAPClient, last_uid: int, modseq: int) -> list[int]:
    """UIDs up to ``last_uid`` expunged since ``modseq``: ``UID FETCH 1:last (UID)
    (CHANGEDSINCE modseq VANISHED)`` (QRESYNC, RFC 7162, enabled on the connection).

    imapclient does not parse the ``VANISHED (EARLIER)`` responses this asks for; they are
    taken from imaplib's untagged responses, where they wait under their name.
    """
    imap = client._imap
    untagged = imap.untagged_responses
    untagged.pop("VANISHED", None)
    status, data = imap.uid("FETCH", f"1:{last_uid}", f"(UID) (CHANGEDSINCE {modseq} VANISHED)")
    if status != "OK":
        raise IMAPClientError(f"UID FETCH (VANISHED) failed: {_text(data[0] if data else b'')}")
    uids: list[int] = []
    for line in untagged.pop("VANISHED", []):
        text = _text(line).strip()
        if text.upper().startswith("(EARLIER)"):
            uids.extend(uid_set(text[len("(EARLIER)"):].strip()))
    return uids


def uid_set(text: str) -> list[int]:
    """The UIDs of an APPENDUID set such as ``3955:3957,3960``, in order."""
    uids: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition(":")
        if last:
            low, high = int(first), int(last)
            step = 1 if high >= low else -1
            uids.extend(range(low, high + step, step))
        else:
            uids.append(int(first))
    return uids


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
