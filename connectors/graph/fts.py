"""The FastTransfer stream Graph's ``exportItems`` gives, patched so that an imported copy is
a received message: not a draft, read as the archive says, delivered at its internal date.

Format (Microsoft's example in "Import an Exchange mailbox item", decoded): a sequence of
records ``int32 LE type, int32 LE length, payload``. Type 1 is a header, 3 a named-property
map, 4 a short record, 2 the message itself as an MS-OXCFXICS property stream: each value is
a property tag (``uint32 LE``: id << 16 | type) then its value, fixed-size by type or
length-prefixed (strings, binaries), multi-valued types (``0x1000 | type``) with a count.
Named properties (ids 0x8000 and up) are written with the ids of the record-3 map, without
the inline name MS-OXCFXICS puts in a full stream. The message's own properties come first;
a marker (a bare tag: recipients, attachments, an embedded message …) ends them, and
everything from there is kept byte for byte (an embedded message's flags stay its own).

Only the top-level property list of the type-2 record is rewritten: PidTagMessageFlags
(``MSGFLAG_UNSENT`` cleared unless the archive says ``\\Draft``, ``MSGFLAG_READ`` per
``\\Seen``), PidTagMessageDeliveryTime (the internal date) and, for ``\\Answered`` /
``$Forwarded``, PidTagLastVerbExecuted, each replaced where present, else added at the end of
that list. A stream this module does not understand is refused (``ItemError``): a corrupted
stream is never sent.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from migrate.errors import ItemError

MESSAGE_FLAGS = 0x0E070003  # PidTagMessageFlags, PtypInteger32
DELIVERY_TIME = 0x0E060040  # PidTagMessageDeliveryTime, PtypTime
LAST_VERB = 0x10810003  # PidTagLastVerbExecuted, PtypInteger32
MSGFLAG_READ, MSGFLAG_UNSENT = 0x1, 0x8
VERB_REPLIED, VERB_FORWARDED = 102, 104  # PidTagLastVerbExecuted values (MS-OXOMSG)
PROPERTIES = 2  # the record holding the message's property stream

#: Bare tags that end a message's own properties (MS-OXCFXICS markers).
MARKERS = frozenset({
    0x40000003,  # NewAttach
    0x40010003,  # StartEmbed
    0x40020003,  # EndEmbed
    0x40030003,  # StartRecip
    0x40040003,  # EndToRecip
    0x400C0003,  # StartMessage
    0x400D0003,  # EndMessage
    0x400E0003,  # EndAttach
    0x40100003,  # StartFAIMsg
})
#: Fixed-size property types → bytes of their value in a FastTransfer stream.
FIXED = {0x0002: 2, 0x0003: 4, 0x0004: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8, 0x000A: 4,
         0x000B: 2, 0x0014: 8, 0x0040: 8, 0x0048: 16}
#: Length-prefixed property types (strings, binaries, server ids, objects).
VARIABLE = frozenset({0x001E, 0x001F, 0x0102, 0x000D, 0x00FB})
_MULTI = 0x1000
_CODEPAGE = 0x8000  # 0x8000 | codepage: a string in that code page (0x84B0: UTF-16LE)
_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Record:
    """One record of an exported item: its type and payload."""

    type: int
    payload: bytes


@dataclass(frozen=True)
class Property:
    """One top-level property of the message: its tag and where its value lies."""

    tag: int
    start: int  # offset of the tag in the payload
    end: int  # offset just past the value

    def value(self, payload: bytes) -> bytes:
        return payload[self.start + 4:self.end]


def records(stream: bytes) -> list[Record]:
    """The records of an exported item, each checked to lie inside the stream."""
    found, at = [], 0
    while at < len(stream):
        if at + 8 > len(stream):
            raise ItemError(f"exported item: a record header is cut at byte {at}")
        kind, length = struct.unpack_from("<iI", stream, at)
        if at + 8 + length > len(stream):
            raise ItemError(f"exported item: record of type {kind} at byte {at} claims "
                            f"{length} bytes, past the end of the stream")
        found.append(Record(kind, stream[at + 8:at + 8 + length]))
        at += 8 + length
    return found


def join(parts: list[Record]) -> bytes:
    """The stream made of these records (lengths computed afresh)."""
    return b"".join(struct.pack("<iI", r.type, len(r.payload)) + r.payload for r in parts)


def _value_size(payload: bytes, at: int, kind: int) -> int:
    """Bytes taken by one value of ``kind`` at ``at`` (length prefix included)."""
    if kind in FIXED:
        return FIXED[kind]
    if kind in VARIABLE or kind & _CODEPAGE:
        if at + 4 > len(payload):
            raise ItemError(f"exported item: a value length is cut at byte {at}")
        return 4 + struct.unpack_from("<I", payload, at)[0]
    raise ItemError(f"exported item: property type 0x{kind:04X} at byte {at - 4} is not "
                    "one this tool knows how to skip; the item is not imported")


def top_level(payload: bytes) -> tuple[list[Property], int]:
    """The message's own properties, and the offset where they end (first marker or end)."""
    found, at = [], 0
    while at < len(payload):
        if at + 4 > len(payload):
            raise ItemError(f"exported item: a property tag is cut at byte {at}")
        tag = struct.unpack_from("<I", payload, at)[0]
        if tag in MARKERS:
            return found, at
        kind, start, at = tag & 0xFFFF, at, at + 4
        if kind & _MULTI and not kind & _CODEPAGE:
            if at + 4 > len(payload):
                raise ItemError(f"exported item: a value count is cut at byte {at}")
            count = struct.unpack_from("<I", payload, at)[0]
            at += 4
            for _ in range(count):
                at += _value_size(payload, at, kind & ~_MULTI)
                if at > len(payload):
                    break
        else:
            at += _value_size(payload, at, kind)
        if at > len(payload):
            raise ItemError(f"exported item: property 0x{tag:08X} at byte {start} runs past "
                            "the end of the stream")
        found.append(Property(tag, start, at))
    return found, at


def filetime(when: datetime) -> int:
    """A FILETIME: 100-nanosecond intervals since 1601-01-01 UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def from_filetime(value: int) -> datetime:
    """The UTC time of a FILETIME."""
    return _EPOCH + timedelta(microseconds=value // 10)


def mark_received(stream: bytes, read: bool, delivered: datetime | None, draft: bool = False,
                  last_verb: int | None = None) -> bytes:
    """The exported ``stream`` with the message's flags, delivery time and last verb set (see
    the module doc; no ``delivered``: the delivery time is left as exported); every other
    byte as it was."""
    parts = records(stream)
    found = [n for n, r in enumerate(parts) if r.type == PROPERTIES]
    if len(found) != 1:
        raise ItemError(f"exported item: expected one property record, found {len(found)}")
    payload = parts[found[0]].payload
    props, end = top_level(payload)
    by_tag = {p.tag: p for p in props}
    flags = by_tag.get(MESSAGE_FLAGS)
    value = struct.unpack("<I", flags.value(payload))[0] if flags else 0
    value = value & ~(MSGFLAG_UNSENT | MSGFLAG_READ)
    value |= (MSGFLAG_READ if read else 0) | (MSGFLAG_UNSENT if draft else 0)
    wanted = {MESSAGE_FLAGS: struct.pack("<I", value)}
    if delivered is not None:
        wanted[DELIVERY_TIME] = struct.pack("<Q", filetime(delivered))
    if last_verb is not None:
        wanted[LAST_VERB] = struct.pack("<I", last_verb)
    pieces, at = [], 0
    for prop in props:
        if prop.tag in wanted:
            pieces += [payload[at:prop.start], struct.pack("<I", prop.tag),
                       wanted.pop(prop.tag)]
            at = prop.end
    pieces.append(payload[at:end])
    pieces += [struct.pack("<I", tag) + value for tag, value in wanted.items()]
    pieces.append(payload[end:])
    parts[found[0]] = Record(PROPERTIES, b"".join(pieces))
    return join(parts)
