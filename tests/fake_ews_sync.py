"""SyncFolderItems for the fake EWS server: opaque sync states, coalesced changes, paging.

A sync state is base64 of ``epoch:folder id:change number`` (opaque to the client, as
Exchange's are). From a state, the changes since that number are answered the way
Exchange coalesces them: an item created since is one ``Create`` (with its properties as
they are now), an older item changed since is one ``Update`` (or ``ReadFlagChange`` when
only its read state changed), an older item deleted since is one ``Delete``; an item
created and deleted since is nothing. Without a state, every item is a ``Create``.
``MaxChangesReturned`` (at most 512, as Exchange) pages them, ordered by the change that
first concerns them, with ``IncludesLastItemInRange`` false until the last page. A state
of another folder, from before ``mailbox.sync_epoch`` changed, or that does not decode,
is answered with ``ErrorInvalidSyncStateData`` (Microsoft's documented error response).
"""

from __future__ import annotations

import base64
import binascii
from xml.etree import ElementTree as ET

from fake_ews import FakeEws, FakeFolder, FakeMailbox, M, _error, _item_xml, _response, operation

#: Exchange returns at most this many changes per SyncFolderItems response.
MAX_CHANGES = 512


def sync_state(epoch: int, folder: FakeFolder, seq: int) -> str:
    return base64.b64encode(f"{epoch}:{folder.id}:{seq}".encode()).decode()


def _read_state(text: str | None, epoch: int, folder: FakeFolder) -> int | None:
    """The change number a state points at; None when it is not valid here."""
    if not text:
        return 0
    try:
        said_epoch, folder_id, seq = base64.b64decode(text, validate=True).decode().split(":")
        if int(said_epoch) == epoch and folder_id == folder.id:
            return int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    return None


def _changes(server: FakeEws, folder: FakeFolder, since: int) -> list[tuple[int, str]]:
    """(ordering number, change XML) of everything in ``folder`` after ``since``."""
    mailbox = server.mailbox
    out: list[tuple[int, str]] = []
    for message in folder.messages:
        if message.seq > since:
            out.append((message.seq, f"<t:Create>{_item_xml(message, folder.id, False)}"
                                     "</t:Create>"))
            continue
        later = [c for c in mailbox.log if c.item_id == message.id and c.seq > since]
        if not later:
            continue
        if all(c.kind == "read" for c in later):
            change = (f'<t:ReadFlagChange><t:ItemId Id="{message.id}" ChangeKey="CQAAAA=="/>'
                      f"<t:IsRead>{'true' if message.is_read else 'false'}</t:IsRead>"
                      "</t:ReadFlagChange>")
        else:
            change = f"<t:Update>{_item_xml(message, folder.id, False)}</t:Update>"
        out.append((later[0].seq, change))
    for change in mailbox.log:
        if change.kind == "delete" and change.folder_id == folder.id and change.seq > since \
                and change.created <= since:
            out.append((change.seq, f'<t:Delete><t:ItemId Id="{change.item_id}" '
                                    'ChangeKey="CQAAAA=="/></t:Delete>'))
    out.sort(key=lambda pair: pair[0])
    return out


@operation("SyncFolderItems")
def sync_folder_items(server: FakeEws, request: ET.Element) -> bytes:
    ref = request.find(f"{{{M}}}SyncFolderId")[0]
    folder = server._folder_ref(ref)
    if folder is None:
        return _response("SyncFolderItems", [_error(
            "SyncFolderItems", "ErrorFolderNotFound",
            "The specified folder could not be found in the store.")])
    state = request.find(f"{{{M}}}SyncState")
    limit = min(int(request.findtext(f"{{{M}}}MaxChangesReturned") or MAX_CHANGES),
                MAX_CHANGES)
    with server._lock:
        mailbox = server.mailbox
        mailbox.stamp()
        epoch = mailbox.sync_epoch
        since = _read_state(state.text if state is not None else None, epoch, folder)
        if since is None or since > mailbox.seq:
            return _response("SyncFolderItems", [_error(
                "SyncFolderItems", "ErrorInvalidSyncStateData",
                "Synchronization state data is corrupt or otherwise invalid.")])
        changes = _changes(server, folder, since)
        page, last = changes[:limit], len(changes) <= limit
        until = mailbox.seq if last else page[-1][0]
    server.requests["SyncFolderItems:changes"] += len(page)
    return _response("SyncFolderItems", [
        '<m:SyncFolderItemsResponseMessage ResponseClass="Success">'
        "<m:ResponseCode>NoError</m:ResponseCode>"
        f"<m:SyncState>{sync_state(epoch, folder, until)}</m:SyncState>"
        f"<m:IncludesLastItemInRange>{'true' if last else 'false'}</m:IncludesLastItemInRange>"
        f"<m:Changes>{''.join(xml for _, xml in page)}</m:Changes>"
        "</m:SyncFolderItemsResponseMessage>"])




def edit_item(mailbox: FakeMailbox, item_id: str, mime: bytes) -> None:
    """An item changed at the source (an event moved, a contact's number changed): its MIME
    is the new one and SyncFolderItems reports it as an ``Update``."""
    folder = mailbox.folder_of(item_id)
    message = next(m for m in folder.messages if m.id == item_id)
    message.mime = mime
    mailbox._change(folder, message, "update")
