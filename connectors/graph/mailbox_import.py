"""Microsoft Graph's mailbox import/export API for one mailbox: export items as FastTransfer
streams, import streams into a folder, and the id and clean-up calls around them.

Calls (v1.0): ``GET /users/{id}/settings/exchange`` once for ``primaryMailboxId``;
``POST /admin/exchange/mailboxes/{id}/exportItems`` (up to 20 ids a call);
``POST …/createImportSession`` for a pre-authenticated ``importUrl``, reused until a minute
before its ``expirationDateTime`` (or until it answers 401), then renewed; the import itself
is a plain HTTPS POST of ``{"FolderId", "Mode": "create", "Data"}`` to that URL, without an
``Authorization`` header, through the session's retry policy (throttling waited out). The
URL carries a token: it never appears in a log, an error or the state database.
``POST /users/{id}/translateExchangeIds`` turns the id the import returns (REST form) into
the immutable id the rest of the connector uses; ``POST …/messages/{id}/permanentDelete``
removes a staging draft for good.

These calls need the ``MailboxItem.ImportExport.All`` application permission; a 403 says
so, and names the ``import=draft`` fallback.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
from msgraph.generated.admin.exchange.mailboxes.item.export_items.export_items_post_request_body import (  # noqa: E501
    ExportItemsPostRequestBody,
)
from msgraph.generated.models.exchange_id_format import ExchangeIdFormat
from msgraph.generated.users.item.translate_exchange_ids.translate_exchange_ids_post_request_body import (  # noqa: E501
    TranslateExchangeIdsPostRequestBody,
)

from migrate.errors import AuthError, ItemError, RetryableError

from .session import NotFound, Session, TokenRefused, _HttpFailure, _odata_error, plain_client

log = logging.getLogger(__name__)

#: What a 403 on the import/export API says the app lacks, and what to do instead.
IMPORT_PERMISSION = ("the MailboxItem.ImportExport.All application permission with admin "
                     "consent to import messages as received mail; without it, add "
                     "?import=draft to the target URL (copies are then drafts, received at "
                     "the upload time)")
#: Graph exports at most this many items per call.
EXPORT_BATCH = 20
#: An import session is renewed this long before Graph says it expires.
_MARGIN = timedelta(minutes=1)


def _ews_form(key: str) -> bool:
    """An EWS id is standard base64 (``/``, ``+``); a REST id is its URL-safe form."""
    return "/" in key or "+" in key


class ImportUnconfirmed(ItemError):
    """The import was sent but its answer was lost: it may be stored; look before resending."""


class MailboxImport:
    """Export, import, id translation and permanent deletion in one mailbox."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._user = session.settings.user
        self._mailbox: str | None = None
        self._url: str | None = None  # the importUrl: a secret, never logged
        self._expires = datetime.min.replace(tzinfo=UTC)
        self._http: httpx.AsyncClient | None = None
        self.imports = 0  # items imported (for reports and tests)

    def _call(self, what: str, make):
        """``session.call``, with a 403 explained as the import permission it lacks."""
        try:
            return self._session.call(what, make)
        except TokenRefused:
            raise
        except AuthError as exc:
            raise AuthError(f"{self._session.settings.display}: access denied while {what}; "
                            f"the app needs {IMPORT_PERMISSION}") from exc

    def mailbox_id(self) -> str:
        """The mailbox's ``primaryMailboxId``, read once."""
        if self._mailbox is None:
            found = self._session.call(
                "reading the mailbox id", lambda c: c.users.by_user_id(self._user)
                .settings.exchange.get())
            if found is None or not found.primary_mailbox_id:
                raise ItemError(f"{self._session.settings.display}: Graph gave no mailbox id "
                                f"for {self._user}")
            self._mailbox = found.primary_mailbox_id
        return self._mailbox

    def export(self, ids: list[str]) -> dict[str, bytes | ItemError]:
        """Each id's FastTransfer stream, or the error Graph gave for it."""
        mailbox, out = self.mailbox_id(), {}
        for at in range(0, len(ids), EXPORT_BATCH):
            chunk = ids[at:at + EXPORT_BATCH]
            body = ExportItemsPostRequestBody(item_ids=chunk)
            answer = self._call(
                f"exporting {len(chunk)} staged messages",
                lambda c, body=body: c.admin.exchange.mailboxes.by_mailbox_id(mailbox)
                .export_items.post(body))
            for item in (answer.value if answer is not None else None) or ():
                if item.error is not None or not item.data:
                    reason = (item.error.message or item.error.code) if item.error else "no data"
                    out[item.item_id] = ItemError(f"Graph could not export the staged message "
                                                  f"({reason})")
                else:
                    out[item.item_id] = item.data
        for key in ids:
            out.setdefault(key, ItemError("Graph did not export the staged message"))
        return out

    def import_item(self, folder_id: str, data: bytes, where: str) -> str:
        """Import one stream into a folder (``Mode: create``); the new item's id as returned."""
        body = json.dumps({"FolderId": folder_id, "Mode": "create",
                           "Data": base64.b64encode(data).decode()}).encode()
        self.mailbox_id()  # read now: not from inside the request below
        answer = self._call(f"importing a message of {len(data)} bytes into {where!r}",
                            lambda c: self._post(c, body))
        key = answer.get("itemId") if isinstance(answer, dict) else None
        if not key:
            raise ItemError(f"{where!r}: the import gave no item id")
        self.imports += 1
        return key

    async def _post(self, client, body: bytes) -> dict:
        url = await self._import_url(client)
        if self._http is None:
            self._http = plain_client(self._session.settings)
        try:
            response = await self._http.post(url, content=body,
                                             headers={"Content-Type": "application/json"})
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing was sent
            raise RetryableError(f"{self._session.settings.display}: cannot reach the import "
                                 f"URL ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:  # its text may hold the URL (a secret): left out
            raise ImportUnconfirmed(f"{self._session.settings.display}: connection lost while "
                                    f"importing ({type(exc).__name__})") from None
        if response.status_code == 401:  # the session's token expired: a new session
            self._url = None
            raise RetryableError(f"{self._session.settings.display}: the import session "
                                 "expired; opening a new one", retry_after=0)
        if response.status_code >= 400:
            raise _HttpFailure(response.status_code, response.headers,
                               *_odata_error(response.content))
        try:
            return response.json()
        except ValueError:
            raise ItemError(f"{self._session.settings.display}: the import answered "
                            "something that is not JSON") from None

    async def _import_url(self, client) -> str:
        """The current importUrl, a new session opened when none is valid for a minute."""
        if self._url is not None and datetime.now(UTC) < self._expires - _MARGIN:
            return self._url
        made = await client.admin.exchange.mailboxes.by_mailbox_id(
            self._mailbox).create_import_session.post()
        if made is None or not made.import_url:
            raise ItemError(f"{self._session.settings.display}: Graph opened no import session")
        self._url = made.import_url
        self._session.keep_secret(made.import_url)  # and the token it carries
        for _, value in parse_qsl(urlsplit(made.import_url).query):
            self._session.keep_secret(value if len(value) >= 16 else "")
        expires = made.expiration_date_time or datetime.now(UTC) + timedelta(minutes=5)
        self._expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
        log.info("%s: import session open until %s", self._session.settings.display,
                 self._expires.isoformat())
        return self._url

    def immutable(self, keys: list[str]) -> dict[str, str]:
        """The immutable ids of items the import returned (REST form, or EWS form when an id
        has ``/`` or ``+``), one request per form; an id Graph could not translate is left
        out."""
        out: dict[str, str] = {}
        for form in (ExchangeIdFormat.RestId, ExchangeIdFormat.EwsId):
            wanted = [k for k in keys if (form is ExchangeIdFormat.EwsId) == _ews_form(k)]
            if not wanted:
                continue
            body = TranslateExchangeIdsPostRequestBody(
                input_ids=wanted, source_id_type=form,
                target_id_type=ExchangeIdFormat.RestImmutableEntryId)
            answer = self._session.call(
                f"translating the ids of {len(wanted)} imported messages",
                lambda c, body=body: c.users.by_user_id(self._user)
                .translate_exchange_ids.post(body))
            for result in (answer.value if answer is not None else None) or ():
                if result.source_id in wanted and result.target_id:
                    out[result.source_id] = result.target_id
        return out

    def delete(self, key: str) -> None:
        """Delete a message for good (a staging draft); gone already is fine."""
        with contextlib.suppress(NotFound):
            self._session.call("deleting a staging draft", lambda c: c.users.by_user_id(
                self._user).messages.by_message_id(key).permanent_delete.post())

    def close(self) -> None:
        """Close the importUrl's connection (the session is closed by its owner)."""
        if self._http is not None:
            client, self._http = self._http, None
            self._session.call("closing the import connection", lambda c: client.aclose())
