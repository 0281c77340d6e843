"""mbox connector: mail in mbox files (mboxrd), one file per folder.

``mbox:PATH`` is one file (one folder, named after the file's stem: ``Inbox.mbox`` is
``('Inbox',)``) or a directory of ``NAME.mbox`` files, where ``NAME.sbd/`` (Thunderbird's
convention; a plain ``NAME/`` directory is read too) holds NAME's subfolders. Files with
no ``.mbox`` suffix that begin with ``From `` (Thunderbird's own) are read as well. A
target path that does not exist is one file if it ends in ``.mbox``, else a directory.

Reading: a message starts at a ``From `` line that begins the file or follows an empty
line and looks like a real separator (``From SENDER asctime-date``); any other ``From ``
line stays in the message. One ``>`` is taken off ``>From ``, ``>>From `` ... lines. The
bytes are the lines after the From_ line up to, not including, the one empty line before
the next separator (or the end); CRLF files work the same. Flags are read from
``Status``/``X-Status`` (and Thunderbird's ``X-Mozilla-Status``), never removed. The
internal date is the From_ line's (UTC). ``source_id`` is the sha256 of the message's
bytes (with a counter for identical copies in one folder): stable when a mail client
compacts the file or the mailbox is exported again, so a delta pass copies only what is
new.

Writing: ``From MAILER-DAEMON <UTC asctime>``, the message with ``^>*From `` lines given
one more ``>``, then an empty line. An mbox message always ends with a newline, so one
is added to a non-empty message that lacks it: the one change to any byte (a documented
limit). ``FILE.migrate-index`` records the keys written and the committed length; on
reopen, bytes past that length (a write cut short by a kill) are cut off again, so a
rerun never writes a message twice.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from migrate.connector import (
    Capabilities,
    Connector,
    Feature,
    FolderStats,
    Kind,
    MailSource,
)
from migrate.errors import BadInputError, CapabilityError, ConnectError
from migrate.model import (
    ANSWERED,
    DELETED,
    DRAFT,
    FLAGGED,
    FORWARDED,
    SEEN,
    Content,
    Folder,
    MailMessage,
)

from ._files import (
    FileTarget,
    FolderIndex,
    NameCodec,
    PendingSync,
    make_dirs,
    message_key,
    replace_file,
    target_error,
    tree_entries,
    utc_or_none,
)

log = logging.getLogger(__name__)

_BLOCK = 1024 * 1024
_LONG_LINE = 1024 * 1024  # longer lines are handled in pieces (memory stays flat)
_MAX_FROM_LINE = 1000
_HEAD = 64 * 1024

_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)
_TO_QUOTE = re.compile(rb"^(>*From )", re.MULTILINE)
_SEPARATOR = re.compile(
    rb"From \S* +(?:(?i:mon|tue|wed|thu|fri|sat|sun),? +)?"
    rb"(?P<month>(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)) +(?P<day>\d{1,2}) +"
    rb"(?P<hour>\d{1,2}):(?P<minute>\d\d)(?::(?P<second>\d\d))?"
    rb"(?: +(?:[A-Za-z]{1,5}|(?P<zone>[+-]\d{4})))? +(?P<year>\d{4})"
    rb"(?: +(?P<zone2>[+-]\d{4}))?(?:[ \t][^\r\n]*)?\r?\n?\Z")
_MONTHS = {name: number for number, name in enumerate(
    (b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
     b"dec"), start=1)}
_OUR_FROM = b"From MAILER-DAEMON "
_X_STATUS = {b"A": ANSWERED, b"F": FLAGGED, b"T": DRAFT, b"D": DELETED}
_MOZILLA = ((0x0001, SEEN), (0x0002, ANSWERED), (0x0004, FLAGGED), (0x0008, DELETED),
            (0x1000, FORWARDED))
INDEX_SUFFIX = ".migrate-index"
_INDEX_HEADER = b"sovereign-migrate mbox index 1\n"


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    """Where one message lies in an mbox file."""

    separator: int  # offset of its From_ line (0 for text before any From_ line)
    start: int
    end: int
    quoted: int  # lines that lose one '>' when read
    date: datetime | None

    @property
    def loose(self) -> bool:
        """Text before the first From_ line (no separator of its own)."""
        return self.separator == self.start

    @property
    def size(self) -> int:
        return self.end - self.start - self.quoted


def _gap(before: bytes) -> int:
    """Length of the empty line that ``before`` ends with (0: it does not end with one)."""
    if before.endswith(b"\n\r\n"):
        return 2
    return 1 if before.endswith(b"\n\n") else 0


def _line_blocks(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Regroup ``chunks`` into blocks of whole lines, each with whether it starts a line.

    A line longer than ``_LONG_LINE`` is passed on in pieces, so memory stays flat.
    """
    carry = b""
    line_start = True
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) < _LONG_LINE:
                carry = data
                continue
            cut = len(data)
        yield data[:cut], line_start
        line_start = data[cut - 1] == 0x0A
        carry = data[cut:]
    if carry:
        yield carry, line_start


def _map_lines(chunks: Iterable[bytes], pattern: re.Pattern[bytes],
               replacement: bytes) -> Iterator[bytes]:
    """Apply a ``^``-anchored substitution to every line of a stream of chunks."""
    for block, line_start in _line_blocks(chunks):
        if line_start:
            yield pattern.sub(replacement, block)
            continue
        first = block.find(b"\n") + 1
        yield block if first == 0 else block[:first] + pattern.sub(replacement, block[first:])


class _Scanner:
    """Finds the messages of an mbox file in one pass over blocks of whole lines."""

    def __init__(self) -> None:
        self._offset = 0  # file offset of the block being examined
        self._before = b"\n\n"  # the bytes before it: the file start counts as a fresh line
        self._open: tuple[int, int, datetime | None] = (0, 0, None)
        self._quoted = 0

    def spans(self, chunks: Iterable[bytes]) -> Iterator[_Span]:
        for block, line_start in _line_blocks(chunks):
            yield from self._examine(block, line_start)
            self._before = (self._before + block[-3:])[-3:]
            self._offset += len(block)
        yield self._close(self._offset - _gap(self._before))

    def _examine(self, block: bytes, line_start: bool) -> Iterator[_Span]:
        position = 0 if line_start else block.find(b"\n") + 1
        if position == 0 and not line_start:
            return
        for at, quoted in _line_starts(block, position):
            if quoted:
                self._quoted += 1
                continue
            context = (self._before + block[max(0, at - 3):at])[-3:]
            separator = _separator(block, at) if _gap(context) else None
            if separator is not None:
                yield self._close(self._offset + at - _gap(context))
                line, date = separator
                self._open = (self._offset + at, self._offset + at + len(line), date)
                self._quoted = 0

    def _close(self, end: int) -> _Span:
        separator, start, date = self._open
        return _Span(separator, start, max(end, start), self._quoted, date)


def _line_starts(block: bytes, position: int) -> Iterator[tuple[int, bool]]:
    """Offsets of lines (at or after ``position``) that start with ``From `` or ``>…From ``,
    each with whether it is quoted; a literal search, far faster than a ``^`` regex."""
    at = block.find(b"From ", position)
    while at >= 0:
        start = at
        while start > position and block[start - 1] == 0x3E:  # '>'
            start -= 1
        if start == position or block[start - 1] == 0x0A:
            yield start, start != at
        at = block.find(b"From ", at + 5)


def _separator(block: bytes, at: int) -> tuple[bytes, datetime | None] | None:
    """The From_ line at ``at`` and its date, if it looks like a real separator."""
    end = block.find(b"\n", at, at + _MAX_FROM_LINE)
    if end < 0 and len(block) - at > _MAX_FROM_LINE:
        return None
    line = block[at:] if end < 0 else block[at:end + 1]
    found = _SEPARATOR.match(line)
    return None if found is None else (line, _date(found))


def _date(found: re.Match[bytes]) -> datetime | None:
    """The From_ line's date in UTC (asctime holds no zone; a numeric one is honoured)."""
    try:
        when = datetime(int(found["year"]), _MONTHS[found["month"].lower()], int(found["day"]),
                        int(found["hour"]), int(found["minute"]), int(found["second"] or 0),
                        tzinfo=UTC)
        zone = found["zone"] or found["zone2"]
        if zone:
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
            when = when - offset if zone[:1] == b"+" else when + offset
    except (ValueError, OverflowError):
        return None
    return when


def _header_fields(head: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(lowercase name, value) of the unfolded-enough top lines of a header block."""
    for line in head.splitlines():
        if not line.strip():
            return
        if line[:1] in (b" ", b"\t"):
            continue
        name, colon, value = line.partition(b":")
        if colon:
            yield name.strip().lower(), value.strip()


def _flags(head: bytes) -> frozenset[str]:
    """Flags from ``Status``, ``X-Status`` and ``X-Mozilla-Status`` (read, never removed)."""
    flags: set[str] = set()
    for name, value in _header_fields(head):
        if name == b"status" and b"R" in value:
            flags.add(SEEN)
        elif name == b"x-status":
            flags.update(flag for letter, flag in _X_STATUS.items() if letter in value)
        elif name == b"x-mozilla-status":
            try:
                bits = int(value[:4], 16)
            except ValueError:
                continue
            flags.update(flag for bit, flag in _MOZILLA if bits & bit)
    return frozenset(flags)


def _spans(path: Path) -> Iterator[tuple[_Span, BinaryIO]]:
    """The messages of one mbox file, each with a handle to read it by."""
    try:
        scan, reader = open(path, "rb"), open(path, "rb")
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with scan, reader:
        try:
            for span in _Scanner().spans(iter(lambda: scan.read(_BLOCK), b"")):
                if not (span.loose and _blank(reader, span)):
                    yield span, reader
        except OSError as exc:
            raise BadInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _blank(reader: BinaryIO, span: _Span) -> bool:
    """Whether the span holds only white space (e.g. empty lines before the first message)."""
    reader.seek(span.start)
    left = span.end - span.start
    while left > 0:
        data = reader.read(min(left, _BLOCK))
        if not data:
            break
        if data.strip():
            return False
        left -= len(data)
    return True


def _message(path: Path, reader: BinaryIO, span: _Span, prefix: str) -> MailMessage:
    try:
        reader.seek(span.start)
        head = reader.read(min(_HEAD, span.end - span.start))
    except OSError:
        head = b""  # the content read will fail and say why
    return MailMessage(_content(path, span), f"{prefix}{span.separator}", _flags(head),
                       span.date)


def _content_key(message: MailMessage, occurrences: dict[str, int]) -> str:
    """A key from the message's sha256 (and how many identical ones came before it).

    Offsets change when a mail client compacts the file or when a mailbox is exported
    again for a delta pass; the bytes do not, so a rerun on a new export copies only what
    is new. A message that cannot be read keeps its offset key and fails alone.
    """
    try:
        digest = message.content.sha256[:32]
    except BadInputError:
        return f"offset:{message.source_id}"
    seen = occurrences.get(digest, 0)
    occurrences[digest] = seen + 1
    return f"{digest}.{seen}" if seen else digest


def _content(path: Path, span: _Span) -> Content:
    """The message's bytes: a slice of the file, unquoted on the fly when it needs it."""
    if not span.quoted:
        return Content.from_file(path, span.start, span.end - span.start)
    return _UnquotedContent.of(path, span)


class _UnquotedContent(Content):
    """A file slice read with one '>' taken off each ``>From `` line (mboxrd), lazily.

    Its size is known from the scan, so nothing is read or spooled until it is used.
    """

    __slots__ = ("_file", "_raw", "_unquoted_size")

    @classmethod
    def of(cls, path: Path, span: _Span) -> _UnquotedContent:
        content = cls()
        content._file = path
        content._raw = Content.from_file(path, span.start, span.end - span.start)
        content._unquoted_size = span.size
        return content

    @property
    def size(self) -> int:
        return self._unquoted_size

    def open(self) -> BinaryIO:
        raw = self._raw.open()
        return _ChunkStream(_map_lines(_read_chunks(raw, self._file), _QUOTED, rb"\1"), raw)


def _read_chunks(stream: BinaryIO, path: Path) -> Iterator[bytes]:
    """Blocks of ``stream``; a read error is a BadInputError naming ``path``."""
    try:
        while chunk := stream.read(_BLOCK):
            yield chunk
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror or exc}") from None


class _ChunkStream(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (closing ``base`` with it)."""

    def __init__(self, chunks: Iterator[bytes], base: BinaryIO) -> None:
        super().__init__()
        self._chunks, self._base, self._pending = chunks, base, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            self._base.close()
        super().close()


def _stem(name: str) -> str:
    return name[:-5] if name.endswith(".mbox") and len(name) > 5 else name


def _is_mbox(entry: os.DirEntry[str]) -> bool:
    """A ``.mbox`` file, or a suffix-less one that starts like an mbox (Thunderbird)."""
    if entry.name.endswith(INDEX_SUFFIX) or not entry.is_file():
        return False
    if entry.name.endswith(".mbox"):
        return True
    try:
        with open(entry.path, "rb") as handle:
            return handle.read(5) == b"From "
    except OSError:
        return False


class MboxSource(MailSource):
    """Reads one mbox file, or a directory tree of them (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise ConnectError(f"{path}: no such mbox file or directory")
        self._path = path
        self._codec = NameCodec(path if path.is_dir() else path.parent)
        self._index: FolderIndex | None = None

    def folders(self) -> Iterator[Folder]:
        return self._tree().folders()

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        """Messages in file order, keyed by their bytes (see ``_content_key``)."""
        occurrences: dict[str, int] = {}
        for number, path in enumerate(self._tree().places(folder)):
            for span, reader in _spans(path):
                message = _message(path, reader, span, f"{number}:" if number else "")
                message.source_id = _content_key(message, occurrences)
                yield message

    def stats(self, folder: Folder) -> FolderStats:
        """Counted by one scan of the file, reading no message."""
        count = size = 0
        for path in self._tree().places(folder):
            for span, _ in _spans(path):
                count += 1
                size += span.size
        return FolderStats(count, size)

    def _tree(self) -> FolderIndex:
        if self._index is None:
            if self._path.is_dir():
                self._index = FolderIndex(self._path)
                self._walk(self._path, ())
            else:
                self._index = FolderIndex(self._path.parent)
                self._index.add((self._codec.decode(_stem(self._path.name)),), self._path)
        return self._index

    def _walk(self, directory: Path, parent: tuple[str, ...]) -> None:
        assert self._index is not None
        for entry in tree_entries(directory, root=not parent):
            if entry.is_dir(follow_symlinks=False):
                path = (*parent, self._codec.decode(entry.name.removesuffix(".sbd")))
                self._index.add(path)
                self._walk(Path(entry.path), path)
            elif _is_mbox(entry):
                self._index.add((*parent, self._codec.decode(_stem(entry.name))),
                                Path(entry.path))


# --- writing -------------------------------------------------------------------------------


def _from_line(when: datetime | None) -> bytes:
    """Our separator, with the internal date in UTC (now if none or not writable)."""
    moment = utc_or_none(when)
    if moment is None or not 1000 <= moment.year <= 9999:
        moment = datetime.now(UTC)
    return _OUR_FROM + moment.ctime().encode() + b"\n"


def _write_message(out: BinaryIO, message: MailMessage) -> None:
    """From_ line, quoted message, a newline if it lacks one, and the empty line."""
    out.write(_from_line(message.internal_date))
    tail = b""
    for piece in _map_lines(message.content.iter_chunks(), _TO_QUOTE, rb">\1"):
        if piece:
            out.write(piece)
            tail = piece[-1:]
    if tail not in (b"", b"\n"):
        out.write(b"\n")
    out.write(b"\n")


def _read_index(path: Path) -> tuple[dict[str, int], int | None]:
    """Keys → offsets and the last committed length; torn lines at the end are ignored."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        raise ConnectError(f"cannot read {path}: {exc.strerror or exc}") from None
    keys: dict[str, int] = {}
    committed = None
    for line in text.split(b"\n")[:-1]:  # the last piece has no newline: torn or empty
        parts = line.split()
        if len(parts) == 3 and parts[0] == b"K" and parts[2].isdigit():
            keys[parts[1].decode("ascii", "replace")] = int(parts[2])
        elif len(parts) == 2 and parts[0] == b"L" and parts[1].isdigit():
            committed = int(parts[1])
    return keys, committed


class _MboxFile:
    """One mbox file being appended to, with its side index (keys, committed length)."""

    def __init__(self, path: Path, sync: PendingSync) -> None:
        self.path = path
        self._index = path.with_name(path.name + INDEX_SUFFIX)
        self._sync = sync
        self._handle: BinaryIO | None = None
        self._pending: list[tuple[str, int]] = []
        self._keys, self._committed = self._recover()
        self._length = self._committed

    def _recover(self) -> tuple[dict[str, int], int]:
        """Read the index and cut off whatever a killed run left past the committed length."""
        keys, committed = _read_index(self._index)
        size = self.path.stat().st_size if self.path.exists() else 0
        if committed is None:
            committed = size
        elif size > committed and self._ours_after(committed):
            log.info("%s: removing %d bytes of an unfinished write", self.path, size - committed)
            with open(self.path, "r+b") as handle:
                handle.truncate(committed)
                os.fsync(handle.fileno())
        elif size != committed:  # grown or cut by another program: start the index anew
            log.warning("%s was changed by another program since the last commit", self.path)
            if size < committed:
                keys = {}
            committed = size
            self._rewrite_index(keys, committed)
        return {key: at for key, at in keys.items() if at < committed}, committed

    def _rewrite_index(self, keys: dict[str, int], length: int) -> None:
        lines = [b"K %s %d\n" % (key.encode(), at) for key, at in keys.items()]
        replace_file(self._index, _INDEX_HEADER + b"".join(lines) + b"L %d\n" % length,
                     self._sync)

    def _ours_after(self, committed: int) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(committed)
            tail = handle.read(len(_OUR_FROM))
        return _OUR_FROM.startswith(tail)

    def create(self) -> None:
        if not self.path.exists():
            self._open()

    def find(self, message: MailMessage) -> str | None:
        key = message_key(message)
        return key if key in self._keys else None

    def append(self, message: MailMessage) -> str:
        key = message_key(message)
        if key in self._keys:
            return key
        handle = self._open()
        start = self._length
        try:
            handle.seek(start)
            _write_message(handle, message)
            handle.flush()
            self._length = handle.tell()
        except BaseException as exc:
            self._undo(handle, start)
            if isinstance(exc, OSError):
                raise target_error(exc, self.path) from None
            raise
        self._keys[key] = start
        self._pending.append((key, start))
        return key

    def commit(self) -> None:
        """fsync the mbox, then record its keys and length in the index (and fsync that)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                raise target_error(exc, self.path) from None
            finally:
                handle.close()
        if self._pending or self._length != self._committed:
            self._record()

    def _open(self) -> BinaryIO:
        if self._handle is None:
            new = not self.path.exists()
            try:
                self._handle = open(self.path, "w+b" if new else "r+b")
            except OSError as exc:
                raise target_error(exc, self.path) from None
            if new:
                self._sync.wrote(self.path)
            self._seal(self._handle)
        return self._handle

    def _seal(self, handle: BinaryIO) -> None:
        """Make a file written by another program end with an empty line, durably."""
        if self._length == 0:
            return
        handle.seek(max(0, self._length - 3))
        tail = handle.read(3)
        if _gap(tail):
            return
        handle.seek(self._length)
        handle.write(b"\n" if tail.endswith(b"\n") else b"\n\n")
        handle.flush()
        os.fsync(handle.fileno())
        self._length = handle.tell()
        self._record()

    def _undo(self, handle: BinaryIO, start: int) -> None:
        try:
            handle.seek(start)
            handle.truncate()
        except OSError:
            log.warning("%s: could not cut off a failed write; it goes at the next open",
                        self.path)

    def _record(self) -> None:
        lines = [b"K %s %d\n" % (key.encode(), at) for key, at in self._pending]
        lines.append(b"L %d\n" % self._length)
        new = not self._index.exists()
        try:
            with open(self._index, "ab") as out:
                if new:
                    out.write(_INDEX_HEADER)
                out.write(b"".join(lines))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise target_error(exc, self._index) from None
        if new:
            self._sync.wrote(self._index)
        self._pending = []
        self._committed = self._length


class MboxTarget(FileTarget):
    """Appends to one mbox file, or to a tree of them (``A.sbd/B.mbox`` is ``A/B``)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._single = path.is_file() or (not path.exists() and path.suffix == ".mbox")
        base = path.parent if self._single else path
        super().__init__(base)
        self._codec = NameCodec(base)
        self._files: dict[tuple[str, ...], _MboxFile] = {}

    def prepare_folder(self, folder: Folder) -> None:
        self._file(folder).create()

    def append(self, folder: Folder, message: MailMessage) -> str:
        return self._file(folder).append(message)

    def find(self, folder: Folder, message: MailMessage) -> str | None:
        return self._file(folder).find(message)

    def commit(self) -> None:
        self._sync.sync()  # new files' directory entries first, then data, then indexes
        for mbox in self._files.values():
            mbox.commit()
        self._sync.sync()

    def _file(self, folder: Folder) -> _MboxFile:
        found = self._files.get(folder.path)
        if found is None:
            found = self._files[folder.path] = _MboxFile(self._file_path(folder), self._sync)
        return found

    def _file_path(self, folder: Folder) -> Path:
        if self._single:
            if self._files:
                raise CapabilityError(f"{self._path} is one mbox file, which holds one folder; "
                                      "give a directory to write several folders")
            return self._path
        names = [self._codec.encode(name) for name in folder.path]
        self._codec.save(self._sync)
        directory = self._path.joinpath(*(name + ".sbd" for name in names[:-1]))
        make_dirs(directory, self._sync)
        return directory / (names[-1] + ".mbox")


class MboxConnector(Connector):
    """mbox files (mboxrd), as source and target."""

    scheme = "mbox"
    description = "mbox files (mboxrd): one file per folder, or a directory tree of them"
    example = "mbox:~/Mail/Inbox.mbox"
    capabilities = Capabilities(
        reads=frozenset({Kind.MAIL}),
        writes=frozenset({Kind.MAIL}),
        source_keeps=frozenset({Feature.FOLDERS, Feature.FLAGS, Feature.INTERNAL_DATE,
                                Feature.ORIGINAL_BYTES}),
        target_keeps=frozenset({Feature.FOLDERS, Feature.INTERNAL_DATE,
                                Feature.ORIGINAL_BYTES}),
        limits={
            Feature.FLAGS: {
                "en": "an mbox file keeps flags only in Status headers, which would alter the "
                      "message bytes",
                "fr": "un fichier mbox ne garde les indicateurs que dans des en-têtes Status, ce "
                      "qui modifierait les octets du message"},
            Feature.KEYWORDS: {
                "en": "an mbox file keeps no keywords without altering the message bytes",
                "fr": "un fichier mbox ne garde pas de mots-clés sans modifier les octets du "
                      "message"},
            Feature.SPECIAL_USE: {
                "en": "an mbox file holds no folder role; roles are recognised from common folder "
                      "names only",
                "fr": "un fichier mbox n'a pas de rôle de dossier ; les rôles sont reconnus "
                      "d'après les noms courants seulement"},
            Feature.DATE_OFFSET: {
                "en": "the From_ line holds a UTC date",
                "fr": "la ligne From_ porte une date UTC"},
            Feature.ORIGINAL_BYTES: {
                "en": "a message that does not end with a newline gains one (an mbox message "
                      "always ends with one)",
                "fr": "un message qui ne finit pas par un saut de ligne en reçoit un (un message "
                      "mbox finit toujours par un saut de ligne)"},
        },
    )

    def open_source(self) -> MboxSource:
        return MboxSource(self.endpoint.local_path())

    def open_target(self) -> MboxTarget:
        return MboxTarget(self.endpoint.local_path())
