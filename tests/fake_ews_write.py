"""Writing operations of the fake EWS server: CreateFolder, CreateItem, UpdateItem, DeleteItem.

Shaped on Microsoft's documented requests and responses (one ``…ResponseMessage`` per
folder or item, in order). What a real Exchange does with a MIME upload is modelled where
the connector depends on it: an item created from ``MimeContent`` without
PidTagMessageFlags (0x0E07) is a draft (MSGFLAG_UNSENT), as exchangelib issue 716 and
MIMEToMAPI document; PidTagMessageFlags' MSGFLAG_READ gives the read state,
PidTagMessageDeliveryTime (0x0E06) the received time, PidTagFlagStatus (0x1090) 2 the
follow-up flag; other extended properties are stored and served back with the item. The
bytes are stored as sent (a real Exchange rebuilds the MIME it serves). A message is never
sent: a MessageDisposition other than SaveOnly, or invitations other than SendToNone, is
refused.

``write_limits(server)`` sets a maximum item size (ErrorMessageSizeExceeded) and a
mailbox quota in bytes (ErrorQuotaExceeded) and a delay before each CreateItem stores
its items. ``server.requests`` counts ``created`` items
(and ``created:IPM.Note`` … per item class) besides the operations.
"""

from __future__ import annotations

import base64
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from fake_ews import (
    ITEM_TAGS,
    FakeEws,
    FakeFolder,
    FakeMessage,
    M,
    T,
    _error,
    _response,
    _success,
    operation,
)

MSGFLAG_READ, MSGFLAG_UNSENT = 0x1, 0x8
_ITEM_CLASSES = {"Message": "IPM.Note", "CalendarItem": "IPM.Appointment",
                 "Contact": "IPM.Contact"}
_FOLDER_CLASSES = {"CalendarFolder": "IPF.Appointment", "ContactsFolder": "IPF.Contact",
                   "TasksFolder": "IPF.Task"}
_lock = threading.Lock()


@dataclass
class WriteLimits:
    """Refusals a test can ask of the server (None: no limit)."""

    max_item_size: int | None = None  # bytes of MIME per item
    quota: int | None = None  # bytes of MIME in the whole mailbox
    delay: float = 0.0  # seconds each CreateItem takes before storing (to kill a client mid-way)


_limits: weakref.WeakKeyDictionary[FakeEws, WriteLimits] = weakref.WeakKeyDictionary()


def write_limits(server: FakeEws) -> WriteLimits:
    """The server's limits, to read or change."""
    return _limits.setdefault(server, WriteLimits())


def _uri_key(uri: ET.Element) -> tuple[tuple[str, str], ...]:
    """An ExtendedFieldURI as sorted (attribute, value) pairs, the property tag in the
    lowercase hex exchangelib sends (``0xe07``)."""
    pairs = dict(uri.attrib)
    if "PropertyTag" in pairs:
        pairs["PropertyTag"] = hex(int(pairs["PropertyTag"], 16))
    return tuple(sorted(pairs.items()))


def _tag_of(key: tuple[tuple[str, str], ...]) -> int | None:
    tag = dict(key).get("PropertyTag")
    return int(tag, 16) if tag else None


def _ews_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _apply_property(message: FakeMessage, key: tuple[tuple[str, str], ...],
                    value: str | None) -> None:
    """Set (or with None delete) one extended property, as the store would read it."""
    tag = _tag_of(key)
    if tag == 0x1090:
        message.flagged = value == "2"
    elif tag == 0x0E07:
        flags = int(value or 0)
        message.is_read, message.draft = bool(flags & MSGFLAG_READ), bool(flags & MSGFLAG_UNSENT)
    elif tag == 0x0E06:
        if value:
            message.received = _ews_time(value)
    elif value is None:
        message.extended.pop(key, None)
    else:
        message.extended[key] = value


def _created_xml(element: str, message: FakeMessage) -> str:
    return f'<m:Items><t:{element}><t:ItemId Id="{message.id}" ChangeKey="CQAAAA=="/>' \
           f"</t:{element}></m:Items>"


@operation("CreateFolder")
def create_folder(server: FakeEws, request: ET.Element) -> bytes:
    """CreateFolder under ParentFolderId; a name taken at that level, in any case, is
    ErrorFolderExists."""
    parent = server._folder_ref(request.find(f"{{{M}}}ParentFolderId")[0])
    out = []
    for element in request.find(f"{{{M}}}Folders"):
        kind = element.tag.split("}")[1]
        name = element.findtext(f"{{{T}}}DisplayName") or ""
        folder_class = element.findtext(f"{{{T}}}FolderClass") or \
            _FOLDER_CLASSES.get(kind, "IPF.Note")
        with _lock:
            if parent is None:
                out.append(_error("CreateFolder", "ErrorFolderNotFound",
                                  "The specified folder could not be found in the store."))
                continue
            if any(f.parent == parent.id and f.name.casefold() == name.casefold()
                   for f in server.mailbox.folders.values()):  # names ignore case
                out.append(_error("CreateFolder", "ErrorFolderExists",
                                  "A folder with the specified name already exists."))
                continue
            folder = server.mailbox.add_folder(name, parent, folder_class=folder_class)
        server.requests["folders created"] += 1
        out.append(_success("CreateFolder", f'<m:Folders><t:{kind}><t:FolderId Id="{folder.id}" '
                                            f'ChangeKey="AQ=="/></t:{kind}></m:Folders>'))
    return _response("CreateFolder", out)


@operation("CreateItem")
def create_item(server: FakeEws, request: ET.Element) -> bytes:
    """CreateItem into SavedItemFolderId, from MimeContent plus categories and properties."""
    saved = request.find(f"{{{M}}}SavedItemFolderId")
    folder = server._folder_ref(saved[0]) if saved is not None else None
    disposition = request.get("MessageDisposition")
    invitations = request.get("SendMeetingInvitations")
    limits = write_limits(server)
    if limits.delay:
        time.sleep(limits.delay)
    out = []
    for element in request.find(f"{{{M}}}Items"):
        kind = element.tag.split("}")[1]
        answer = _refusal(kind, folder, disposition, invitations)
        if answer is not None:
            out.append(_error("CreateItem", *answer))
            continue
        mime = base64.b64decode(element.findtext(f"{{{T}}}MimeContent") or "")
        message = FakeMessage(mime, received=datetime.now(UTC), item_class=_ITEM_CLASSES[kind],
                              draft=kind == "Message", is_read=kind == "Message")
        message.categories = tuple(s.text or "" for s in
                                   element.iterfind(f"{{{T}}}Categories/{{{T}}}String"))
        for prop in element.iterfind(f"{{{T}}}ExtendedProperty"):
            _apply_property(message, _uri_key(prop.find(f"{{{T}}}ExtendedFieldURI")),
                            prop.findtext(f"{{{T}}}Value"))
        with _lock:
            if limits.max_item_size is not None and len(mime) > limits.max_item_size:
                out.append(_error("CreateItem", "ErrorMessageSizeExceeded",
                                  "The message exceeds the maximum supported size."))
                continue
            held = sum(len(m.mime) for m in server.mailbox.items().values())
            if limits.quota is not None and held + len(mime) > limits.quota:
                out.append(_error("CreateItem", "ErrorQuotaExceeded",
                                  "The mailbox quota has been exceeded."))
                continue
            folder.messages.append(message)
        server.requests["created"] += 1
        server.requests[f"created:{message.item_class}"] += 1
        out.append(_success("CreateItem", _created_xml(kind, message)))
    return _response("CreateItem", out)


def _refusal(kind: str, folder: FakeFolder | None, disposition: str | None,
             invitations: str | None) -> tuple[str, str] | None:
    """Why an item is refused before anything is stored (code, text), or None."""
    if folder is None:
        return "ErrorFolderNotFound", "The specified folder could not be found in the store."
    if kind not in _ITEM_CLASSES:
        return "ErrorInvalidRequest", f"the fake does not create {kind} items"
    if kind == "Message" and disposition != "SaveOnly":
        return "ErrorInvalidOperation", "the fake never sends mail: SaveOnly expected"
    if kind == "CalendarItem" and invitations != "SendToNone":
        return "ErrorInvalidOperation", "the fake never invites: SendToNone expected"
    return None


@operation("UpdateItem")
def update_item(server: FakeEws, request: ET.Element) -> bytes:
    """UpdateItem: SetItemField / DeleteItemField of IsRead, Categories, extended properties."""
    out = []
    for change in request.find(f"{{{M}}}ItemChanges"):
        ref = change.find(f"{{{T}}}ItemId")
        with _lock:
            message = server.mailbox.items().get(ref.get("Id", "") if ref is not None else "")
            if message is None:
                out.append(_error("UpdateItem", "ErrorItemNotFound",
                                  "The specified object was not found in the store."))
                continue
            for update in change.find(f"{{{T}}}Updates"):
                _update(message, update)
        server.requests["updated"] += 1
        out.append(_success("UpdateItem", _created_xml(_item_tag(message), message)
                            + "<m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"))
    return _response("UpdateItem", out)


def _item_tag(message: FakeMessage) -> str:
    return ITEM_TAGS.get(message.item_class, "Message")


def _update(message: FakeMessage, update: ET.Element) -> None:
    deleting = update.tag == f"{{{T}}}DeleteItemField"
    field_uri = update.find(f"{{{T}}}FieldURI")
    extended = update.find(f"{{{T}}}ExtendedFieldURI")
    if extended is not None:
        value = None if deleting else \
            update.findtext(f".//{{{T}}}ExtendedProperty/{{{T}}}Value")
        _apply_property(message, _uri_key(extended), value)
        return
    name = field_uri.get("FieldURI") if field_uri is not None else None
    if name == "message:IsRead":
        value = update.findtext(f".//{{{T}}}IsRead")
        message.is_read = not deleting and value in ("true", "1")  # xs:boolean
    elif name == "item:Categories":
        message.categories = () if deleting else tuple(
            s.text or "" for s in update.iterfind(f".//{{{T}}}Categories/{{{T}}}String"))


@operation("DeleteItem")
def delete_item(server: FakeEws, request: ET.Element) -> bytes:
    """DeleteItem: MoveToDeletedItems moves to the well-known deleteditems folder; other
    delete types remove the item."""
    move = request.get("DeleteType") == "MoveToDeletedItems"
    out = []
    for ref in request.find(f"{{{M}}}ItemIds"):
        with _lock:
            holder = next((f for f in server.mailbox.folders.values()
                           if any(m.id == ref.get("Id") for m in f.messages)), None)
            if holder is None:
                out.append(_error("DeleteItem", "ErrorItemNotFound",
                                  "The specified object was not found in the store."))
                continue
            message = next(m for m in holder.messages if m.id == ref.get("Id"))
            holder.messages.remove(message)
            trash = server.mailbox.by_well_known("deleteditems")
            if move and trash is not None and trash is not holder:
                trash.messages.append(message)
        server.requests["deleted"] += 1
        out.append(_success("DeleteItem", ""))
    return _response("DeleteItem", out)
