"""Reading an EWS mailbox: folders, item listings, and MIME content fetched in batches.

``messages`` lists a folder with FindItem (IdOnly plus read state, flag, categories,
received time and size, paged by exchangelib); each message's bytes are a deferred
``Content`` that fetches its ``MimeContent`` with GetItem. The engine's ``prefetch`` gets a
whole batch's MIME in one GetItem; a content loaded on its own fetches itself and a few
following ones. ``MimeContent`` is base64 in the SOAP response and decoded once: the
bytes are exactly what the server serves.

Source keys are EWS ItemIds. EWS ``Size`` is the item's store size, not its MIME length:
it is declared as the deferred content's size so that plans and the engine's batch
budgets need no fetch (a close estimate); once the MIME is loaded, ``size`` is the exact
length of the bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime

from exchangelib import Account
from exchangelib.folders import Folder as ExchangeFolder
from exchangelib.items import Message

from migrate.connector import FolderStats, MailSource
from migrate.errors import BadInputError, ItemError
from migrate.model import FLAGGED, SEEN, Content, Folder, MailMessage

from .folders import EwsFolder, mail_folders
from .properties import FLAG_STATUS, register
from .properties import FLAGGED as FLAG_FLAGGED
from .session import Session

#: Properties asked for in listings. exchangelib treats Categories as complex, so a
#: listing with them is a FindItem plus a GetItem per page.
LISTED = ("id", "changekey", "size", "is_read", FLAG_STATUS, "categories", "datetime_received")
#: What counting needs: FindItem alone.
COUNTED = ("id", "size")
_READ_AHEAD = 50  # items fetched together when a content loads itself
_FETCH_BYTES = 16 * 1024 * 1024  # MIME per GetItem, at most (one item at least)


def flags_of(item: Message) -> frozenset[str]:
    """IMAP flags and keywords of an item: IsRead → ``\\Seen``, a flagged follow-up flag
    (PidTagFlagStatus 2) → ``\\Flagged``, each category → a keyword of the same name."""
    flags = set(item.categories or ())
    if item.is_read:
        flags.add(SEEN)
    if getattr(item, FLAG_STATUS, None) == FLAG_FLAGGED:
        flags.add(FLAGGED)
    return frozenset(flags)


def received(item: Message) -> datetime | None:
    """DateTimeReceived as an aware UTC datetime (EWS sends UTC)."""
    value = item.datetime_received
    if value is None:
        return None
    if value.tzinfo is None:
        return datetime(*value.timetuple()[:6], tzinfo=UTC)
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)  # a plain datetime, not EWS's


class EwsSource(MailSource):
    """Reads the mail folders and messages of one mailbox (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        register()
        self._session = session
        self._folders: dict[tuple[str, ...], EwsFolder] | None = None
        self._pending: dict[str, MailMessage] = {}  # listed, not yet loaded (read-ahead)
        self._sizes: dict[str, tuple[str | None, int]] = {}  # ItemId → (changekey, size)
        self._refused: dict[str, ItemError] = {}  # ItemId → why the server gave no MIME

    def folders(self) -> Iterator[Folder]:
        for folder in self._tree().values():
            yield Folder(folder.path, folder.role, folder.id)

    def _tree(self) -> dict[tuple[str, ...], EwsFolder]:
        if self._folders is None:
            found = self._session.call("listing folders", mail_folders)
            self._folders = {}
            for folder in found:
                self._folders.setdefault(folder.path, folder)  # same names: the first wins
        return self._folders

    def _folder(self, folder: Folder) -> EwsFolder:
        found = self._tree().get(folder.path)
        if found is None:
            raise BadInputError(f"folder {folder.display()!r} is not in the mailbox any more")
        return found

    @staticmethod
    def _query(account: Account, folder: EwsFolder, fields: tuple[str, ...]):
        target = ExchangeFolder(id=folder.id, changekey=folder.changekey, root=account.root)
        return target.all().only(*fields)

    def _listing(self, folder: EwsFolder,
                 fields: tuple[str, ...] = LISTED) -> Iterator[Message]:
        what = f"listing {'/'.join(folder.path)!r}"
        for item in self._session.stream(what,
                                         lambda a: iter(self._query(a, folder, fields)),
                                         key=lambda item: getattr(item, "id", None) or id(item)):
            if isinstance(item, Exception):  # an item the server could not list
                continue
            yield item

    def stats(self, folder: Folder) -> FolderStats:
        """Count and store sizes from one listing (no MIME fetched)."""
        count = size = 0
        for item in self._listing(self._folder(folder), COUNTED):
            count += 1
            size += item.size or 0
        return FolderStats(count, size)

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        found = self._folder(folder)
        chunk: list[MailMessage] = []
        for item in self._listing(found):
            self._sizes[item.id] = (item.changekey, item.size or 0)
            load = functools.partial(self._load, folder, item.id)
            estimate = item.size or None  # the store size: a budget, replaced once loaded
            message = MailMessage(Content.deferred(load, estimate), item.id, flags_of(item),
                                  received(item))
            chunk.append(message)
            if len(chunk) >= _READ_AHEAD:
                self._pending = {m.source_id: m for m in chunk}
                yield from chunk
                chunk = []
        self._pending = {m.source_id: m for m in chunk}
        yield from chunk

    # --- MIME ------------------------------------------------------------------------------

    def _load(self, folder: Folder, key: str) -> Content:
        """Fetch one item's MIME, and the next few listed ones while at it (read-ahead)."""
        keys = list(self._pending)
        group = [key]
        if key in keys:
            start = keys.index(key) + 1
            group += [k for k in keys[start:start + _READ_AHEAD]
                      if not self._pending[k].content.loaded]
        bodies = self._bodies(group)
        for other in group[1:]:
            message = self._pending.pop(other, None)
            if message is not None and other in bodies:
                message.content.provide(bodies[other])
        self._pending.pop(key, None)
        if key not in bodies:
            refused = self._refused.pop(key, None)
            if refused is not None:
                raise refused
            raise BadInputError(f"message {key} is gone from {folder.display()!r} at the source")
        return bodies[key]

    def prefetch(self, folder: Folder, messages: list[MailMessage]) -> None:
        """Fetch the MIME of a batch in as few GetItems as the byte budget allows."""
        wanted = [m for m in messages if not m.content.loaded]
        bodies = self._bodies([m.source_id for m in wanted])
        for message in wanted:
            self._pending.pop(message.source_id, None)
            found = bodies.get(message.source_id)
            if found is not None:
                message.content.provide(found)

    def _bodies(self, keys: list[str]) -> dict[str, Content]:
        """MIME of ``keys`` (ItemIds), in groups under ``_FETCH_BYTES``; gone ones absent."""
        out: dict[str, Content] = {}
        group: list[str] = []
        budget = 0
        for key in [*keys, None]:
            size = self._sizes.get(key, (None, 0))[1] if key is not None else 0
            if key is not None and (not group or budget + size <= _FETCH_BYTES):
                group.append(key)
                budget += size
                continue
            if group:
                out.update(self._fetch(group))
            group, budget = ([key], size) if key is not None else ([], 0)
        return out

    def _fetch(self, keys: list[str]) -> dict[str, Content]:
        ids = [(key, self._sizes.get(key, (None, 0))[0]) for key in keys]
        found = self._session.call(
            f"fetching {len(ids)} message(s)",
            lambda a: list(a.fetch(ids=ids, only_fields=["mime_content"])))
        out: dict[str, Content] = {}
        for key, item in zip(keys, found, strict=False):
            if isinstance(item, Exception):  # corrupt, too large, gone: that item alone
                self._refused[key] = self._session.item_error(f"message {key}", item)
                continue
            if item.mime_content is None:
                continue
            out[key] = Content.from_chunks([bytes(item.mime_content)])
        return out

    def close(self) -> None:
        self._session.close()
