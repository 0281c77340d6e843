"""A fake Exchange Web Services server on 127.0.0.1, for driving the real exchangelib.

It answers, over plain HTTP with Basic authentication, the SOAP operations the EWS
connector uses: ConvertId (exchangelib's version probe), GetFolder (folder ids and
distinguished ids such as ``msgfolderroot`` or ``inbox``), FindFolder (Deep or Shallow,
paged), FindItem (paged, IdOnly plus the properties in the mailbox data) and GetItem
(with ``MimeContent`` when asked). Responses are shaped on Microsoft's documented ones
(``m:`` messages and ``t:`` types namespaces, ``ResponseClass="Success"`` with
``NoError``, a ``ServerVersionInfo`` header of Exchange 2016). Errors: a wrong password
gets HTTP 401; unknown ids get ``ErrorFolderNotFound`` / ``ErrorItemNotFound``; ``busy``
answers the next N requests with the ``ErrorServerBusy`` SOAP fault and its
``BackOffMilliseconds``. The follow-up flag travels as the extended property
PidTagFlagStatus (0x1090), as exchangelib asks for it.

The test fills a ``FakeMailbox`` (folders with localized names, messages as raw bytes with
read state, flag, categories and received time) and counts requests per operation.
"""

from __future__ import annotations

import base64
import functools
import itertools
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"

_ids = itertools.count(1)

#: Operations added by other modules of the fake (``fake_ews_*.py``): name → answer.
OPERATIONS: dict[str, Callable[[FakeEws, ET.Element], bytes]] = {}
#: Authentication schemes other than Basic: name → check(server, handler) that answers
#: True, or sends the challenge itself and answers False.
AUTHENTICATORS: dict[str, Callable[[FakeEws, BaseHTTPRequestHandler], bool]] = {}


def operation(name: str):
    """Register a SOAP operation answered by ``function(server, request) -> bytes``."""
    def register(function):
        OPERATIONS[name] = function
        return function
    return register


@dataclass
class FakeMessage:
    """One message as the server holds it: MIME bytes and the properties beside them."""

    mime: bytes
    received: datetime = field(default_factory=lambda: datetime(2024, 3, 1, 9, 30, tzinfo=UTC))
    is_read: bool = False
    flagged: bool = False
    categories: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: f"AAMkItem{next(_ids):06d}=")
    item_class: str = "IPM.Note"  # IPM.Appointment: a CalendarItem; IPM.Contact: a Contact
    seq: int = 0  # the change number that created it (SyncFolderItems); 0: not stamped yet
    error: str | None = None  # an EWS code (ErrorItemCorrupt …) GetItem answers for its MIME
    draft: bool = False  # MSGFLAG_UNSENT: what Exchange makes of a MIME upload by default
    #: Extended properties set by CreateItem/UpdateItem: ExtendedFieldURI attributes
    #: (sorted (name, value) pairs) → value text; returned with the item.
    extended: dict[tuple[tuple[str, str], ...], str] = field(default_factory=dict)

    @property
    def size(self) -> int:  # Exchange's Size is the MAPI size: larger than the MIME bytes
        return len(self.mime) + 1024


@dataclass
class FakeFolder:
    """A folder: display name (localized), distinguished id if any, class, parent id."""

    name: str
    parent: str | None
    well_known: str | None = None
    folder_class: str | None = "IPF.Note"
    messages: list[FakeMessage] = field(default_factory=list)
    id: str = field(default_factory=lambda: f"AAMkFolder{next(_ids):06d}=")


@dataclass(frozen=True)
class Change:
    """A change made to an existing item, numbered in the mailbox's sequence."""

    seq: int
    folder_id: str
    item_id: str
    kind: str  # "read", "update" or "delete"
    created: int  # the item's creation number


@dataclass
class Fault:
    """Answer some requests with a failure instead: ``kind`` is "soap" (a SOAP fault with
    the EWS ``code``), "message" (the operation's response, an error ``code`` per message),
    "http" (the HTTP status ``code``, with ``Retry-After`` if ``retry_after``) or "drop"
    (close the connection without an answer); for
    ``operation`` only (None: any) and requests ``when`` accepts, once ``after`` requests
    got through, ``times`` times (None: until the test removes it from ``FakeEws.faults``).
    ErrorServerBusy as a SOAP fault carries ``back_off_ms`` as BackOffMilliseconds."""

    kind: str
    code: str
    operation: str | None = None
    after: int = 0
    times: int | None = 1
    retry_after: int | None = None
    back_off_ms: int = 50
    when: Callable[[ET.Element], bool] | None = None  # which requests it is about
    served: int = 0  # requests it let through, then answered


class FakeMailbox:
    """The data a test puts in the server: a root, the message-folder root, and folders."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.folders: dict[str, FakeFolder] = {}
        self.root = self._add(FakeFolder("root", None, "root", None))
        self.msg_root = self._add(FakeFolder("Haut de la banque d'informations", self.root.id,
                                             "msgfolderroot", None))
        self.seq = 0  # the last change number (SyncFolderItems sync states point into it)
        self.log: list[Change] = []  # changes made after creation: read, update, delete
        self.sync_epoch = 0  # bump to make every sync state handed out so far invalid

    def _add(self, folder: FakeFolder) -> FakeFolder:
        self.folders[folder.id] = folder
        return folder

    def add_folder(self, name: str, parent: FakeFolder | None = None,
                   well_known: str | None = None,
                   folder_class: str | None = "IPF.Note") -> FakeFolder:
        """A folder under ``parent`` (the message-folder root by default)."""
        return self._add(FakeFolder(name, (parent or self.msg_root).id, well_known,
                                    folder_class))

    def by_well_known(self, name: str) -> FakeFolder | None:
        return next((f for f in self.folders.values() if f.well_known == name), None)

    def items(self) -> dict[str, FakeMessage]:
        return {m.id: m for f in self.folders.values() for m in f.messages}

    def stamp(self) -> None:
        """Give every message put straight into ``folder.messages`` its creation number."""
        for folder in self.folders.values():
            for message in folder.messages:
                if not message.seq:
                    self.seq += 1
                    message.seq = self.seq

    def folder_of(self, item_id: str) -> FakeFolder:
        return next(f for f in self.folders.values() if any(m.id == item_id for m in f.messages))

    def add_message(self, folder: FakeFolder, message: FakeMessage) -> FakeMessage:
        """A message arriving in ``folder`` (a Create change for SyncFolderItems)."""
        self.stamp()
        self.seq += 1
        message.seq = self.seq
        folder.messages.append(message)
        return message

    def delete_message(self, item_id: str) -> None:
        """A message deleted (hard) from its folder (a Delete change)."""
        folder = self.folder_of(item_id)
        message = next(m for m in folder.messages if m.id == item_id)
        self._change(folder, message, "delete")
        folder.messages.remove(message)

    def mark_read(self, item_id: str, read: bool = True) -> None:
        """The read state changed (a ReadFlagChange)."""
        folder = self.folder_of(item_id)
        message = next(m for m in folder.messages if m.id == item_id)
        message.is_read = read
        self._change(folder, message, "read")

    def set_flagged(self, item_id: str, flagged: bool = True) -> None:
        """The follow-up flag changed (an Update change)."""
        folder = self.folder_of(item_id)
        message = next(m for m in folder.messages if m.id == item_id)
        message.flagged = flagged
        self._change(folder, message, "update")

    def _change(self, folder: FakeFolder, message: FakeMessage, kind: str) -> None:
        self.stamp()
        self.seq += 1
        self.log.append(Change(self.seq, folder.id, message.id, kind, message.seq))

    def descendants(self, parent: FakeFolder, deep: bool) -> list[FakeFolder]:
        out = []
        for folder in self.folders.values():
            if folder.parent == parent.id:
                out.append(folder)
                if deep:
                    out.extend(self.descendants(folder, True))
        return out


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Header>'
        '<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" '
        f'MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="{T}" xmlns="{T}"/>'
        f'</s:Header><s:Body>{body}</s:Body></s:Envelope>').encode()


def _response(operation: str, messages: list[str]) -> bytes:
    return _envelope(f'<m:{operation}Response xmlns:m="{M}" xmlns:t="{T}">'
                     f'<m:ResponseMessages>{"".join(messages)}</m:ResponseMessages>'
                     f'</m:{operation}Response>')


def _success(operation: str, inner: str) -> str:
    return (f'<m:{operation}ResponseMessage ResponseClass="Success">'
            f'<m:ResponseCode>NoError</m:ResponseCode>{inner}</m:{operation}ResponseMessage>')


def _error(operation: str, code: str, text: str) -> str:
    """An error response message; a Sync* one carries an empty SyncState and
    IncludesLastItemInRange, as in Microsoft's documented SyncFolderItems error."""
    sync = ("<m:SyncState /><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
            if operation.startswith("Sync") else "")
    return (f'<m:{operation}ResponseMessage ResponseClass="Error">'
            f'<m:MessageText>{escape(text)}</m:MessageText><m:ResponseCode>{code}'
            f'</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{sync}'
            f'</m:{operation}ResponseMessage>')


def _busy_fault(milliseconds: int) -> bytes:
    return _envelope(
        '<s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/'
        'types">a:ErrorServerBusy</faultcode><faultstring xml:lang="en-US">The server cannot '
        'service this request right now. Try again later.</faultstring><detail>'
        f'<e:ResponseCode xmlns:e="{T[:-5]}errors">ErrorServerBusy</e:ResponseCode>'
        f'<e:Message xmlns:e="{T[:-5]}errors">The server cannot service this request right '
        f'now. Try again later.</e:Message><t:MessageXml xmlns:t="{T}">'
        f'<t:Value Name="BackOffMilliseconds">{milliseconds}</t:Value></t:MessageXml>'
        '</detail></s:Fault>')


def _soap_fault(code: str, text: str) -> bytes:
    """A SOAP fault naming an EWS response code, as Exchange sends mailbox-level errors."""
    return _envelope(
        f'<s:Fault><faultcode xmlns:a="{T}">a:{code}</faultcode><faultstring '
        f'xml:lang="en-US">{escape(text)}</faultstring><detail>'
        f'<e:ResponseCode xmlns:e="{T[:-5]}errors">{code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{T[:-5]}errors">{escape(text)}</e:Message></detail></s:Fault>')


def _folder_xml(folder: FakeFolder, mailbox: FakeMailbox, extra: str = "") -> str:
    children = sum(1 for f in mailbox.folders.values() if f.parent == folder.id)
    parent = f'<t:ParentFolderId Id="{folder.parent}" ChangeKey="AQ=="/>' if folder.parent else ""
    kind = f"<t:FolderClass>{folder.folder_class}</t:FolderClass>" if folder.folder_class else ""
    tag = {"IPF.Appointment": "CalendarFolder", "IPF.Contact": "ContactsFolder",
           "IPF.Task": "TasksFolder"}.get(folder.folder_class or "", "Folder")
    return (f'<t:{tag}><t:FolderId Id="{folder.id}" ChangeKey="AQ=="/>{parent}{kind}'
            f"<t:DisplayName>{escape(folder.name)}</t:DisplayName>"
            f"<t:TotalCount>{len(folder.messages)}</t:TotalCount>"
            f"<t:ChildFolderCount>{children}</t:ChildFolderCount>"
            f"<t:UnreadCount>{sum(not m.is_read for m in folder.messages)}</t:UnreadCount>"
            f"{extra}</t:{tag}>")


#: EWS element of an item, by item class (anything else is a Message).
ITEM_TAGS = {"IPM.Appointment": "CalendarItem", "IPM.Contact": "Contact"}


def _item_xml(message: FakeMessage, folder_id: str, mime: bool) -> str:
    tag = ITEM_TAGS.get(message.item_class)
    if tag is not None:
        return _pim_item_xml(message, folder_id, mime, tag)
    content = ""
    if mime:
        content = ('<t:MimeContent CharacterSet="UTF-8">'
                   f"{base64.b64encode(message.mime).decode()}</t:MimeContent>")
    categories = "".join(f"<t:String>{escape(c)}</t:String>" for c in message.categories)
    received = message.received.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f'<t:Message>{content}<t:ItemId Id="{message.id}" ChangeKey="CQAAAA=="/>'
            f'<t:ParentFolderId Id="{folder_id}" ChangeKey="AQ=="/>'
            f"<t:ItemClass>{escape(message.item_class)}</t:ItemClass>"
            f"<t:DateTimeReceived>{received}</t:DateTimeReceived>"
            f"<t:Size>{message.size}</t:Size>"
            + (f"<t:Categories>{categories}</t:Categories>" if categories else "")
            + f"<t:IsDraft>{'true' if message.draft else 'false'}</t:IsDraft>"
            + ('<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x1090" '
               'PropertyType="Integer"/><t:Value>2</t:Value></t:ExtendedProperty>'
               if message.flagged else "")
            + _extended_xml(message)
            + f"<t:IsRead>{'true' if message.is_read else 'false'}</t:IsRead></t:Message>")


def _extended_xml(message: FakeMessage) -> str:
    """The item's stored extended properties (exchangelib reads those it registered)."""
    return "".join(
        "<t:ExtendedProperty><t:ExtendedFieldURI "
        + " ".join(f"{name}={quoteattr(value)}" for name, value in uri)
        + f"/><t:Value>{escape(value)}</t:Value></t:ExtendedProperty>"
        for uri, value in message.extended.items())


def _pim_item_xml(message: FakeMessage, folder_id: str, mime: bool, tag: str) -> str:
    """A CalendarItem or Contact: its MimeContent is iCalendar or vCard text."""
    content = ""
    if mime:
        content = ('<t:MimeContent CharacterSet="UTF-8">'
                   f"{base64.b64encode(message.mime).decode()}</t:MimeContent>")
    return (f'<t:{tag}>{content}<t:ItemId Id="{message.id}" ChangeKey="EQAAAA=="/>'
            f'<t:ParentFolderId Id="{folder_id}" ChangeKey="AQ=="/>'
            f"<t:ItemClass>{message.item_class}</t:ItemClass>"
            f"<t:Size>{message.size}</t:Size>{_extended_xml(message)}</t:{tag}>")


class FakeEws:
    """The server: ``url`` is the EWS service endpoint; ``requests`` counts operations."""

    def __init__(self, mailbox: FakeMailbox, user: str, password: str,
                 auth: str = "basic") -> None:
        self.mailbox, self.user, self.password = mailbox, user, password
        self.auth = auth  # "basic", or a name in AUTHENTICATORS
        self.requests: Counter[str] = Counter()
        self.busy = 0  # answer this many next requests with ErrorServerBusy …
        self.busy_on: str | None = None  # … of this operation only (None: any)
        self.busy_ms = 50
        self.impersonated: set[str] = set()  # SMTP addresses asked for by ExchangeImpersonation
        self.mime_fetched: Counter[str] = Counter()  # item id → times its MimeContent was served
        self.folder_sizes = True  # answer PR_MESSAGE_SIZE_EXTENDED (False: a server that won't)
        self.faults: list[Fault] = []  # failures to answer instead (see Fault)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/EWS/Exchange.asmx"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeEws:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._send(405, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if server.auth != "basic":
                    if not AUTHENTICATORS[server.auth](server, self):
                        return
                elif not server._authorized(self.headers.get("Authorization")):
                    server.requests["401"] += 1
                    self._send(401, b"", {"WWW-Authenticate": 'Basic realm="fake-ews"'})
                    return
                envelope = ET.fromstring(body)
                for smtp in envelope.iter(f"{{{T}}}PrimarySmtpAddress"):
                    server.impersonated.add(smtp.text or "")
                request = envelope.find(f"{{{SOAP}}}Body")[0]
                operation = request.tag.split("}")[1]
                with server._lock:
                    if server.busy > 0 and server.busy_on in (None, operation):
                        server.busy -= 1
                        server.requests["busy"] += 1
                        self._send(500, _busy_fault(server.busy_ms))
                        return
                    fault = server._fault(operation, request)
                if fault is not None and fault.kind == "drop":
                    self.close_connection = True  # no answer at all
                    return
                if fault is not None:
                    self._send(*server._fault_answer(fault, operation, request))
                    return
                server.requests[operation] += 1
                answer = getattr(server, f"_{operation}", None)
                if answer is None and operation in OPERATIONS:
                    answer = functools.partial(OPERATIONS[operation], server)
                if answer is None:
                    self._send(500, _envelope(
                        f"<s:Fault><faultcode>s:Client</faultcode><faultstring>"
                        f"{operation} is not faked</faultstring></s:Fault>"))
                    return
                self._send(200, answer(request))

        return Handler

    def _fault(self, operation: str, request: ET.Element) -> Fault | None:
        """The fault answering this request, if one is due (called under the lock)."""
        for fault in self.faults:
            if fault.operation not in (None, operation) \
                    or (fault.when is not None and not fault.when(request)):
                continue
            fault.served += 1
            if fault.served <= fault.after:
                continue
            if fault.times is not None and fault.served > fault.after + fault.times:
                continue
            self.requests[f"fault:{fault.code}"] += 1
            return fault
        return None

    @staticmethod
    def _fault_answer(fault: Fault, operation: str,
                      request: ET.Element) -> tuple[int, bytes, dict[str, str]]:
        text = f"{fault.code} (fault injected by the test)"
        if fault.kind == "http":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return int(fault.code), b"", headers
        if fault.kind == "soap" and fault.code == "ErrorServerBusy":
            return 500, _busy_fault(fault.back_off_ms), {}
        if fault.kind == "soap":
            return 500, _soap_fault(fault.code, text), {}
        ids = next((found for name in ("ItemIds", "FolderIds", "ParentFolderIds")
                    if (found := request.find(f"{{{M}}}{name}")) is not None), None)
        count = len(ids) if ids is not None else 1
        return 200, _response(operation, [_error(operation, fault.code, text)] * count), {}

    # --- operations ----------------------------------------------------------------------

    def _folder_ref(self, element: ET.Element) -> FakeFolder | None:
        if element.tag == f"{{{T}}}DistinguishedFolderId":
            return self.mailbox.by_well_known(element.get("Id", ""))
        return self.mailbox.folders.get(element.get("Id", ""))

    def _public(self, folder: FakeFolder) -> bool:
        """True for the public folders' root and the folders under it."""
        while folder is not None:
            if folder.well_known == "publicfoldersroot":
                return True
            folder = self.mailbox.folders.get(folder.parent or "")
        return False

    def _ConvertId(self, request: ET.Element) -> bytes:
        """exchangelib's version probe: a dummy id, answered with an error (and the
        ServerVersionInfo header it reads)."""
        ids = request.find(f"{{{M}}}SourceIds")
        return _response("ConvertId", [
            _error("ConvertId", "ErrorInvalidIdMalformed", "Id is malformed.")
            for _ in (ids if ids is not None else [None])])

    def _GetFolder(self, request: ET.Element) -> bytes:
        out = []
        size = next((uri for uri in request.iter(f"{{{T}}}ExtendedFieldURI")
                     if int(uri.get("PropertyTag", "0"), 16) == 0x0E08), None)
        for ref in request.find(f"{{{M}}}FolderIds"):
            folder = self._folder_ref(ref)
            if folder is None:
                out.append(_error("GetFolder", "ErrorFolderNotFound",
                                  "The specified folder could not be found in the store."))
            else:
                extra = "" if size is None or not self.folder_sizes else (  # when asked
                    "<t:ExtendedProperty><t:ExtendedFieldURI "
                    f'PropertyTag="{size.get("PropertyTag")}" '
                    f'PropertyType="{size.get("PropertyType")}"/><t:Value>'
                    f"{sum(m.size for m in folder.messages)}</t:Value></t:ExtendedProperty>")
                out.append(_success("GetFolder", "<m:Folders>"
                                    f"{_folder_xml(folder, self.mailbox, extra)}</m:Folders>"))
        return _response("GetFolder", out)

    @staticmethod
    def _page(request: ET.Element, view: str, total: int) -> tuple[int, int]:
        element = request.find(f"{{{M}}}{view}")
        if element is None:
            return 0, total
        offset = int(element.get("Offset", "0"))
        return offset, min(total, offset + int(element.get("MaxEntriesReturned", total)))

    def _FindFolder(self, request: ET.Element) -> bytes:
        deep = request.get("Traversal") == "Deep"
        out = []
        for ref in request.find(f"{{{M}}}ParentFolderIds"):
            parent = self._folder_ref(ref)
            if parent is None:
                out.append(_error("FindFolder", "ErrorFolderNotFound",
                                  "The specified folder could not be found in the store."))
                continue
            if deep and self._public(parent):  # "Deep traversal queries are not allowed
                out.append(_error("FindFolder", "ErrorInvalidOperation",  # on public folders"
                                  "Deep traversal queries are not allowed on public folders."))
                continue
            found = self.mailbox.descendants(parent, deep)
            start, end = self._page(request, "IndexedPageFolderView", len(found))
            inner = "".join(_folder_xml(f, self.mailbox) for f in found[start:end])
            last = "true" if end >= len(found) else "false"
            out.append(_success("FindFolder", (
                f'<m:RootFolder IndexedPagingOffset="{end}" TotalItemsInView="{len(found)}" '
                f'IncludesLastItemInRange="{last}"><t:Folders>{inner}</t:Folders>'
                "</m:RootFolder>")))
        return _response("FindFolder", out)

    def _FindItem(self, request: ET.Element) -> bytes:
        out = []
        for ref in request.find(f"{{{M}}}ParentFolderIds"):
            folder = self._folder_ref(ref)
            if folder is None:
                out.append(_error("FindItem", "ErrorFolderNotFound",
                                  "The specified folder could not be found in the store."))
                continue
            found = folder.messages
            start, end = self._page(request, "IndexedPageItemView", len(found))
            inner = "".join(_item_xml(m, folder.id, False) for m in found[start:end])
            last = "true" if end >= len(found) else "false"
            out.append(_success("FindItem", (
                f'<m:RootFolder IndexedPagingOffset="{end}" TotalItemsInView="{len(found)}" '
                f'IncludesLastItemInRange="{last}"><t:Items>{inner}</t:Items>'
                "</m:RootFolder>")))
        return _response("FindItem", out)

    def _GetItem(self, request: ET.Element) -> bytes:
        wanted = {uri.get("FieldURI") for uri in request.iter(f"{{{T}}}FieldURI")}
        mime = "item:MimeContent" in wanted
        if mime:
            self.requests["GetItem:MimeContent"] += 1
        items = self.mailbox.items()
        parents = {m.id: f.id for f in self.mailbox.folders.values() for m in f.messages}
        out = []
        for ref in request.find(f"{{{M}}}ItemIds"):
            message = items.get(ref.get("Id", ""))
            if message is None:
                out.append(_error("GetItem", "ErrorItemNotFound",
                                  "The specified object was not found in the store."))
            elif message.error and mime:
                out.append(_error("GetItem", message.error,
                                  "The item cannot be served (fault injected by the test)."))
            else:
                if mime:
                    self.mime_fetched[message.id] += 1
                out.append(_success("GetItem", "<m:Items>"
                                    f"{_item_xml(message, parents[message.id], mime)}"
                                    "</m:Items>"))
        return _response("GetItem", out)


# The other parts of the fake register their operations when imported (at the end, so
# that they can import what this module defines).
import fake_ews_auth  # noqa: E402, F401
import fake_ews_sync  # noqa: E402, F401
import fake_ews_write  # noqa: E402, F401
