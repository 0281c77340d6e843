"""JSON Lines files read with a cap on line length, and written one durable line at a time.

Reading never holds more than one line (at most the cap) in memory: an oversized line is
reported and skipped, and reading goes on at the next line. A last line without its
newline is reported as unfinished (a writer was killed while appending it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from ..errors import ArchiveError

#: Longest line accepted in the mail and folder indexes (a record is ~1 KB).
MAX_INDEX_LINE = 1024 * 1024
#: Longest line accepted in a conversation's messages.jsonl (bodies and source JSON).
MAX_CHAT_LINE = 16 * 1024 * 1024
_SKIP_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Line:
    """One physical line: its 1-based number, byte offset, bytes without the newline.

    ``error`` is set (and ``data`` empty) when the line is too long or unfinished.
    """

    number: int
    offset: int
    data: bytes
    error: str | None = None
    unfinished: bool = False


def read_line(stream: BinaryIO, number: int, cap: int) -> Line | None:
    """Read the line starting at the stream's position; None at end of file."""
    offset = stream.tell()
    data = stream.readline(cap + 1)
    if not data:
        return None
    if data.endswith(b"\n"):
        return Line(number, offset, data[:-1])
    if len(data) <= cap:
        return Line(number, offset, b"", "unfinished last line (a write was interrupted)", True)
    while True:  # skip the rest of an oversized line without keeping it
        rest = stream.readline(_SKIP_CHUNK)
        if not rest or rest.endswith(b"\n"):
            break
    return Line(number, offset, b"", f"line longer than {cap} bytes")


def iter_lines(path: Path, cap: int = MAX_INDEX_LINE, start: int = 0,
               first_number: int = 1) -> Iterator[Line]:
    """Every line of ``path`` (none if the file does not exist), streaming."""
    try:
        stream = open(path, "rb")
    except FileNotFoundError:
        return
    with stream:
        stream.seek(start)
        number = first_number
        while (line := read_line(stream, number, cap)) is not None:
            yield line
            number += 1


def read_capped(path: Path, cap: int) -> bytes:
    """A small file's bytes; ValueError if it is larger than ``cap`` (never read past it)."""
    with open(path, "rb") as stream:
        data = stream.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"larger than {cap} bytes")
    return data


def parse_object(line: Line, file: str) -> dict:
    """The JSON object on ``line``; raises ValueError with a reason otherwise."""
    if line.error:
        raise ValueError(line.error)
    try:
        value = json.loads(line.data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def dumps_line(value: dict) -> bytes:
    """One JSON Lines line (UTF-8, newline-terminated); escapes lone surrogates if present."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it exactly, as a \\u escape
        data = json.dumps(value, separators=(",", ":")).encode("ascii")
    return data + b"\n"


def truncate_unfinished(path: Path) -> int:
    """Cut a last line that has no newline (a killed write); returns the file's new size."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "rb+") as stream:
        stream.seek(size - 1)
        if stream.read(1) == b"\n":
            return size
        cut = size
        while cut > 0:  # walk back to the previous newline, a block at a time
            step = min(cut, 64 * 1024)
            stream.seek(cut - step)
            block = stream.read(step)
            found = block.rfind(b"\n")
            if found >= 0:
                cut = cut - step + found + 1
                break
            cut -= step
        stream.truncate(cut)
        stream.flush()
        os.fsync(stream.fileno())
        return cut


def fsync_path(path: Path) -> None:
    """Flush a file or directory to stable storage (directories where the OS allows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once, durably."""
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temp, path)
    fsync_path(path.parent)


class PendingSync:
    """Files and directories written since the last commit, to fsync at the next one.

    Bounded: past ``limit`` entries they are flushed early, which is only ever safer.
    """

    def __init__(self, limit: int = 2000) -> None:
        self.files: list[Path] = []
        self.dirs: set[Path] = set()
        self.limit = limit

    def add(self, path: Path) -> None:
        self.files.append(path)
        self.dirs.add(path.parent)
        if len(self.files) >= self.limit:
            self.flush()

    def flush(self) -> None:
        """fsync the files first, then their directories (which hold the new names)."""
        for path in self.files:
            fsync_path(path)
        for directory in sorted(self.dirs):
            fsync_path(directory)
        self.files.clear()
        self.dirs.clear()


T = TypeVar("T")


def reopen_index(path: Path, repair: bool,
                 parse: Callable[[Line], T]) -> Iterator[tuple[Line, T]]:
    """The lines and records of an index an archive writer appends to again; ``repair``
    first cuts the line a crash left unfinished. A broken line stops the writer: appending
    after it would hide the damage."""
    if repair:
        truncate_unfinished(path)
    for line in iter_lines(path):
        try:
            record = parse(line)
        except ArchiveError as exc:
            raise ArchiveError(f"cannot append to a damaged archive: {exc}; "
                               "run 'migrate archive validate' on it") from None
        yield line, record
