"""The messages still readable in an Outlook data file libpff cannot open (truncated,
its B-tree roots gone): found by scanning the file's intact blocks (``ndb``), read as
property contexts (``ltp``), rebuilt into MIME like any other PST message.

A message is a property context whose PidTagMessageClass is ``IPM.Note*`` and that is
not the data of a subnode (an attachment or an attached message). Its subnodes (large
bodies, attachments) are found through the node B-tree's surviving leaf pages, which give
a node's subnode tree, then by block id among the scanned blocks. Each message is keyed
``recovered:<id of its block>``, the same on every run. What cannot be read is listed:
a message whose values are in lost blocks, a message node a surviving index page names
whose data block is gone, and the bytes missing at the end of the file.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

from migrate.errors import BadInputError
from migrate.i18n import MESSAGES

from . import props as P
from .blockmessage import message_from_blocks
from .fields import lost_attachment
from .ltp import PC_SIG, client_signature, node_blocks, property_context
from .ndb import BlockFile, is_internal
from .parts import MessageParts
from .props import Properties

log = logging.getLogger(__name__)

FOLDER = "Recovered (truncated file)"
_NID_TYPE_MESSAGE = 0x04
_MSGFLAG_HASATTACH = 0x10


@dataclass(frozen=True)
class RecoveredMessage:
    """A message read from intact blocks: its key, properties and how to read the rest."""

    key: str
    props: Properties
    pages: list[bytes]
    bid_sub: int | None


@dataclass(frozen=True)
class Unreadable:
    """A message the scan saw but cannot read, with why."""

    key: str
    reason: str


@dataclass
class Recovery:
    """What a scan of a damaged file gives: messages, and what is listed as lost."""

    path: Path
    blocks: BlockFile
    messages: list[RecoveredMessage] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)

    @classmethod
    def scan(cls, path: Path) -> Recovery:
        """Scan ``path``'s blocks and find its message property contexts."""
        recovery = cls(path, BlockFile(path))
        recovery._find()
        name = path.name
        values = {"file": name, "count": len(recovery.messages), "folder": FOLDER,
                  "lost": len(recovery.unreadable)}
        log.warning("%s", " / ".join(MESSAGES["pst.recovered"][language].format(**values)
                                     for language in ("en", "fr")))
        return recovery

    def _find(self) -> None:
        blocks = self.blocks
        trees, subnode_data = _referenced(blocks)
        continued = {child for children in trees.values() for child in children}
        found: set[int] = set()
        for block in blocks.data_blocks():
            bid = block.bid & ~0x1
            if bid in continued or bid in subnode_data or bid in blocks.superseded:
                continue
            first = blocks.read(bid)
            if first is not None and client_signature(first) == PC_SIG:
                self._consider(bid, [first])
                found.add(bid)
        for bid in trees:  # heaps that span several blocks (XBLOCK)
            if bid in subnode_data or bid in continued or bid in blocks.superseded:
                continue
            try:
                pages = node_blocks(blocks, bid, "message")
            except BadInputError:
                continue
            if client_signature(pages[0]) == PC_SIG:
                self._consider(bid, pages)
                found.add(bid)
        for node in blocks.nodes.values():  # messages the index names whose data is gone
            if node.nid & 0x1F == _NID_TYPE_MESSAGE and node.bid_data not in found \
                    and node.bid_data not in blocks.blocks:
                self.unreadable.append(Unreadable(
                    f"recovered:{node.bid_data}",
                    f"message {node.nid:#x} is in block {node.bid_data:#x}, which is past "
                    f"the end of the file or damaged"))

    def _consider(self, bid: int, pages: list[bytes]) -> None:
        key = f"recovered:{bid}"
        node = self.blocks.nodes.get(bid)
        bid_sub = node.bid_sub if node is not None else None
        try:
            head = property_context(self.blocks, pages, bid_sub, key, {P.MESSAGE_CLASS})
            kind = Properties(head).text(P.MESSAGE_CLASS) or ""
            if not kind.upper().startswith("IPM.NOTE"):
                return
            props = Properties(property_context(self.blocks, pages, bid_sub, key))
        except BadInputError as exc:
            if self._is_message(pages, bid_sub):
                self.unreadable.append(Unreadable(key, str(exc)))
            return
        self.messages.append(RecoveredMessage(key, props, pages, bid_sub))

    def _is_message(self, pages: list[bytes], bid_sub: int | None) -> bool:
        try:
            head = property_context(self.blocks, pages, None, "", {P.MESSAGE_CLASS})
        except BadInputError:
            return False
        return (Properties(head).text(P.MESSAGE_CLASS) or "").upper().startswith("IPM.NOTE")

    def parts(self, message: RecoveredMessage) -> MessageParts:
        """The message ready to be written as MIME (attachments whose blocks are gone
        are replaced by the note saying so)."""
        parts = message_from_blocks(self.blocks, message.props, message.bid_sub,
                                    message.key)
        if message.bid_sub is None and \
                (message.props.integer(P.MESSAGE_FLAGS) or 0) & _MSGFLAG_HASATTACH:
            parts.attachments.append(lost_attachment(None, "pst.lost.damaged", why=(
                "the index page naming the message's attachments is past the end of the "
                "file or damaged")))
        return parts

    def close(self) -> None:
        self.blocks.close()


def _referenced(blocks: BlockFile) -> tuple[dict[int, list[int]], set[int]]:
    """The data trees (XBLOCK id → the data blocks it lists) and the data blocks of
    subnodes (attachments, attached messages, tables: never a message of a folder)."""
    trees: dict[int, list[int]] = {}
    subnode_data: set[int] = set()
    for block in list(blocks.blocks.values()):
        if not is_internal(block.bid):
            continue
        data = blocks.read(block.bid) or b""
        if len(data) < 8:
            continue
        count = struct.unpack_from("<H", data, 2)[0]
        if data[0] == 0x01 and data[1] == 1 and len(data) >= 8 + count * 8:
            trees[block.bid & ~0x1] = [child & ~0x1 for child in
                                       struct.unpack_from(f"<{count}Q", data, 8)]
        elif data[0] == 0x02 and data[1] == 0 and len(data) >= 8 + count * 24:
            for at in range(8, 8 + count * 24, 24):
                subnode_data.add(struct.unpack_from("<Q", data, at + 8)[0] & ~0x1)
    return trees, subnode_data
