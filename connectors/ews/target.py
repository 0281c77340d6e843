"""Writing to an Exchange mailbox: folders found or created, messages uploaded as MIME.

A message is one ``CreateItem`` (MessageDisposition SaveOnly) into its folder, many per
request (the engine's batch): ``MimeContent`` is the original bytes (base64 on the wire,
nothing else done to them) and beside them go categories (the keywords) and extended
properties: PidTagMessageFlags with MSGFLAG_READ for ``\\Seen`` and never MSGFLAG_UNSENT
(so Exchange does not take the upload for a draft, exchangelib issue 716),
PidTagMessageDeliveryTime (the received time; the sent time comes from the ``Date:``
header when Exchange converts the MIME), PidTagFlagStatus 2 for ``\\Flagged``,
PidTagLastVerbExecuted for ``\\Answered`` (102) or ``$Forwarded`` (104), and our own
``migrate_sha256``; ``\\Draft`` and ``\\Deleted`` are not kept. The item sent holds
only these: exchangelib's ``Message`` would also send Importance, Sensitivity, IsRead …
with default values that override what the MIME says.

The target key is the EWS ItemId. Before the first write into a folder, the items it
already holds are listed once with their ``migrate_sha256`` (sha256 → ItemIds, a few
bytes per item): a rerun after a lost state database or a kill recognises what it wrote
instead of uploading it twice, and ``find`` answers from the same index.

Calendars and address books: an event is a ``CalendarItem`` whose ``MimeContent`` is its
iCalendar text (SendMeetingInvitations SendToNone: nobody is invited again), a contact a
``Contact`` with its vCard; both carry ``migrate_sha256`` too. A collection whose path
starts with a name that says "calendar" or "contacts" (``MAIN_NAMES``: English, French,
German, CalDAV's "default"/"personal", or the mailbox's own name for that folder) goes to
the well-known ``calendar`` / ``contacts`` folder, the rest of its path inside it; any
other is found or created by path under the mailbox's top folder with the folder class
IPF.Appointment / IPF.Contact.

Folders with a role go to the mailbox's well-known folder for it (by id, whatever its
localized name), except the Outbox: what lies there is what a client has still to send.
A path that exists with another kind of items (a mail folder named like the calendar)
fails that folder with a message saying so.

``set_flags`` is one UpdateItem (IsRead, categories, PidTagFlagStatus); ``remove`` a
DeleteItem with DeleteType MoveToDeletedItems (the copy goes to Deleted Items, where the
mailbox's retention policy applies, rather than vanishing at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exchangelib import Account, EWSDateTime
from exchangelib.errors import ErrorFolderExists, ErrorItemNotFound
from exchangelib.fields import CharListField, ExtendedPropertyField, MimeContentField
from exchangelib.folders import DEEP, SHALLOW, FolderCollection, MsgFolderRoot
from exchangelib.folders import Folder as ExchangeFolder
from exchangelib.items import MOVE_TO_DELETED_ITEMS, SAVE_ONLY, SEND_TO_NONE, Message
from exchangelib.properties import DistinguishedFolderId, EWSElement, Mailbox

from migrate.connector import MailTarget, PimTarget
from migrate.errors import ConnectError, ItemError, MigrateError, TooLargeError
from migrate.model import (
    ANSWERED,
    FLAGGED,
    FORWARDED,
    MAIN_COLLECTION_NAMES,
    SEEN,
    Collection,
    CollectionKind,
    Entry,
    Folder,
    MailMessage,
    Role,
    keywords,
)

from .folders import WELL_KNOWN, is_mail_folder
from .properties import (
    FLAG_STATUS,
    LAST_VERB,
    MSGFLAG_READ,
    SHA256,
    VERB_FORWARDED,
    VERB_REPLIED,
    DeliveryTime,
    FlagStatus,
    LastVerb,
    MessageFlags,
    Sha256,
    register,
)
from .properties import FLAGGED as FLAG_FLAGGED
from .session import Session

log = logging.getLogger(__name__)

#: Folder class and well-known folder of each kind of collection.
_PIM = {CollectionKind.CALENDAR: ("IPF.Appointment", "calendar"),
        CollectionKind.CONTACTS: ("IPF.Contact", "contacts")}
#: One-name collection paths taken for the mailbox's main calendar / address book.
MAIN_NAMES = MAIN_COLLECTION_NAMES
#: Roles whose well-known folder receives copies. Never the Outbox: what lies there is
#: what a client has still to send.
_ROLE_IDS = {role: name for name, role in WELL_KNOWN.items() if role is not Role.OUTBOX}
_CATEGORY_MAX = 255
#: The largest item sent, in bytes: EWS takes requests of 64 MB by default
#: (maxReceivedMessageSize in its web.config) and base64 adds a third; ``?max_size=``.
DEFAULT_MAX_SIZE = 45 * 1024 * 1024


# --- what is sent: the MIME and the properties beside it, nothing else --------------------


class _Upload(EWSElement):
    """An item to create from MIME: only the fields below go on the wire (in schema order)."""

    __slots__ = ("account",)
    mime_content = MimeContentField(field_uri="item:MimeContent")
    categories = CharListField(field_uri="item:Categories")
    flag_status = ExtendedPropertyField("flag_status", value_cls=FlagStatus)
    message_flags = ExtendedPropertyField("message_flags", value_cls=MessageFlags)
    delivery_time = ExtendedPropertyField("delivery_time", value_cls=DeliveryTime)
    last_verb = ExtendedPropertyField("last_verb", value_cls=LastVerb)
    sha256 = ExtendedPropertyField("sha256", value_cls=Sha256)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.account = None


class _MessageUpload(_Upload):
    ELEMENT_NAME = "Message"


class _EventUpload(_Upload):
    ELEMENT_NAME = "CalendarItem"


class _ContactUpload(_Upload):
    ELEMENT_NAME = "Contact"


def upload_of(message: MailMessage) -> _MessageUpload:
    """The item created for ``message``: its bytes, categories and flags as properties."""
    flags = message.flags
    received = message.internal_date
    return _MessageUpload(
        mime_content=message.content.read(),
        categories=categories_of(flags),
        message_flags=MSGFLAG_READ if SEEN in flags else 0,  # never MSGFLAG_UNSENT
        delivery_time=_ews_time(received) if received is not None else None,
        flag_status=FLAG_FLAGGED if FLAGGED in flags else None,
        last_verb=last_verb_of(flags),
        sha256=message.sha256)


def last_verb_of(flags: frozenset[str]) -> int | None:
    """PidTagLastVerbExecuted for ``\\Answered`` (replied) or else ``$Forwarded``."""
    if ANSWERED in flags:
        return VERB_REPLIED
    return VERB_FORWARDED if FORWARDED in flags else None


def categories_of(flags: frozenset[str]) -> list[str] | None:
    """Every keyword as a category (None when there is none); Exchange takes names of 255
    characters at most, so a longer one is left out, and logged."""
    kept = []
    for keyword in sorted(keywords(flags)):
        if len(keyword) > _CATEGORY_MAX:
            log.warning("keyword of %d characters left out: Exchange categories take %d at "
                        "most", len(keyword), _CATEGORY_MAX)
            continue
        kept.append(keyword)
    return kept or None


def _ews_time(moment: datetime) -> EWSDateTime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return EWSDateTime.from_datetime(moment.astimezone(UTC))


# --- folders as this run found them --------------------------------------------------------


@dataclass
class _Place:
    """A folder of the mailbox: ids, and the items it held before this run wrote to it."""

    id: str
    changekey: str | None
    empty: bool  # created by this run or held nothing: no listing needed
    index: dict[str, list[str]] | None = None  # sha256 → ItemIds not yet claimed
    claimed: set[str] = field(default_factory=set)  # ItemIds given out by this run


@dataclass
class _Node:
    id: str
    changekey: str | None
    folder_class: str | None
    total: int


class _Tree:
    """Every folder under the message-folder root by path, and the well-known ones by id."""

    def __init__(self, account: Account) -> None:
        top = MsgFolderRoot.get_distinguished(root=account.root)
        self.top = _Node(top.id, top.changekey, None, 0)
        found = [f for f in FolderCollection(account=account, folders=[top])
                 .find_folders(depth=DEEP) if not isinstance(f, Exception)]
        by_id = {f.id: f for f in found}
        paths: dict[str, tuple[str, ...]] = {}

        def path_of(folder) -> tuple[str, ...]:
            if folder.id not in paths:
                parent_id = folder.parent_folder_id.id if folder.parent_folder_id else None
                parent = by_id.get(parent_id)
                paths[folder.id] = (path_of(parent) if parent is not None else ()) \
                    + (folder.name,)
            return paths[folder.id]

        self.nodes: dict[tuple[str, ...], _Node] = {}
        for folder in found:
            if folder.name:
                self.nodes.setdefault(path_of(folder), _Node(
                    folder.id, folder.changekey, folder.folder_class, folder.total_count or 0))
        self.well_known: dict[str, tuple[str, ...]] = {}  # "inbox" → its path
        names = [*WELL_KNOWN, "calendar", "contacts"]
        mailbox = Mailbox(email_address=account.primary_smtp_address)
        wanted = [ExchangeFolder(_distinguished_id=DistinguishedFolderId(id=n, mailbox=mailbox),
                                 root=account.root) for n in names]
        by_path = {node.id: path for path, node in self.nodes.items()}
        for name, folder in zip(names, FolderCollection(account=account, folders=wanted)
                                .get_folders(), strict=False):
            if not isinstance(folder, Exception) and folder.id in by_path:
                self.well_known.setdefault(name, by_path[folder.id])

    def role_path(self, role: Role) -> tuple[str, ...] | None:
        name = _ROLE_IDS.get(role)
        return self.well_known.get(name) if name else None


def load_tree(account: Account) -> _Tree:
    """The mailbox's folders (one GetFolder, one Deep FindFolder, one GetFolder of ids)."""
    return _Tree(account)


class EwsTarget(MailTarget, PimTarget):
    """Writes folders, messages, events and contacts into one mailbox (see the docstring)."""

    def __init__(self, session: Session, tree: _Tree,
                 max_size: int | None = DEFAULT_MAX_SIZE) -> None:
        register()
        self._session = session
        self._tree = tree
        self._max_size = max_size
        self._places: dict[tuple[str, ...], _Place] = {}

    # --- folders ---------------------------------------------------------------------------

    def prepare_folder(self, folder: Folder) -> None:
        self._mail_place(folder)

    def _mail_place(self, folder: Folder) -> _Place:
        key = ("mail", *folder.path)
        if key not in self._places:
            path = folder.path
            if path not in self._tree.nodes and len(path) == 1 and folder.role is not None:
                path = self._tree.role_path(folder.role) or path
            self._places[key] = self._place(path, "IPF.Note")
        return self._places[key]

    def _place(self, path: tuple[str, ...], folder_class: str) -> _Place:
        """The folder at ``path`` under the top, created (with its parents) if missing."""
        node = self._tree.nodes.get(path)
        if node is not None:
            if not _same_kind(folder_class, node.folder_class):
                raise ItemError(f"{'/'.join(path)!r} exists in the mailbox but holds "
                                f"{node.folder_class} items, not {folder_class}: map it "
                                "elsewhere (--map)")
            return _Place(node.id, node.changekey, node.total == 0)
        parent = self._tree.top if len(path) == 1 else None
        if parent is None:
            self._place(path[:-1], folder_class)
            parent = self._tree.nodes[path[:-1]]
        node = self._create_folder(parent, path, folder_class)
        self._tree.nodes[path] = node
        return _Place(node.id, node.changekey, node.total == 0)

    def _create_folder(self, parent: _Node, path: tuple[str, ...], folder_class: str) -> _Node:
        name = path[-1]

        def create(account: Account) -> _Node | None:
            above = ExchangeFolder(id=parent.id, changekey=parent.changekey, root=account.root)
            made = ExchangeFolder(parent=above, name=name, folder_class=folder_class)
            try:
                made.save()
            except ErrorFolderExists:  # made meanwhile, or the name in another case
                return None
            return _Node(made.id, made.changekey, folder_class, 0)

        shown = "/".join(path)
        node = self._session.call(f"creating folder {shown!r}", create)
        if node is not None:
            log.info("created folder %r", shown)
            return node

        def existing(account: Account) -> _Node | None:
            above = ExchangeFolder(id=parent.id, changekey=parent.changekey, root=account.root)
            for found in FolderCollection(account=account, folders=[above]) \
                    .find_folders(depth=SHALLOW):
                if not isinstance(found, Exception) and found.name \
                        and found.name.casefold() == name.casefold():  # as Exchange compares
                    return _Node(found.id, found.changekey, found.folder_class,
                                 found.total_count or 0)
            return None

        node = self._session.call(f"looking up folder {shown!r}", existing)
        if node is None:
            raise ItemError(f"cannot create folder {shown!r}: the server says it exists but "
                            "does not list it")
        return node

    # --- messages --------------------------------------------------------------------------

    def append(self, folder: Folder, message: MailMessage) -> str:
        outcome = self.append_batch(folder, [message])[0]
        if isinstance(outcome, MigrateError):
            raise outcome
        return outcome

    def append_batch(self, folder: Folder,
                     messages: list[MailMessage]) -> list[str | MigrateError]:
        place = self._mail_place(folder)
        return self._upload(place, f"{folder.display()!r}", messages, upload_of)

    def find(self, folder: Folder, message: MailMessage) -> str | None:
        return self._claim(self._mail_place(folder), message.sha256)

    def set_flags(self, folder: Folder, key: str, flags: frozenset[str]) -> None:
        """One UpdateItem: IsRead, categories, the follow-up flag and the last verb (replied,
        forwarded) as ``flags`` say."""
        item = Message(id=key, is_read=SEEN in flags, categories=categories_of(flags))
        setattr(item, FLAG_STATUS, FLAG_FLAGGED if FLAGGED in flags else None)
        setattr(item, LAST_VERB, last_verb_of(flags))
        fields = ["is_read", "categories", FLAG_STATUS, LAST_VERB]
        outcome = self._session.call(
            f"updating the flags of a message in {folder.display()!r}",
            lambda account: account.bulk_update([(_bound(item, account), fields)]))
        for result in outcome:
            if isinstance(result, Exception):
                raise self._translated(result, f"updating flags in {folder.display()!r}")

    def remove(self, folder: Folder, key: str) -> None:
        """DeleteItem, MoveToDeletedItems: the copy goes to Deleted Items; gone already is fine."""
        self._delete(f"deleting a message in {folder.display()!r}", key)

    def _delete(self, what: str, key: str) -> None:
        outcome = self._session.call(
            what, lambda account: account.bulk_delete([(key, None)],
                                                      delete_type=MOVE_TO_DELETED_ITEMS))
        for result in outcome:
            if isinstance(result, ErrorItemNotFound):
                continue
            if isinstance(result, Exception):
                raise self._translated(result, what)

    # --- calendars and contacts ------------------------------------------------------------

    def prepare_collection(self, collection: Collection) -> None:
        self._pim_place(collection)

    def _pim_place(self, collection: Collection) -> _Place:
        key = (collection.kind.value, *collection.path)
        if key not in self._places:
            folder_class, well_known = _PIM[collection.kind]
            path = collection.path
            main = self._tree.well_known.get(well_known)
            if main is not None and \
                    path[0].casefold() in MAIN_NAMES[collection.kind] | {main[-1].casefold()}:
                path = main + path[1:]  # the main one, and calendars kept inside it
            self._places[key] = self._place(path, folder_class)
        return self._places[key]

    def put_entry(self, collection: Collection, entry: Entry) -> str:
        place = self._pim_place(collection)
        kind = _EventUpload if collection.kind is CollectionKind.CALENDAR else _ContactUpload
        outcome = self._upload(place, f"{collection.display()!r}", [entry],
                               lambda e: kind(mime_content=e.data, sha256=e.sha256))[0]
        if isinstance(outcome, MigrateError):
            raise outcome
        return outcome

    def find_entry(self, collection: Collection, entry: Entry) -> str | None:
        return self._claim(self._pim_place(collection), entry.sha256)

    def update_entry(self, collection: Collection, key: str, entry: Entry) -> str:
        """The new version is uploaded (or found, by its checksum, after a crash), then the
        copy under ``key`` deleted: Exchange builds an item from MIME only when creating
        it, so an edited event or contact is replaced, and its new ItemId returned."""
        new_key = self.put_entry(collection, entry)
        if new_key != key:
            self.remove_entry(collection, key)
        return new_key

    def remove_entry(self, collection: Collection, key: str) -> None:
        """DeleteItem, MoveToDeletedItems, as for a message (gone already is fine)."""
        self._delete(f"deleting an entry of {collection.kind.value} "
                     f"{collection.display()!r}", key)

    # --- uploading and recognising what is there -------------------------------------------

    def _upload(self, place: _Place, where: str, items: list,
                build: Callable[[object], _Upload]) -> list[str | MigrateError]:
        """CreateItem for ``items`` not already in the folder; per item its ItemId or error."""
        try:
            self._index(place)  # listed once, before anything is written
        except ConnectError:
            raise
        except MigrateError as exc:
            return [exc] * len(items)
        results: list[str | MigrateError | None] = [None] * len(items)
        todo: list[int] = []
        uploads: list[_Upload] = []
        for i, item in enumerate(items):
            try:
                found = self._claim(place, item.sha256)
                if found is not None:
                    results[i] = found
                    continue
                if self._max_size and item.size > self._max_size:
                    results[i] = TooLargeError(
                        f"{item.size} bytes: over the {self._max_size} bytes an EWS request "
                        f"may carry here (max_size; a larger request would be refused whole)")
                    continue
                uploads.append(build(item))
                todo.append(i)
            except ConnectError:
                raise
            except (MigrateError, OSError) as exc:  # bytes that cannot be read
                results[i] = exc if isinstance(exc, MigrateError) else ItemError(str(exc))
        if uploads:
            what = f"uploading {len(uploads)} item(s) to {where}"
            try:
                created = self._session.call(what, lambda account: account.bulk_create(
                    folder=ExchangeFolder(id=place.id, changekey=place.changekey,
                                          root=account.root),
                    items=uploads, message_disposition=SAVE_ONLY,
                    send_meeting_invitations=SEND_TO_NONE, chunk_size=len(uploads)))
            except ConnectError:
                raise
            except MigrateError as exc:  # the whole answer lost: see what did get in
                created = self._settle(place, [items[i] for i in todo], exc)
            for i, upload, outcome in zip(todo, uploads, created, strict=True):
                if isinstance(outcome, MigrateError | str):
                    results[i] = outcome
                elif isinstance(outcome, Exception):
                    size = len(upload.mime_content)
                    results[i] = self._translated(
                        outcome, f"uploading an item of {size} bytes to {where}")
                else:
                    place.claimed.add(outcome.id)
                    results[i] = outcome.id
        return [r if r is not None else ItemError("not written") for r in results]

    def _settle(self, place: _Place, items: list, error: MigrateError) -> list:
        """After a request failed as a whole (e.g. ErrorQuotaExceeded, which exchangelib
        raises rather than returns): list the folder again and take each item found by its
        sha256 as written; the others get ``error``. If even the listing fails, all get
        ``error``: the next run lists again before writing anything."""
        place.index = None
        place.empty = False
        try:
            self._index(place)
        except ConnectError:
            raise
        except MigrateError:
            return [error] * len(items)
        return [self._claim(place, item.sha256) or error for item in items]

    def _claim(self, place: _Place, sha256: str) -> str | None:
        """An ItemId already holding these bytes that no item of this run took, if any."""
        index = self._index(place)
        ids = index.get(sha256)
        while ids:
            found = ids.pop()
            if found not in place.claimed:
                place.claimed.add(found)
                return found
        return None

    def _index(self, place: _Place) -> dict[str, list[str]]:
        """sha256 → ItemIds of the folder's items uploaded by this tool (listed once)."""
        if place.index is not None:
            return place.index
        index: dict[str, list[str]] = {}
        if not place.empty:
            def listing(account: Account):
                folder = ExchangeFolder(id=place.id, changekey=place.changekey,
                                        root=account.root)
                return iter(folder.all().only("id", SHA256))
            for item in self._session.stream("listing what the folder holds", listing,
                                             key=lambda i: getattr(i, "id", None) or id(i)):
                value = getattr(item, SHA256, None) if not isinstance(item, Exception) \
                    else None
                if value and item.id not in place.claimed:
                    index.setdefault(value, []).append(item.id)
        place.index = index  # only once complete: a broken listing is tried again
        return index

    def _translated(self, error: Exception, what: str) -> MigrateError:
        """An exchangelib error returned for one item, as the session's boundary names it."""
        try:
            with self._session.errors(what):
                raise error
        except MigrateError as exc:
            return exc
        raise AssertionError("unreachable: errors() translates every exception")

    def close(self, complete: bool = True) -> None:
        self._session.close()


def _same_kind(wanted: str, found: str | None) -> bool:
    """Whether a folder of class ``found`` holds the items of a folder of class ``wanted``."""
    if is_mail_folder(wanted):
        return is_mail_folder(found)
    return found is not None and (found == wanted or found.startswith(wanted + "."))


def _bound(item: Message, account: Account) -> Message:
    item.account = account
    return item
