"""The node database layer of a Unicode PST (MS-PST 2.2.2): blocks by id, nodes by id.

Two ways in. ``IndexedFile`` follows the file's own node and block B-trees (an intact
file: it reads what libpff does not give, such as the message attached to another).
``BlockFile`` does without them: a truncated file usually lacks their roots (they sit
near the end), so libpff cannot open it, but every block still carries its own trailer
(BLOCKTRAILER, 2.2.2.8.1: size, signature, CRC, block id), and every B-tree page its page
trailer (2.2.2.7.1): scanning the file at the 64-byte (block) and 512-byte (page)
boundaries finds the ones that are intact, so blocks can be looked up by id without the
block B-tree, and the surviving leaf pages of the node B-tree still say which node a
block belongs to.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from migrate.errors import BadInputError

_PTYPE_NBT, _PTYPE_BBT = 0x81, 0x80
_NBT_ROOT_AT, _BBT_ROOT_AT = 0xD8, 0xE8  # BREFNBT, BREFBBT in the header's ROOT
_CRYPT_AT = 0x201  # bCryptMethod in the Unicode header (2.2.2.6)
CRYPT_NONE, CRYPT_PERMUTE, CRYPT_CYCLIC = 0, 1, 2

# MS-PST 5.1, mpbbCrypt's first table (mpbbR, used to encode); decoding uses its inverse.
_ENCODE = bytes((
    65, 54, 19, 98, 168, 33, 110, 187, 244, 22, 204, 4, 127, 100, 232, 93,
    30, 242, 203, 42, 116, 197, 94, 53, 210, 149, 71, 158, 150, 45, 154, 136,
    76, 125, 132, 63, 219, 172, 49, 182, 72, 95, 246, 196, 216, 57, 139, 231,
    35, 59, 56, 142, 200, 193, 223, 37, 177, 32, 165, 70, 96, 78, 156, 251,
    170, 211, 86, 81, 69, 124, 85, 0, 7, 201, 43, 157, 133, 155, 9, 160,
    143, 173, 179, 15, 99, 171, 137, 75, 215, 167, 21, 90, 113, 102, 66, 191,
    38, 74, 107, 152, 250, 234, 119, 83, 178, 112, 5, 44, 253, 89, 58, 134,
    126, 206, 6, 235, 130, 120, 87, 199, 141, 67, 175, 180, 28, 212, 91, 205,
    226, 233, 39, 79, 195, 8, 114, 128, 207, 176, 239, 245, 40, 109, 190, 48,
    77, 52, 146, 213, 14, 60, 34, 50, 229, 228, 249, 159, 194, 209, 10, 129,
    18, 225, 238, 145, 131, 118, 227, 151, 230, 97, 138, 23, 121, 164, 183, 220,
    144, 122, 92, 140, 2, 166, 202, 105, 222, 80, 26, 17, 147, 185, 82, 135,
    88, 252, 237, 29, 55, 73, 27, 106, 224, 41, 51, 153, 189, 108, 217, 148,
    243, 64, 84, 111, 240, 198, 115, 184, 214, 62, 101, 24, 68, 31, 221, 103,
    16, 241, 12, 25, 236, 174, 3, 161, 20, 123, 169, 11, 255, 248, 163, 192,
    162, 1, 247, 46, 188, 36, 104, 117, 13, 254, 186, 47, 181, 208, 218, 61,
))
_DECODE = bytes(_ENCODE.index(value) for value in range(256))
ENCODE_PERMUTE = bytes.maketrans(bytes(range(256)), _ENCODE)
DECODE_PERMUTE = bytes.maketrans(bytes(range(256)), _DECODE)


def crc(data: bytes) -> int:
    """MS-PST's CRC-32 (5.3): the 0xEDB88320 table, started at 0, not inverted at the end
    (zlib's CRC-32 is the same table, started and finished inverted)."""
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def signature(offset: int, bid: int) -> int:
    """The wSig a block or page at ``offset`` with id ``bid`` carries (5.5, ComputeSig)."""
    mixed = (offset ^ bid) & 0xFFFFFFFF
    return ((mixed >> 16) ^ mixed) & 0xFFFF


def is_internal(bid: int) -> bool:
    """An internal block (XBLOCK, XXBLOCK, SLBLOCK, SIBLOCK) is never encoded (2.2.2.2)."""
    return bool(bid & 0x2)


@dataclass(frozen=True, slots=True)
class Block:
    """An intact block: where its data starts in the file and how long it is."""

    bid: int
    offset: int
    size: int
    inflated: int = 0  # in an .ost of 4 KB pages: the size once inflated, when compressed


@dataclass(frozen=True)
class NodeEntry:
    """A leaf entry of the node B-tree (NBTENTRY, 2.2.2.7.7.4)."""

    nid: int
    bid_data: int
    bid_sub: int
    nid_parent: int


@dataclass
class Damage:
    """What the scan saw of blocks that cannot be used, for the report."""

    crc_mismatch: int = 0   # a trailer that names its block, whose bytes are not intact
    bytes_missing: int = 0  # what the header says the file should have and it lacks


class BlockReader(Protocol):
    """What the property-context reader (``ltp``) needs: a block's data by id."""

    def read(self, bid: int) -> bytes | None: ...


_FOUR_K_PAGES = 36  # the format of an Outlook 2013+ .ost (2.2.2.6 wVer)


def _read_header(path: Path, purpose: str) -> tuple[bytes, int]:
    """The header and format version of a Unicode PST or OST (format 23, or 36 for the
    .ost of Outlook 2013 and later); a clear error for the formats not read (``purpose``
    says what was being done)."""
    with open(path, "rb") as stream:
        head = stream.read(0x204)
    if len(head) < 0x204 or not head.startswith(b"!BDN"):
        raise BadInputError(f"{path.name}: not an Outlook data file, or too short "
                            f"to hold its header")
    version = struct.unpack_from("<H", head, 10)[0]
    if version < 23:
        raise BadInputError(f"{path.name}: {purpose} reads only Unicode PST files "
                            f"(Outlook 2003 and later); this one is an older ANSI file")
    if version not in (23, _FOUR_K_PAGES):
        raise BadInputError(f"{path.name}: {purpose} reads Unicode PST and OST files "
                            f"(format version 23 or 36); this one is of version {version}, "
                            f"unknown")
    if head[_CRYPT_AT] not in (CRYPT_NONE, CRYPT_PERMUTE):
        raise BadInputError(f"{path.name}: its blocks use the 'cyclic' encoding, "
                            f"which {purpose} does not read")
    return head, version


def _decoded(data: bytes, bid: int, crypt: int) -> bytes:
    if crypt == CRYPT_PERMUTE and not is_internal(bid):
        return data.translate(DECODE_PERMUTE)
    return data


@dataclass(frozen=True)
class _Layout:
    """Where a B-tree page keeps its counts and trailer, and how blocks end, in one format:
    512-byte pages and 16-byte block trailers on 64 bytes (PST, 2.2.2.7.7.1 and 2.2.2.8.1),
    or 4 KB pages and 24-byte trailers on 512 bytes with zlib-compressed blocks (.ost of
    Outlook 2013 and later, the layout libpff documents)."""

    page: int
    count: struct.Struct  # entries in the page: at ``count_at``
    count_at: int
    trailer_at: int  # ptype, ptypeRepeat, wSig, dwCRC (of the page up to here)
    block_trailer: int
    block_align: int
    compressed: bool
    max_block: int  # the most data a block holds

    def entries_of(self, page: bytes) -> tuple[int, int, int]:
        """A B-tree page's entry count, entry size and level."""
        count = self.count.unpack_from(page, self.count_at)[0]
        after = self.count_at + 2 * self.count.size  # past cEnt and cEntMax
        return count, page[after], page[after + 1]

    def inflated_size(self, trailer: bytes, stored: int) -> int:
        """What a block holds once inflated, as its trailer says (``stored`` when blocks
        are never compressed)."""
        return struct.unpack_from("<H", trailer, 18)[0] if self.compressed else stored


def _inflated(data: bytes, size: int) -> bytes | None:
    """A block's data as stored, inflated (zlib) when ``size`` says it is compressed; None
    when it does not inflate."""
    if size == len(data):
        return data
    try:
        return zlib.decompress(data)
    except zlib.error:
        return None


_PAGES_512 = _Layout(512, struct.Struct("<B"), 488, 496, 16, 64, False, 8192 - 16)
_PAGES_4K = _Layout(4096, struct.Struct("<H"), 4056, 4072, 24, 512, True, 0xFFFF)


def _layout(version: int) -> _Layout:
    return _PAGES_4K if version == _FOUR_K_PAGES else _PAGES_512


class IndexedFile:
    """An intact Unicode PST (or Outlook 2013+ .ost) read through its own B-trees: a node's
    entry by node id, a block's data by block id, each lookup a walk down one B-tree. Read
    with ``pread`` rather than mapped, so that a large attachment streamed through it
    leaves no pages behind in the process's memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        head, version = _read_header(path, "reading an attached message")
        self.crypt = head[_CRYPT_AT]
        self._layout = _layout(version)
        self._fd = os.open(path, os.O_RDONLY)
        self._size = os.fstat(self._fd).st_size
        self._nbt_root = struct.unpack_from("<Q", head, _NBT_ROOT_AT + 8)[0]
        self._bbt_root = struct.unpack_from("<Q", head, _BBT_ROOT_AT + 8)[0]

    def node(self, nid: int) -> NodeEntry | None:
        """The node B-tree's entry for ``nid`` (its data and subnode blocks), if any."""
        entry = self._leaf(self._nbt_root, _PTYPE_NBT, nid, 0xFFFFFFFF)
        if entry is None:
            return None
        nid, bid_data, bid_sub, parent = struct.unpack_from("<QQQI", entry)
        return NodeEntry(nid & 0xFFFFFFFF, bid_data & ~0x1, bid_sub & ~0x1, parent)

    def read(self, bid: int) -> bytes | None:
        """A block's data by id, decoded (and inflated); None when the block B-tree has no
        such block or its bytes are not intact (their CRC does not match)."""
        entry = self._leaf(self._bbt_root, _PTYPE_BBT, bid & ~0x1, ~0x1)
        if entry is None:
            return None
        layout = self._layout
        found, offset, size = struct.unpack_from("<QQH", entry)
        align, trailer = layout.block_align, layout.block_trailer
        end = offset + (size + trailer + align - 1) // align * align
        if end > self._size:
            return None
        tail = os.pread(self._fd, trailer, end - trailer)
        data = os.pread(self._fd, size, offset)
        if crc(data) != struct.unpack_from("<I", tail, 4)[0]:
            return None
        return _inflated(_decoded(data, found, self.crypt), layout.inflated_size(tail, size))

    def _leaf(self, page_at: int, ptype: int, key: int, mask: int) -> bytes | None:
        """The leaf entry whose key (its first 8 bytes, masked) is ``key``, found by walking
        down from the page at ``page_at`` (2.2.2.7.7); None when there is none."""
        layout = self._layout
        for _ in range(16):  # a B-tree of a real file is a few levels deep
            if page_at + layout.page > self._size:
                return None
            page = os.pread(self._fd, layout.page, page_at)
            at = layout.trailer_at
            if page[at] != ptype or \
                    crc(page[:at]) != struct.unpack_from("<I", page, at + 4)[0]:
                return None
            count, size, level = layout.entries_of(page)
            if size < 24:  # no entry of any B-tree is smaller: not a page to trust
                return None
            entries = [page[at:at + size]
                       for at in range(0, min(count * size, layout.count_at), size)]
            if level == 0:
                return next((entry for entry in entries
                             if struct.unpack_from("<Q", entry)[0] & mask == key), None)
            below = [entry for entry in entries if struct.unpack_from("<Q", entry)[0] <= key]
            if not below:
                return None
            page_at = struct.unpack_from("<Q", below[-1], 16)[0]
        return None

    def close(self) -> None:
        os.close(self._fd)


class BlockFile:
    """The intact blocks and node B-tree leaf entries of one Unicode PST (or Outlook 2013+
    .ost), found by scanning it (memory-mapped: the file is never read whole into
    memory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        head, version = _read_header(path, "the recovery of a damaged file")
        self.crypt = head[_CRYPT_AT]
        self._layout = _layout(version)
        with open(path, "rb") as stream:
            self._map = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
        expected = struct.unpack_from("<Q", head, 0xB8)[0]
        self.damage = Damage(bytes_missing=max(0, expected - len(self._map)))
        self.blocks: dict[int, Block] = {}
        #: The node index's entries by their data block id, each node as the newest
        #: surviving page lists it; ``superseded``: data blocks of a node's older versions
        #: (stale pages name them: a message changed since, its old copy not to be read).
        self.nodes: dict[int, NodeEntry] = {}
        self.superseded: set[int] = set()
        self._scan()

    def _scan(self) -> None:
        data, size, layout = self._map, len(self._map), self._layout
        align, trailer = layout.block_align, layout.block_trailer
        versions: dict[int, list[tuple[int, NodeEntry]]] = {}  # nid → (page id, entry)
        for end in range(align, size + 1, align):
            cb, sig, found_crc, bid = struct.unpack_from("<HHIQ", data, end - trailer)
            if end % layout.page == 0 and self._page(end - layout.page, versions):
                continue
            if not cb or cb > layout.max_block:
                continue
            start = end - (cb + trailer + align - 1) // align * align
            if start < 0 or sig != signature(start, bid):
                continue
            if crc(data[start:start + cb]) != found_crc:
                self.damage.crc_mismatch += 1
                continue
            inflated = layout.inflated_size(data[end - trailer:end], cb)
            self.blocks.setdefault(bid & ~0x1, Block(bid, start, cb, inflated))
        for seen in versions.values():
            seen.sort(key=lambda version: version[0])
            newest = seen[-1][1]
            self.nodes[newest.bid_data] = newest
            self.superseded.update(entry.bid_data for _, entry in seen
                                   if entry.bid_data != newest.bid_data)

    def _page(self, start: int, versions: dict[int, list[tuple[int, NodeEntry]]]) -> bool:
        """Read an intact leaf page of the node B-tree at ``start`` into ``versions``
        (page ids grow: the newest page says what a node is now)."""
        layout = self._layout
        at = start + layout.trailer_at
        ptype, repeat, sig, found_crc, bid = struct.unpack_from("<BBHIQ", self._map, at)
        if ptype != _PTYPE_NBT or repeat != ptype or sig != signature(start, bid):
            return False
        page = self._map[start:at]
        if crc(page) != found_crc:
            self.damage.crc_mismatch += 1
            return True
        count, size, level = layout.entries_of(page)
        if level != 0 or size != 32:
            return True
        for at in range(0, min(count, layout.count_at // 32) * 32, 32):
            nid, bid_data, bid_sub, parent = struct.unpack_from("<QQQI", page, at)
            entry = NodeEntry(nid & 0xFFFFFFFF, bid_data & ~0x1, bid_sub & ~0x1, parent)
            versions.setdefault(entry.nid, []).append((bid, entry))
        return True

    def read(self, bid: int) -> bytes | None:
        """A block's data by id, decoded (and inflated); None when no intact block has
        that id."""
        block = self.blocks.get(bid & ~0x1)
        if block is None:
            return None
        return _inflated(_decoded(self._map[block.offset:block.offset + block.size],
                                  block.bid, self.crypt), block.inflated or block.size)

    def data_blocks(self) -> Iterator[Block]:
        """The intact data (not internal) blocks, in file order."""
        return (b for b in sorted(self.blocks.values(), key=lambda b: b.offset)
                if not is_internal(b.bid))

    @property
    def closed(self) -> bool:
        return self._map.closed

    def close(self) -> None:
        self._map.close()
