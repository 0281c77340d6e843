"""Helpers shared by the local-file connectors (mbox, Maildir, eml), and by them only.

- ``NameCodec``: folder names <-> directory entry names, reversible, contained under the
  root and collision-free, whatever the name holds ('/', '..', NUL, controls, length);
- ``FolderIndex``: the folders found in a local tree and where their messages live;
- ``message_key``, file times, ``write_file`` (temp file + rename) and ``PendingSync``
  (the fsyncs that ``commit()`` does in one batch).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from migrate.connector import MailTarget
from migrate.errors import BadInputError, ConnectError, ItemError, QuotaError, TooLargeError
from migrate.model import Content, Folder, MailMessage, Role

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024

# --- roles ------------------------------------------------------------------------------

_ROLE_NAMES = {
    "inbox": Role.INBOX, "sent": Role.SENT, "drafts": Role.DRAFTS, "trash": Role.TRASH,
    "junk": Role.JUNK, "spam": Role.JUNK, "archive": Role.ARCHIVE, "archives": Role.ARCHIVE,
}


def role_for(path: tuple[str, ...]) -> Role | None:
    """The role of a folder named like a common special folder, at the top or under INBOX.

    Localized names are the folder mapping's business; this knows the English ones only.
    """
    if len(path) == 1:
        return _ROLE_NAMES.get(path[0].casefold())
    if len(path) == 2 and path[0].casefold() == "inbox":  # Courier style: INBOX.Sent
        role = _ROLE_NAMES.get(path[1].casefold())
        return None if role is Role.INBOX else role
    return None


# --- keys and times -----------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def message_key(message: MailMessage) -> str:
    """A target file key fixed by the source item and its bytes: rewriting it never adds one."""
    seed = message.source_id.encode("utf-8", "surrogatepass") + b"\0" + message.sha256.encode()
    return hashlib.sha256(seed).hexdigest()[:32]


def as_utc(when: datetime) -> datetime:
    """``when`` in UTC; a naive datetime is taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def utc_or_none(when: datetime | None) -> datetime | None:
    """``when`` in UTC, or None when there is none or it cannot be put in UTC (year 1 ...)."""
    if when is None:
        return None
    try:
        return as_utc(when)
    except OverflowError:
        return None


def file_date(path: Path) -> datetime | None:
    """A file's mtime as a UTC datetime (to the microsecond), or None if it cannot be read."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return None
    return EPOCH + (stamp // 1000) * _MICROSECOND


def _set_file_date(path: Path, when: datetime) -> None:
    try:
        stamp = (as_utc(when) - EPOCH) // _MICROSECOND * 1000
        os.utime(path, ns=(stamp, stamp))
    except (OverflowError, ValueError):
        log.warning("%s: internal date %s cannot be a file time; left as now", path, when)


# --- folder names -----------------------------------------------------------------------------

LONG_NAMES_FILE = ".migrate-folder-names"
_LONG_FORM = re.compile(r"%~([0-9a-f]{32})\Z")
_ESCAPED = re.compile(r"%u([0-9A-Fa-f]{4})|((?:%[0-9A-Fa-f]{2})+)")
_UTF7_RUN = re.compile(r"&([A-Za-z0-9+,]*)-")
_WINDOWS_SPECIALS = '\\:*?"<>|'
_SHORT_PREFIX = 16


class NameCodec:
    """Folder names <-> directory entry names: reversible, contained, collision-free.

    A name stays readable UTF-8 except what could escape the root or clash: ``%``, ``/``,
    controls, characters Windows refuses, a leading ``.`` (so never ``.`` or ``..``) and a
    trailing ``.`` or space become ``%XX`` (UTF-8 bytes); lone surrogates become ``%uXXXX``.
    With ``ascii=True`` (Maildir) the name is first put in IMAP modified UTF-7, as Dovecot
    stores it, and ``.`` (the hierarchy separator) is always escaped. An entry longer than
    ``max_bytes`` becomes ``PREFIX%~HASH``; the full name is then kept under the root in
    ``.migrate-folder-names`` (JSON), which decoding reads back.
    """

    def __init__(self, root: Path, *, ascii: bool = False, max_bytes: int = 200) -> None:
        self._root, self._ascii, self._max = root, ascii, max_bytes
        self._specials = "/." if ascii else "/" + _WINDOWS_SPECIALS
        self._long: dict[str, str] | None = None
        self._unsaved = False

    def encode(self, name: str, *, short: bool = False) -> str:
        """The entry name for folder name ``name`` (``short``: force the hashed form)."""
        entry = _escape(utf7_encode(name) if self._ascii else name, self._specials)
        if short or len(entry.encode()) > self._max:
            digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]
            if self._table().get(digest) != name:
                self._table()[digest] = name
                self._unsaved = True
            entry = f"{entry[:_SHORT_PREFIX]}%~{digest}"
        return entry

    def decode(self, entry: str) -> str:
        """The folder name of ``entry``; names not written by ``encode`` decode leniently."""
        found = _LONG_FORM.search(entry)
        if found and found.group(1) in self._table():
            return self._table()[found.group(1)]
        text = _unescape(entry)
        return utf7_decode(text) if self._ascii else text

    def save(self, sync: PendingSync) -> None:
        """Write the table of long names if ``encode`` added one."""
        if self._unsaved:
            data = json.dumps(self._table(), sort_keys=True, indent=0).encode()
            replace_file(self._root / LONG_NAMES_FILE, data, sync)
            self._unsaved = False

    def _table(self) -> dict[str, str]:
        if self._long is None:
            self._long = _read_long_names(self._root / LONG_NAMES_FILE)
        return self._long


def _read_long_names(path: Path) -> dict[str, str]:
    try:
        table = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s): long folder names show hashed", path, exc)
        return {}
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items() if isinstance(k, str) and isinstance(v, str)}


def _escape(text: str, specials: str) -> str:
    last = len(text) - 1
    out = []
    for index, char in enumerate(text):
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            out.append(f"%u{code:04X}")
        elif (code < 0x20 or 0x7F <= code <= 0x9F or char == "%" or char in specials
              or (char == "." and index == 0) or (char in ". " and index == last)):
            out.append("".join(f"%{byte:02X}" for byte in char.encode()))
        else:
            out.append(char)
    return "".join(out)


def _unescape(entry: str) -> str:
    def replace(found: re.Match[str]) -> str:
        if found.group(1):
            return chr(int(found.group(1), 16))
        data = bytes(int(pair, 16) for pair in found.group(2)[1:].split("%"))
        try:
            return data.decode()
        except UnicodeDecodeError:  # not ours: keep it as it is
            return found.group(0)

    return _ESCAPED.sub(replace, entry)


def utf7_encode(text: str) -> str:
    """IMAP modified UTF-7 (RFC 3501 5.1.3); lone surrogates pass through UTF-16 as is."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            data = "".join(run).encode("utf-16-be", "surrogatepass")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            run.clear()

    for char in text:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        elif 0xD800 <= ord(char) <= 0xDFFF:  # alone in its run, or two would decode as a pair
            flush()
            run.append(char)
            flush()
        else:
            run.append(char)
    flush()
    return "".join(out)


def utf7_decode(text: str) -> str:
    """Undo ``utf7_encode``; a malformed ``&...-`` run is kept as it is."""
    def replace(found: re.Match[str]) -> str:
        if not found.group(1):
            return "&"
        data = found.group(1).replace(",", "/")
        try:
            raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
            return raw.decode("utf-16-be", "surrogatepass")
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return found.group(0)

    return _UTF7_RUN.sub(replace, text)


# --- folder trees ----------------------------------------------------------------------------


class FolderIndex:
    """The folders found in a local tree and where each keeps its messages (parents first)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._places: dict[tuple[str, ...], list[Path]] = {}

    def add(self, path: tuple[str, ...], place: Path | None = None) -> None:
        """Record a folder (and its parents); ``place`` is a file or directory of messages."""
        if not path or not all(path):
            log.warning("ignoring %s: it gives an empty folder name", place)
            return
        for depth in range(1, len(path)):
            self._places.setdefault(path[:depth], [])
        places = self._places.setdefault(path, [])
        if place is not None:
            places.append(place)

    def folders(self) -> Iterator[Folder]:
        for path in sorted(self._places):
            places = self._places[path]
            yield Folder(path, role_for(path), self._relative(places[0]) if places else None)

    def places(self, folder: Folder) -> list[Path]:
        try:
            return self._places[folder.path]
        except KeyError:
            raise ItemError(f"no folder {folder.display()!r} in {self._root}") from None

    def _relative(self, place: Path) -> str:
        return place.relative_to(self._root).as_posix()


def file_size(path: Path) -> int:
    """A file's size for counting (0 if it cannot be read: reading it will say why)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def scan_dir(directory: Path) -> list[os.DirEntry[str]]:
    """The entries of ``directory`` sorted by name; an unreadable one is a BadInputError."""
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        raise BadInputError(f"cannot list {directory}: {exc.strerror or exc}") from None


def tree_entries(directory: Path, root: bool) -> list[os.DirEntry[str]]:
    """Visible entries of a directory met while walking a tree, by name.

    The root must be readable (ConnectError); an unreadable directory below it only loses
    its subfolders (logged), and listing its messages then fails on its own.
    """
    try:
        entries = scan_dir(directory)
    except BadInputError as exc:
        if root:
            raise ConnectError(str(exc)) from None
        log.warning("%s; its subfolders are skipped", exc)
        return []
    return [entry for entry in entries if not entry.name.startswith(".")]


# --- writing ------------------------------------------------------------------------------


class FileTarget(MailTarget):
    """Base of the local targets: creates the root, and ``commit`` fsyncs what was written."""

    def __init__(self, root: Path) -> None:
        self._sync = PendingSync()
        try:
            make_dirs(root, self._sync)
        except ItemError as exc:
            raise ConnectError(str(exc)) from None

    def commit(self) -> None:
        self._sync.sync()

    def close(self, complete: bool = True) -> None:
        """Commit: what was written stays, and a rerun finds it."""
        self.commit()



class PendingSync:
    """Files and directories changed since the last commit; ``sync()`` makes them durable."""

    def __init__(self) -> None:
        self._files: set[Path] = set()
        self._dirs: set[Path] = set()

    def wrote(self, path: Path) -> None:
        """``path`` was written or created (its directory entry needs syncing too)."""
        self._files.add(path)
        self._dirs.add(path.parent)

    def changed(self, directory: Path) -> None:
        """An entry of ``directory`` was added, removed or renamed."""
        self._dirs.add(directory)

    def sync(self) -> None:
        files, dirs = sorted(self._files), sorted(self._dirs)
        self._files, self._dirs = set(), set()
        for path in files:
            _fsync(path)
        if os.name == "posix":  # directories cannot be opened for fsync elsewhere
            for path in dirs:
                _fsync(path)


def _fsync(path: Path) -> None:
    try:
        handle = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # removed or renamed since (its directory is synced)
        return
    except OSError as exc:
        raise ConnectError(f"cannot make {path} durable: {exc.strerror or exc}") from None
    try:
        os.fsync(handle)
    except OSError as exc:
        raise ConnectError(f"cannot make {path} durable: {exc.strerror or exc}") from None
    finally:
        os.close(handle)


def target_error(exc: OSError, path: Path) -> ItemError:
    """The engine's error for a failed write: quota, too large, or this one item failed."""
    text = f"cannot write {path}: {exc.strerror or exc}"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return QuotaError(text)
    if exc.errno == errno.EFBIG:
        return TooLargeError(text)
    return ItemError(text)


def make_dirs(path: Path, sync: PendingSync) -> None:
    """Create ``path`` and its missing parents, each recorded for the next sync."""
    missing = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(exist_ok=True)
        except OSError as exc:
            raise target_error(exc, directory) from None
        sync.changed(directory.parent)


def write_file(content: Content, temp: Path, final: Path, when: datetime | None,
               sync: PendingSync) -> None:
    """Stream ``content`` into ``temp``, date it, then rename it to ``final``: never half a file."""
    try:
        with open(temp, "wb") as out:
            content.write_to(out)
        if when is not None:
            _set_file_date(temp, when)
        os.replace(temp, final)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise target_error(exc, final) from None
        raise
    sync.wrote(final)


def replace_file(path: Path, data: bytes, sync: PendingSync) -> None:
    """Replace a small side file (an index, a keyword list) in one rename."""
    write_file(Content.from_bytes(data), path.with_name(f".{path.name}.tmp"), path, None, sync)
