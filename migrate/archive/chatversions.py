"""The versions of the messages of one conversation's ``messages.jsonl`` (format §4.3).

The file is append-only: a message that changed at the source after it was archived (edit,
reaction, deletion) is appended again as a later version, and every version stays, since the
first copy is evidence too. A message's *current* version is its last line; readers show it
at the place of its first line, so that the order stays the order messages were written.
Memory: 8 bytes per line, and a list of offsets per message that has several versions.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..model import ChatMessage
from .chatjson import chat_message_from_dict, version_of
from .jsonl import MAX_CHAT_LINE, Line, iter_lines, parse_object, read_line
from .layout import hash64

_BAD = 0  # the key of a line that cannot be read (a real key is 0 once in 2**64)


@dataclass(frozen=True)
class Versions:
    """One message of the file: the number of its first line, the byte offsets of all its
    lines oldest first (the last is the current version), or why its line is unreadable."""

    number: int
    offsets: tuple[int, ...]
    error: str | None = None

    @property
    def current(self) -> int:
        return self.offsets[-1]


def message_key(source_id: str) -> int:
    """The 64-bit digest a message's source id is grouped by."""
    return hash64(source_id.encode("utf-8", "surrogatepass")) or 1


def message_versions(path: Path, relative: str = "") -> Iterator[Versions]:
    """Every message of the file in the order of its first line, with all its versions;
    an unreadable line comes alone with its error."""
    keys, numbers, offsets = array("Q"), array("Q"), array("Q")
    errors: dict[int, str] = {}
    seen: set[int] = set()
    later: dict[int, list[int]] = {}
    for line in iter_lines(path, MAX_CHAT_LINE):
        key = _BAD
        try:
            data = parse_object(line, relative)
            version_of(data)
            key = message_key(chat_message_from_dict(data).source_id)
        except ValueError as exc:
            errors[line.number] = str(exc)
        if key != _BAD and key in seen:
            later.setdefault(key, []).append(line.offset)
        else:
            seen.add(key)
            keys.append(key)
            numbers.append(line.number)
            offsets.append(line.offset)
    del seen
    for key, number, offset in zip(keys, numbers, offsets, strict=True):
        if key == _BAD:
            yield Versions(number, (offset,), errors.get(number, "unreadable line"))
        else:
            yield Versions(number, (offset, *later.get(key, ())))


def read_version(stream: BinaryIO, offset: int, relative: str = "") -> ChatMessage:
    """The message written at ``offset`` of an open ``messages.jsonl``; ValueError if the
    line cannot be read."""
    stream.seek(offset)
    line: Line | None = read_line(stream, 0, MAX_CHAT_LINE)
    if line is None:
        raise ValueError(f"no line at byte {offset}")
    return chat_message_from_dict(parse_object(line, relative))
