"""Property contexts and tables read straight from a PST's blocks (MS-PST 2.3): the
heap-on-node (2.3.1), its B-tree (2.3.2), the property context (2.3.3) and the table
context (2.3.4, for recipients) on top, with node data that
spans several blocks (XBLOCK/XXBLOCK, 2.2.2.8.3.2) and values kept in subnodes
(SLBLOCK/SIBLOCK, 2.2.2.8.3.3), all found by block id through an ``ndb.BlockReader``:
the file's block B-tree (``IndexedFile``) or, in a damaged file, the intact blocks a scan
found (``BlockFile``)."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from migrate.errors import BadInputError

from .ndb import BlockReader, is_internal

_HN_SIG, PC_SIG, _BTH_SIG, _TC_SIG = 0xEC, 0xBC, 0xB5, 0x7C
_BLOCK_DATA = 8192 - 16  # what a data block holds at most: table rows never span two
_XBLOCK, _SLBLOCK = 0x01, 0x02
#: Property types whose value sits in the B-tree record itself (2.3.3.3).
_INLINE = {0x0002: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x000B: 1}
#: Fixed-size types a table row holds in itself (2.3.4.4.1); others are heap or node ids.
_IN_ROW = {0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007, 0x000A, 0x000B, 0x0014, 0x0040}


class MissingBlock(BadInputError):
    """Data a node needs is in a block no longer intact in the file."""


def missing(bid: int, what: str) -> MissingBlock:
    return MissingBlock(f"{what} is in block {bid:#x}, which is past the end of the file "
                        f"or damaged (CRC mismatch)")


def node_blocks(blocks: BlockReader, bid: int, what: str) -> list[bytes]:
    """A node's data as its data blocks (decoded), following XBLOCK and XXBLOCK."""
    return list(iter_node_blocks(blocks, bid, what))


def iter_node_blocks(blocks: BlockReader, bid: int, what: str,
                     level: int | None = None) -> Iterator[bytes]:
    """A node's data blocks one at a time, for data too large to hold whole (an
    attachment's); a block that is gone raises ``MissingBlock`` when it is reached.
    ``level``: the tree level a parent expects of ``bid`` (an XXBLOCK lists XBLOCKs, an
    XBLOCK data blocks), so that a damaged or hostile tree cannot loop."""
    data = blocks.read(bid)
    if data is None:
        raise missing(bid, what)
    if not is_internal(bid) and level is None:
        yield data
        return
    if len(data) < 8 or data[0] != _XBLOCK or data[1] not in ((1, 2) if level is None
                                                              else (level,)):
        raise BadInputError(f"{what}: block {bid:#x} is not a data tree (XBLOCK) of the "
                            f"expected level")
    depth, count = data[1], struct.unpack_from("<H", data, 2)[0]
    if 8 + count * 8 > len(data):
        raise BadInputError(f"{what}: block {bid:#x} lists more blocks than it holds")
    for child in struct.unpack_from(f"<{count}Q", data, 8):
        if depth == 1:
            chunk = blocks.read(child)
            if chunk is None:
                raise missing(child, what)
            yield chunk
        else:
            yield from iter_node_blocks(blocks, child, what, depth - 1)


@dataclass(frozen=True)
class Subnode:
    """An entry of a node's subnode tree (SLENTRY, 2.2.2.8.3.3.1.1)."""

    nid: int
    bid_data: int
    bid_sub: int


def subnodes(blocks: BlockReader, bid: int, what: str,
             level: int | None = None) -> dict[int, Subnode]:
    """A node's subnodes by node id, from its SLBLOCK (or SIBLOCK over SLBLOCKs; ``level``
    is what a SIBLOCK expects of the blocks it lists, so that a hostile tree cannot
    loop)."""
    if not bid:
        return {}
    data = blocks.read(bid)
    if data is None:
        raise missing(bid, what)
    if len(data) < 8 or data[0] != _SLBLOCK or data[1] not in ((0, 1) if level is None
                                                               else (level,)):
        raise BadInputError(f"{what}: block {bid:#x} is not a subnode list (SLBLOCK) of the "
                            f"expected level")
    level, count = data[1], struct.unpack_from("<H", data, 2)[0]
    found: dict[int, Subnode] = {}
    if level == 0:
        for at in range(8, min(8 + count * 24, len(data) - 23), 24):
            nid, bid_data, bid_sub = struct.unpack_from("<QQQ", data, at)
            found[nid & 0xFFFFFFFF] = Subnode(nid & 0xFFFFFFFF, bid_data, bid_sub)
        return found
    for at in range(8, min(8 + count * 16, len(data) - 15), 16):
        found.update(subnodes(blocks, struct.unpack_from("<Q", data, at + 8)[0], what, 0))
    return found


def client_signature(first_block: bytes) -> int | None:
    """What a heap-on-node holds (0xBC a property context, 0x7C a table), None when the
    block does not start a heap."""
    if len(first_block) >= 12 and first_block[2] == _HN_SIG:
        return first_block[3]
    return None


class Heap:
    """A heap-on-node (2.3.1): its items by heap id (HID)."""

    def __init__(self, pages: list[bytes]) -> None:
        self._pages = pages

    def item(self, hid: int) -> bytes:
        index, page_number = (hid >> 5) & 0x7FF, hid >> 16
        if hid & 0x1F or page_number >= len(self._pages) or not index:
            raise BadInputError(f"heap id {hid:#x} does not name a heap item")
        page = self._pages[page_number]
        at = struct.unpack_from("<H", page, 0)[0]
        count = struct.unpack_from("<H", page, at)[0]
        if index > count:
            raise BadInputError(f"heap id {hid:#x} is past the heap's {count} items")
        start, end = struct.unpack_from("<HH", page, at + 4 + (index - 1) * 2)
        return page[start:end]

    @property
    def user_root(self) -> int:
        return struct.unpack_from("<I", self._pages[0], 4)[0]


@dataclass(frozen=True)
class RawProperty:
    """One property as the recovery reads it, shaped like a libpff record entry so that
    ``props.Properties`` reads it (``data_as_string`` is left to its fallback)."""

    entry_type: int
    value_type: int
    data: bytes
    #: For a value left in the file (``deferred``): its bytes, a block at a time.
    chunks: Callable[[], Iterator[bytes]] | None = None

    @property
    def data_as_string(self) -> str:
        raise ValueError("decoded by Properties.text")


def _malformed_is_bad_input(function):
    """Bytes that do not hold the structure they should (a damaged or hostile file) make
    ``struct`` or indexing fail: say so as the item's BadInputError, never a crash."""
    @functools.wraps(function)
    def checked(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            what = args[3] if len(args) > 3 else kwargs.get("what", "")
            raise BadInputError(f"{what}: malformed structure ({exc})") from None
    return checked


@_malformed_is_bad_input
def property_context(blocks: BlockReader, pages: list[bytes], bid_sub: int | None,
                     what: str, wanted: set[int] | None = None,
                     deferred: frozenset[int] = frozenset()) -> dict[int, RawProperty]:
    """The properties of a property context (2.3.3) whose node data is ``pages``; values
    in subnodes are read through the subnode tree at ``bid_sub`` (None: unknown, so such
    values are missing). ``wanted`` limits what is read; a value whose block is gone
    raises ``MissingBlock``. A ``deferred`` value kept in a subnode is not read: its
    ``chunks`` read it when asked (an attachment's data, streamed)."""
    heap = Heap(pages)
    header = heap.item(heap.user_root)
    kind, key_size, entry_size, levels, root = struct.unpack_from("<BBBBI", header)
    if kind != _BTH_SIG or key_size != 2 or entry_size != 6:
        raise BadInputError(f"{what}: not a property context")
    records: list[tuple[int, int, int]] = []
    _records(heap, root, levels, records)
    children: dict[int, Subnode] | None = None
    found: dict[int, RawProperty] = {}
    for tag, value_type, hnid in records:
        if wanted is not None and tag not in wanted:
            continue
        if value_type in _INLINE:
            data = struct.pack("<I", hnid)[:_INLINE[value_type]]
        else:
            if children is None and hnid & 0x1F:
                if bid_sub is None:
                    raise MissingBlock(f"{what}: property {tag:#06x} is in a subnode, and "
                                       f"the index page naming the message's subnodes is "
                                       f"past the end of the file or damaged")
                children = subnodes(blocks, bid_sub, what)
            where = f"{what}, property {tag:#06x}"
            child = (children or {}).get(hnid)
            if tag in deferred and hnid & 0x1F and child is not None:
                found[tag] = RawProperty(tag, value_type, b"", functools.partial(
                    iter_node_blocks, blocks, child.bid_data, where))
                continue
            data = _value(blocks, heap, hnid, children or {}, where)
        found[tag] = RawProperty(tag, value_type, data)
    return found


def _value(blocks: BlockReader, heap: Heap, hnid: int, children: dict[int, Subnode],
           what: str) -> bytes:
    """A value kept outside the record: in the heap (HID) or in a subnode (NID)."""
    if hnid == 0:
        return b""
    if hnid & 0x1F == 0:
        return heap.item(hnid)
    child = children.get(hnid)
    if child is None:
        raise BadInputError(f"{what}: a value names subnode {hnid:#x}, which is not there")
    return b"".join(node_blocks(blocks, child.bid_data, what))


@_malformed_is_bad_input
def table_rows(blocks: BlockReader, bid_data: int, bid_sub: int | None,
               what: str) -> list[dict[int, RawProperty]]:
    """The rows of the table context (2.3.4) whose node data is at ``bid_data``, each as
    its properties by tag (a cell left empty is absent)."""
    heap = Heap(node_blocks(blocks, bid_data, what))
    info = heap.item(heap.user_root)
    if len(info) < 22 or info[0] != _TC_SIG:
        raise BadInputError(f"{what}: not a table context")
    columns = info[1]
    ends = struct.unpack_from("<4H", info, 2)  # 4-, 2-, 1-byte values, then the bitmap
    rows_hnid = struct.unpack_from("<I", info, 14)[0]
    children = subnodes(blocks, bid_sub, what) if bid_sub else {}
    if rows_hnid == 0:
        return []
    if rows_hnid & 0x1F == 0:
        chunks = [heap.item(rows_hnid)]
    else:
        child = children.get(rows_hnid)
        if child is None:
            raise BadInputError(f"{what}: its rows are in subnode {rows_hnid:#x}, which is "
                                f"not there")
        chunks = node_blocks(blocks, child.bid_data, what)
    size = ends[3]
    if size == 0:
        return []
    described = [struct.unpack_from("<IHBB", info, 22 + 8 * n) for n in range(columns)]
    rows: list[dict[int, RawProperty]] = []
    for chunk in chunks:
        for at in range(0, len(chunk) - size + 1, size):
            row, found = chunk[at:at + size], {}
            for tag, offset, width, bit in described:
                if not row[ends[2] + bit // 8] & (0x80 >> (bit % 8)):
                    continue
                tag_id, value_type = tag >> 16, tag & 0xFFFF
                cell = row[offset:offset + width]
                if value_type not in _IN_ROW:
                    cell = _value(blocks, heap, struct.unpack_from("<I", cell)[0], children,
                                  what)
                found[tag_id] = RawProperty(tag_id, value_type, cell)
            rows.append(found)
    return rows


def _records(heap: Heap, hid: int, levels: int, into: list[tuple[int, int, int]]) -> None:
    if not hid:
        return
    data = heap.item(hid)
    if levels == 0:
        for at in range(0, len(data) - 7, 8):
            into.append(struct.unpack_from("<HHI", data, at))
        return
    for at in range(0, len(data) - 5, 6):
        _records(heap, struct.unpack_from("<I", data, at + 2)[0], levels - 1, into)
