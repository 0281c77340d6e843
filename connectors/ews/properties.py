"""MAPI properties exchangelib has no field for, registered through its public API.

exchangelib models no follow-up flag on items, so the flag's status is read as the MAPI
property PidTagFlagStatus (0x1090, an integer: 0 none, 1 complete, 2 flagged), registered
once on ``Message`` as the extended property ``migrate_flag_status``.
"""

from __future__ import annotations

from exchangelib import ExtendedProperty
from exchangelib.items import Message

FLAG_STATUS = "migrate_flag_status"
FLAGGED = 2  # followupFlagged


class FlagStatus(ExtendedProperty):
    """PidTagFlagStatus: the follow-up flag of a message."""

    property_tag = 0x1090
    property_type = "Integer"


def register() -> None:
    """Register the properties on ``Message`` (idempotent: once per process)."""
    if FLAG_STATUS not in {f.name for f in Message.FIELDS}:
        Message.register(FLAG_STATUS, FlagStatus)
