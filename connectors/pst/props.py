"""MAPI properties of a libpff item, read by tag: the one place that knows libpff's
record sets, value types and the file's named-property map (MS-PST 2.4.7)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

# Property tags used by this connector (MS-OXPROPS); named ones are resolved by name.
MESSAGE_CLASS = 0x001A
SUBJECT = 0x0037
CLIENT_SUBMIT_TIME = 0x0039
SENT_REPRESENTING_NAME = 0x0042
SENDER_NAME = 0x0C1A
SENDER_ADDRESS_TYPE = 0x0C1E
SENDER_EMAIL = 0x0C1F
SENDER_SMTP = 0x5D01
SENT_REPRESENTING_SMTP = 0x5D02
SENT_REPRESENTING_ADDRESS_TYPE = 0x0064
SENT_REPRESENTING_EMAIL = 0x0065
TRANSPORT_HEADERS = 0x007D
DELIVERY_TIME = 0x0E06
MESSAGE_FLAGS = 0x0E07
MESSAGE_SIZE = 0x0E08
BODY = 0x1000
RTF_COMPRESSED = 0x1009
HTML = 0x1013
INTERNET_MESSAGE_ID = 0x1035
REFERENCES = 0x1039
IN_REPLY_TO = 0x1042
LAST_VERB = 0x1081
FLAG_STATUS = 0x1090
INTERNET_CODEPAGE = 0x3FDE
DISPLAY_NAME = 0x3001
ADDRESS_TYPE = 0x3002
EMAIL_ADDRESS = 0x3003
SMTP_ADDRESS = 0x39FE
RECIPIENT_TYPE = 0x0C15
CREATION_TIME = 0x3007
# attachments
ATTACH_DATA = 0x3701
ATTACH_FILENAME = 0x3704
ATTACH_METHOD = 0x3705
ATTACH_LONG_FILENAME = 0x3707
ATTACH_LONG_PATHNAME = 0x370D
ATTACH_MIME_TAG = 0x370E
ATTACH_CONTENT_ID = 0x3712
DISPLAY_NAME_ATTACH = 0x3001
ATTACHMENT_HIDDEN = 0x7FFE
# message store and folders (MS-PST 2.4.3, MS-OXOSFLD 2.2)
IPM_SUBTREE = 0x35E0
IPM_OUTBOX = 0x35E2
IPM_WASTEBASKET = 0x35E3
IPM_SENTMAIL = 0x35E4
IPM_DRAFTS = 0x36D7
IPM_CALENDAR = 0x36D0
ADDITIONAL_REN_ENTRY_IDS = 0x36D8
PST_PASSWORD = 0x67FF
CONTAINER_CLASS = 0x3613
ATTRIBUTE_HIDDEN = 0x10F4
RECIPIENT_TRACK_STATUS = 0x5FFF

_UNICODE, _STRING8, _BINARY = 0x001F, 0x001E, 0x0102
_INT32, _BOOLEAN, _TIME = 0x0003, 0x000B, 0x0040
_MV_BINARY, _MV_UNICODE, _MV_STRING8 = 0x1102, 0x101F, 0x101E
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

PS_MAPI = bytes.fromhex("2803020000000000c000000000000046")
PS_PUBLIC_STRINGS = bytes.fromhex("2903020000000000c000000000000046")
PSETID_APPOINTMENT = bytes.fromhex("0220060000000000c000000000000046")
PSETID_MEETING = bytes.fromhex("90dad86e0b451b1098da00aa003f1305")
PSETID_ADDRESS = bytes.fromhex("0420060000000000c000000000000046")
PSETID_COMMON = bytes.fromhex("0820060000000000c000000000000046")


class Properties:
    """The properties of one item (message, attachment, recipient, folder) by tag."""

    def __init__(self, entries: dict[int, Any], names: NameMap | None = None) -> None:
        self._entries = entries
        self._names = names

    @classmethod
    def of(cls, item: Any, names: NameMap | None = None, record_set: int = 0) -> Properties:
        """The properties of ``item``'s ``record_set`` (items have one; tables many)."""
        entries: dict[int, Any] = {}
        if item.number_of_record_sets > record_set:
            for entry in item.get_record_set(record_set).entries:
                entries.setdefault(entry.entry_type, entry)
        return cls(entries, names)

    def __contains__(self, tag: int) -> bool:
        return tag in self._entries

    def named(self, guid: bytes, name: str | int) -> int | None:
        """The tag a named property (property set and string name or numeric id, a
        PidLid) has in this file."""
        return self._names.tag(guid, name) if self._names else None

    def boolean(self, tag: int | None) -> bool | None:
        entry = self._entries.get(tag) if tag is not None else None
        if entry is None or entry.value_type != _BOOLEAN or not entry.data:
            return None
        return entry.data[0] != 0

    def text(self, tag: int | None) -> str | None:
        entry = self._entries.get(tag) if tag is not None else None
        if entry is None or entry.value_type not in (_UNICODE, _STRING8):
            return None
        try:
            value = entry.data_as_string
        except (OSError, MemoryError, ValueError):
            data = entry.data or b""
            value = data.decode("utf-16-le" if entry.value_type == _UNICODE else "cp1252",
                                "replace").rstrip("\0")
        return value or None

    def subject(self) -> str | None:
        """PidTagSubject without the control prefix (0x01 and a length) it may start with."""
        value = self.text(SUBJECT)
        if value and value[0] == "\x01" and len(value) >= 2:
            return value[2:] or None
        return value

    def binary(self, tag: int) -> bytes | None:
        entry = self._entries.get(tag)
        return None if entry is None else entry.data

    def integer(self, tag: int) -> int | None:
        entry = self._entries.get(tag)
        if entry is None or entry.value_type not in (_INT32, _BOOLEAN, 0x0014, 0x0002):
            return None
        data = entry.data or b""
        return int.from_bytes(data, "little", signed=False) if data else None

    def time(self, tag: int) -> datetime | None:
        entry = self._entries.get(tag)
        if entry is None or entry.value_type != _TIME or not entry.data \
                or len(entry.data) != 8:
            return None
        ticks = struct.unpack("<Q", entry.data)[0]
        if ticks == 0:
            return None
        try:
            return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)
        except OverflowError:
            return None

    def texts(self, tag: int | None) -> list[str]:
        """A multi-valued string property (categories ...), decoded from its raw layout
        (MS-PST 2.3.3.4.2: a count, offsets, then the values)."""
        entry = self._entries.get(tag) if tag is not None else None
        if entry is None or entry.value_type not in (_MV_UNICODE, _MV_STRING8):
            return []
        encoding = "utf-16-le" if entry.value_type == _MV_UNICODE else "cp1252"
        return [value.decode(encoding, "replace").rstrip("\0")
                for value in _multi_values(entry.data or b"")]

    def binaries(self, tag: int) -> list[bytes]:
        entry = self._entries.get(tag)
        if entry is None or entry.value_type != _MV_BINARY:
            return []
        return _multi_values(entry.data or b"")


def _multi_values(data: bytes) -> list[bytes]:
    if len(data) < 4:
        return []
    count = struct.unpack_from("<I", data)[0]
    if count * 4 + 4 > len(data):
        return []
    offsets = [*struct.unpack_from(f"<{count}I", data, 4), len(data)]
    return [data[offsets[i]:offsets[i + 1]] for i in range(count)
            if offsets[i] <= offsets[i + 1] <= len(data)]


def entry_id_nid(entry_id: bytes | None) -> int | None:
    """The node id an entry id points at (its last four bytes, MS-PST 2.4.3.2)."""
    if not entry_id or len(entry_id) != 24:
        return None
    return struct.unpack_from("<I", entry_id, 20)[0]


class NameMap:
    """The file's named-property map: (property set, name) → the tag used in this file."""

    def __init__(self, guids: bytes, entries: bytes, strings: bytes) -> None:
        self._tags: dict[tuple[bytes, str | int], int] = {}
        for offset in range(0, len(entries) - 7, 8):
            key, guid_field, index = struct.unpack_from("<IHH", entries, offset)
            guid_index = guid_field >> 1
            if guid_index == 1:
                guid = PS_MAPI
            elif guid_index == 2:
                guid = PS_PUBLIC_STRINGS
            elif guid_index >= 3 and (guid_index - 3) * 16 + 16 <= len(guids):
                guid = guids[(guid_index - 3) * 16:(guid_index - 2) * 16]
            else:
                continue
            if not guid_field & 1:  # a numeric name (PidLid…)
                self._tags[(guid, key)] = 0x8000 + index
                continue
            if key + 4 > len(strings):
                continue
            length = struct.unpack_from("<I", strings, key)[0]
            name = strings[key + 4:key + 4 + length].decode("utf-16-le", "replace")
            self._tags[(guid, name)] = 0x8000 + index

    @classmethod
    def of(cls, pff_file: Any) -> NameMap:
        """Read the map from an open ``pypff.file`` (empty if the file has none)."""
        try:
            props = Properties.of(pff_file.name_to_id_map)
        except (OSError, MemoryError, AttributeError):
            return cls(b"", b"", b"")
        return cls(props.binary(0x0002) or b"", props.binary(0x0003) or b"",
                   props.binary(0x0004) or b"")

    def tag(self, guid: bytes, name: str | int) -> int | None:
        return self._tags.get((guid, name))
