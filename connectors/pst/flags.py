"""A PST message's state as IMAP flags and keywords, and its internal date.

PidTagMessageFlags: read → ``\\Seen``, unsent → ``\\Draft``; PidTagFlagStatus "flagged"
→ ``\\Flagged`` (a completed flag is not); PidTagLastVerbExecuted: reply → ``\\Answered``,
forward → ``$Forwarded``; the categories (PidNameKeywords) become keywords as they are.
"""

from __future__ import annotations

from datetime import datetime

from migrate.model import ANSWERED, DRAFT, FLAGGED, FORWARDED, SEEN

from . import props as P
from .props import PS_PUBLIC_STRINGS, Properties

_MSGFLAG_READ, _MSGFLAG_UNSENT = 0x0001, 0x0008
_FLAG_STATUS_FLAGGED = 2
_VERB_REPLY = {102, 103}  # reply to sender, reply to all (MS-OXOMSG 2.2.1.33)
_VERB_FORWARD = 104


def flags_of(props: Properties) -> frozenset[str]:
    """IMAP flags and keywords for a message's properties."""
    flags: set[str] = set()
    state = props.integer(P.MESSAGE_FLAGS) or 0
    if state & _MSGFLAG_READ:
        flags.add(SEEN)
    if state & _MSGFLAG_UNSENT:
        flags.add(DRAFT)
    if props.integer(P.FLAG_STATUS) == _FLAG_STATUS_FLAGGED:
        flags.add(FLAGGED)
    verb = props.integer(P.LAST_VERB)
    if verb in _VERB_REPLY:
        flags.add(ANSWERED)
    elif verb == _VERB_FORWARD:
        flags.add(FORWARDED)
    for category in props.texts(props.named(PS_PUBLIC_STRINGS, "Keywords")):
        if category.strip():
            flags.add(category.strip())
    return frozenset(flags)


def received_date(props: Properties) -> datetime | None:
    """When the message arrived (PidTagMessageDeliveryTime), else when it was sent or
    created: the internal date IMAP keeps."""
    return (props.time(P.DELIVERY_TIME) or props.time(P.CLIENT_SUBMIT_TIME)
            or props.time(P.CREATION_TIME))
