"""The FastTransfer stream patch (connectors/graph/fts.py): Microsoft's example from "Import
an Exchange mailbox item", streams built by the fake server (tests/fake_graph_import.py),
and streams the module must refuse rather than corrupt."""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime

import pytest
from fake_graph import FakeMessage
from fake_graph_import import (
    DISPLAY_NAME,
    MESSAGE_CLASS,
    START_RECIP,
    export,
    imported,
    parse,
    prop,
    record,
    stream,
)

from connectors.graph import fts
from migrate.errors import ItemError

#: Microsoft's example, as printed in the documentation (cut short: record 2 claims more).
EXAMPLE = base64.b64decode(
    "AQAAAAgAAAAAAAAAAQAAAAMAAAAYAAAAAQAAAAcDAgAAAAAAwAAAAAAAAEYAJACABAAAAAYAAAAUD9aRhhcCAAAA"
    "wHsAAAMAFwABAAAAsIQaABIAAABJAFAATQAuAA==")
WHEN = datetime(2023, 5, 1, 8, 30, 15, tzinfo=UTC)


def example_completed() -> bytes:
    """The example with its property record finished: PidTagImportance as printed, then the
    message class it starts (``IPM.Note``, code page 1200 = UTF-16LE)."""
    head = fts.records(EXAMPLE[:EXAMPLE.index(b"\x02\x00\x00\x00\xc0\x7b")])
    printed = EXAMPLE[EXAMPLE.index(b"\x02\x00\x00\x00\xc0\x7b") + 8:][:8]
    return fts.join(head) + record(2, printed + prop(MESSAGE_CLASS, "IPM.Note"))


def test_microsofts_example_decodes_into_its_four_records():
    head = EXAMPLE[:EXAMPLE.index(b"\x02\x00\x00\x00\xc0\x7b")]
    assert [(r.type, len(r.payload)) for r in fts.records(head)] == [(1, 8), (3, 24), (4, 6)]
    with pytest.raises(ItemError, match="past the end"):  # as printed, record 2 is cut
        fts.records(EXAMPLE)


def test_the_completed_example_gains_flags_and_delivery_time_and_keeps_the_rest():
    original = example_completed()
    patched = fts.mark_received(original, read=True, delivered=WHEN)
    before, after = fts.records(original), fts.records(patched)
    assert [r.payload for r in after[:3]] == [r.payload for r in before[:3]]  # byte for byte
    assert after[3].payload.startswith(before[3].payload)  # added at the end of the list
    props, _ = parse(patched)
    assert props[fts.MESSAGE_FLAGS] == fts.MSGFLAG_READ
    assert props[fts.DELIVERY_TIME] == WHEN
    assert props[0x00170003] == 1 and props[MESSAGE_CLASS] == "IPM.Note"


def test_a_drafts_flags_are_replaced_in_place_not_added_twice():
    draft = FakeMessage(b"Subject: essai\r\n\r\ncorps\r\n", is_read=True, draft=True,
                        flagged=True, categories=("Rouge", "Projet"),
                        properties={"String {x} Name sha": "ab" * 32})
    data = export(draft)
    patched = fts.mark_received(data, read=False, delivered=WHEN, last_verb=fts.VERB_REPLIED)
    payload = fts.records(patched)[-1].payload
    tags = [p.tag for p in fts.top_level(payload)[0]]
    assert tags.count(fts.MESSAGE_FLAGS) == tags.count(fts.DELIVERY_TIME) == 1
    copy = imported(patched)
    assert (copy.draft, copy.is_read, copy.flagged) == (False, False, True)
    assert copy.received == WHEN and copy.categories == ("Rouge", "Projet")
    assert copy.mime == draft.mime and copy.properties["String {x} Name sha"] == "ab" * 32
    assert copy.properties["Integer 0x1081"] == "102"
    # what follows the message's own properties (a recipient) is kept byte for byte
    marker = struct.pack("<I", START_RECIP)
    assert patched[patched.index(marker):] == data[data.index(marker):]


def test_a_draft_stays_a_draft_when_the_archive_says_so():
    data = export(FakeMessage(b"Subject: x\r\n\r\ny\r\n", is_read=False, draft=True))
    copy = imported(fts.mark_received(data, read=True, delivered=WHEN, draft=True))
    assert (copy.draft, copy.is_read) == (True, True)


def test_an_embedded_message_keeps_its_own_flags():
    own = prop(fts.MESSAGE_FLAGS, fts.MSGFLAG_UNSENT | fts.MSGFLAG_READ) + prop(0x00170003, 1)
    embedded = (struct.pack("<I", 0x40000003) + prop(0x0E200003, 1234)  # NewAttach, size
                + struct.pack("<I", 0x40010003)  # StartEmbed
                + prop(fts.MESSAGE_FLAGS, fts.MSGFLAG_UNSENT | fts.MSGFLAG_READ)
                + prop(fts.DELIVERY_TIME, datetime(2001, 1, 1, tzinfo=UTC))
                + struct.pack("<I", 0x40020003) + struct.pack("<I", 0x400E0003))
    patched = fts.mark_received(stream(own, embedded), read=False, delivered=WHEN)
    payload = fts.records(patched)[-1].payload
    props, end = fts.top_level(payload)
    assert {p.tag: p.value(payload) for p in props} == {
        fts.MESSAGE_FLAGS: struct.pack("<I", 0), 0x00170003: struct.pack("<I", 1),
        fts.DELIVERY_TIME: struct.pack("<Q", fts.filetime(WHEN))}
    assert payload[end:] == embedded  # the attached message's flags and time untouched


def test_without_an_internal_date_the_delivery_time_is_left_as_exported():
    data = export(FakeMessage(b"Subject: x\r\n\r\ny\r\n", draft=True))
    copy = imported(fts.mark_received(data, read=True, delivered=None))
    assert copy.received == datetime(2024, 3, 1, 9, 30, tzinfo=UTC) and not copy.draft


def test_fixed_size_types_are_skipped_by_their_size():
    values = (prop(0x00170003, 1)
              + struct.pack("<IH", 0x0E1F000B, 1)  # a Boolean: 2 bytes in a stream
              + struct.pack("<Iq", 0x0E080014, 42)  # Integer64
              + struct.pack("<I", 0x00650048) + bytes(16)  # a GUID
              + struct.pack("<II", 0x30070102, 3) + b"abc"  # a binary
              + prop(DISPLAY_NAME, "Agent"))
    props, end = fts.top_level(values)
    assert [p.tag for p in props] == [0x00170003, 0x0E1F000B, 0x0E080014, 0x00650048,
                                      0x30070102, DISPLAY_NAME]
    assert end == len(values)


@pytest.mark.parametrize("payload, reason", [
    (struct.pack("<I", 0x12340099) + b"\0" * 8, "not one this tool knows"),
    (struct.pack("<II", 0x3007_0102, 1000) + b"abc", "past the end"),
    (struct.pack("<II", 0x8000_101F, 2) + struct.pack("<I", 900), "past the end"),
    (b"\x03\x00", "cut"),
])
def test_a_stream_it_does_not_understand_is_refused(payload, reason):
    with pytest.raises(ItemError, match=reason):
        fts.mark_received(stream(payload), read=True, delivered=WHEN)


def test_a_stream_without_exactly_one_property_record_is_refused():
    with pytest.raises(ItemError, match="one property record"):
        fts.mark_received(record(1, b"\0" * 8), read=True, delivered=WHEN)


def test_filetime_round_trips_to_the_microsecond():
    when = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
    assert fts.from_filetime(fts.filetime(when)) == when
    assert fts.filetime(datetime(1601, 1, 1, tzinfo=UTC)) == 0
