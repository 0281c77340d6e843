"""Opening an Outlook data file (.pst/.ost) with libpff, and its folder tree with roles.

Only the IPM subtree (what Outlook shows: "Top of Personal Folders" in a PST,
"Root - Mailbox/IPM_SUBTREE" in an OST) is read: search folders and the hidden root are
skipped. Roles come from the store's entry ids (MS-PST 2.4.3, MS-OXOSFLD 2.2):
wastebasket, sent items and outbox on the message store, drafts and junk on the root or
Inbox folder; the Inbox is the IPM subtree's child that carries those special-folder entry
ids. A role no entry id gives is then taken from a top folder's name as Outlook creates
it in English or French (``_ROLE_NAMES``): in an OST, whose entry ids are Exchange's
long-term ids and name no node of the file, and for the Archive folder, which has no
entry id of this kind. A name never overrides an entry id.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.errors import BadInputError, ConnectError
from migrate.model import Role

from . import props as P
from .ndb import IndexedFile
from .props import NameMap, Properties, entry_id_nid

log = logging.getLogger(__name__)

#: What libpff raises for a damaged file: OSError, or MemoryError when it "cannot create"
#: the object of an item it failed to read.
LIBPFF_ERRORS = (OSError, MemoryError)

#: The first bytes of every PST/OST ("!BDN"), and where the Unicode header keeps the
#: file size it expects (ibFileEof, MS-PST 2.2.2.6).
_MAGIC = b"!BDN"
_VERSION_AT, _ANSI_EOF_AT, _UNICODE_EOF_AT = 10, 0xA8, 0xB8


@dataclass(frozen=True)
class PstFolder:
    """A folder of the file: its path under the IPM subtree, role and node id."""

    path: tuple[str, ...]
    role: Role | None
    nid: int
    container_class: str | None = None  # IPF.Note (mail), IPF.Appointment, IPF.Contact …
    hidden: bool = False                # a system folder Outlook does not show
    #: Why its subfolders cannot be listed (a damaged file), None when they can.
    subfolders_unreadable: str | None = None

    @property
    def kind(self) -> str | None:
        """"mail", "calendar" or "contacts"; None for what this connector does not read
        (tasks, notes, journal, settings, hidden folders)."""
        if self.hidden:
            return None
        kind = self.container_class or ""
        if kind in ("", "IPF") or kind.startswith("IPF.Note"):
            return "mail"
        if kind.startswith("IPF.Appointment"):
            return "calendar"
        if kind.startswith("IPF.Contact"):
            return "contacts"
        return None


@dataclass(frozen=True)
class FileIdentity:
    """What identifies the file an item was rebuilt from (for provenance)."""

    name: str
    size: int
    sha256: str


class PstFile:
    """One open .pst/.ost file. libpff is not thread-safe: every call goes through ``lock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        shortfall = _check_header(path)
        try:
            import pypff
        except ImportError:
            raise ConnectError("reading .pst files needs libpff-python: "
                               "pip install 'sovereign-migrate[pst]'") from None
        self._file = pypff.file()
        try:
            self._file.open(str(path))
        except LIBPFF_ERRORS as exc:
            raise BadInputError(f"{path}: this Outlook data file cannot be opened: "
                                f"{shortfall or 'its index is damaged'} "
                                f"(libpff: {first_reason(exc)})") from None
        if shortfall:
            log.warning("%s: %s; what can still be read is copied", path, shortfall)
        self._closed = False
        self.names = NameMap.of(self._file)
        self._store = self._message_store()
        self._identity: FileIdentity | None = None
        self._blocks: IndexedFile | None = None
        if path.suffix.lower() == ".pst" and self._store.integer(P.PST_PASSWORD):
            log.warning("%s is password-protected in Outlook; that password is only a "
                        "checksum, not encryption: the file is read all the same", path)

    def _message_store(self) -> Properties:
        """The store's own properties (special folders, password); none when they are
        damaged: the folders are then told by their names, and the rest is read."""
        try:
            store = self._file.message_store
            return Properties.of(store) if store is not None else Properties({})
        except LIBPFF_ERRORS as exc:
            log.warning("%s: the file's own properties (which name its special folders) "
                        "cannot be read: %s; its folders are recognised by their names, "
                        "and what can be read is copied", self.path, first_reason(exc))
            return Properties({})

    def identity(self) -> FileIdentity:
        """The file's name, size and sha256 (hashed once, streaming)."""
        if self._identity is None:
            self._identity = file_identity(self.path)
        return self._identity

    @contextmanager
    def reading(self, what: str) -> Iterator[None]:
        """Hold the file's lock while libpff reads ``what``; a libpff error (damage) becomes
        a BadInputError naming the file and what could not be read."""
        with self.lock:
            try:
                yield
            except LIBPFF_ERRORS as exc:
                raise BadInputError(f"{self.path.name}: {what} cannot be read (damaged): "
                                    f"{first_reason(exc)}") from None

    def folders(self) -> Iterator[tuple[PstFolder, Any]]:
        """Every folder of the IPM subtree, parents first, with its libpff object."""
        with self.reading("the folder tree"):
            root = self._file.root_folder
            if root is None:
                raise OSError("libpff gives no root folder")
            subtree = self._find(root, entry_id_nid(self._store.binary(P.IPM_SUBTREE))) \
                or self._inbox_parent(root) or _named_subtree(root)
            if subtree is None:
                raise BadInputError(f"{self.path}: no top of personal folders found")
            roles = self._roles(root, subtree)
            listed = list(self._walk(subtree, (), roles))
        yield from listed

    def _walk(self, folder: Any, path: tuple[str, ...],
              roles: dict[int, Role]) -> Iterator[tuple[PstFolder, Any]]:
        children, damage = _subfolders(folder)
        if damage:  # only below the top: a folder's damage is reported with the folder
            raise BadInputError(f"{self.path.name}: the top folders cannot be read: {damage}")
        yield from self._below(children, path, roles)

    def _below(self, children: list[Any], path: tuple[str, ...],
               roles: dict[int, Role]) -> Iterator[tuple[PstFolder, Any]]:
        used: set[str] = set()
        for child in children:
            name = _unique((child.name or "").strip() or f"folder-{child.identifier}", used)
            child_path = (*path, name)
            found = Properties.of(child)
            grandchildren, damage = _subfolders(child)
            yield PstFolder(child_path, roles.get(child.identifier), child.identifier,
                            found.text(P.CONTAINER_CLASS),
                            bool(found.boolean(P.ATTRIBUTE_HIDDEN)), damage), child
            yield from self._below(grandchildren, child_path, roles)

    def _find(self, root: Any, nid: int | None) -> Any | None:
        """The folder with node id ``nid``: a child of the root in a PST, deeper in an
        OST ("Root - Mailbox/IPM_SUBTREE")."""
        if nid is None:
            return None
        return next((child for _, child in _below(root) if child.identifier == nid), None)

    def _inbox_parent(self, root: Any) -> Any | None:
        """The IPM subtree when the store does not name it (an OST): the parent of the
        Inbox, the folder that carries the special folders' entry ids."""
        for parent, child in _below(root):
            found = Properties.of(child)
            if parent is not root and (P.IPM_DRAFTS in found or P.IPM_CALENDAR in found):
                return parent
        return None

    def _roles(self, root: Any, subtree: Any) -> dict[int, Role]:
        """Node id → role, from the entry ids the store and special folders keep."""
        roles: dict[int, Role] = {}

        def put(entry_id: bytes | None, role: Role) -> None:
            nid = entry_id_nid(entry_id)
            if nid is not None:
                roles.setdefault(nid, role)

        put(self._store.binary(P.IPM_WASTEBASKET), Role.TRASH)
        put(self._store.binary(P.IPM_SENTMAIL), Role.SENT)
        put(self._store.binary(P.IPM_OUTBOX), Role.OUTBOX)
        holders = [Properties.of(root)]
        for index in range(subtree.number_of_sub_folders):
            child = subtree.get_sub_folder(index)
            child_props = Properties.of(child)
            if P.IPM_DRAFTS in child_props or P.IPM_CALENDAR in child_props:
                roles.setdefault(child.identifier, Role.INBOX)  # they live on the Inbox
                holders.append(child_props)
        for holder in holders:
            put(holder.binary(P.IPM_DRAFTS), Role.DRAFTS)
            ren = holder.binaries(P.ADDITIONAL_REN_ENTRY_IDS)
            if len(ren) > 4:
                put(ren[4], Role.JUNK)  # [4] is Junk E-mail (MS-OXOSFLD 2.2.4)
        found = set(roles.values())
        for index in range(subtree.number_of_sub_folders):  # what entry ids could not say
            child = subtree.get_sub_folder(index)
            role = _ROLE_NAMES.get((child.name or "").strip().casefold())
            if role is not None and role not in found and child.identifier not in roles:
                roles[child.identifier] = role
                found.add(role)
        return roles

    def blocks(self) -> IndexedFile:
        """The file read through its own B-trees (opened on first use), for what libpff
        does not give: attached messages. A BadInputError for a format it does not read."""
        with self.lock:
            if self._blocks is None:
                self._blocks = IndexedFile(self.path)
            return self._blocks

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self.lock:
            if not self._closed:
                self._closed = True
                self._file.close()
                if self._blocks is not None:
                    self._blocks.close()


#: Names Outlook gives the IPM subtree under the root (English, French, older and newer):
#: only when neither the store nor the special folders say which it is (damaged store).
_SUBTREE_NAMES = {"top of personal folders", "top of outlook data file",
                  "top of information store", "ipm_subtree",
                  "début du fichier de données outlook",
                  "haut de la banque d'informations personnelles"}


def _named_subtree(root: Any) -> Any | None:
    return next((child for parent, child in _below(root, 1)
                 if (child.name or "").strip().lower() in _SUBTREE_NAMES), None)


#: Top folder names Outlook gives special folders (English, French): only for a role no
#: entry id gave, never before the entry ids.
_ROLE_NAMES = {
    "inbox": Role.INBOX, "boîte de réception": Role.INBOX,
    "sent items": Role.SENT, "éléments envoyés": Role.SENT,
    "deleted items": Role.TRASH, "éléments supprimés": Role.TRASH,
    "drafts": Role.DRAFTS, "brouillons": Role.DRAFTS,
    "junk email": Role.JUNK, "junk e-mail": Role.JUNK, "courrier indésirable": Role.JUNK,
    "outbox": Role.OUTBOX, "boîte d'envoi": Role.OUTBOX,
    "archive": Role.ARCHIVE, "archives": Role.ARCHIVE,
}


def file_identity(path: Path) -> FileIdentity:
    """A file's name, size and sha256, hashed streaming."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return FileIdentity(path.name, path.stat().st_size, digest.hexdigest())


def _subfolders(folder: Any) -> tuple[list[Any], str | None]:
    """A folder's subfolders, or those libpff could read and why the others are not."""
    found: list[Any] = []
    try:
        for index in range(folder.number_of_sub_folders):
            child = folder.get_sub_folder(index)
            if child is None:  # libpff's answer for some damaged entries
                raise OSError(f"subfolder {index + 1} cannot be read")
            found.append(child)
    except LIBPFF_ERRORS as exc:
        return found, first_reason(exc)
    return found, None


def _unique(name: str, used: set[str]) -> str:
    """Two sibling folders may share a name in a PST; the second gets a suffix."""
    candidate, number = name, 2
    while candidate in used:
        candidate, number = f"{name} ({number})", number + 1
    used.add(candidate)
    return candidate


def _check_header(path: Path) -> str | None:
    """A clear error for what is not an Outlook data file; says if it is cut short."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(0x200)
        size = path.stat().st_size
    except LIBPFF_ERRORS as exc:
        raise ConnectError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not head.startswith(_MAGIC):
        raise BadInputError(f"{path} is not an Outlook data file (.pst/.ost)")
    if len(head) < _UNICODE_EOF_AT + 8:
        raise BadInputError(f"{path} is truncated: only {size} bytes")
    version = struct.unpack_from("<H", head, _VERSION_AT)[0]
    if version >= 23:
        expected = struct.unpack_from("<Q", head, _UNICODE_EOF_AT)[0]
    else:
        expected = struct.unpack_from("<I", head, _ANSI_EOF_AT)[0]
    if expected and size < expected:
        return f"it is truncated ({size} bytes of the {expected} its header announces)"
    return None


def first_reason(exc: BaseException) -> str:
    """libpff's error chain is long; its first sentence says the most."""
    return str(exc).split(". ")[0]


def _below(root: Any, depth: int = 3) -> Iterator[tuple[Any, Any]]:
    """(parent, child) of every folder down to ``depth`` levels under ``root``, breadth
    first (the special folders sit one level down in a PST, deeper in an OST)."""
    level = [root]
    for _ in range(depth):
        below = []
        for folder in level:
            for index in range(folder.number_of_sub_folders):
                child = folder.get_sub_folder(index)
                if child is None:  # damaged: the special folders are looked for elsewhere
                    continue
                yield folder, child
                below.append(child)
        level = below
