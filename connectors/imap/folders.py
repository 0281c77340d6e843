"""The server's folder tree ↔ neutral ``Folder`` paths.

LIST gives names (imapclient decodes modified UTF-7), a hierarchy separator (any: '/',
'.', none) and attributes: special-use (RFC 6154) or XLIST-style ones give the role,
``\\Noselect`` / ``\\NonExistent`` mark a folder that holds no messages (kept, so its
children keep their place). INBOX is matched without regard to case. A personal
namespace prefix (``INBOX.`` on Cyrus or Courier) is taken off source paths and put back
on target names, so folders land at the same level whatever the servers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from imapclient import IMAPClient

from migrate.errors import BadInputError
from migrate.model import Role

log = logging.getLogger(__name__)

INBOX = "INBOX"

#: Special-use (RFC 6154) and XLIST attributes, lowercased → role.
ROLE_OF_ATTRIBUTE = {
    "\\inbox": Role.INBOX, "\\sent": Role.SENT, "\\drafts": Role.DRAFTS,
    "\\trash": Role.TRASH, "\\junk": Role.JUNK, "\\spam": Role.JUNK,
    "\\archive": Role.ARCHIVE,
}
#: Role → the attribute sent with CREATE … USE.
ATTRIBUTE_OF_ROLE = {Role.SENT: "\\Sent", Role.DRAFTS: "\\Drafts", Role.TRASH: "\\Trash",
                     Role.JUNK: "\\Junk", Role.ARCHIVE: "\\Archive"}
_EMPTY = frozenset({"\\noselect", "\\nonexistent"})


@dataclass(frozen=True)
class Mailbox:
    """A folder as the server lists it."""

    name: str  # the server's name, decoded
    path: tuple[str, ...]
    attributes: frozenset[str]  # lowercased, e.g. "\\sent", "\\noselect"

    @property
    def selectable(self) -> bool:
        return not (self.attributes & _EMPTY)

    @property
    def role(self) -> Role | None:
        if self.path == (INBOX,):
            return Role.INBOX
        for attribute in sorted(self.attributes):
            role = ROLE_OF_ATTRIBUTE.get(attribute)
            if role is not None and role is not Role.INBOX:
                return role
        return None

    def has_any(self, attributes: frozenset[str]) -> bool:
        return bool(self.attributes & {a.lower() for a in attributes})


@dataclass(frozen=True)
class Hierarchy:
    """How the server joins names: its separator and personal namespace prefix."""

    separator: str | None
    prefix: str = ""

    def path_of(self, name: str) -> tuple[str, ...] | None:
        """The neutral path of a server name (None for a name with an empty part)."""
        if name.upper() == INBOX:
            return (INBOX,)
        if self.prefix and name.startswith(self.prefix) and name != self.prefix:
            name = name[len(self.prefix):]
        parts = tuple(name.split(self.separator)) if self.separator else (name,)
        if parts and parts[0].upper() == INBOX:
            parts = (INBOX, *parts[1:])
        return parts if parts and all(parts) else None

    def name_of(self, path: tuple[str, ...]) -> str:
        """The server name for ``path``; a name holding the separator cannot exist."""
        sep = self.separator
        if sep and any(sep in part for part in path):
            raise BadInputError(f"folder {'/'.join(path)!r}: the server separates levels with "
                                f"{sep!r}, which a folder name cannot hold here; rename it "
                                "with a --map rule")
        if path[0].upper() == INBOX:
            return sep.join((INBOX, *path[1:])) if sep else INBOX
        return self.prefix + (sep.join(path) if sep else path[0])


def list_mailboxes(client: IMAPClient) -> tuple[Hierarchy, list[Mailbox]]:
    """LIST everything (XLIST on old servers without SPECIAL-USE); parents first."""
    if not client.has_capability("SPECIAL-USE") and client.has_capability("XLIST"):
        listed = client.xlist_folders()
    else:
        listed = client.list_folders()
    separators = {_text(sep) for _, sep, _ in listed if sep}
    separator = separators.pop() if len(separators) == 1 else _separator(client)
    hierarchy = Hierarchy(separator, _personal_prefix(client))
    boxes: dict[tuple[str, ...], Mailbox] = {}
    for flags, _, name in listed:
        name = _text(name)
        path = hierarchy.path_of(name)
        if path is None:
            log.warning("folder %r has an empty level in its name: skipped", name)
            continue
        boxes[path] = Mailbox(name, path, frozenset(_text(f).lower() for f in flags))
    return hierarchy, [boxes[path] for path in sorted(boxes, key=_order)]


def _order(path: tuple[str, ...]) -> tuple[bool, tuple[str, ...]]:
    return (path[0] != INBOX, path)


def _separator(client: IMAPClient) -> str | None:
    """The separator, asked with ``LIST "" ""`` when the listing did not settle it."""
    found = client.list_folders("", "")
    for _, sep, _ in found:
        if sep:
            return _text(sep)
    return None


def _personal_prefix(client: IMAPClient) -> str:
    if not client.has_capability("NAMESPACE"):
        return ""
    personal = client.namespace().personal or ()
    for prefix, _ in personal:
        return _text(prefix)
    return ""


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
