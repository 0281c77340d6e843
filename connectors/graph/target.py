"""Writing to a Microsoft 365 mailbox through Graph: folders found or created, messages
imported from their original MIME as received mail (reversibility back to Microsoft 365).

Import method (``import=fts``, the default). Graph has no call that creates a received
message from MIME: "create message in MIME format" (``POST mailFolders/{id}/messages`` with
the base64 bytes as ``text/plain``) makes a *draft* (PidTagMessageFlags 0x0E07 holds
MSGFLAG_UNSENT, which Exchange lets a client set only when an item is created, and the MIME
form has no place for extended properties) received at the upload time. So each message
goes through the mailbox import/export API (``mailbox_import``), in six steps:

1. the MIME is uploaded as a draft into a hidden staging folder of ours
   (``sovereign-migrate staging``, under the top of the mailbox);
2. one ``PATCH`` sets ``isRead``, ``flag``, ``categories`` and our sha256 property
   ``sovereign-migrate-sha256`` on the draft (MAPI properties of the item: they travel);
3. ``exportItems`` gives the draft as a FastTransfer stream;
4. ``fts.mark_received`` patches the stream: MSGFLAG_UNSENT cleared (kept for ``\\Draft``),
   MSGFLAG_READ per ``\\Seen``, PidTagMessageDeliveryTime (0x0E06) set to the internal
   date, PidTagLastVerbExecuted (0x1081) for ``\\Answered`` (102) or ``$Forwarded`` (104);
5. the stream is imported (``Mode: create``) into the target folder; the ids the imports
   return are translated into the immutable ids the engine keeps (``translateExchangeIds``,
   one request for a batch; an id not translated is a passing failure: the engine's retry
   finds the copy by its sha256);
6. the staging draft is deleted for good (``permanentDelete``).

The copy is then a received message: not a draft, read/flagged/categories/answered/
forwarded as in the archive, ``receivedDateTime`` its internal date (``sentDateTime`` from
``Date:``). It needs the ``MailboxItem.ImportExport.All`` application permission (a 403
says so); ``import=draft`` keeps the former method (steps 1 and 2 straight into the target
folder: copies are drafts received at the upload time, ``\\Answered`` / ``$Forwarded``
lost) for tenants that will not grant it. About four requests a message instead of two
(``append_batch`` stages up to 20 messages, or ``EXPORT_BYTES`` of them, exports them in
one request and translates their ids in another; the streams are held in memory
meanwhile).

Idempotency. Before the first write into a folder, its messages are listed once
(``$select=id,internetMessageId,isDraft`` and ``$expand`` of our property, paged): sha256
→ ids, each id claimed once per run, so a rerun after a lost state database recognises
what it wrote (the sha256 property travels inside the exported stream, so imported copies
carry it too). Whatever a killed run left in the staging folder (a draft not yet imported,
or one imported but not deleted) is deleted for good before this process's first import
into the mailbox; the message is then recognised by its sha256 in the target folder, or
imported again. An import whose answer was lost is looked for (the folder listed afresh)
before it is sent again. In ``import=draft`` mode a kill between the POST and the PATCH
leaves a draft without our property: the listing keeps such drafts by ``internetMessageId``
and the rerun finishes that copy (the PATCH) instead of uploading it again.

Folders with a role go to the well-known folder (``inbox``, ``sentitems``, ``drafts``,
``deleteditems``, ``junkemail``, ``archive``; never ``outbox``: what lies there is still
to be sent); other paths are found (names compared without case, as Exchange does) or
created (``POST mailFolders`` / ``childFolders``). ``set_flags`` is one PATCH; ``remove``
moves the copy to Deleted Items.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import functools
import logging
import threading
from dataclasses import dataclass, field

from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.followup_flag import FollowupFlag
from msgraph.generated.models.followup_flag_status import FollowupFlagStatus
from msgraph.generated.models.mail_folder import MailFolder
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.single_value_legacy_extended_property import (
    SingleValueLegacyExtendedProperty,
)
from msgraph.generated.users.item.mail_folders.item.child_folders.child_folders_request_builder import (  # noqa: E501
    ChildFoldersRequestBuilder,
)
from msgraph.generated.users.item.mail_folders.item.mail_folder_item_request_builder import (
    MailFolderItemRequestBuilder,
)
from msgraph.generated.users.item.mail_folders.item.messages.messages_request_builder import (
    MessagesRequestBuilder,
)
from msgraph.generated.users.item.messages.item.move.move_post_request_body import (
    MovePostRequestBody,
)

from migrate.connector import MailTarget
from migrate.errors import ConnectError, ItemError, MigrateError, RetryableError, TooLargeError
from migrate.model import (
    ANSWERED,
    DRAFT,
    FLAGGED,
    FORWARDED,
    SEEN,
    Folder,
    MailMessage,
    Role,
    keywords,
)

from . import fts
from .folders import WELL_KNOWN, _pages
from .mailbox_import import EXPORT_BATCH, ImportUnconfirmed, MailboxImport
from .pim_target import GraphPimTarget
from .session import Conflict, NotFound, Session, configuration

log = logging.getLogger(__name__)

#: Our named property (a GUID of this project's own) holding the sha256 of the bytes.
SHA256_PROPERTY = ("String {8b0c6d3e-5f0a-4c1e-9a7d-2e6f4b1c9d57} "
                   "Name sovereign-migrate-sha256")
_EXPAND = [f"singleValueExtendedProperties($filter=id eq '{SHA256_PROPERTY}')"]
#: Roles whose well-known folder receives copies: never the Outbox.
_ROLE_NAMES = {role: name for name, role in WELL_KNOWN.items() if role is not Role.OUTBOX}
_CATEGORY_MAX = 255
#: Bytes of MIME staged and exported per request at most (the streams are held meanwhile).
EXPORT_BYTES = 8 * 1024 * 1024
#: Graph refuses request bodies over 4 MB; base64 makes 3 MB of MIME into 4 (``max_size=``).
DEFAULT_MAX_SIZE = 3 * 1024 * 1024
_ROOT = "msgfolderroot"
#: The hidden folder where messages wait as drafts between their upload and their import.
STAGING = "sovereign-migrate staging"
#: Import modes (``import=``): through a FastTransfer stream, or a MIME draft as it is.
FTS, DRAFT_MODE = "fts", "draft"
#: Mailboxes whose staging folder this process has emptied of a dead run's leftovers.
_SWEPT: set[tuple[str, str]] = set()
_SWEPT_LOCK = threading.Lock()


@dataclass
class _Place:
    """A mail folder of the mailbox: its id, and what it held before this run wrote to it."""

    id: str
    empty: bool  # created by this run: no listing needed
    index: dict[str, list[str]] | None = None  # sha256 → ids not yet claimed
    orphans: dict[str, list[str]] = field(default_factory=dict)  # Message-ID → unmarked drafts
    claimed: set[str] = field(default_factory=set)


def role_paths(session: Session) -> dict[Role, tuple[str, ...]]:
    """Role → path (display names) of the mailbox's well-known top-level folders."""
    user = session.settings.user
    query = MailFolderItemRequestBuilder.MailFolderItemRequestBuilderGetQueryParameters(
        select=["id", "displayName", "parentFolderId"])
    root = session.call("looking up the top of the mailbox", lambda c: c.users.by_user_id(
        user).mail_folders.by_mail_folder_id(_ROOT).get(configuration(query, prefer=())))
    paths: dict[Role, tuple[str, ...]] = {}
    for role, name in _ROLE_NAMES.items():
        try:
            found = session.call(f"looking up the well-known folder {name}",
                                 lambda c, name=name: c.users.by_user_id(user).mail_folders
                                 .by_mail_folder_id(name).get(configuration(query, prefer=())))
        except NotFound:
            continue
        if found is not None and found.display_name and found.parent_folder_id == root.id:
            paths[role] = (found.display_name,)
    return paths


def categories_of(flags: frozenset[str]) -> list[str]:
    """Every keyword as a category; Exchange takes names of 255 characters at most."""
    kept = []
    for keyword in sorted(keywords(flags)):
        if len(keyword) > _CATEGORY_MAX:
            log.warning("keyword of %d characters left out: categories take %d at most",
                        len(keyword), _CATEGORY_MAX)
            continue
        kept.append(keyword)
    return kept


def properties_of(flags: frozenset[str], sha256: str | None = None) -> Message:
    """The PATCH body: read state, follow-up flag, categories (and our sha256 if given)."""
    status = FollowupFlagStatus.Flagged if FLAGGED in flags else FollowupFlagStatus.NotFlagged
    patch = Message(is_read=SEEN in flags, flag=FollowupFlag(flag_status=status),
                    categories=categories_of(flags))
    if sha256 is not None:
        patch.single_value_extended_properties = [
            SingleValueLegacyExtendedProperty(id=SHA256_PROPERTY, value=sha256)]
    return patch


def last_verb_of(flags: frozenset[str]) -> int | None:
    """PidTagLastVerbExecuted for ``\\Answered`` (replied) or else ``$Forwarded``."""
    if ANSWERED in flags:
        return fts.VERB_REPLIED
    return fts.VERB_FORWARDED if FORWARDED in flags else None


def message_id(message: MailMessage) -> str | None:
    """The ``Message-ID`` header of the bytes (headers only parsed), as Graph shows it."""
    head = message.content.read().split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    value = parsed.get("Message-ID")
    return str(value).strip() if value else None


class GraphTarget(MailTarget, GraphPimTarget):
    """Writes mail folders and messages into one Microsoft 365 mailbox (see the module doc)."""

    def __init__(self, session: Session, max_size: int | None = DEFAULT_MAX_SIZE,
                 mode: str = FTS) -> None:
        self._session = session
        self._user = session.settings.user
        self._max_size = max_size
        self._mode = mode
        self._roles: dict[Role, str] = {}
        self._places: dict[tuple[str, ...], _Place] = {}
        self._io = MailboxImport(session) if mode == FTS else None
        self._staging: _Place | None = None
        self.uploads = 0  # messages written by this target (for reports and tests)

    def _users(self, client):
        return client.users.by_user_id(self._user)

    # --- folders ---------------------------------------------------------------------------

    def prepare_folder(self, folder: Folder) -> None:
        self._place(folder.path, folder.role)

    def _place(self, path: tuple[str, ...], role: Role | None = None) -> _Place:
        if path in self._places:
            return self._places[path]
        if len(path) == 1 and role in _ROLE_NAMES:
            place = self._well_known(_ROLE_NAMES[role], path)
        else:
            parent = self._place(path[:-1]).id if len(path) > 1 else _ROOT
            place = self._child(parent, path)
        self._places[path] = place
        return place

    def _well_known(self, name: str, path: tuple[str, ...]) -> _Place:
        """The well-known folder ``name``, whatever its display name; by path if absent."""
        query = MailFolderItemRequestBuilder.MailFolderItemRequestBuilderGetQueryParameters(
            select=["id", "totalItemCount"])
        try:
            found = self._session.call(
                f"looking up the well-known folder {name}",
                lambda c: self._users(c).mail_folders.by_mail_folder_id(name)
                .get(configuration(query, prefer=())))
        except NotFound:  # e.g. no archive folder in this mailbox
            return self._child(_ROOT, path)
        return _Place(found.id, not found.total_item_count)

    def _child(self, parent: str, path: tuple[str, ...]) -> _Place:
        """The folder named ``path[-1]`` under ``parent`` (case ignored), created if missing."""
        found = self._find_child(parent, path)
        if found is not None:
            return found
        shown = "/".join(path)
        body = MailFolder(display_name=path[-1])
        try:
            made = self._session.call(
                f"creating folder {shown!r}",
                lambda c: self._users(c).mail_folders.by_mail_folder_id(parent)
                .child_folders.post(body))
        except Conflict:  # made meanwhile by another writer
            found = self._find_child(parent, path)
            if found is None:
                raise ItemError(f"cannot create folder {shown!r}: the server says it exists "
                                "but does not list it") from None
            return found
        log.info("created folder %r", shown)
        return _Place(made.id, True)

    def _find_child(self, parent: str, path: tuple[str, ...]) -> _Place | None:
        query = ChildFoldersRequestBuilder.ChildFoldersRequestBuilderGetQueryParameters(
            select=["id", "displayName", "totalItemCount"], top=100,
            include_hidden_folders="true")
        builder = self._session.client.users.by_user_id(self._user).mail_folders \
            .by_mail_folder_id(parent).child_folders
        first = functools.partial(builder.get, configuration(query, prefer=()))
        name = path[-1].casefold()
        for folder in _pages(self._session, f"listing the folders under {path[:-1]!r}",
                             first, builder.with_url):
            if folder.display_name and folder.display_name.casefold() == name:
                return _Place(folder.id, not folder.total_item_count)
        return None

    # --- messages --------------------------------------------------------------------------

    def append(self, folder: Folder, message: MailMessage) -> str:
        if self._io is not None:
            outcome = self._import_batch(folder, [message])[0]
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        place = self._place(folder.path, folder.role)
        found = self._claim(place, message)
        if found is not None:
            return found
        self._check_size(message)
        where = folder.display()
        key = self._create(place, message, where)  # import=draft: the MIME draft is the copy
        self.uploads += 1
        place.claimed.add(key)
        self._patch(key, properties_of(message.flags, message.sha256), where)
        return key

    def append_batch(self, folder: Folder,
                     messages: list[MailMessage]) -> list[str | MigrateError]:
        """With import=fts, the drafts of up to 20 messages (and about ``EXPORT_BYTES``) are
        exported by one request; import=draft writes them one by one."""
        if self._io is None:
            return super().append_batch(folder, messages)
        outcomes: list[str | MigrateError] = []
        chunk: list[MailMessage] = []
        for message in messages:
            chunk.append(message)
            if len(chunk) == EXPORT_BATCH or sum(m.size for m in chunk) >= EXPORT_BYTES:
                outcomes += self._import_batch(folder, chunk)
                chunk = []
        if chunk:
            outcomes += self._import_batch(folder, chunk)
        return outcomes

    def _check_size(self, message: MailMessage) -> None:
        if self._max_size and message.size > self._max_size:
            raise TooLargeError(f"{message.size} bytes: over the {self._max_size} bytes of MIME "
                                "a Graph request may carry (4 MB once in base64; max_size=)")

    # --- import=fts: staging draft → export → patched stream → import ----------------------

    def _import_batch(self, folder: Folder,
                      messages: list[MailMessage]) -> list[str | MigrateError]:
        """Steps 1 to 6 of the module doc for a few messages: each staged, all exported at
        once, each imported; every staging draft deleted whatever happens. An error that
        concerns the whole target (ConnectError) is raised, others are the item's outcome."""
        place = self._place(folder.path, folder.role)
        where = folder.display()
        outcomes: list[str | MigrateError | None] = [None] * len(messages)
        drafts: dict[int, str] = {}  # message index → its staging draft, until deleted
        try:
            for n, message in enumerate(messages):
                with _outcome(outcomes, n):
                    found = self._claim(place, message)
                    if found is not None:
                        outcomes[n] = found
                    else:
                        drafts[n] = self._stage(message, where)
            exported: dict[str, bytes | ItemError] = {}
            if drafts:
                try:
                    exported = self._io.export(list(drafts.values()))
                except ConnectError:
                    raise
                except MigrateError as exc:
                    exported = dict.fromkeys(drafts.values(), exc)
            imported: dict[int, str] = {}  # index → the id the import returned
            for n, draft in list(drafts.items()):
                with _outcome(outcomes, n):
                    key, final = self._import_one(place, messages[n], exported[draft], where)
                    if final:
                        outcomes[n] = key
                    else:
                        imported[n] = key
                        self.uploads += 1
                self._unstage(drafts.pop(n))
            if imported:
                self._translate(place, imported, outcomes, where)
        finally:
            for draft in drafts.values():
                with contextlib.suppress(Exception):
                    self._io.delete(draft)
        return outcomes  # type: ignore[return-value]

    def _stage(self, message: MailMessage, where: str) -> str:
        """Steps 1 and 2: the MIME as a draft in the staging folder, its properties set."""
        self._check_size(message)
        staging = self._staging_place()
        draft = self._create(staging, message, where)
        staging.claimed.add(draft)
        try:
            self._patch(draft, properties_of(message.flags, message.sha256), where)
        except BaseException:
            with contextlib.suppress(Exception):
                self._io.delete(draft)
            raise
        return draft

    def _import_one(self, place: _Place, message: MailMessage,
                    exported: bytes | MigrateError, where: str) -> tuple[str, bool]:
        """Steps 4 and 5: the exported stream marked as received, imported (see
        ``_imported``)."""
        if isinstance(exported, MigrateError):
            raise exported
        data = fts.mark_received(exported, read=SEEN in message.flags,
                                 delivered=message.internal_date,
                                 draft=DRAFT in message.flags,
                                 last_verb=last_verb_of(message.flags))
        return self._imported(place, message, data, where)

    def _unstage(self, draft: str) -> None:
        """Step 6; a failure leaves the draft to the next run's sweep, the copy is done."""
        try:
            self._io.delete(draft)
        except ConnectError:
            raise
        except MigrateError as exc:
            log.warning("a staging draft could not be deleted (%s); the next run deletes it",
                        exc)

    def _imported(self, place: _Place, message: MailMessage, data: bytes,
                  where: str) -> tuple[str, bool]:
        """Import the stream once: the id the import returned (False: still to translate),
        or (True) the copy an import whose answer was lost left, looked for in the folder
        listed afresh before the stream is sent again."""
        for attempt in range(2):
            try:
                return self._io.import_item(place.id, data, where), False
            except ImportUnconfirmed:
                place.index, place.empty = None, False  # list it: the import may be there
                found = self._claim(place, message)
                if found is not None:
                    log.info("%s: an import whose answer was lost is taken, not repeated",
                             where)
                    return found, True
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _translate(self, place: _Place, imported: dict[int, str], outcomes: list,
                   where: str) -> None:
        """Step 5's end: the immutable ids of what was imported, in one request. Not
        translated: a passing failure, and the folder listed again, where the copy will be
        recognised by its sha256 when the engine retries."""
        try:
            keys, reason = self._io.immutable(list(imported.values())), "no id given"
        except ConnectError:
            raise
        except MigrateError as exc:
            keys, reason = {}, str(exc)
        for n, returned in imported.items():
            if returned in keys:
                outcomes[n] = keys[returned]
                place.claimed.add(keys[returned])
            else:
                place.index, place.empty = None, False
                outcomes[n] = RetryableError(f"{where!r}: imported, but its id could not be "
                                             f"translated ({reason}); looked for again")

    def _staging_place(self) -> _Place:
        """Our hidden staging folder, found or created, emptied once per process of what a
        killed run left there."""
        if self._staging is None:
            path = (STAGING,)
            found = self._find_child(_ROOT, path)
            if found is None:
                body = MailFolder(display_name=STAGING, is_hidden=True)
                try:
                    made = self._session.call(
                        "creating the staging folder", lambda c: self._users(c).mail_folders
                        .by_mail_folder_id(_ROOT).child_folders.post(body))
                    found = _Place(made.id, True)
                except Conflict:  # made meanwhile by another writer
                    found = self._find_child(_ROOT, path)
                    if found is None:
                        raise ItemError("cannot create the staging folder: the server says "
                                        "it exists but does not list it") from None
            self._sweep(found)
            self._staging = found
        return self._staging

    def _sweep(self, staging: _Place) -> None:
        """Delete for good the drafts a killed run left in the staging folder, once per
        process and mailbox, before any writer of this process stages a draft there (the
        lock is held throughout: the others wait rather than lose a draft in flight)."""
        key = (self._session.settings.graph_url, self._user.lower())
        with _SWEPT_LOCK:
            if key not in _SWEPT and not staging.empty:
                query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
                    select=["id"], top=self._session.settings.page_size)
                builder = self._session.client.users.by_user_id(self._user).mail_folders \
                    .by_mail_folder_id(staging.id).messages
                first = functools.partial(builder.get, configuration(query))
                left = [item.id for item in _pages(
                    self._session, "listing the staging folder", first,
                    lambda url: _Immutable(builder.with_url(url)))]
                for item in left:
                    self._io.delete(item)
                if left:
                    log.info("deleted %d staging drafts left by an interrupted run", len(left))
            _SWEPT.add(key)  # found empty or emptied: what comes there now is this process's
        staging.empty = True

    def _create(self, place: _Place, message: MailMessage, where: str) -> str:
        """POST the MIME (base64, ``text/plain``) into the folder; the new message's id.

        The session retries a request whose answer was lost; a POST may then have been
        stored already, so a retry first looks for an unmarked draft with the same
        Message-ID and takes it rather than uploading a second copy."""
        data = message.content.read()
        body = base64.b64encode(data)
        mid = message_id(message)
        attempts = 0

        def post(client):
            nonlocal attempts
            attempts += 1
            builder = self._users(client).mail_folders.by_mail_folder_id(place.id).messages
            if attempts > 1 and mid:
                return self._post_unless_stored(builder, body, mid, place)
            return self._post(builder, body)

        created = self._session.call(f"uploading a message of {len(data)} bytes to {where!r}",
                                     post)
        if created is None or not created.id:
            raise ItemError(f"{where!r}: Graph created a message but gave no id")
        return created.id

    def _post(self, builder: MessagesRequestBuilder, body: bytes):
        info = RequestInformation(Method.POST, builder.url_template, builder.path_parameters)
        info.configure(configuration())
        info.headers.try_add("Accept", "application/json")
        info.set_stream_content(body, "text/plain")
        return self._session.adapter.send_async(info, Message, {"XXX": ODataError})

    async def _post_unless_stored(self, builder: MessagesRequestBuilder, body: bytes, mid: str,
                                  place: _Place):
        """A retried POST: the unmarked draft a lost answer left behind, else a new upload."""
        escaped = mid.replace("'", "''")
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            select=["id", "isDraft"], expand=_EXPAND, filter=f"internetMessageId eq '{escaped}'")
        page = await builder.get(configuration(query))
        for item in (page.value if page is not None else None) or ():
            if item.is_draft and item.id not in place.claimed and _sha256_of(item) is None:
                log.info("%s: an upload whose answer was lost is taken, not repeated", mid)
                return item
        return await self._post(builder, body)

    def _patch(self, key: str, body: Message, where: str) -> None:
        self._session.call(f"setting the properties of a message in {where!r}",
                           lambda c: self._users(c).messages.by_message_id(key)
                           .patch(body, configuration()))

    def find(self, folder: Folder, message: MailMessage) -> str | None:
        return self._claim(self._place(folder.path, folder.role), message)

    def set_flags(self, folder: Folder, key: str, flags: frozenset[str]) -> None:
        """One PATCH: isRead, the follow-up flag and categories as ``flags`` say."""
        self._patch(key, properties_of(flags), folder.display())

    def remove(self, folder: Folder, key: str) -> None:
        """Move the copy to Deleted Items (retention applies there); gone already is fine."""
        body = MovePostRequestBody(destination_id="deleteditems")
        with contextlib.suppress(NotFound):
            self._session.call(f"deleting a message in {folder.display()!r}",
                               lambda c: self._users(c).messages.by_message_id(key)
                               .move.post(body, configuration()))

    # --- recognising what is there ---------------------------------------------------------

    def _claim(self, place: _Place, message: MailMessage) -> str | None:
        """An id already holding these bytes that no item of this run took, if any; else an
        unmarked draft with the same Message-ID (a kill between POST and PATCH), finished."""
        self._index(place)
        ids = place.index.get(message.sha256) if place.index else None
        while ids:
            found = ids.pop()
            if found not in place.claimed:
                place.claimed.add(found)
                return found
        if not place.orphans:
            return None
        orphans = place.orphans.get(message_id(message) or "")
        while orphans:
            found = orphans.pop()
            if found not in place.claimed:
                self._patch(found, properties_of(message.flags, message.sha256),
                            "an interrupted upload")
                place.claimed.add(found)
                return found
        return None

    def _index(self, place: _Place) -> None:
        """sha256 → ids (and, for import=draft, unmarked drafts by Message-ID) of the folder,
        listed once."""
        if place.index is not None:
            return
        index: dict[str, list[str]] = {}
        orphans: dict[str, list[str]] = {}
        if not place.empty:
            query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
                select=["id", "internetMessageId", "isDraft"], expand=_EXPAND,
                top=self._session.settings.page_size)
            builder = self._session.client.users.by_user_id(self._user).mail_folders \
                .by_mail_folder_id(place.id).messages
            first = functools.partial(builder.get, configuration(query))
            for item in _pages(self._session, "listing what the folder holds", first,
                               lambda url: _Immutable(builder.with_url(url))):
                value = _sha256_of(item)
                if value:
                    index.setdefault(value, []).append(item.id)
                elif item.is_draft and item.internet_message_id and self._io is None:
                    orphans.setdefault(item.internet_message_id, []).append(item.id)
        place.index, place.orphans = index, orphans  # only once complete

    def close(self, complete: bool = True) -> None:
        try:
            if self._io is not None:
                self._io.close()
        finally:
            self._session.close()


@contextlib.contextmanager
def _outcome(outcomes: list, n: int):
    """Record an item's own failure as its outcome (ConnectError concerns the whole target
    and goes up); as ``MailTarget.append_batch`` does."""
    try:
        yield
    except ConnectError:
        raise
    except MigrateError as exc:
        outcomes[n] = exc
    except OSError as exc:
        outcomes[n] = ItemError(f"{exc.strerror or exc}")


def _sha256_of(item: Message) -> str | None:
    """Our sha256 property of a listed message, if it has one."""
    return next((p.value for p in item.single_value_extended_properties or ()
                 if (p.id or "").lower() == SHA256_PROPERTY.lower() and p.value), None)


class _Immutable:
    """A next-page builder whose ``get`` asks for immutable ids, like the first page."""

    def __init__(self, builder) -> None:
        self._builder = builder

    def get(self, _config=None):
        return self._builder.get(configuration())

