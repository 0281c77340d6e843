"""eml connector: a directory tree of ``.eml`` files, one directory per folder.

Directory names are folder names escaped by ``NameCodec`` (readable UTF-8; ``%XX`` for
what could leave the root or clash). ``.eml`` files lying directly in the root form a
folder named after the root directory. Other files and hidden entries are ignored;
directories are not followed through symbolic links. Files are read in name order.

The internal date is the file's mtime (set on write); flags are not kept: an .eml file
holds only the message bytes. ``source_id`` is the file's path relative to the root.
Written files are named ``UTCDATE-KEY.eml``, KEY fixed by the source id and the bytes'
sha256, so writing a message again replaces its file instead of adding one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
from migrate.model import Content, Folder, MailMessage

from ._files import (
    FileTarget,
    FolderIndex,
    NameCodec,
    file_date,
    file_size,
    make_dirs,
    message_key,
    scan_dir,
    tree_entries,
    utc_or_none,
    write_file,
)

log = logging.getLogger(__name__)


def _eml_files(directory: Path) -> list[Path]:
    """The ``.eml`` files of one directory, by name (dangling links included: they fail
    when read, naming the file)."""
    return [Path(entry.path) for entry in scan_dir(directory)
            if not entry.name.startswith(".") and entry.name.lower().endswith(".eml")
            and not entry.is_dir()]


class EmlSource(MailSource):
    """Reads a tree of ``.eml`` files (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ConnectError(f"{root}: no such directory of .eml files")
        self._root = root
        self._codec = NameCodec(root)
        self._index = FolderIndex(root)
        try:
            if _eml_files(root):
                self._index.add((self._codec.decode(root.resolve().name or "eml"),), root)
        except BadInputError as exc:
            raise ConnectError(str(exc)) from None
        self._walk(root, ())

    def folders(self) -> Iterator[Folder]:
        return self._index.folders()

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        for directory in self._index.places(folder):
            for path in _eml_files(directory):
                yield MailMessage(Content.from_file(path),
                                  path.relative_to(self._root).as_posix(),
                                  internal_date=file_date(path))

    def stats(self, folder: Folder) -> FolderStats:
        """Counted from the file sizes, reading no message."""
        files = [path for directory in self._index.places(folder) for path in _eml_files(directory)]
        return FolderStats(len(files), sum(map(file_size, files)))

    def _walk(self, directory: Path, parent: tuple[str, ...]) -> None:
        for entry in tree_entries(directory, root=not parent):
            if entry.is_dir(follow_symlinks=False):
                path = (*parent, self._codec.decode(entry.name))
                self._index.add(path, Path(entry.path))
                self._walk(Path(entry.path), path)


def _file_name(message: MailMessage) -> str:
    """``UTCDATE-KEY.eml``: date order in a listing, fixed by the message."""
    when = utc_or_none(message.internal_date)
    stamp = when.strftime("%Y%m%dT%H%M%SZ") if when is not None else "undated"
    return f"{stamp}-{message_key(message)}.eml"


class EmlTarget(FileTarget):
    """Writes a tree of ``.eml`` files (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._root = root
        self._codec = NameCodec(root)

    def prepare_folder(self, folder: Folder) -> None:
        make_dirs(self._directory(folder), self._sync)

    def append(self, folder: Folder, message: MailMessage) -> str:
        path = self._directory(folder) / _file_name(message)
        if not _holds(path, message):
            make_dirs(path.parent, self._sync)
            write_file(message.content, path.with_name(f".migrate-tmp-{path.name}"), path,
                       message.internal_date, self._sync)
        return path.relative_to(self._root).as_posix()

    def find(self, folder: Folder, message: MailMessage) -> str | None:
        path = self._directory(folder) / _file_name(message)
        return path.relative_to(self._root).as_posix() if _holds(path, message) else None

    def _directory(self, folder: Folder) -> Path:
        directory = self._root.joinpath(*(self._codec.encode(name) for name in folder.path))
        self._codec.save(self._sync)
        return directory


def _holds(path: Path, message: MailMessage) -> bool:
    """Whether ``path`` is a whole copy of ``message`` (a short file was cut by a crash)."""
    try:
        return path.stat().st_size == message.size
    except OSError:
        return False


class EmlConnector(Connector):
    """A directory tree of .eml files, as source and target."""

    scheme = "eml"
    description = "a directory tree of .eml files, one directory per folder"
    example = "eml:~/exported-mail"
    capabilities = Capabilities(
        reads=frozenset({Kind.MAIL}),
        writes=frozenset({Kind.MAIL}),
        source_keeps=frozenset({Feature.FOLDERS, Feature.INTERNAL_DATE,
                                Feature.ORIGINAL_BYTES}),
        target_keeps=frozenset({Feature.FOLDERS, Feature.INTERNAL_DATE,
                                Feature.ORIGINAL_BYTES}),
        limits={
            Feature.FLAGS: {
                "en": "an .eml file holds only the message bytes",
                "fr": "un fichier .eml ne contient que les octets du message"},
            Feature.KEYWORDS: {
                "en": "an .eml file holds only the message bytes",
                "fr": "un fichier .eml ne contient que les octets du message"},
            Feature.DATE_OFFSET: {
                "en": "file times hold no UTC offset",
                "fr": "les dates de fichier ne gardent pas de décalage UTC"},
            Feature.SPECIAL_USE: {
                "en": "a directory holds no folder role; roles are recognised from common folder "
                      "names only",
                "fr": "un répertoire n'a pas de rôle de dossier ; les rôles sont reconnus d'après "
                      "les noms courants seulement"},
        },
    )

    def open_source(self) -> EmlSource:
        return EmlSource(self.endpoint.local_path())

    def open_target(self) -> EmlTarget:
        return EmlTarget(self.endpoint.local_path())
