"""The PST recovery reader on hand-built bytes: MS-PST's CRC (5.3), the block signature
(5.5), the permutative encoding (5.1), the block trailer (2.2.2.8.1), and a property
context (2.3.3) with a value in a subnode."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from connectors.pst.ltp import (
    MissingBlock,
    client_signature,
    node_blocks,
    property_context,
    subnodes,
)
from connectors.pst.ndb import (
    CRYPT_PERMUTE,
    DECODE_PERMUTE,
    ENCODE_PERMUTE,
    BlockFile,
    crc,
    signature,
)
from connectors.pst.props import Properties
from migrate.errors import BadInputError


def spec_crc(data: bytes) -> int:
    """MS-PST 5.3 as the spec writes it: a 256-entry table of the reflected polynomial
    0xEDB88320, the running value started at 0 and not inverted at the end."""
    table = []
    for index in range(256):
        value = index
        for _ in range(8):
            value = (value >> 1) ^ 0xEDB88320 if value & 1 else value >> 1
        table.append(value)
    value = 0
    for byte in data:
        value = table[(value ^ byte) & 0xFF] ^ (value >> 8)
    return value


@pytest.mark.parametrize("data", [b"", b"\x00", b"123456789", bytes(range(256)) * 33])
def test_crc_is_the_specs_table_crc_not_zlibs(data):
    assert crc(data) == spec_crc(data)
    if data:
        import zlib

        assert crc(data) != zlib.crc32(data)  # same table, other start and end


def test_permutation_decodes_what_it_encodes_with_the_specs_table():
    everything = bytes(range(256))
    assert everything.translate(ENCODE_PERMUTE).translate(DECODE_PERMUTE) == everything
    assert sorted(everything.translate(DECODE_PERMUTE)) == list(everything)  # a permutation
    # mpbbR[0] = 65 and mpbbI[0] = 71 in the spec's table (5.1)
    assert b"\x00".translate(ENCODE_PERMUTE) == b"A"
    assert b"\x00".translate(DECODE_PERMUTE) == bytes([71])


def test_signature_mixes_offset_and_block_id():
    assert signature(0, 0) == 0
    assert signature(0x4400, 0x24) == ((0x4424 >> 16) ^ 0x4424) & 0xFFFF
    assert signature(0x12345678, 0) == 0x1234 ^ 0x5678


def pst_bytes(blocks: list[tuple[int, bytes]], crypt: int = CRYPT_PERMUTE,
              version: int = 23) -> bytearray:
    """A Unicode PST header followed by ``blocks`` (id, plain data), each stored as the
    spec lays it out: encoded data, padding to 64 bytes, then the 16-byte trailer."""
    out = bytearray(0x4400)
    out[0:4] = b"!BDN"
    struct.pack_into("<H", out, 10, version)
    out[0x201] = crypt
    for bid, plain in blocks:
        encoded = crypt == CRYPT_PERMUTE and not bid & 0x2  # internal blocks never are
        stored = plain.translate(ENCODE_PERMUTE) if encoded else plain
        start = len(out)
        size = (len(stored) + 16 + 63) // 64 * 64
        out += stored + bytes(size - 16 - len(stored))
        out += struct.pack("<HHIQ", len(stored), signature(start, bid), crc(stored), bid)
    struct.pack_into("<Q", out, 0xB8, len(out))  # ibFileEof
    return out


def test_a_block_is_found_by_its_trailer_and_decoded(tmp_path):
    path = tmp_path / "hand.pst"
    path.write_bytes(pst_bytes([(0x24, b"Hello, PST block"), (0x28, b"x" * 100)]))
    found = BlockFile(path)
    try:
        assert set(found.blocks) == {0x24, 0x28}
        assert found.blocks[0x24].offset == 0x4400 and found.blocks[0x24].size == 16
        assert found.read(0x24) == b"Hello, PST block"
        assert found.read(0x28) == b"x" * 100
        assert found.read(0x2C) is None
        assert found.damage.crc_mismatch == 0 and found.damage.bytes_missing == 0
    finally:
        found.close()


def test_a_block_whose_bytes_changed_is_left_out_and_counted(tmp_path):
    data = pst_bytes([(0x24, b"Hello, PST block"), (0x28, b"x" * 100)])
    data[0x4400 + 3] ^= 0xFF  # one byte of the first block's data
    path = tmp_path / "hand.pst"
    path.write_bytes(bytes(data))
    found = BlockFile(path)
    try:
        assert set(found.blocks) == {0x28}
        assert found.damage.crc_mismatch == 1
    finally:
        found.close()


def test_a_cut_block_and_the_missing_bytes_are_reported(tmp_path):
    data = pst_bytes([(0x24, b"a" * 50), (0x28, b"b" * 200)])
    path = tmp_path / "cut.pst"
    path.write_bytes(bytes(data[:-40]))  # the second block's trailer is gone
    found = BlockFile(path)
    try:
        assert set(found.blocks) == {0x24}
        assert found.damage.bytes_missing == 40
    finally:
        found.close()


def test_an_ansi_file_is_refused_clearly(tmp_path):
    path = tmp_path / "old.pst"
    path.write_bytes(bytes(pst_bytes([], version=14)))
    with pytest.raises(BadInputError, match=r"old\.pst: .*only Unicode PST files.*ANSI"):
        BlockFile(path)


def test_an_ost_of_4k_pages_has_its_compressed_blocks_found_and_inflated(tmp_path):
    """Outlook 2013+ .ost (format 36): blocks on 512 bytes, a 24-byte trailer that also
    gives the inflated size, zlib-compressed data."""
    out = bytearray(0x4400)
    out[0:4] = b"!BDN"
    struct.pack_into("<H", out, 10, 36)
    plain = b"compressible " * 100
    for bid, stored, inflated in ((0x24, zlib.compress(plain), len(plain)),
                                  (0x28, b"kept as is", 10)):
        start = len(out)
        size = (len(stored) + 24 + 511) // 512 * 512
        out += stored + bytes(size - 24 - len(stored))
        out += struct.pack("<HHIQHHI", len(stored), signature(start, bid), crc(stored), bid,
                           0, inflated, 0)
    struct.pack_into("<Q", out, 0xB8, len(out))
    path = tmp_path / "cache.ost"
    path.write_bytes(bytes(out))
    found = BlockFile(path)
    try:
        assert set(found.blocks) == {0x24, 0x28}
        assert found.read(0x24) == plain and found.read(0x28) == b"kept as is"
    finally:
        found.close()


def test_the_cyclic_encoding_is_refused_clearly(tmp_path):
    path = tmp_path / "cyclic.pst"
    path.write_bytes(bytes(pst_bytes([], crypt=2)))
    with pytest.raises(BadInputError, match="cyclic"):
        BlockFile(path)


def test_the_real_file_scans_to_intact_blocks(enron_pst: Path):
    """enron.pst whole: every message node the index lists has an intact data block."""
    found = BlockFile(enron_pst)
    try:
        messages = [n for n in found.nodes.values() if n.nid & 0x1F == 0x04]
        assert len(messages) == 71
        assert all(n.bid_data in found.blocks for n in messages)
    finally:
        found.close()


def heap(items: list[bytes], root: int) -> bytes:
    """A one-page heap-on-node holding a property context (MS-PST 2.3.1): header,
    ``items`` (heap ids 0x20, 0x40, …), then the page map; ``root`` is hidUserRoot."""
    body = bytearray(struct.pack("<HBBI4s", 0, 0xEC, 0xBC, root, bytes(4)))
    offsets = []
    for item in items:
        offsets.append(len(body))
        body += item
    offsets.append(len(body))
    if len(body) % 2:
        body += b"\0"
    struct.pack_into("<H", body, 0, len(body))
    body += struct.pack(f"<HH{len(offsets)}H", len(items), 0, *offsets)
    return bytes(body)


def message_pc(records: list[tuple[int, int, int]], extra: list[bytes]) -> bytes:
    """A property context: its B-tree header (item 1), leaf records (item 2), ``extra``
    items (3, …) the records may point at by heap id."""
    bth = struct.pack("<BBBBI", 0xB5, 2, 6, 0, 2 << 5)
    leaf = b"".join(struct.pack("<HHI", tag, kind, value) for tag, kind, value in records)
    return heap([bth, leaf, *extra], 1 << 5)


def test_a_property_context_with_a_value_in_a_subnode(tmp_path):
    body = "Bonjour, ceci est le corps.".encode("utf-16-le")
    subnode_nid = (1 << 5) | 0x1F  # an LTP-internal node id
    pc = message_pc([(0x001A, 0x001F, 3 << 5), (0x0E07, 0x0003, 0x11),
                     (0x1000, 0x001F, subnode_nid)], ["IPM.Note".encode("utf-16-le")])
    sl = struct.pack("<BBHI", 0x02, 0, 1, 0) + struct.pack("<QQQ", subnode_nid, 0x28, 0)
    path = tmp_path / "hand.pst"
    path.write_bytes(bytes(pst_bytes([(0x24, pc), (0x26, sl), (0x28, body)])))
    found = BlockFile(path)
    try:
        page = found.read(0x24)
        assert client_signature(page) == 0xBC
        props = Properties(property_context(found, [page], 0x26, "hand"))
        assert props.text(0x001A) == "IPM.Note"
        assert props.integer(0x0E07) == 0x11
        assert props.text(0x1000) == "Bonjour, ceci est le corps."
        only = property_context(found, [page], 0x26, "hand", {0x001A})
        assert set(only) == {0x001A}
        with pytest.raises(MissingBlock, match=r"subnode.*index page"):
            property_context(found, [page], None, "hand")  # subnode list unknown
    finally:
        found.close()
    path.write_bytes(bytes(pst_bytes([(0x24, pc), (0x26, sl)])))  # the body's block gone
    found = BlockFile(path)
    try:
        with pytest.raises(MissingBlock, match=r"block 0x28, which is past the end of the "
                                               r"file or damaged"):
            property_context(found, [found.read(0x24)], 0x26, "hand")
    finally:
        found.close()


def test_hostile_trees_and_heaps_are_bad_input_not_a_hang_or_a_crash(tmp_path):
    """A data tree or subnode list that lists itself, and a heap whose offsets point
    outside it: each is the item's clear error."""
    looping_tree = struct.pack("<BBHI", 0x01, 2, 1, 0) + struct.pack("<Q", 0x22)
    looping_list = struct.pack("<BBHI", 0x02, 1, 1, 0) + struct.pack("<QQ", 0, 0x26)
    garbage_heap = bytes([0xFF, 0x7F, 0xEC, 0xBC]) + b"\x20\x00\x00\x00" + b"\xFF" * 24
    path = tmp_path / "hostile.pst"
    path.write_bytes(bytes(pst_bytes([(0x22, looping_tree), (0x26, looping_list),
                                      (0x28, garbage_heap)])))
    found = BlockFile(path)
    try:
        with pytest.raises(BadInputError, match="not a data tree"):
            node_blocks(found, 0x22, "hostile")
        with pytest.raises(BadInputError, match="not a subnode list"):
            subnodes(found, 0x26, "hostile")
        with pytest.raises(BadInputError, match="hostile: "):
            property_context(found, [found.read(0x28)], None, "hostile")
    finally:
        found.close()
