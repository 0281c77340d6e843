"""MAPI properties exchangelib has no field for, registered through its public API.

exchangelib models no follow-up flag on items, so the flag's status is read as the MAPI
property PidTagFlagStatus (0x1090, an integer: 0 none, 1 complete, 2 flagged), registered
once on ``Message`` as the extended property ``migrate_flag_status``. A folder's size is
PR_MESSAGE_SIZE_EXTENDED (0x0E08, 64-bit), registered on ``Folder`` as ``migrate_size``,
so that counting a folder needs no item listing.

Writing (``target``) also needs PidTagMessageFlags (0x0E07: set at creation, it decides
read state and, by leaving out MSGFLAG_UNSENT, that an uploaded message is not a draft),
PidTagMessageDeliveryTime (0x0E06: the received time), PidTagLastVerbExecuted (0x1081:
replied or forwarded, which Outlook shows as an icon) and a named property of our own,
``migrate_sha256``: the sha256 of the bytes uploaded, kept beside the item (never in it)
so that a rerun recognises what it already wrote.
"""

from __future__ import annotations

from exchangelib import ExtendedProperty
from exchangelib.folders import Folder
from exchangelib.items import CalendarItem, Contact, Message

FLAG_STATUS = "migrate_flag_status"
FOLDER_SIZE = "migrate_size"
FLAGGED = 2  # followupFlagged
SHA256 = "migrate_sha256"
MESSAGE_FLAGS = "migrate_message_flags"
DELIVERY_TIME = "migrate_delivery_time"
MSGFLAG_READ = 0x1
MSGFLAG_UNSENT = 0x8  # a draft: never set by this tool
LAST_VERB = "migrate_last_verb"
VERB_REPLIED, VERB_FORWARDED = 102, 104  # EXCHIVERB_REPLYTOSENDER, EXCHIVERB_FORWARD
REPLIED_VERBS = frozenset({102, 103})  # to the sender, to all


class FlagStatus(ExtendedProperty):
    """PidTagFlagStatus: the follow-up flag of a message."""

    property_tag = 0x1090
    property_type = "Integer"


class FolderSize(ExtendedProperty):
    """PR_MESSAGE_SIZE_EXTENDED: the total size of a folder's items, in bytes."""

    property_tag = 0x0E08
    property_type = "Long"


class MessageFlags(ExtendedProperty):
    """PidTagMessageFlags: read, unsent (draft) …; writable only when the item is created."""

    property_tag = 0x0E07
    property_type = "Integer"


class DeliveryTime(ExtendedProperty):
    """PidTagMessageDeliveryTime: when the message was received (EWS DateTimeReceived)."""

    property_tag = 0x0E06
    property_type = "SystemTime"


class LastVerb(ExtendedProperty):
    """PidTagLastVerbExecuted: the last reply or forward done on a message."""

    property_tag = 0x1081
    property_type = "Integer"


class Sha256(ExtendedProperty):
    """The sha256 (hex) of the bytes this tool uploaded, in a property set of its own."""

    property_set_id = "7b1f5e0a-3c2d-4e8b-9a61-5d0c2f4e8a17"  # sovereign-migrate's own set
    property_name = "sovereign-migrate-sha256"
    property_type = "String"


def register() -> None:
    """Register the properties on the item and folder classes (idempotent: once per
    process)."""
    for owner, name, prop in ((Message, FLAG_STATUS, FlagStatus),
                              (Message, LAST_VERB, LastVerb),
                              (Message, SHA256, Sha256),
                              (CalendarItem, SHA256, Sha256),
                              (Contact, SHA256, Sha256),
                              (Folder, FOLDER_SIZE, FolderSize)):
        if name not in {f.name for f in owner.FIELDS}:
            owner.register(name, prop)
