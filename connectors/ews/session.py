"""One EWS account: endpoint settings, the exchangelib ``Account``, and the error boundary.

This is where exchangelib's and requests' exceptions become the engine's
(``migrate.errors``)::

    UnauthorizedError (401), ErrorAccessDenied,
    ErrorImpersonateUserDenied …        → AuthError (exit 3); with OAuth 2, a 401 first
                                          renews the token once (see ``auth``)
    ErrorNonExistentMailbox,
    ErrorMailboxMoveInProgress,
    ErrorMailboxStoreUnavailable        → MailboxUnavailableError (exit 3, job aborted:
                                          a rerun resumes once the mailbox is back)
    TransportError, ErrorTimeoutExpired,
    requests/OS errors                  → ConnectError (exit 3), after connecting again
                                          once (a dropped connection)
    ErrorServerBusy (BackOffMilliseconds),
    ErrorTooManyObjectsOpened,
    ErrorExceededConnectionCount        → waited for as the server asks (BackOffMilliseconds),
                                          ``busy_retries`` times; then RetryableError
    ErrorMessageSizeExceeded            → TooLargeError (that item fails alone)
    ErrorQuotaExceeded                  → QuotaError (that item fails alone)
    ErrorItemNotFound, corrupt items …  → ItemError (one message fails, the run goes on)

Authentication: ``ntlm`` (default) and ``basic`` take the endpoint's password; ``oauth2``
takes an access token from ``auth.py`` (client credentials of an app registration, or a
token file/command). Secrets are read from the endpoint when the account is opened and
scrubbed from every error text. With ``max_wait`` (exchangelib's FaultTolerance, which
takes a 401 for throttling and retries it), the login itself still fails fast: the policy
is switched on once the first request has gone through.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Configuration,
    Credentials,
    FailFast,
    FaultTolerance,
    Version,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorCorruptData,
    ErrorExceededConnectionCount,
    ErrorImpersonateUserDenied,
    ErrorImpersonationDenied,
    ErrorItemCorrupt,
    ErrorItemNotFound,
    ErrorMailboxMoveInProgress,
    ErrorMailboxStoreUnavailable,
    ErrorMessageSizeExceeded,
    ErrorNonExistentMailbox,
    ErrorQuotaExceeded,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    ErrorTooManyObjectsOpened,
    EWSError,
    RateLimitError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.version import EXCHANGE_2013, EXCHANGE_2016, EXCHANGE_2019

from migrate.endpoint import Endpoint, Secret
from migrate.errors import (
    AuthError,
    BadInputError,
    ConfigError,
    ConnectError,
    ItemError,
    MailboxUnavailableError,
    MigrateError,
    QuotaError,
    RetryableError,
    TooLargeError,
)

from .auth import (
    DEFAULT_AUTHORITY,
    ClientCredentials,
    OAuthSettings,
    RenewingCredentials,
    StoredToken,
    TokenSource,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_AUTH = {"basic": BASIC, "ntlm": NTLM, "oauth2": OAUTH2}
_VERSIONS = {"2013": EXCHANGE_2013, "2016": EXCHANGE_2016, "2019": EXCHANGE_2019}
_BUSY = (ErrorServerBusy, ErrorTooManyObjectsOpened, ErrorExceededConnectionCount,
         RateLimitError)
_REFUSED = (UnauthorizedError, ErrorAccessDenied, ErrorImpersonateUserDenied,
            ErrorImpersonationDenied)
#: The mailbox cannot be read, whoever asks: what it means for the operator.
_GONE = {
    ErrorNonExistentMailbox: "does not exist on the server (any more): check the address, "
                             "or whether the account was deleted or moved to another "
                             "organisation",
    ErrorMailboxMoveInProgress: "is being moved to another database: run the copy again "
                                "once the move is over",
    ErrorMailboxStoreUnavailable: "is on a database that is not available now: run the "
                                  "copy again once it is mounted",
}
#: Errors the server returns about one item (not raised by exchangelib, returned).
_CORRUPT = (ErrorCorruptData, ErrorItemCorrupt)
#: Seconds to wait when the server is busy but does not say how long.
DEFAULT_BACK_OFF = 5.0
#: The longest single wait honoured, whatever BackOffMilliseconds says.
MAX_BACK_OFF = 300.0
#: Seconds before connecting again after a dropped connection.
RECONNECT_WAIT = 2.0


class _TokenRefused(AuthError):
    """A 401 to an OAuth 2 access token: worth one new token before giving up."""


class _Dropped(ConnectError):
    """The connection failed or was dropped: worth one new connection before giving up."""


@dataclass(frozen=True)
class Settings:
    """Where and how to connect, from an ``ews://USER@HOST`` endpoint."""

    display: str
    user: str
    mailbox: str  # the SMTP address whose mailbox is read
    service_endpoint: str
    auth: str  # "basic", "ntlm" or "oauth2"
    impersonate: bool
    max_wait: float | None  # FaultTolerance's budget in seconds; None: fail fast
    version: str | None  # "2013", "2016", "2019"; None: asked of the server (ConvertId)
    busy_retries: int  # waits honoured when the server says it is busy, per request
    oauth: OAuthSettings | None = None  # with auth=oauth2

    @classmethod
    def from_endpoint(cls, endpoint: Endpoint) -> Settings:
        """Read and check the endpoint's parameters (ConfigError when wrong)."""
        params, where = endpoint.params, endpoint.display
        if not endpoint.host:
            raise ConfigError(f"{where}: a host is needed (ews://USER@HOST)")
        if not endpoint.user:
            raise ConfigError(f"{where}: a user is needed (ews://USER@HOST)")
        secrets = endpoint.secrets
        tokens = "token" in secrets or "client_secret" in secrets
        auth = params.get("auth", "oauth2" if tokens and endpoint.password is None
                          else "ntlm").lower()
        if auth not in _AUTH:
            raise ConfigError(f"{where}: auth must be one of {', '.join(_AUTH)}")
        if auth != "oauth2" and endpoint.password is None:
            raise ConfigError(f"{where}: no password (give password_env, password_file or "
                              "password_command in the config file)")
        tls = params.get("tls", "on").lower()
        if tls not in ("on", "off"):
            raise ConfigError(f"{where}: tls must be on or off, not {tls!r}")
        host = endpoint.host + (f":{endpoint.port}" if endpoint.port else "")
        url = params.get("endpoint") or \
            f"{'http' if tls == 'off' else 'https'}://{host}/EWS/Exchange.asmx"
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"{where}: endpoint must be an http(s):// URL")
        if url.startswith("http://") and tls != "off":
            raise ConfigError(f"{where}: a plain http:// endpoint needs tls=off")
        impersonate = params.get("impersonate")
        try:
            max_wait = float(params.get("max_wait", "0")) or None
        except ValueError:
            raise ConfigError(f"{where}: max_wait must be a number of seconds") from None
        version = params.get("version")
        if version is not None and version not in _VERSIONS:
            raise ConfigError(f"{where}: version must be one of {', '.join(_VERSIONS)}")
        try:
            busy_retries = int(params.get("busy_retries", "5"))
        except ValueError:
            raise ConfigError(f"{where}: busy_retries must be a whole number") from None
        oauth = _oauth_settings(endpoint, url, tls) if auth == "oauth2" else None
        if oauth is not None and oauth.client_id:  # an application token: it impersonates
            impersonate = impersonate or params.get("mailbox") or endpoint.user
        return cls(display=where, user=endpoint.user,
                   mailbox=impersonate or params.get("mailbox") or endpoint.user,
                   service_endpoint=url, auth=auth, impersonate=bool(impersonate),
                   max_wait=max_wait, version=version, busy_retries=busy_retries,
                   oauth=oauth)


def _oauth_settings(endpoint: Endpoint, service_endpoint: str, tls: str) -> OAuthSettings:
    """OAuth 2 parameters: ``tenant``, ``client_id`` and the ``client_secret_*`` secret for
    the client-credentials grant, or a ``token_file``/``token_command``; ``authority``
    (national clouds) and ``scope`` (default: the EWS server's own ``/.default``)."""
    params, where = endpoint.params, endpoint.display
    authority = params.get("authority", DEFAULT_AUTHORITY)
    if not authority.startswith(("https://", "http://")):
        raise ConfigError(f"{where}: authority must be an https:// URL")
    if authority.startswith("http://") and tls != "off":
        raise ConfigError(f"{where}: a plain http:// authority needs tls=off")
    host = service_endpoint.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
    scope = params.get("scope", f"https://{host}/.default")
    client_id, tenant = params.get("client_id"), params.get("tenant")
    if "client_secret" in endpoint.secrets:
        if not client_id or not tenant:
            raise ConfigError(f"{where}: auth=oauth2 with a client secret needs tenant= "
                              "(the directory id) and client_id= (the application id)")
    elif "token" in endpoint.secrets:
        client_id = None  # a token obtained elsewhere: nothing to fetch here
    else:
        raise ConfigError(f"{where}: auth=oauth2 needs client_secret_file (or _env, "
                          "_command) with tenant= and client_id=, or a token_file or "
                          "token_command, in the config file")
    return OAuthSettings(authority=authority, tenant=tenant, client_id=client_id, scope=scope)


class Session:
    """The exchangelib ``Account`` of one mailbox, opened on first use."""

    def __init__(self, settings: Settings, secrets: dict[str, Secret]) -> None:
        self.settings = settings
        self._secrets = secrets
        self._said: set[str] = set()
        self._account: Account | None = None
        self._oauth: RenewingCredentials | None = None

    def account(self) -> Account:
        """The account, opened and logged in now if needed (no autodiscover; the server's
        version is asked with one ConvertId unless the endpoint gives ``version=``)."""
        if self._account is None:
            s = self.settings
            config = Configuration(
                service_endpoint=s.service_endpoint, credentials=self._credentials(),
                auth_type=_AUTH[s.auth],
                version=Version(build=_VERSIONS[s.version]) if s.version else None,
                retry_policy=FailFast(), max_connections=4)
            with self.errors("opening the mailbox"):
                account = Account(
                    primary_smtp_address=s.mailbox, config=config, autodiscover=False,
                    access_type=IMPERSONATION if s.impersonate else DELEGATE)
            self._account = account
            try:
                self.call("opening the mailbox", lambda a: a.root)  # the login, failing fast
            except BaseException:
                self._account = None
                raise
            if s.max_wait:
                config.retry_policy = FaultTolerance(max_wait=s.max_wait)
        return self._account

    def _credentials(self) -> Credentials | RenewingCredentials:
        """exchangelib credentials: the password, or an OAuth 2 token fetched now."""
        s = self.settings
        if s.oauth is None:
            password = self._secrets["password"].get()
            if password:
                self._said.add(password)
            return Credentials(username=s.user, password=password)
        if s.service_endpoint.startswith("http://"):  # tls=off, asked for: loopback tests
            os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
        source: TokenSource
        if s.oauth.client_id:
            source = ClientCredentials(s.display, self._said.add, s.oauth,
                                       self._secrets["client_secret"])
        else:
            source = StoredToken(s.display, self._said.add, self._secrets["token"])
        self._oauth = RenewingCredentials(source)
        return self._oauth

    def _recover(self, exc: MigrateError, attempt: int, tried: set[type]) -> None:
        """Get ready to try again after ``exc``, or re-raise it: wait as long as a busy
        server asks (``busy_retries`` times); after a 401 to an OAuth 2 token, fetch a new
        token; after a dropped connection, connect again — each of these once in a row."""
        if isinstance(exc, RetryableError):
            self._back_off(exc, attempt)
            return
        if type(exc) in tried or self._account is None:
            raise exc
        tried.add(type(exc))
        if isinstance(exc, _TokenRefused) and self._oauth is not None:
            log.warning("%s; fetching a new access token", exc)
            self._oauth.refresh()
            self._account.protocol.close()  # the connections holding the old token
        elif isinstance(exc, _Dropped):
            log.warning("%s; connecting again in %g s", exc, RECONNECT_WAIT)
            time.sleep(RECONNECT_WAIT)
        else:
            raise exc

    def call(self, what: str, action: Callable[[Account], T]) -> T:
        """Run ``action`` on the account, translating errors (see the module docstring).

        When the server says it is busy, wait as long as it asks and try again, up to
        ``busy_retries`` times; then the RetryableError goes to the caller.
        """
        account = self.account()
        tried: set[type] = set()
        for attempt in itertools.count():
            try:
                with self.errors(what):
                    return action(account)
            except (RetryableError, _TokenRefused, _Dropped) as exc:
                self._recover(exc, attempt, tried)
        raise AssertionError("unreachable")

    def stream(self, what: str, action: Callable[[Account], Iterator[T]],
               key: Callable[[T], Hashable]) -> Iterator[T]:
        """Like ``call`` for a paged listing: a busy server interrupting it is waited for,
        and the listing starts again, skipping what was already yielded (by ``key``)."""
        account = self.account()
        seen: set[Hashable] = set()
        tried: set[type] = set()  # recoveries tried since the last item listed
        for attempt in itertools.count():
            try:
                with self.errors(what):
                    for item in action(account):
                        mark = key(item)
                        if mark in seen:
                            continue
                        seen.add(mark)
                        tried.clear()
                        yield item
                return
            except (RetryableError, _TokenRefused, _Dropped) as exc:
                self._recover(exc, attempt, tried)

    def _back_off(self, exc: RetryableError, attempt: int) -> None:
        """Sleep the wait the server asked for, or re-raise once retries are spent."""
        if attempt >= self.settings.busy_retries:
            raise exc
        wait = min(exc.retry_after or DEFAULT_BACK_OFF, MAX_BACK_OFF)
        log.warning("%s; waiting %g s as asked (try %d of %d)", exc, wait, attempt + 1,
                    self.settings.busy_retries)
        time.sleep(wait)

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Translate exchangelib and network errors into ``migrate.errors``."""
        where = self.settings.display
        try:
            yield
        except MigrateError:
            raise
        except _BUSY as exc:
            wait = getattr(exc, "back_off", None) or DEFAULT_BACK_OFF
            raise RetryableError(f"{where}: server busy while {what}; retry in {wait:g} s",
                                 retry_after=float(wait)) from None
        except _REFUSED as exc:
            refused, hint = AuthError, ""
            if self.settings.auth == "oauth2" and isinstance(exc, UnauthorizedError):
                refused = _TokenRefused
                hint = (" (the access token has expired, or was issued for another scope or "
                        "without the full_access_as_app permission)")
            raise refused(f"{where}: login refused ({self.settings.auth}) while {what}: "
                          f"{self.scrub(exc)}{hint}") from None
        except tuple(_GONE) as exc:
            meaning = next(text for kind, text in _GONE.items() if isinstance(exc, kind))
            raise MailboxUnavailableError(
                f"{where}: the mailbox {self.settings.mailbox} {meaning} "
                f"({type(exc).__name__}, while {what}); the job stops here, and what was "
                "copied is kept") from None
        except ErrorTimeoutExpired as exc:  # exchangelib's word for "connection failed"
            raise _Dropped(f"{where}: cannot reach the EWS endpoint "
                               f"{self.settings.service_endpoint} while {what}: "
                               f"{self.scrub(exc)}") from None
        except ErrorMessageSizeExceeded as exc:
            raise TooLargeError(f"{where}: {what}: the server refuses an item this large "
                                f"({self.scrub(exc)})") from None
        except ErrorQuotaExceeded as exc:
            raise QuotaError(f"{where}: {what}: the mailbox is full, its quota is reached "
                             f"({self.scrub(exc)})") from None
        except ResponseMessageError as exc:  # about one folder or item (a TransportError too)
            raise ItemError(f"{where}: {what}: {type(exc).__name__}: "
                            f"{self.scrub(exc)}") from None
        except (TransportError, requests.RequestException, OSError) as exc:
            raise _Dropped(f"{where}: cannot reach the EWS endpoint "
                               f"{self.settings.service_endpoint} while {what}: "
                               f"{self.scrub(exc)}") from None
        except EWSError as exc:
            raise ItemError(f"{where}: {what}: {type(exc).__name__}: "
                            f"{self.scrub(exc)}") from None

    def item_error(self, what: str, exc: Exception) -> ItemError:
        """The engine's error for one the server returned about a single item."""
        where, name, text = self.settings.display, type(exc).__name__, self.scrub(exc)
        if isinstance(exc, ErrorItemNotFound):
            return BadInputError(f"{where}: {what} is gone from the mailbox (deleted or "
                                 "moved since it was listed)")
        if isinstance(exc, _CORRUPT):
            return BadInputError(f"{where}: {what}: the item is corrupt in the mailbox "
                                 f"({name}: {text}); Exchange cannot give its content")
        if isinstance(exc, ErrorMessageSizeExceeded):
            return ItemError(f"{where}: {what}: the item is larger than the server lets EWS "
                             f"send ({name}: {text}); raise the EWS message size limit "
                             "(maxReceivedMessageSize) or export it another way")
        return ItemError(f"{where}: {what}: {name}: {text}")

    def scrub(self, exc: BaseException) -> str:
        """An error's text fit for a log: the password replaced by ``***``."""
        text = str(exc) or type(exc).__name__
        for secret in self._said:
            text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        if self._account is not None:
            self._account.protocol.close()
            self._account = None
