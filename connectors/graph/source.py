"""Reading a mailbox through Graph: folders, per-folder delta listings, and MIME by ``$value``.

Every listing is a delta query on the folder (``mailFolders/{id}/messages/delta``): the
first pass lists every message and ends with an ``@odata.deltaLink``, which the engine
keeps as the folder's cursor; the next pass starts from it and gets only what changed
since: new messages, messages whose read state, flag or categories changed (carried as
``flag_changes`` when they were copied before), and ``@removed`` entries (``removed``).
A delta link whose sync state expired (410) is answered by listing the folder afresh: the
engine skips what it already copied.

Source keys are *immutable* ids (``Prefer: IdType="ImmutableId"`` on every request): a
plain Graph id changes when a message moves to another folder, an immutable one does not.

Listings ask for the few properties needed (``$select``) and the message size (MAPI
PidTagMessageSize, 0x0E08, by ``$expand``), so that nothing is fetched to count or batch.
A message's bytes are a deferred ``Content``: its ``$value`` (the MIME exactly as the
server keeps it) streamed into a spool; a batch is fetched with up to ``concurrency``
requests at once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from msgraph.generated.models.followup_flag_status import FollowupFlagStatus
from msgraph.generated.models.message import Message
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import (
    DeltaRequestBuilder,
)

from migrate.connector import FolderStats, MailSource, PimSource
from migrate.errors import BadInputError, ConnectError, MigrateError
from migrate.model import FLAGGED, SEEN, Collection, Content, Entry, Folder, MailMessage
from migrate.unfetched import Unfetched

from . import pim
from .folders import GraphFolder, mail_folders, size_property
from .paging import is_removed, pages
from .session import PREFER_IMMUTABLE, NotFound, Session, SyncStateGone, configuration

log = logging.getLogger(__name__)

#: PidTagMessageSize as a Graph single-value extended property id.
SIZE_PROPERTY = "Long 0x0E08"
SELECTED = ["id", "isRead", "flag", "categories", "receivedDateTime"]
EXPANDED = [f"singleValueExtendedProperties($filter=id eq '{SIZE_PROPERTY}')"]
_READ_AHEAD = 16  # messages fetched together when a content loads itself


def flags_of(item: Message) -> frozenset[str]:
    """IMAP flags and keywords: isRead → ``\\Seen``, a flagged follow-up flag →
    ``\\Flagged``, each category → a keyword of the same name."""
    flags = set(item.categories or ())
    if item.is_read:
        flags.add(SEEN)
    if item.flag is not None and item.flag.flag_status == FollowupFlagStatus.Flagged:
        flags.add(FLAGGED)
    return frozenset(flags)


def received(item: Message) -> datetime | None:
    """receivedDateTime as an aware UTC datetime."""
    value = item.received_date_time
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class GraphSource(MailSource, PimSource):
    """Reads the mail folders and messages of one mailbox (see the module docstring), and
    its calendars and address books (``pim``)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._folders: dict[tuple[str, ...], GraphFolder] | None = None
        self._unfetched = Unfetched(_READ_AHEAD)  # listed, MIME not fetched yet
        self._cursors: dict[tuple[str, ...], str] = {}
        self._removed: dict[tuple[str, ...], list[str]] = {}
        # What a pass from a cursor listed (key, flags), and which of those it fetched:
        # keys and flags only, so that no message's bytes outlive its write.
        self._changed: dict[tuple[str, ...], list[tuple[str, frozenset[str]]]] = {}
        self._fetched: set[str] = set()
        self._pim = pim.PimReader(session)
        self._pool = ThreadPoolExecutor(session.settings.concurrency,
                                        thread_name_prefix="graph-fetch")

    def folders(self) -> Iterator[Folder]:
        for folder in self._tree().values():
            yield Folder(folder.path, folder.role, folder.id)

    def _tree(self) -> dict[tuple[str, ...], GraphFolder]:
        if self._folders is None:
            self._folders = {}
            for folder in mail_folders(self._session):
                self._folders.setdefault(folder.path, folder)  # same names: the first wins
        return self._folders

    def _folder(self, folder: Folder) -> GraphFolder:
        found = self._tree().get(folder.path)
        if found is None:
            raise BadInputError(f"folder {folder.display()!r} is not in the mailbox any more")
        return found

    def stats(self, folder: Folder) -> FolderStats:
        """The folder's message count and size from the tree (no listing)."""
        found = self._folder(folder)
        return FolderStats(found.total, found.size)

    # --- listings --------------------------------------------------------------------------

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        found = self._folder(folder)
        self._cursors.pop(folder.path, None)
        removed = self._removed[folder.path] = []
        changed = self._changed[folder.path] = []
        self._fetched.clear()
        seen: set[str] = set()
        try:
            for page in self._pages(found, cursor):
                yield from self._page(folder, page, seen, removed, changed, cursor)
        except SyncStateGone:
            if cursor is None:
                raise
            log.warning("%s: the delta link of %r expired; listing the folder afresh",
                        self._session.settings.display, folder.display())
            removed.clear()
            changed.clear()  # every message listed again: flag_changes reports the copied ones
            for page in self._pages(found, None):
                yield from self._page(folder, page, seen, removed, changed, "afresh")

    def _page(self, folder: Folder, page, seen: set[str], removed: list[str],
              changed: list[tuple[str, frozenset[str]]],
              cursor: str | None) -> Iterator[MailMessage]:
        chunk: list[MailMessage] = []
        for item in page.value or ():
            if not item.id:
                continue
            if is_removed(item):
                removed.append(item.id)
                continue
            if item.id in seen:
                continue
            seen.add(item.id)
            load = functools.partial(self._load, folder, item.id)
            chunk.append(MailMessage(Content.deferred(load, size_property(item)), item.id,
                                     flags_of(item), received(item)))
        self._unfetched.listed(chunk)
        if cursor is not None:
            changed.extend((m.source_id, m.flags) for m in chunk)
        yield from chunk
        if page.odata_delta_link:
            self._cursors[folder.path] = page.odata_delta_link

    def _pages(self, folder: GraphFolder, cursor: str | None):
        """The delta pages of ``folder`` from ``cursor`` (or from the start)."""
        s = self._session.settings
        builder = self._session.client.users.by_user_id(s.user).mail_folders \
            .by_mail_folder_id(folder.id).messages.delta
        prefer = (f"odata.maxpagesize={s.page_size}", PREFER_IMMUTABLE)
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            select=SELECTED, expand=EXPANDED)
        return pages(self._session, f"listing {'/'.join(folder.path)!r}",
                     lambda c: builder.get(configuration(query, prefer)), builder.with_url,
                     prefer, cursor)

    def cursor(self, folder: Folder) -> str | None:
        """The delta link the last complete listing of ``folder`` ended with."""
        return self._cursors.get(folder.path)

    def flag_changes(self, folder: Folder,
                     cursor: str) -> Iterator[tuple[str, frozenset[str]]]:
        """Messages the last delta pass listed and did not fetch: copied before, changed
        since (read state, flag, categories)."""
        for key, flags in self._changed.pop(folder.path, []):
            if key not in self._fetched:
                yield key, flags

    def removed(self, folder: Folder) -> Iterator[str]:
        return iter(self._removed.pop(folder.path, []))

    # --- calendars and contacts ------------------------------------------------------------

    def collections(self) -> Iterator[Collection]:
        return pim.collections(self._session)

    def entries(self, collection: Collection, cursor: str | None = None) -> Iterator[Entry]:
        """Events or contacts; from a delta link, only those changed since (``pim``)."""
        return self._pim.entries(collection, cursor)

    def collection_stats(self, collection: Collection) -> FolderStats:
        """Count by listing, without opening a delta round (a plan follows no change)."""
        count = size = 0
        for entry in self._pim.entries(collection, follow=False):
            count += 1
            size += entry.size
        return FolderStats(count, size)

    def collection_cursor(self, collection: Collection) -> str | None:
        return self._pim.cursor(collection)

    def removed_entries(self, collection: Collection) -> Iterator[str]:
        return self._pim.removed(collection)

    # --- MIME ------------------------------------------------------------------------------

    def _load(self, folder: Folder, key: str) -> Content:
        """Fetch one message's MIME, and the next few listed ones while at it."""
        body = self._unfetched.deliver(key, self._bodies(self._unfetched.group(key)))
        if body is None or isinstance(body, NotFound):
            raise BadInputError(f"message {key} is gone from {folder.display()!r} at the source")
        if isinstance(body, Exception):
            raise body
        return body

    def prefetch(self, folder: Folder, messages: list[MailMessage]) -> None:
        """Fetch the MIME of a batch, ``concurrency`` messages at a time."""
        wanted = [m for m in messages if not m.content.loaded]
        self._unfetched.provide(wanted, self._bodies([m.source_id for m in wanted]))

    def _bodies(self, keys: list[str]) -> dict[str, Content | MigrateError]:
        """The MIME of ``keys``, or the error each met; a connection error is raised."""
        futures = {key: self._pool.submit(self._fetch, key) for key in keys}
        out: dict[str, Content | MigrateError] = {}
        for key, future in futures.items():
            try:
                out[key] = future.result()
                self._fetched.add(key)
            except ConnectError:
                raise
            except MigrateError as exc:
                out[key] = exc
        return out

    def _fetch(self, key: str) -> Content:
        user = self._session.settings.user
        return self._session.download(
            f"fetching message {key}",
            lambda c: c.users.by_user_id(user).messages.by_message_id(key).content
            .to_get_request_information(configuration()))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._session.close()
