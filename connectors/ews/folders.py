"""The mailbox's folder tree, as neutral folders with roles from the well-known folder ids.

Exchange localizes display names ("Boîte de réception", "Éléments envoyés"), so roles are
never guessed from names: the well-known (distinguished) folders are asked for by id in
one GetFolder, and a folder whose id matches gets the role. The tree is one FindFolder
(Deep traversal) under the message-folder root (``msgfolderroot``); paths are the display
names from there down. Mail folders have the folder class ``IPF.Note…`` or none;
calendars (``IPF.Appointment``) and contacts (``IPF.Contact``) are read as collections.

When asked, the archive mailbox's folders (one Deep FindFolder under
``archivemsgfolderroot``) come under "Online Archive", and public folders (under
``publicfoldersroot``, one Shallow FindFolder per level: EWS refuses a deep traversal
there) under "Public Folders"; neither gets roles (the archive's Inbox is not the inbox).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from exchangelib import Account
from exchangelib.errors import ErrorFolderNotFound
from exchangelib.fields import FieldPath
from exchangelib.folders import DEEP, SHALLOW, Folder, FolderCollection, MsgFolderRoot
from exchangelib.properties import DistinguishedFolderId, Mailbox

from migrate.model import Role

from .properties import FOLDER_SIZE

#: Well-known folder ids (EWS DistinguishedFolderId) and the neutral role they carry.
WELL_KNOWN: dict[str, Role] = {
    "inbox": Role.INBOX,
    "sentitems": Role.SENT,
    "drafts": Role.DRAFTS,
    "deleteditems": Role.TRASH,
    "junkemail": Role.JUNK,
    "outbox": Role.OUTBOX,
    "archive": Role.ARCHIVE,
}

#: Distinguished ids of the archive mailbox's message-folder root and of public folders.
ARCHIVE_ROOT = "archivemsgfolderroot"
PUBLIC_ROOT = "publicfoldersroot"
#: The top-level names their folders are put under (they have no roles).
ARCHIVE_NAME = "Online Archive"
PUBLIC_NAME = "Public Folders"


class MissingFolder(Exception):
    """The mailbox has no such well-known folder (no archive mailbox, no public folders)."""


@dataclass(frozen=True)
class EwsFolder:
    """One mail folder of the mailbox: its path of display names, role and EWS ids."""

    path: tuple[str, ...]
    role: Role | None
    id: str
    changekey: str | None
    total: int
    syncable: bool = True  # SyncFolderItems works here (not in public folders)
    folder_class: str | None = None  # IPF.Note (mail), IPF.Appointment, IPF.Contact …


def is_mail_folder(folder_class: str | None) -> bool:
    """True for mail folders (``IPF.Note`` and its subclasses, or no class at all)."""
    return folder_class is None or folder_class == "IPF.Note" \
        or folder_class.startswith("IPF.Note.")


def role_ids(account: Account) -> dict[str, Role]:
    """EWS folder id → role, for the well-known folders this mailbox has (one GetFolder).

    A well-known folder the server does not have (``archive`` before Exchange 2016 …)
    comes back as an error and is simply left out.
    """
    mailbox = Mailbox(email_address=account.primary_smtp_address)
    wanted = [Folder(_distinguished_id=DistinguishedFolderId(id=name, mailbox=mailbox),
                     root=account.root) for name in WELL_KNOWN]
    roles: dict[str, Role] = {}
    found = FolderCollection(account=account, folders=wanted).get_folders()
    for name, folder in zip(WELL_KNOWN, found, strict=False):
        if isinstance(folder, Exception):
            continue
        roles.setdefault(folder.id, WELL_KNOWN[name])
    return roles


def mailbox_folders(account: Account, archive: bool = False,
                    public: bool = False) -> list[EwsFolder]:
    """Every folder of the mailbox (mail, calendars, contacts …), parents before children;
    with ``archive`` the archive mailbox's too, with ``public`` the public folders'."""
    top = MsgFolderRoot.get_distinguished(root=account.root)
    found = [f for f in FolderCollection(account=account, folders=[top]).find_folders(depth=DEEP)
             if not isinstance(f, Exception)]
    out = _named(found, (), role_ids(account))
    if archive:
        out += _named(_under(account, ARCHIVE_ROOT, DEEP), (ARCHIVE_NAME,), {})
    if public:
        out += [replace(f, syncable=False)
                for f in _named(_public(account), (PUBLIC_NAME,), {})]
    out.sort(key=lambda f: f.path)
    return out


def _named(found: list, prefix: tuple[str, ...], roles: dict[str, Role]) -> list[EwsFolder]:
    """Folders found under one root as EwsFolders, their paths made of display names."""
    by_id = {f.id: f for f in found}
    paths: dict[str, tuple[str, ...]] = {}

    def path_of(folder) -> tuple[str, ...]:
        if folder.id not in paths:
            parent = by_id.get(folder.parent_folder_id.id) if folder.parent_folder_id else None
            paths[folder.id] = (path_of(parent) if parent is not None else prefix) \
                + (folder.name,)
        return paths[folder.id]

    return [EwsFolder(path_of(f), roles.get(f.id), f.id, f.changekey, f.total_count or 0,
                      folder_class=f.folder_class)
            for f in found if f.name]


def _under(account: Account, well_known: str, depth: str) -> list:
    """The folders under a well-known folder; MissingFolder when the server has none."""
    owner = Mailbox(email_address=account.primary_smtp_address)
    top = Folder(_distinguished_id=DistinguishedFolderId(id=well_known, mailbox=owner),
                 root=account.root)
    try:
        found = list(FolderCollection(account=account, folders=[top]).find_folders(depth=depth))
    except ErrorFolderNotFound:
        raise MissingFolder(well_known) from None
    if any(isinstance(folder, ErrorFolderNotFound) for folder in found):
        raise MissingFolder(well_known)
    return [f for f in found if not isinstance(f, Exception)]


def _public(account: Account) -> list:
    """Every public folder, one Shallow FindFolder per folder that has subfolders: EWS
    refuses a deep traversal of public folders."""
    try:
        top = account.public_folders_root  # one GetFolder
    except ErrorFolderNotFound:
        raise MissingFolder(PUBLIC_ROOT) from None
    parents, found = [top], []
    while parents:
        below = [f for f in FolderCollection(account=account, folders=[parents.pop()])
                 .find_folders(depth=SHALLOW) if not isinstance(f, Exception)]
        found += below
        parents += [f for f in below if f.child_folder_count]
    return found


def folder_sizes(account: Account, folders: list[EwsFolder]) -> dict[str, int]:
    """Folder id → total size of its items in bytes (PR_MESSAGE_SIZE_EXTENDED), for the
    folders whose server says it: one GetFolder (exchangelib splits long lists)."""
    if not folders:
        return {}
    wanted = [Folder(id=f.id, changekey=f.changekey, root=account.root) for f in folders]
    size = FieldPath(field=Folder.get_field_by_fieldname(FOLDER_SIZE))
    found = FolderCollection(account=account, folders=wanted).get_folders(
        additional_fields={size})
    out: dict[str, int] = {}
    for folder, got in zip(folders, found, strict=False):
        value = None if isinstance(got, Exception) else getattr(got, FOLDER_SIZE, None)
        if value is not None:
            out[folder.id] = int(value)
    return out
