"""The mailbox's folder tree, as neutral folders with roles from the well-known folder ids.

Exchange localizes display names ("Boîte de réception", "Éléments envoyés"), so roles are
never guessed from names: the well-known (distinguished) folders are asked for by id in
one GetFolder, and a folder whose id matches gets the role. The tree is one FindFolder
(Deep traversal) under the message-folder root (``msgfolderroot``); paths are the display
names from there down. Only mail folders are kept (folder class ``IPF.Note…`` or none):
calendars, contacts and tasks are other kinds of items.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchangelib import Account
from exchangelib.folders import DEEP, Folder, FolderCollection, MsgFolderRoot
from exchangelib.properties import DistinguishedFolderId, Mailbox

from migrate.model import Role

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


@dataclass(frozen=True)
class EwsFolder:
    """One mail folder of the mailbox: its path of display names, role and EWS ids."""

    path: tuple[str, ...]
    role: Role | None
    id: str
    changekey: str | None
    total: int
    syncable: bool = True  # SyncFolderItems works here (not in public folders)


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


def mail_folders(account: Account) -> list[EwsFolder]:
    """Every mail folder under the message-folder root, parents before children."""
    top = MsgFolderRoot.get_distinguished(root=account.root)
    roles = role_ids(account)
    found = [f for f in FolderCollection(account=account, folders=[top]).find_folders(depth=DEEP)
             if not isinstance(f, Exception)]
    by_id = {f.id: f for f in found}
    paths: dict[str, tuple[str, ...]] = {}

    def path_of(folder) -> tuple[str, ...]:
        if folder.id not in paths:
            parent = by_id.get(folder.parent_folder_id.id) if folder.parent_folder_id else None
            paths[folder.id] = (path_of(parent) if parent is not None else ()) + (folder.name,)
        return paths[folder.id]

    out = [EwsFolder(path_of(f), roles.get(f.id), f.id, f.changekey, f.total_count or 0)
           for f in found if is_mail_folder(f.folder_class) and f.name]
    out.sort(key=lambda f: f.path)
    return out
