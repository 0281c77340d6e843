"""Compressed RTF (MS-OXRTFCP "LZFu") and HTML encapsulated in RTF (MS-OXRTFEX).

Outlook stores a message body as compressed RTF (PidTagRtfCompressed) when it has no
plain or HTML body of its own; ``decompress`` gives the RTF back, and ``html_from_rtf``
recovers the original HTML when the RTF only wraps it (``\\fromhtml1``).
"""

from __future__ import annotations

import re
import struct
import zlib

from migrate.errors import BadInputError

_COMPRESSED = 0x75465A4C    # "LZFu"
_UNCOMPRESSED = 0x414C454D  # "MELA"
_HEADER = struct.Struct("<IIII")  # compressed size, raw size, type, crc
_DICTIONARY_SIZE = 4096
_INITIAL = (b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss "
            b"\\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier"
            b"{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab"
            b"\\tx")


def decompress(data: bytes) -> bytes:
    """The RTF held in a PidTagRtfCompressed value; BadInputError if it is damaged."""
    if len(data) < _HEADER.size:
        raise BadInputError("compressed RTF body shorter than its header")
    size, raw_size, kind, crc = _HEADER.unpack_from(data)
    body = data[_HEADER.size:size + 4]
    if kind == _UNCOMPRESSED:
        return body[:raw_size]
    if kind != _COMPRESSED:
        raise BadInputError(f"compressed RTF body of unknown type 0x{kind:08x}")
    if _crc(body) != crc:
        raise BadInputError("compressed RTF body fails its CRC check (damaged)")
    dictionary = bytearray(_DICTIONARY_SIZE)
    dictionary[:len(_INITIAL)] = _INITIAL
    write = len(_INITIAL)
    out = bytearray()
    pos = 0
    while pos < len(body) and len(out) < raw_size:
        control = body[pos]
        pos += 1
        for bit in range(8):
            if pos >= len(body) or len(out) >= raw_size:
                break
            if control & (1 << bit):  # a reference into the dictionary
                if pos + 2 > len(body):
                    raise BadInputError("compressed RTF body ends inside a reference")
                word = (body[pos] << 8) | body[pos + 1]
                pos += 2
                offset, length = word >> 4, (word & 0xF) + 2
                if offset == write:  # the end marker
                    return bytes(out)
                for index in range(length):
                    byte = dictionary[(offset + index) % _DICTIONARY_SIZE]
                    out.append(byte)
                    dictionary[write] = byte
                    write = (write + 1) % _DICTIONARY_SIZE
            else:
                byte = body[pos]
                pos += 1
                out.append(byte)
                dictionary[write] = byte
                write = (write + 1) % _DICTIONARY_SIZE
    return bytes(out[:raw_size])


def _crc(data: bytes) -> int:
    """MS-OXRTFCP's CRC: CRC-32 without the final inversion and a zero start value."""
    return (zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF) & 0xFFFFFFFF


_TOKEN = re.compile(rb"\\([a-zA-Z]+)(-?\d+)? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|(\r\n|\n|\r)|"
                    rb"([^\\{}\r\n]+)", re.S)
#: Groups that hold document settings, never text of the HTML (MS-OXRTFEX 2.1.3.1.3).
_DESTINATIONS = {"fonttbl", "colortbl", "stylesheet", "info", "pict", "listtable",
                 "listoverridetable", "generator", "header", "footer", "object"}


def is_encapsulated_html(rtf: bytes) -> bool:
    """True when the RTF only wraps an HTML body (``\\fromhtml1`` in its header)."""
    return b"\\fromhtml1" in rtf[:1024]


def html_from_rtf(rtf: bytes) -> bytes:
    """The HTML an Outlook RTF body encapsulates (MS-OXRTFEX): the ``\\*\\htmltag``
    groups and the text outside ``\\htmlrtf`` runs, with RTF escapes undone."""
    out = bytearray()
    depth = 0
    suppressed_at: int | None = None  # depth at which \htmlrtf switched output off
    tag_depths: list[int] = []       # depths of the open {\*\htmltag ...} groups
    skip_depth: int | None = None    # an ignorable group ({\*\...}) that is not an htmltag
    pending_star = False
    for match in _TOKEN.finditer(rtf):
        word, number, hexbyte, symbol, brace, _newline, text = match.groups()
        in_tag = bool(tag_depths) and depth >= tag_depths[-1]
        if brace == b"{":
            depth += 1
            continue
        if brace == b"}":
            if tag_depths and depth == tag_depths[-1]:
                tag_depths.pop()
            if skip_depth is not None and depth == skip_depth:
                skip_depth = None
            if suppressed_at is not None and depth < suppressed_at:
                suppressed_at = None
            depth -= 1
            pending_star = False
            continue
        if skip_depth is not None:
            continue
        if symbol == b"*":
            pending_star = True
            continue
        if word is not None:
            name = word.decode("ascii")
            if pending_star:
                pending_star = False
                if name == "htmltag":
                    tag_depths.append(depth)
                else:
                    skip_depth = depth
                continue
            if name in _DESTINATIONS:
                skip_depth = depth
            elif name == "htmlrtf":
                suppressed_at = None if number == b"0" else depth
            elif suppressed_at is None or in_tag:
                if name == "par" or name == "line":
                    out += b"\r\n"
                elif name == "tab":
                    out += b"\t"
            continue
        if suppressed_at is not None and not in_tag:
            continue
        if hexbyte is not None:
            out.append(int(hexbyte, 16))
        elif symbol is not None:
            out += symbol
        elif text is not None:
            out += text
    return bytes(out)
