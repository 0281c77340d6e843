"""MAPI properties exchangelib has no field for, registered through its public API.

exchangelib models no follow-up flag on items, so the flag's status is read as the MAPI
property PidTagFlagStatus (0x1090, an integer: 0 none, 1 complete, 2 flagged), registered
once on ``Message`` as the extended property ``migrate_flag_status``. A folder's size is
PR_MESSAGE_SIZE_EXTENDED (0x0E08, 64-bit), registered on ``Folder`` as ``migrate_size``,
so that counting a folder needs no item listing.
"""

from __future__ import annotations

from exchangelib import ExtendedProperty
from exchangelib.folders import Folder
from exchangelib.items import Message

FLAG_STATUS = "migrate_flag_status"
FOLDER_SIZE = "migrate_size"
FLAGGED = 2  # followupFlagged


class FlagStatus(ExtendedProperty):
    """PidTagFlagStatus: the follow-up flag of a message."""

    property_tag = 0x1090
    property_type = "Integer"


class FolderSize(ExtendedProperty):
    """PR_MESSAGE_SIZE_EXTENDED: the total size of a folder's items, in bytes."""

    property_tag = 0x0E08
    property_type = "Long"


def register() -> None:
    """Register the properties on ``Message`` and ``Folder`` (idempotent: once per process)."""
    if FLAG_STATUS not in {f.name for f in Message.FIELDS}:
        Message.register(FLAG_STATUS, FlagStatus)
    if FOLDER_SIZE not in {f.name for f in Folder.FIELDS}:
        Folder.register(FOLDER_SIZE, FolderSize)
