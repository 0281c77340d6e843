"""Server presets: what differs between IMAP servers, as data the code paths read.

A preset is chosen with ``?preset=NAME``; without one, the server's greeting picks it
(``detect``), else ``generic``. Code asks ``quirks.max_message_size``, never "is this
Exchange?".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MB = 1024 * 1024


@dataclass(frozen=True)
class Quirks:
    """How one kind of server behaves, where IMAP leaves room."""

    name: str
    #: Larger messages are refused before a byte is sent (None: no known limit).
    max_message_size: int | None = None
    #: A NO text asking to slow down; group 1 is the wait, in ``throttle_unit`` seconds.
    throttle: re.Pattern[str] | None = None
    throttle_unit: float = 1.0
    #: Flags the server ignores on APPEND and that are set by STORE right after it.
    flags_after_append: frozenset[str] = frozenset()
    #: Folders with these special-use attributes are not copied (views over other folders).
    skip_attributes: frozenset[str] = frozenset()
    #: RFC822.SIZE is the exact byte count (Exchange gives an estimate).
    exact_size: bool = True
    #: UIDs per FETCH of sizes, flags and dates (the command line grows with it).
    fetch_chunk: int = 1000
    #: Send a batch in one MULTIAPPEND when the server advertises it.
    multiappend: bool = True
    #: Recognises the server from its greeting, for ``detect``.
    greeting: re.Pattern[str] | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)


_EXCHANGE_BACKOFF = re.compile(r"Suggested Backoff Time:\s*(\d+)\s*milliseconds", re.I)
_GENERIC_BACKOFF = re.compile(r"\[(?:UNAVAILABLE|INUSE)\].*?(?:retry|try again) in (\d+) ?s",
                              re.I)

PRESETS: dict[str, Quirks] = {
    "generic": Quirks("generic", throttle=_GENERIC_BACKOFF),
    "dovecot": Quirks("dovecot", throttle=_GENERIC_BACKOFF,
                      greeting=re.compile(r"Dovecot", re.I)),
    "exchange": Quirks(
        "exchange", max_message_size=35 * MB, throttle=_EXCHANGE_BACKOFF, throttle_unit=0.001,
        flags_after_append=frozenset({"\\Flagged"}), exact_size=False, fetch_chunk=200,
        greeting=re.compile(r"Microsoft Exchange|Office 365|Outlook", re.I),
        notes=("keywords are dropped: Exchange's PERMANENTFLAGS has no \\*",
               "RFC822.SIZE is an estimate: find() confirms candidates by their bytes")),
    "gmail": Quirks(
        "gmail", max_message_size=25 * MB, throttle=_GENERIC_BACKOFF,
        skip_attributes=frozenset({"\\All", "\\Important", "\\Flagged", "\\AllMail",
                                   "\\Starred"}),
        greeting=re.compile(r"Gimap", re.I),
        notes=("[Gmail]/All Mail, Important and Starred are views: not copied",
               "a message with several labels is in several folders: copied once per label")),
    "bluemind": Quirks("bluemind", max_message_size=10 * MB, throttle=_GENERIC_BACKOFF,
                       greeting=re.compile(r"BlueMind", re.I)),
    "zimbra": Quirks("zimbra", max_message_size=10 * MB, throttle=_GENERIC_BACKOFF,
                     greeting=re.compile(r"Zimbra", re.I)),
}


def preset(name: str) -> Quirks:
    """The preset called ``name``; raises KeyError for an unknown one."""
    return PRESETS[name.lower()]


def detect(greeting: str) -> Quirks:
    """The preset whose greeting pattern matches the server's, else ``generic``."""
    for quirks in PRESETS.values():
        if quirks.greeting is not None and quirks.greeting.search(greeting):
            return quirks
    return PRESETS["generic"]
