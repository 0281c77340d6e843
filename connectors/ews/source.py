"""Reading an EWS mailbox: folders, item listings, and MIME content fetched in batches.

``messages`` lists a folder with SyncFolderItems (``sync``): the first pass from no sync
state (every item comes as a Create), later passes from the sync state the last complete
pass ended with (the engine keeps it as the folder's cursor), so that a rerun lists only
what changed. Items come with read state, flag, categories, received time and size; each
message's bytes are a deferred ``Content`` that fetches its ``MimeContent`` with GetItem.
The engine's ``prefetch`` gets a whole batch's MIME in one GetItem; a content loaded on
its own fetches itself and a few following ones. ``MimeContent`` is base64 in the SOAP
response and decoded once: the bytes are exactly what the server serves.

Flag changes and deletions of a pass are kept for ``flag_changes`` and ``removed``. A
sync state the server no longer knows (ErrorInvalidSyncStateData) starts a full pass: the
state database skips what is done, and every message's flags are given again as changes.
Public folders cannot be synced (Microsoft: SyncFolderItems does not support them): they
are listed with FindItem at every pass, and what is done is skipped without a fetch.

Source keys are EWS ItemIds. EWS ``Size`` is the item's store size, not its MIME length:
it is declared as the deferred content's size so that plans and the engine's batch
budgets need no fetch (a close estimate); once the MIME is loaded, ``size`` is the exact
length of the bytes.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from exchangelib import Account
from exchangelib.folders import Folder as ExchangeFolder
from exchangelib.items import Message

from migrate.connector import FolderStats, MailSource, PimSource
from migrate.errors import BadInputError, ConfigError, ItemError
from migrate.model import (
    ANSWERED,
    FLAGGED,
    FORWARDED,
    SEEN,
    Collection,
    Content,
    Entry,
    Folder,
    MailMessage,
)
from migrate.unfetched import Unfetched

from .folders import EwsFolder, MissingFolder, folder_sizes, is_mail_folder, mailbox_folders
from .pim import PimSync, collection_of
from .properties import FLAG_STATUS, LAST_VERB, REPLIED_VERBS, VERB_FORWARDED, register
from .properties import FLAGGED as FLAG_FLAGGED
from .session import Session
from .sync import Delta, InvalidSyncState, Page, start_afresh, sync_page

log = logging.getLogger(__name__)

#: Properties asked for in listings. exchangelib treats Categories as complex, so a
#: listing with them is a FindItem plus a GetItem per page.
LISTED = ("id", "changekey", "size", "is_read", FLAG_STATUS, LAST_VERB, "categories",
          "datetime_received")
#: What counting needs: FindItem alone.
COUNTED = ("id", "size")
#: What flags need (asked of items whose read state changed).
FLAGS = ("id", "changekey", "is_read", FLAG_STATUS, LAST_VERB, "categories")
_READ_AHEAD = 50  # items fetched together when a content loads itself
#: Listed items whose changekey and size are remembered for their fetch (the engine's
#: batches and read-ahead are far fewer): a pass over a large folder stays small.
_REMEMBERED = 2000
_FETCH_BYTES = 16 * 1024 * 1024  # MIME per GetItem, at most (one item at least)


def flags_of(item: Message) -> frozenset[str]:
    """IMAP flags and keywords of an item: IsRead → ``\\Seen``, a flagged follow-up flag
    (PidTagFlagStatus 2) → ``\\Flagged``, replied or forwarded (PidTagLastVerbExecuted)
    → ``\\Answered`` or ``$Forwarded``, each category → a keyword of the same name."""
    flags = set(getattr(item, "categories", None) or ())
    if getattr(item, "is_read", False):
        flags.add(SEEN)
    if getattr(item, FLAG_STATUS, None) == FLAG_FLAGGED:
        flags.add(FLAGGED)
    verb = getattr(item, LAST_VERB, None)
    if verb in REPLIED_VERBS:
        flags.add(ANSWERED)
    elif verb == VERB_FORWARDED:
        flags.add(FORWARDED)
    return frozenset(flags)


def received(item: Message) -> datetime | None:
    """DateTimeReceived as an aware UTC datetime (EWS sends UTC)."""
    value = item.datetime_received
    if value is None:
        return None
    if value.tzinfo is None:
        return datetime(*value.timetuple()[:6], tzinfo=UTC)
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)  # a plain datetime, not EWS's


class EwsSource(MailSource, PimSource):
    """Reads the mail folders and messages, calendars and contacts of one mailbox (see the
    module docstring, and ``pim`` for calendars and contacts)."""

    def __init__(self, session: Session, archive: bool = False, public: bool = False) -> None:
        register()
        self._session = session
        self._archive, self._public = archive, public  # their folders too, when asked
        self._all: list[EwsFolder] | None = None  # every folder, of every class
        self._folders: dict[tuple[str, ...], EwsFolder] | None = None
        self._sizes_of: dict[str, int] | None = None  # folder id → bytes, asked once
        self._unfetched = Unfetched(_READ_AHEAD)  # listed, MIME not fetched yet
        self._sizes: dict[str, tuple[str | None, int]] = {}  # ItemId → (changekey, size)
        self._deltas: dict[tuple[str, ...], Delta] = {}  # what the last pass learned
        self._cursors: dict[tuple[str, ...], str] = {}  # sync state after the last pass
        self._refused: dict[str, ItemError] = {}  # ItemId → why the server gave no MIME
        self._pim = PimSync(session)  # calendars' and contacts' sync states and deletions

    def folders(self) -> Iterator[Folder]:
        for folder in self._tree().values():
            yield Folder(folder.path, folder.role, folder.id)

    def _tree(self) -> dict[tuple[str, ...], EwsFolder]:
        if self._folders is None:
            self._folders = {}
            for folder in self._every_folder():
                if is_mail_folder(folder.folder_class):
                    self._folders.setdefault(folder.path, folder)  # same names: the first wins
        return self._folders

    def _every_folder(self) -> list[EwsFolder]:
        """The folder tree, listed once per source (mail, calendars and contacts alike)."""
        if self._all is None:
            try:
                self._all = self._session.call(
                    "listing folders",
                    lambda a: mailbox_folders(a, self._archive, self._public))
            except MissingFolder as exc:
                what = {"archivemsgfolderroot": "archive mailbox (archive=yes)",
                        "publicfoldersroot": "public folders (public=yes)"}.get(str(exc),
                                                                               str(exc))
                raise ConfigError(f"{self._session.settings.display}: this mailbox has no "
                                  f"{what}") from None
        return self._all

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
        """The folder's item count (from the folder listing) and size (its
        PR_MESSAGE_SIZE_EXTENDED, asked for every folder at once): no item listed. A server
        that does not say a folder's size gets it counted from one listing (no MIME)."""
        found = self._folder(folder)
        if self._sizes_of is None:
            mail = list(self._tree().values())
            self._sizes_of = self._session.call("asking folder sizes",
                                                lambda a: folder_sizes(a, mail))
        if found.id in self._sizes_of:
            return FolderStats(found.total, self._sizes_of[found.id])
        count = size = 0
        for item in self._listing(found, COUNTED):
            count += 1
            size += item.size or 0
        return FolderStats(count, size)

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        """The folder's new messages since ``cursor`` (a sync state), all without one."""
        found = self._folder(folder)
        self._cursors.pop(folder.path, None)
        if not found.syncable:
            yield from self._in_chunks(folder, self._listing(found))
            return
        delta = self._deltas.pop(folder.path, None)
        if delta is not None:
            delta.close()
        delta = self._deltas[folder.path] = Delta()
        state, resync = cursor, False
        while True:
            try:
                page = self._page(found, state)
            except InvalidSyncState:
                start_afresh(self._session.settings.display, folder.display(), state)
                state, resync = None, True
                continue
            for key in page.deleted:
                delta.add("removed", key)
            for item in page.updated:
                delta.add("flags", item.id, flags_of(item))
            for key in page.read:
                delta.add("read", key)
            if resync:  # from the start again: bring every copy's flags up to date
                for item in page.created:
                    delta.add("flags", item.id, flags_of(item))
            yield from self._in_chunks(folder, iter(page.created))
            state = page.state
            if page.last:
                break
        self._cursors[folder.path] = state

    def _page(self, folder: EwsFolder, state: str | None) -> Page:
        what = f"syncing {'/'.join(folder.path)!r}"
        return self._session.call(what, lambda a: sync_page(a, folder, state, LISTED))

    def _in_chunks(self, folder: Folder, items: Iterator[Message]) -> Iterator[MailMessage]:
        """Listed items as messages with deferred contents, remembered for read-ahead."""
        chunk: list[MailMessage] = []
        for item in items:
            self._sizes[item.id] = (item.changekey, item.size or 0)
            if len(self._sizes) > _REMEMBERED:  # those long listed are done or fetched
                self._sizes.pop(next(iter(self._sizes)))
            load = functools.partial(self._load, folder, item.id)
            estimate = item.size or None  # the store size: a budget, replaced once loaded
            message = MailMessage(Content.deferred(load, estimate), item.id, flags_of(item),
                                  received(item))
            chunk.append(message)
            if len(chunk) >= _READ_AHEAD:
                self._unfetched.listed(chunk)
                yield from chunk
                chunk = []
        self._unfetched.listed(chunk)
        yield from chunk

    def cursor(self, folder: Folder) -> str | None:
        """The sync state the last complete pass of ``folder`` ended with (opaque)."""
        return self._cursors.get(folder.path)

    def flag_changes(self, folder: Folder,
                     cursor: str) -> Iterator[tuple[str, frozenset[str]]]:
        """Flags now of the items the last pass saw changed: as listed for an Update,
        asked (GetItem, no MIME) for a ReadFlagChange, which carries the read state only."""
        delta = self._deltas.get(folder.path)
        if delta is None:
            return
        asked = delta.entries("flags", "read")
        while chunk := list(itertools.islice(asked, _READ_AHEAD)):
            yield from ((key, flags) for kind, key, flags in chunk if kind == "flags")
            yield from self._flags_now([key for kind, key, _ in chunk if kind == "read"])

    def _flags_now(self, keys: list[str]) -> Iterator[tuple[str, frozenset[str]]]:
        if not keys:
            return
        found = self._session.call(
            f"reading the flags of {len(keys)} message(s)",
            lambda a: list(a.fetch(ids=[(key, None) for key in keys], only_fields=FLAGS)))
        for key, item in zip(keys, found, strict=False):
            if not isinstance(item, Exception):  # gone since: its deletion says so
                yield key, flags_of(item)

    def removed(self, folder: Folder) -> Iterator[str]:
        """Items the last pass saw deleted at the source."""
        delta = self._deltas.get(folder.path)
        if delta is not None:
            yield from (key for _, key, _ in delta.entries("removed"))

    # --- calendars and contacts -------------------------------------------------------------

    def collections(self) -> Iterator[Collection]:
        for folder in self._every_folder():
            collection = collection_of(folder)
            if collection is not None:
                yield collection

    def entries(self, collection: Collection, cursor: str | None = None) -> Iterator[Entry]:
        """Events or contacts; from a sync state, only those created or changed since."""
        yield from self._pim.entries(self._collection_folder(collection), collection.kind,
                                     cursor)

    def collection_cursor(self, collection: Collection) -> str | None:
        return self._pim.cursor(self._collection_folder(collection))

    def removed_entries(self, collection: Collection) -> Iterator[str]:
        return self._pim.removed(self._collection_folder(collection))

    def collection_stats(self, collection: Collection) -> FolderStats:
        """The entries from the folder listing and the bytes from the folder's size
        property (one GetFolder): nothing listed, nothing fetched."""
        folder = self._collection_folder(collection)
        sizes = self._session.call("asking folder sizes", lambda a: folder_sizes(a, [folder]))
        return FolderStats(folder.total, sizes.get(folder.id, 0))

    def _collection_folder(self, collection: Collection) -> EwsFolder:
        folder = next((f for f in self._every_folder() if f.id == collection.source_id), None)
        if folder is None:
            raise BadInputError(f"{collection.display()!r} is not in the mailbox any more")
        return folder

    # --- MIME ------------------------------------------------------------------------------

    def _load(self, folder: Folder, key: str) -> Content:
        """Fetch one item's MIME, and the next few listed ones while at it (read-ahead)."""
        body = self._unfetched.deliver(key, self._bodies(self._unfetched.group(key)))
        if body is None:
            refused = self._refused.pop(key, None)
            if refused is not None:
                raise refused
            raise BadInputError(f"message {key} is gone from {folder.display()!r} at the source")
        return body

    def prefetch(self, folder: Folder, messages: list[MailMessage]) -> None:
        """Fetch the MIME of a batch in as few GetItems as the byte budget allows."""
        wanted = [m for m in messages if not m.content.loaded]
        self._unfetched.provide(wanted, self._bodies([m.source_id for m in wanted]))

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
            self._sizes.pop(key, None)
            out[key] = Content.from_chunks([bytes(item.mime_content)])
        return out

    def close(self) -> None:
        for delta in self._deltas.values():
            delta.close()
        self._deltas.clear()
        self._pim.close()
        self._session.close()
