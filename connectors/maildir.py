"""Maildir connector: Maildir++ as Dovecot lays it out, as source and target.

The root is INBOX; a subfolder is a directory ``.A.B`` beside the root's ``cur/ new/
tmp/`` ('.' separates levels). Names are stored in IMAP modified UTF-7 as Dovecot does by
default (``&APY-`` for "ö"), and ``.``, ``/`` and ``%`` inside a name are escaped as
``%2E``, ``%2F``, ``%25`` (reversible; Dovecot shows them as they are), see
``NameCodec``. A folder whose directory name would pass 255 bytes gets hashed parts.

Flags are the info letters after ``:2,`` (D \\Draft, F \\Flagged, P $Forwarded,
R \\Answered, S \\Seen, T \\Deleted) and lowercase keyword letters named in the folder's
``dovecot-keywords`` file; unknown letters are ignored, files in ``new/`` have none. The
internal date is the file's mtime (set on write, as Dovecot does). ``source_id`` is the
unique part of the file name (before ':'). Written files are named
``SECONDS.KEY.migrate,S=SIZE:2,FLAGS``, KEY fixed by the source id and the bytes.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Iterator
from pathlib import Path

from migrate.connector import (
    Capabilities,
    Connector,
    Feature,
    FolderStats,
    Kind,
    MailSource,
)
from migrate.errors import BadInputError, ConnectError
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
    Role,
)

from ._files import (
    FileTarget,
    FolderIndex,
    NameCodec,
    PendingSync,
    file_date,
    file_size,
    make_dirs,
    message_key,
    replace_file,
    scan_dir,
    utc_or_none,
    write_file,
)

log = logging.getLogger(__name__)

INBOX = ("INBOX",)
_MAX_ENTRY = 255
_LETTERS = {"D": DRAFT, "F": FLAGGED, "P": FORWARDED, "R": ANSWERED, "S": SEEN, "T": DELETED}
_FLAG_LETTERS = {flag: letter for letter, flag in _LETTERS.items()}
_SIZE = re.compile(r",S=(\d+)")
_OURS = re.compile(r"-?\d+\.([0-9a-f]{32})\.migrate(?:[,:]|\Z)")
_SECONDS = re.compile(r"\d+")
KEYWORDS_FILE = "dovecot-keywords"


def _split_name(name: str) -> tuple[str, str]:
    """(unique name, info letters) of a Maildir file name; no ``:2,`` info gives no letters."""
    base, _, info = name.partition(":")
    return base, info[2:] if info.startswith("2,") else ""


def _is_maildir(directory: Path) -> bool:
    return (directory / "cur").is_dir() or (directory / "new").is_dir()


def _is_inbox(path: tuple[str, ...]) -> bool:
    return len(path) == 1 and path[0].upper() == "INBOX"


class _Keywords:
    """A folder's ``dovecot-keywords`` file: letters a–z <-> keyword names (26 at most)."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / KEYWORDS_FILE
        self._names = self._read()

    def _read(self) -> dict[int, str]:
        try:
            text = self._path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("cannot read %s (%s): keyword letters are ignored", self._path, exc)
            return {}
        names = {}
        for line in text.splitlines():
            number, _, name = line.partition(" ")
            if number.isdigit() and int(number) < 26 and name:
                names[int(number)] = name
        return names

    def flags(self, letters: str) -> set[str]:
        """The keywords that the lowercase ``letters`` stand for."""
        return {self._names[ord(c) - 97] for c in letters
                if "a" <= c <= "z" and ord(c) - 97 in self._names}

    def letters(self, keywords: Collection[str], sync: PendingSync) -> str:
        """Letters for ``keywords``, adding new ones to the file; past 26, dropped (logged)."""
        numbers = {name: number for number, name in self._names.items()}
        added = False
        for name in sorted(keywords):
            if name in numbers:
                continue
            free = [n for n in range(26) if n not in self._names]
            if not free or not name.isprintable():
                log.warning("%s: keyword %r dropped (26 keywords at most, printable only)",
                            self._path.parent, name)
                continue
            self._names[free[0]] = name
            numbers[name] = free[0]
            added = True
        if added:
            text = "".join(f"{n} {name}\n" for n, name in sorted(self._names.items()))
            replace_file(self._path, text.encode("utf-8", "surrogateescape"), sync)
        return "".join(chr(97 + numbers[name]) for name in keywords if name in numbers)


def _listing(directory: Path) -> list[tuple[str, Path, str]]:
    """(unique name, file, info letters) of a folder's messages, oldest name first."""
    found: dict[str, tuple[Path, str]] = {}
    for sub in ("new", "cur"):  # a name in both: cur/ wins
        if not os.path.lexists(directory / sub):
            continue
        if not (directory / sub).is_dir():  # damaged: never skip it silently
            raise BadInputError(f"{directory / sub} is not a readable directory")
        for entry in scan_dir(directory / sub):
            if entry.name.startswith(".") or entry.is_dir():
                continue
            base, letters = _split_name(entry.name)
            found[base] = (Path(entry.path), letters if sub == "cur" else "")
    return [(base, *found[base]) for base in sorted(found, key=_order)]


def _order(base: str) -> tuple[int, str]:
    """Sort key: the delivery time that starts standard unique names, then the name."""
    seconds = _SECONDS.match(base)
    return (int(seconds.group()) if seconds else 0, base)


class MaildirSource(MailSource):
    """Reads a Maildir++ tree (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ConnectError(f"{root}: no such Maildir")
        self._root = root
        self._codec = NameCodec(root, ascii=True, max_bytes=_MAX_ENTRY)
        self._index = self._tree()
        if not _is_maildir(root) and not any(True for _ in self._index.folders()):
            raise ConnectError(f"{root} is not a Maildir (no cur/ or new/ directory)")

    def folders(self) -> Iterator[Folder]:
        return self._index.folders()

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        for directory in self._index.places(folder):
            keywords = _Keywords(directory)
            for base, path, letters in _listing(directory):
                flags = {_LETTERS[c] for c in letters if c in _LETTERS} | keywords.flags(letters)
                yield MailMessage(Content.from_file(path), base, frozenset(flags),
                                  file_date(path))

    def stats(self, folder: Folder) -> FolderStats:
        """Counted from the file names (``,S=``) or file sizes, reading no message."""
        count = size = 0
        for directory in self._index.places(folder):
            for base, path, _ in _listing(directory):
                count += 1
                size += _size(base, path)
        return FolderStats(count, size)

    def _tree(self) -> FolderIndex:
        index = FolderIndex(self._root)
        if _is_maildir(self._root):
            index.add(INBOX, self._root)
        try:
            entries = scan_dir(self._root)
        except BadInputError as exc:
            raise ConnectError(str(exc)) from None
        for entry in entries:
            if entry.name.startswith(".") and entry.name not in (".", "..") \
                    and entry.is_dir() and _is_maildir(Path(entry.path)):
                index.add(tuple(self._codec.decode(p) for p in entry.name[1:].split(".")),
                          Path(entry.path))
        return index


def _size(base: str, path: Path) -> int:
    """The size a ``,S=`` name gives (Dovecot's convention), else the file's."""
    hint = _SIZE.search(base)
    return int(hint.group(1)) if hint else file_size(path)


class _TargetFolder:
    """One Maildir folder being written: the messages already there, and its keywords."""

    def __init__(self, directory: Path, sync: PendingSync) -> None:
        self._dir, self._sync = directory, sync
        self._ours: dict[str, str] | None = None  # message key -> "cur/NAME" or "new/NAME"
        self._keywords: _Keywords | None = None
        self._created = False

    def create(self, subfolder: bool) -> None:
        """Make ``cur/ new/ tmp/`` (and a subfolder's ``maildirfolder`` marker) once."""
        if self._created:
            return
        self._created = True
        for sub in ("cur", "new", "tmp"):
            make_dirs(self._dir / sub, self._sync)
        marker = self._dir / "maildirfolder"  # Maildir++: marks a subfolder for deliveries
        if subfolder and not marker.exists():
            replace_file(marker, b"", self._sync)

    def find(self, message: MailMessage) -> str | None:
        name = self._known().get(message_key(message))
        if name is None:
            return None
        try:
            whole = (self._dir / name).stat().st_size == message.size
        except OSError:
            return None
        return _split_name(name[4:])[0] if whole else None  # a short file: cut by a crash

    def append(self, message: MailMessage) -> str:
        found = self.find(message)
        if found is not None:
            return found
        key = message_key(message)
        self._discard(key)
        base = _unique_name(message, key)
        name = f"{base}:2,{self._letters(message.flags)}"
        write_file(message.content, self._dir / "tmp" / base, self._dir / "cur" / name,
                   message.internal_date, self._sync)
        self._known()[key] = f"cur/{name}"
        return base

    def _letters(self, flags: frozenset[str]) -> str:
        system = "".join(_FLAG_LETTERS[f] for f in flags if f in _FLAG_LETTERS)
        names = [f for f in flags if not f.startswith("\\") and f not in _FLAG_LETTERS]
        if names:
            if self._keywords is None:
                self._keywords = _Keywords(self._dir)
            system += self._keywords.letters(names, self._sync)
        return "".join(sorted(system))

    def _known(self) -> dict[str, str]:
        if self._ours is None:
            self._ours = {}
            for sub in ("new", "cur"):
                if (self._dir / sub).is_dir():
                    for entry in scan_dir(self._dir / sub):
                        mine = _OURS.match(entry.name)
                        if mine:
                            self._ours[mine.group(1)] = f"{sub}/{entry.name}"
        return self._ours

    def _discard(self, key: str) -> None:
        """Remove a copy of this message left short by a crash before its commit."""
        name = self._known().pop(key, None)
        if name is not None:
            (self._dir / name).unlink(missing_ok=True)
            self._sync.changed((self._dir / name).parent)


def _unique_name(message: MailMessage, key: str) -> str:
    """``SECONDS.KEY.migrate,S=SIZE``: delivery-time order, fixed by the message."""
    when = utc_or_none(message.internal_date)
    seconds = int(when.timestamp()) if when is not None else 0
    return f"{seconds}.{key}.migrate,S={message.size}"


class MaildirTarget(FileTarget):
    """Writes a Maildir++ tree (see the module docstring); ``commit`` fsyncs in one batch."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._root = root
        self._codec = NameCodec(root, ascii=True, max_bytes=_MAX_ENTRY)
        self._folders: dict[tuple[str, ...], _TargetFolder] = {}
        self._folder(Folder(INBOX)).create(subfolder=False)

    def prepare_folder(self, folder: Folder) -> None:
        self._folder(folder).create(subfolder=not _is_inbox(folder.path))

    def append(self, folder: Folder, message: MailMessage) -> str:
        target = self._folder(folder)
        target.create(subfolder=not _is_inbox(folder.path))
        return target.append(message)

    def find(self, folder: Folder, message: MailMessage) -> str | None:
        return self._folder(folder).find(message)

    def _folder(self, folder: Folder) -> _TargetFolder:
        found = self._folders.get(folder.path)
        if found is None:
            directory = self._root if _is_inbox(folder.path) else self._root / self._entry(folder)
            found = self._folders[folder.path] = _TargetFolder(directory, self._sync)
        return found

    def _entry(self, folder: Folder) -> str:
        """``.A.B`` for folder A/B; the longest parts are hashed until it fits 255 bytes."""
        parts = [self._codec.encode(name) for name in folder.path]
        shortened: set[int] = set()
        while len(".".join(["", *parts]).encode()) > _MAX_ENTRY:
            longer = [i for i in range(len(parts)) if i not in shortened and len(parts[i]) > 50]
            if not longer:
                raise BadInputError(f"folder {folder.display()!r} is too deep for a Maildir++ "
                                    "directory name (255 bytes)")
            index = max(longer, key=lambda i: len(parts[i]))
            parts[index] = self._codec.encode(folder.path[index], short=True)
            shortened.add(index)
        self._codec.save(self._sync)
        return ".".join(["", *parts])


class MaildirConnector(Connector):
    """Maildir++ (Dovecot's layout), as source and target."""

    scheme = "maildir"
    description = "a Maildir++ tree as Dovecot keeps it (root = INBOX, .Sub.Folders)"
    example = "maildir:~/Maildir"
    capabilities = Capabilities(
        reads=frozenset({Kind.MAIL}),
        writes=frozenset({Kind.MAIL}),
        source_keeps=frozenset({Feature.FOLDERS, Feature.SPECIAL_USE, Feature.FLAGS,
                                Feature.KEYWORDS, Feature.INTERNAL_DATE,
                                Feature.ORIGINAL_BYTES}),
        target_keeps=frozenset({Feature.FOLDERS, Feature.SPECIAL_USE, Feature.FLAGS,
                                Feature.KEYWORDS, Feature.INTERNAL_DATE,
                                Feature.ORIGINAL_BYTES}),
        limits={
            Feature.DATE_OFFSET: {
                "en": "file times hold no UTC offset",
                "fr": "les dates de fichier ne gardent pas de décalage UTC"},
            Feature.KEYWORDS: {
                "en": "a folder's dovecot-keywords file holds 26 keywords at most; more are "
                      "dropped",
                "fr": "le fichier dovecot-keywords d'un dossier tient 26 mots-clés au plus ; les "
                      "suivants sont perdus"},
            Feature.SPECIAL_USE: {
                "en": "roles are recognised from common folder names only (INBOX is the root)",
                "fr": "les rôles sont reconnus d'après les noms courants seulement (INBOX est la "
                      "racine)"},
        },
    )

    def role_folder(self, role: Role) -> tuple[str, ...] | None:
        return INBOX if role is Role.INBOX else None

    def open_source(self) -> MaildirSource:
        return MaildirSource(self.endpoint.local_path())

    def open_target(self) -> MaildirTarget:
        return MaildirTarget(self.endpoint.local_path())
