"""One mailbox through Microsoft Graph: the SDK client, throttling, and the error boundary.

msgraph-sdk is asynchronous; the engine is not. A session runs its own event loop in a
thread and every call waits for its coroutine there, so sources stay plain iterators.

Throttling. Graph allows about four requests in flight per mailbox and answers 429 or 503
with ``Retry-After``. The SDK's retry handler is switched off (it gives up after a few
tries and refuses long waits); ``Session.call`` is the only retry loop: it honours
``Retry-After`` however long, up to ``max_wait`` per wait and ``throttle_retries`` waits
per request, and holds a slot of the mailbox's semaphore (``concurrency``, at most 4,
shared by every session of the process on that mailbox) only while a request is in
flight, never while waiting.

Errors become ``migrate.errors``::

    azure-identity sign-in refused          → AuthError (exit 3), naming tenant and app
    401 (token expired or refused)          → the token is read again once, then AuthError
    403                                     → AuthError, saying which permission is missing
    429, 503, 504, other 5xx, dropped link  → waited for (above), then RetryableError
    404                                     → NotFound (an ItemError: that item fails alone)
    409 (a folder of that name exists)      → Conflict (an ItemError)
    413 (request too large)                 → TooLargeError (that item fails alone)
    507, ErrorQuotaExceeded                 → QuotaError (that item fails alone)
    410 (a delta's sync state expired)      → SyncStateGone (the listing starts afresh)
    other 4xx                               → ItemError
    cannot connect                          → ConnectError (exit 3)

Secrets (client secret, tokens) are scrubbed from every error text.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import certifi
import httpx
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import RetryHandlerOption, UrlReplaceHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core import GraphClientFactory

from migrate.asyncloop import LoopThread
from migrate.endpoint import Secret
from migrate.errors import (
    AuthError,
    ConnectError,
    ItemError,
    MigrateError,
    QuotaError,
    RetryableError,
    TooLargeError,
)
from migrate.model import Content

from .credentials import SuppliedToken, credential_for
from .settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
# azure-identity logs each failed sign-in as a warning; the AuthError below says it once.
logging.getLogger("azure.identity").setLevel(logging.ERROR)

#: Requests in flight at once against Graph by this process, whatever the mailbox.
OVERALL_CONCURRENCY = 16
_OVERALL = threading.BoundedSemaphore(OVERALL_CONCURRENCY)
_MAILBOXES: dict[tuple[str, str, str], threading.BoundedSemaphore] = {}
_MAILBOXES_LOCK = threading.Lock()
_CHUNK = 1024 * 1024
#: Ask for immutable item ids: a message keeps its id when it moves to another folder.
PREFER_IMMUTABLE = 'IdType="ImmutableId"'
#: What a 403 on a mailbox says the app lacks.
MAIL_PERMISSIONS = ("the Mail.ReadWrite application permission with admin consent, and the "
                    "mailbox must be in its application access policy")


class NotFound(ItemError):
    """Graph answered 404: the folder, message or mailbox is not (or no longer) there."""


class Conflict(ItemError):
    """Graph answered 409: what was to be created exists already (a folder of that name)."""


class SyncStateGone(ItemError):
    """Graph answered 410 to a delta link: its sync state expired; list afresh."""


class TokenRefused(AuthError):
    """Graph answered 401: the access token expired or is not valid for this API."""


class _HttpFailure(Exception):
    """A failed response to a request sent outside the SDK's response handling ($value)."""

    def __init__(self, status: int, headers: httpx.Headers, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.headers, self.code, self.message = status, headers, code, message


def configuration(query=None, prefer: tuple[str, ...] = (PREFER_IMMUTABLE,)
                  ) -> RequestConfiguration:
    """A request configuration with ``Prefer`` headers and the builder's query parameters."""
    config = RequestConfiguration(query_parameters=query)
    for value in prefer:
        config.headers.add("Prefer", value)
    return config


def retry_after(headers) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), None when absent or unreadable."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def plain_client(settings: Settings) -> httpx.AsyncClient:
    """httpx verifying TLS against certifi's roots plus the endpoint's ``ca_file``: the
    client under the SDK, and the one for pre-authenticated URLs (a mailbox's importUrl)."""
    context = ssl.create_default_context(cafile=certifi.where())
    if settings.ca_file:
        try:
            context.load_verify_locations(settings.ca_file)
        except OSError as exc:
            raise ConnectError(f"{settings.display}: cannot read ca_file "
                               f"{settings.ca_file}: {exc.strerror}") from None
    return httpx.AsyncClient(verify=context, timeout=httpx.Timeout(120, connect=20))


@contextmanager
def opening(session: Session, missing: str) -> Iterator[Session]:
    """The first requests of a new session (sign-in, the mailbox or team looked up), so
    that a wrong setting fails at once: NotFound becomes ConnectError(``missing``), and
    the session is closed on any failure."""
    try:
        yield session
    except NotFound as exc:
        session.close()
        raise ConnectError(f"{missing} ({exc})") from None
    except BaseException:
        session.close()
        raise


def _mailbox_slots(settings: Settings) -> threading.BoundedSemaphore:
    key = (settings.graph_url, settings.tenant.lower(), settings.user.lower())
    with _MAILBOXES_LOCK:
        if key not in _MAILBOXES:
            _MAILBOXES[key] = threading.BoundedSemaphore(settings.concurrency)
        return _MAILBOXES[key]


class Session:
    """The Graph client of one mailbox, on an event loop of its own (see the module doc)."""

    def __init__(self, settings: Settings, secrets: dict[str, Secret],
                 needs: str = MAIL_PERMISSIONS) -> None:
        self.settings = settings
        self.needs = needs  # what a 403 says the app lacks
        self.waits: list[float] = []  # the throttling waits honoured, for reports and tests
        password = secrets["password"].get() \
            if settings.auth != "token" and "password" in secrets else None
        self._said: set[str] = {password} if password else set()
        self.credential = credential_for(settings, secrets, password)
        self._slots = _mailbox_slots(settings)
        self.http = self._http_client()
        self._loop = LoopThread("graph-loop")
        provider = AzureIdentityAuthenticationProvider(self.credential, scopes=[settings.scope])
        self.adapter = GraphRequestAdapter(provider, client=self.http)
        self.adapter.base_url = settings.graph_url
        self.client = GraphServiceClient(request_adapter=self.adapter)

    def _http_client(self) -> httpx.AsyncClient:
        """httpx with the SDK's default middleware, its retry handler off (see module doc)."""
        client = plain_client(self.settings)
        options = {
            RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0, should_retry=False),
            UrlReplaceHandlerOption.get_key(): UrlReplaceHandlerOption(enabled=False),
        }
        return GraphClientFactory.create_with_default_middleware(client=client, options=options)

    def _run(self, coroutine: Awaitable[T]) -> T:
        return self._loop.run(coroutine)

    @contextmanager
    def _slot(self) -> Iterator[None]:
        """One request in flight: a slot of this mailbox and one of the process."""
        with self._slots, _OVERALL:
            yield

    def call(self, what: str, make: Callable[[GraphServiceClient], Awaitable[T]]) -> T:
        """Run one SDK request, waiting out throttling and renewing a refused token once."""
        return self._retrying(what, lambda: self._run(make(self.client)))

    def download(self, what: str,
                 request: Callable[[GraphServiceClient], RequestInformation]) -> Content:
        """GET a raw body (a message's ``$value``) streamed into a ``Content``, spooled to a
        temporary file past a few megabytes: a 35 MB message never sits in memory whole."""
        return self._retrying(what, lambda: self._stream(request(self.client)))

    def get_json(self, what: str,
                 request: Callable[[GraphServiceClient], RequestInformation]) -> bytes:
        """GET a JSON answer as the exact bytes Graph sent (for sources that keep it)."""
        return self.download(what, request).read()

    def _retrying(self, what: str, attempt_once: Callable[[], T]) -> T:
        renewed = False
        for attempt in itertools.count():
            try:
                with self._slot(), self.errors(what):
                    return attempt_once()
            except TokenRefused:
                if renewed or not isinstance(self.credential, SuppliedToken):
                    raise
                renewed = self.credential.invalidate()
                log.warning("%s: access token refused; reading it again", self.settings.display)
            except RetryableError as exc:
                self._back_off(exc, attempt)
        raise AssertionError("unreachable")

    def _back_off(self, exc: RetryableError, attempt: int) -> None:
        """Sleep as long as the server asked (at most ``max_wait``), or re-raise when spent."""
        if attempt >= self.settings.throttle_retries:
            raise exc
        asked = exc.retry_after if exc.retry_after is not None else min(2.0 ** attempt, 60.0)
        wait = min(asked, self.settings.max_wait)
        self.waits.append(wait)
        log.warning("%s; waiting %g s (try %d of %d)", exc, wait, attempt + 1,
                    self.settings.throttle_retries)
        time.sleep(wait)

    def _stream(self, info: RequestInformation) -> Content:
        response = self._run(self._open(info))

        def chunks() -> Iterator[bytes]:
            try:
                stream = response.aiter_bytes(_CHUNK)
                while (chunk := self._run(_next(stream))) is not None:
                    yield chunk
            finally:
                self._run(response.aclose())

        return Content.from_chunks(chunks())

    async def _open(self, info: RequestInformation) -> httpx.Response:
        """Send through the SDK's adapter (base URL, token, middleware), body not yet read."""
        self.adapter.set_base_url_for_request_information(info)
        request = await self.adapter.convert_to_native_async(info)
        response = await self.http.send(request, stream=True)
        if response.status_code >= 400:
            body = await response.aread()
            await response.aclose()
            raise _HttpFailure(response.status_code, response.headers, *_odata_error(body))
        return response

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Translate SDK, azure-identity and network errors into ``migrate.errors``."""
        s, where = self.settings, self.settings.display
        try:
            yield
        except MigrateError:
            raise
        except ClientAuthenticationError as exc:
            if "certificate verify failed" in str(exc).lower():
                raise ConnectError(f"{where}: the TLS certificate of the sign-in service "
                                   f"{s.authority} is not trusted while {what} (a proxy that "
                                   "inspects TLS needs its CA in ca_file=): "
                                   f"{self._first_line(exc)}") from None
            raise AuthError(f"{where}: sign-in refused for app {s.client_id} in tenant "
                            f"{s.tenant} (at {s.authority}) while {what}: "
                            f"{self._first_line(exc)}") from None
        except ServiceRequestError as exc:
            raise ConnectError(f"{where}: cannot reach the sign-in service {s.authority} "
                               f"while {what}: {self._first_line(exc)}") from None
        except APIError as exc:
            error = getattr(exc, "error", None)
            raise self._http_error(what, exc.response_status_code or 0, exc.response_headers,
                                   getattr(error, "code", None) or "",
                                   getattr(error, "message", None) or str(exc)) from None
        except _HttpFailure as exc:
            raise self._http_error(what, exc.status, exc.headers, exc.code,
                                   exc.message) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ConnectError(f"{where}: cannot reach Microsoft Graph at {s.graph_url} "
                               f"while {what}: {self.scrub(exc)}") from None
        except httpx.TransportError as exc:  # dropped mid-way: worth another try
            raise RetryableError(f"{where}: connection to Microsoft Graph lost while {what}: "
                                 f"{self.scrub(exc) or type(exc).__name__}") from None
        except OSError as exc:
            raise ConnectError(f"{where}: {what}: {self.scrub(exc)}") from None

    def _http_error(self, what: str, status: int, headers, code: str,
                    message: str) -> MigrateError:
        s, where = self.settings, self.settings.display
        detail = f"{code}: {self.scrub(message)}" if code else self.scrub(message)
        if status == 401:
            return TokenRefused(f"{where}: Microsoft Graph refused the access token while "
                                f"{what} ({detail}); check that it is an app-only token of "
                                f"tenant {s.tenant} that has not expired")
        if status == 403:
            return AuthError(f"{where}: access denied while {what} ({detail}); the app "
                             f"{s.client_id or ''} needs {self.needs}")
        if status == 507 or code in ("ErrorQuotaExceeded", "QuotaExceeded"):
            return QuotaError(f"{where}: {what}: the mailbox is full ({detail})")
        if status == 413:
            return TooLargeError(f"{where}: {what}: too large for Microsoft Graph ({detail})")
        if status in (429, 503, 504) or status >= 500:
            wait = retry_after(headers)
            return RetryableError(f"{where}: Microsoft Graph throttled or busy (HTTP {status}"
                                  f"{', ' + code if code else ''}) while {what}",
                                  retry_after=wait)
        if status == 404:
            return NotFound(f"{where}: {what}: not found ({detail})")
        if status == 409:
            return Conflict(f"{where}: {what}: exists already ({detail})")
        if status == 410:
            return SyncStateGone(f"{where}: {what}: sync state expired ({detail})")
        return ItemError(f"{where}: {what}: HTTP {status} ({detail})")

    def _first_line(self, exc: BaseException) -> str:
        text = self.scrub(exc)
        return text.strip().splitlines()[0] if text.strip() else type(exc).__name__

    def keep_secret(self, value: str) -> None:
        """Scrub ``value`` too from every error text (a pre-authenticated URL, its token)."""
        if value:
            self._said.add(value)

    def scrub(self, exc: BaseException | str) -> str:
        """An error's text fit for a log: secrets and tokens replaced by ``***``."""
        text = str(exc)
        secrets = set(self._said)
        token = getattr(self.credential, "_token", None)
        if token is not None:
            secrets.add(token.token)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        """Close the HTTP client, the credential and the event loop."""
        if self._loop.closed:
            return
        try:
            self._run(self.http.aclose())
        finally:
            self._loop.close()
            close = getattr(self.credential, "close", None)
            if close is not None:
                close()


async def _next(stream) -> bytes | None:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None


def _odata_error(body: bytes) -> tuple[str, str]:
    """(code, message) of a Graph error body (``{"error": {"code", "message"}}``)."""
    import json

    try:
        error = json.loads(body)["error"]
        return str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", body[:200].decode("utf-8", "replace")
