"""The mailbox's folder tree through Graph, with roles from the well-known folder names.

Display names are localized ("Boîte de réception", "Éléments envoyés"), so roles never come
from them: each well-known folder (``inbox``, ``sentitems`` …) is asked for by that name
and the folder whose id comes back gets the role. The tree is ``mailFolders`` (the top
level) then ``childFolders`` of every folder that has some, each listing paged through
``@odata.nextLink``; hidden folders only with ``hidden=on``. Search folders are left out:
their messages live in other folders.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from msgraph.generated.models.mail_folder import MailFolder
from msgraph.generated.models.mail_search_folder import MailSearchFolder
from msgraph.generated.users.item.mail_folders.item.child_folders.child_folders_request_builder import (  # noqa: E501
    ChildFoldersRequestBuilder,
)
from msgraph.generated.users.item.mail_folders.item.mail_folder_item_request_builder import (
    MailFolderItemRequestBuilder,
)
from msgraph.generated.users.item.mail_folders.mail_folders_request_builder import (
    MailFoldersRequestBuilder,
)

from migrate.model import Role

from .session import NotFound, Session, configuration

#: Graph's well-known folder names and the neutral role they carry.
WELL_KNOWN: dict[str, Role] = {
    "inbox": Role.INBOX,
    "sentitems": Role.SENT,
    "drafts": Role.DRAFTS,
    "deleteditems": Role.TRASH,
    "junkemail": Role.JUNK,
    "outbox": Role.OUTBOX,
    "archive": Role.ARCHIVE,
}
_FIELDS = ["id", "displayName", "parentFolderId", "childFolderCount", "totalItemCount",
           "isHidden"]
#: The folder's size: MAPI PidTagMessageSizeExtended, which Graph v1.0 has no property for.
_SIZE = ["singleValueExtendedProperties($filter=id eq 'Long 0x0E08')"]
_PAGE = 100


@dataclass(frozen=True)
class GraphFolder:
    """One mail folder: its path of display names, role, Graph id and message count."""

    path: tuple[str, ...]
    role: Role | None
    id: str
    total: int
    size: int  # bytes, as the store counts them (0 when the server did not say)


def size_property(item) -> int | None:
    """PidTagMessageSize(Extended), 0x0E08, of a message or folder, if the listing brought it."""
    for prop in getattr(item, "single_value_extended_properties", None) or ():
        kind, _, tag = (prop.id or "").partition(" ")
        try:
            if kind.lower() == "long" and int(tag, 16) == 0x0E08:
                return int(prop.value or "")
        except ValueError:
            return None
    return None


def role_ids(session: Session) -> dict[str, Role]:
    """Graph folder id → role, for the well-known folders this mailbox has.

    A well-known folder the mailbox lacks (``archive`` when no archive folder was made)
    answers 404 and is left out.
    """
    user = session.settings.user
    query = MailFolderItemRequestBuilder.MailFolderItemRequestBuilderGetQueryParameters(
        select=["id"])
    roles: dict[str, Role] = {}
    for name, role in WELL_KNOWN.items():
        try:
            found = session.call(
                f"looking up the well-known folder {name}",
                lambda c, name=name: c.users.by_user_id(user).mail_folders
                .by_mail_folder_id(name).get(configuration(query, prefer=())))
        except NotFound:
            continue
        if found is not None and found.id:
            roles.setdefault(found.id, role)
    return roles


def mail_folders(session: Session) -> list[GraphFolder]:
    """Every mail folder of the mailbox, parents before children, sorted by path."""
    s = session.settings
    hidden = "true" if s.hidden else None
    roles = role_ids(session)
    users = session.client.users.by_user_id(s.user)
    top_query = MailFoldersRequestBuilder.MailFoldersRequestBuilderGetQueryParameters(
        select=_FIELDS, expand=_SIZE, top=_PAGE, include_hidden_folders=hidden)
    child_query = ChildFoldersRequestBuilder.ChildFoldersRequestBuilderGetQueryParameters(
        select=_FIELDS, expand=_SIZE, top=_PAGE, include_hidden_folders=hidden)
    out: list[GraphFolder] = []
    pending: list[tuple[tuple[str, ...], MailFolder | None]] = [((), None)]
    while pending:
        parent_path, parent = pending.pop()
        if parent is None:
            builder, query = users.mail_folders, top_query
            what = "listing the top-level folders"
        else:
            builder = users.mail_folders.by_mail_folder_id(parent.id).child_folders
            query, what = child_query, f"listing the folders under {'/'.join(parent_path)!r}"
        first = functools.partial(builder.get, configuration(query, prefer=()))
        for folder in _pages(session, what, first, builder.with_url):
            if isinstance(folder, MailSearchFolder) or not folder.display_name or not folder.id:
                continue
            if folder.is_hidden and not s.hidden:
                continue
            path = (*parent_path, folder.display_name)
            out.append(GraphFolder(path, roles.get(folder.id), folder.id,
                                   folder.total_item_count or 0, size_property(folder) or 0))
            if folder.child_folder_count:
                pending.append((path, folder))
    out.sort(key=lambda f: f.path)
    return out


def _pages(session: Session, what: str, first: Callable[[], Awaitable],
           with_url: Callable) -> list[MailFolder]:
    """All the folders of a listing, following ``@odata.nextLink`` (absolute URLs)."""
    found: list[MailFolder] = []
    page = session.call(what, lambda c: first())
    while page is not None:
        found.extend(page.value or [])
        link = page.odata_next_link
        if not link:
            break
        page = session.call(what, lambda c, link=link: with_url(link).get(
            configuration(prefer=())))
    return found
