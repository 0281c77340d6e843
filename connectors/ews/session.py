"""One EWS account: endpoint settings, the exchangelib ``Account``, and the error boundary.

This is where exchangelib's and requests' exceptions become the engine's
(``migrate.errors``)::

    UnauthorizedError, ErrorAccessDenied,
    ErrorImpersonateUserDenied …        → AuthError (exit 3)
    TransportError, ErrorTimeoutExpired,
    requests/OS errors                  → ConnectError (exit 3)
    ErrorServerBusy (BackOffMilliseconds),
    ErrorTooManyObjectsOpened,
    ErrorExceededConnectionCount        → waited for as the server asks (BackOffMilliseconds),
                                          ``busy_retries`` times; then RetryableError
    ErrorMessageSizeExceeded            → TooLargeError (that item fails alone)
    ErrorQuotaExceeded                  → QuotaError (that item fails alone)
    ErrorItemNotFound, corrupt items …  → ItemError (one message fails, the run goes on)

The password is read from the endpoint's secrets when the account is opened, and scrubbed
from every error text.
"""

from __future__ import annotations

import itertools
import logging
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
    Account,
    Configuration,
    Credentials,
    FailFast,
    FaultTolerance,
    Version,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorExceededConnectionCount,
    ErrorImpersonateUserDenied,
    ErrorImpersonationDenied,
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
    ConfigError,
    ConnectError,
    ItemError,
    MigrateError,
    QuotaError,
    RetryableError,
    TooLargeError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_AUTH = {"basic": BASIC, "ntlm": NTLM}
_VERSIONS = {"2013": EXCHANGE_2013, "2016": EXCHANGE_2016, "2019": EXCHANGE_2019}
_BUSY = (ErrorServerBusy, ErrorTooManyObjectsOpened, ErrorExceededConnectionCount,
         RateLimitError)
_REFUSED = (UnauthorizedError, ErrorAccessDenied, ErrorImpersonateUserDenied,
            ErrorImpersonationDenied, ErrorNonExistentMailbox)
#: Seconds to wait when the server is busy but does not say how long.
DEFAULT_BACK_OFF = 5.0
#: The longest single wait honoured, whatever BackOffMilliseconds says.
MAX_BACK_OFF = 300.0


@dataclass(frozen=True)
class Settings:
    """Where and how to connect, from an ``ews://USER@HOST`` endpoint."""

    display: str
    user: str
    mailbox: str  # the SMTP address whose mailbox is read
    service_endpoint: str
    auth: str  # "basic" or "ntlm"
    impersonate: bool
    max_wait: float | None  # FaultTolerance's budget in seconds; None: fail fast
    version: str | None  # "2013", "2016", "2019"; None: asked of the server (ConvertId)
    busy_retries: int  # waits honoured when the server says it is busy, per request

    @classmethod
    def from_endpoint(cls, endpoint: Endpoint) -> Settings:
        """Read and check the endpoint's parameters (ConfigError when wrong)."""
        params, where = endpoint.params, endpoint.display
        if not endpoint.host:
            raise ConfigError(f"{where}: a host is needed (ews://USER@HOST)")
        if not endpoint.user:
            raise ConfigError(f"{where}: a user is needed (ews://USER@HOST)")
        if endpoint.password is None:
            raise ConfigError(f"{where}: no password (give password_env, password_file or "
                              "password_command in the config file)")
        auth = params.get("auth", "ntlm").lower()
        if auth not in _AUTH:
            raise ConfigError(f"{where}: auth must be one of {', '.join(_AUTH)}")
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
        return cls(display=where, user=endpoint.user,
                   mailbox=impersonate or params.get("mailbox") or endpoint.user,
                   service_endpoint=url, auth=auth, impersonate=bool(impersonate),
                   max_wait=max_wait, version=version, busy_retries=busy_retries)


class Session:
    """The exchangelib ``Account`` of one mailbox, opened on first use."""

    def __init__(self, settings: Settings, secrets: dict[str, Secret]) -> None:
        self.settings = settings
        self._secrets = secrets
        self._said: set[str] = set()
        self._account: Account | None = None

    def account(self) -> Account:
        """The account, opened now if needed (no autodiscover; the server's version is
        asked with one ConvertId unless the endpoint gives ``version=``)."""
        if self._account is None:
            s = self.settings
            password = self._secrets["password"].get()
            if password:
                self._said.add(password)
            policy = FaultTolerance(max_wait=s.max_wait) if s.max_wait else FailFast()
            config = Configuration(
                service_endpoint=s.service_endpoint,
                credentials=Credentials(username=s.user, password=password),
                auth_type=_AUTH[s.auth],
                version=Version(build=_VERSIONS[s.version]) if s.version else None,
                retry_policy=policy, max_connections=4)
            with self.errors("opening the mailbox"):
                self._account = Account(
                    primary_smtp_address=s.mailbox, config=config, autodiscover=False,
                    access_type=IMPERSONATION if s.impersonate else DELEGATE)
        return self._account

    def call(self, what: str, action: Callable[[Account], T]) -> T:
        """Run ``action`` on the account, translating errors (see the module docstring).

        When the server says it is busy, wait as long as it asks and try again, up to
        ``busy_retries`` times; then the RetryableError goes to the caller.
        """
        account = self.account()
        for attempt in itertools.count():
            try:
                with self.errors(what):
                    return action(account)
            except RetryableError as exc:
                self._back_off(exc, attempt)
        raise AssertionError("unreachable")

    def stream(self, what: str, action: Callable[[Account], Iterator[T]],
               key: Callable[[T], Hashable]) -> Iterator[T]:
        """Like ``call`` for a paged listing: a busy server interrupting it is waited for,
        and the listing starts again, skipping what was already yielded (by ``key``)."""
        account = self.account()
        seen: set[Hashable] = set()
        for attempt in itertools.count():
            try:
                with self.errors(what):
                    for item in action(account):
                        mark = key(item)
                        if mark in seen:
                            continue
                        seen.add(mark)
                        yield item
                return
            except RetryableError as exc:
                self._back_off(exc, attempt)

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
            raise AuthError(f"{where}: login refused ({self.settings.auth}) while {what}: "
                            f"{self.scrub(exc)}") from None
        except ErrorTimeoutExpired as exc:  # exchangelib's word for "connection failed"
            raise ConnectError(f"{where}: cannot reach the EWS endpoint "
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
            raise ConnectError(f"{where}: cannot reach the EWS endpoint "
                               f"{self.settings.service_endpoint} while {what}: "
                               f"{self.scrub(exc)}") from None
        except EWSError as exc:
            raise ItemError(f"{where}: {what}: {type(exc).__name__}: "
                            f"{self.scrub(exc)}") from None

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
