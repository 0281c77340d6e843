"""One logged-in IMAP connection: endpoint settings, TLS, login, reconnection, and errors.

This is the boundary where imapclient, imaplib, socket and ssl exceptions become the
engine's (``migrate.errors``)::

    LoginError                          → AuthError (exit 3)
    refused connection, TLS failure     → ConnectError (exit 3)
    BYE, reset, timeout during a call   → reconnect once and retry; then ConnectError
      … during an APPEND                → ConnectionDropped (a RetryableError): the
                                          message may have landed, the target checks
    NO / BAD                            → ``refusal``: QuotaError, TooLargeError,
                                          RetryableError (throttling), ItemError

Secrets are read when logging in (a token file is read again on each reconnection) and
never put in a message: every error text is scrubbed of them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

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

from .quirks import Quirks, detect, preset

log = logging.getLogger(__name__)
T = TypeVar("T")

_AUTH = ("login", "plain", "xoauth2", "oauthbearer")
_DROPPED = (IMAPClientAbortError, OSError, EOFError)  # abort before error: it subclasses it


@dataclass(frozen=True)
class Settings:
    """Where and how to connect, from an ``imap://`` or ``imaps://`` endpoint."""

    display: str
    host: str
    port: int
    tls: str  # "implicit" (imaps), "starttls" or "off"
    cafile: str | None
    user: str
    auth: str  # one of _AUTH
    authzid: str | None
    preset: str | None
    max_size: int | None
    timeout: float

    @classmethod
    def from_endpoint(cls, endpoint: Endpoint) -> Settings:
        """Read and check the endpoint's parameters (ConfigError when wrong)."""
        params = endpoint.params
        where = endpoint.display
        if not endpoint.host:
            raise ConfigError(f"{where}: a host is needed (imap://USER@HOST)")
        if not endpoint.user:
            raise ConfigError(f"{where}: a user is needed (imap://USER@HOST)")
        implicit = endpoint.scheme == "imaps"
        tls_param = params.get("tls", "on").lower()
        if tls_param not in ("on", "off", "starttls"):
            raise ConfigError(f"{where}: tls must be on or off, not {tls_param!r}")
        if implicit and tls_param == "off":
            raise ConfigError(f"{where}: imaps:// is TLS; use imap://…?tls=off for plain text")
        tls = "implicit" if implicit else ("off" if tls_param == "off" else "starttls")
        has_token = "token" in endpoint.secrets
        auth = params.get("auth", "").lower() or \
            ("xoauth2" if has_token and endpoint.password is None else
             "plain" if params.get("authzid") else "login")
        if auth not in _AUTH:
            raise ConfigError(f"{where}: auth must be one of {', '.join(_AUTH)}")
        if auth in ("login", "plain") and endpoint.password is None:
            raise ConfigError(f"{where}: no password (give password_env, password_file or "
                              "password_command in the config file)")
        if auth in ("xoauth2", "oauthbearer") and not has_token:
            raise ConfigError(f"{where}: auth={auth} needs a token (token_file or "
                              "token_command in the config file)")
        if auth == "login" and params.get("authzid"):
            raise ConfigError(f"{where}: authzid needs auth=plain")
        if params.get("preset"):
            try:
                preset(params["preset"])
            except KeyError:
                raise ConfigError(f"{where}: unknown preset {params['preset']!r}") from None
        return cls(
            display=where, host=endpoint.host, port=endpoint.port or (993 if implicit else 143),
            tls=tls, cafile=params.get("cafile"), user=endpoint.user, auth=auth,
            authzid=params.get("authzid") or None, preset=params.get("preset"),
            max_size=_number(where, params, "max_size"),
            timeout=float(_number(where, params, "timeout") or 120))


def _number(where: str, params: dict[str, str], name: str) -> int | None:
    if name not in params:
        return None
    try:
        return int(params[name])
    except ValueError:
        raise ConfigError(f"{where}: {name} must be a whole number") from None


class ConnectionDropped(RetryableError):
    """The connection broke during a write: the message may or may not have landed."""


_QUOTA = re.compile(r"\[OVERQUOTA\]|quota", re.I)
_TOO_BIG = re.compile(r"\[TOOBIG\]|too (?:large|big)|larger than the maximum|exceeds? the "
                      r"(?:maximum|size)|\[LIMIT\][^\]]*size", re.I)
_RETRY = re.compile(r"\[(?:UNAVAILABLE|INUSE|SERVERBUG)\]", re.I)


def refusal(text: str, quirks: Quirks) -> MigrateError:
    """The engine's error for a server's NO or BAD answer to one item (see module doc)."""
    if quirks.throttle is not None:
        wait = quirks.throttle.search(text)
        if wait:
            return RetryableError(text, float(wait.group(1)) * quirks.throttle_unit)
    if _QUOTA.search(text):
        return QuotaError(text)
    if _TOO_BIG.search(text):
        return TooLargeError(text)
    if _RETRY.search(text):
        return RetryableError(text)
    return ItemError(text)


class Session:
    """A logged-in connection, made on first use and made again after a drop."""

    def __init__(self, settings: Settings, secrets: dict[str, Secret],
                 enable: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self._secrets = secrets
        self._enable = enable  # extensions to ENABLE after each login, where offered
        self.enabled: frozenset[str] = frozenset()  # what the server accepted to enable
        self._client: IMAPClient | None = None
        self._said: set[str] = set()  # secret values sent, to scrub from error texts
        self._selected: tuple[str, bool] | None = None
        self.uidvalidity: int | None = None  # of the selected folder, as SELECT said
        self.quirks: Quirks = preset(settings.preset) if settings.preset else preset("generic")

    # --- connecting ------------------------------------------------------------------

    def client(self) -> IMAPClient:
        """The connected client, connecting (and logging in) if needed."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> IMAPClient:
        s = self.settings
        context = ssl.create_default_context(cafile=s.cafile) if s.tls != "off" else None
        try:
            client = IMAPClient(s.host, s.port, ssl=s.tls == "implicit", ssl_context=context,
                                timeout=s.timeout)
        except ssl.SSLCertVerificationError as exc:
            raise ConnectError(f"{s.display}: the server's TLS certificate is not trusted "
                               f"({exc.verify_message}); give its CA with ?cafile=") from None
        except (OSError, IMAPClientError) as exc:
            raise ConnectError(f"{s.display}: cannot connect: {self._scrub(exc)}") from None
        try:
            if s.tls == "starttls":
                self._starttls(client, context)
            self._login(client)
            self.enabled = self._enabled(client)
        except BaseException:
            _close_quietly(client)
            raise
        client.normalise_times = False  # keep INTERNALDATE's UTC offset
        if not s.preset:
            self.quirks = detect(_text(client.welcome))
        return client

    def _enabled(self, client: IMAPClient) -> frozenset[str]:
        """ENABLE (RFC 5161) the wanted extensions the server offers; those it accepted."""
        offered = [name for name in self._enable if client.has_capability(name)]
        if not offered:
            return frozenset()
        try:
            accepted = client.enable(*offered)
        except IMAPClientError as exc:
            log.warning("%s: ENABLE %s refused: %s", self.settings.display, " ".join(offered),
                        self._scrub(exc))
            return frozenset()
        return frozenset(_text(name).upper() for name in accepted)

    def _starttls(self, client: IMAPClient, context: ssl.SSLContext | None) -> None:
        where = self.settings.display
        try:
            if not client.has_capability("STARTTLS"):
                raise ConnectError(f"{where}: the server offers no STARTTLS; use imaps:// "
                                   "or, on a trusted network only, ?tls=off")
            client.starttls(context)
        except ssl.SSLCertVerificationError as exc:
            raise ConnectError(f"{where}: the server's TLS certificate is not trusted "
                               f"({exc.verify_message}); give its CA with ?cafile=") from None
        except (OSError, IMAPClientError) as exc:
            raise ConnectError(f"{where}: STARTTLS failed: {self._scrub(exc)}") from None

    def _login(self, client: IMAPClient) -> None:
        s = self.settings
        try:
            secret = self._secret("token" if s.auth in ("xoauth2", "oauthbearer") else
                                  "password")
            if s.auth == "login":
                client.login(s.user, secret)
            elif s.auth == "plain":
                client.plain_login(s.user, secret, s.authzid)
            elif s.auth == "xoauth2":
                client.oauth2_login(s.user, secret)
            else:
                client.oauthbearer_login(s.user, secret)
        except LoginError as exc:
            raise AuthError(f"{s.display}: login refused ({s.auth}): "
                            f"{self._scrub(exc)}") from None
        except _DROPPED as exc:
            raise ConnectError(f"{s.display}: connection lost while logging in: "
                               f"{self._scrub(exc)}") from None
        except IMAPClientError as exc:
            raise AuthError(f"{s.display}: login failed ({s.auth}): "
                            f"{self._scrub(exc)}") from None

    def _secret(self, name: str) -> str:
        """A secret's current value (a token file is read again at every login)."""
        value = self._secrets[name].get()
        if value:
            self._said.add(value)
        return value

    def _scrub(self, exc: BaseException | str) -> str:
        """The text of an error, fit for a log: secrets replaced by ``***``."""
        if isinstance(exc, str):
            text = exc
        elif isinstance(exc, OSError) and exc.strerror:
            text = exc.strerror
        elif exc.args:
            text = _text(exc.args[0])
        else:
            text = type(exc).__name__
        for secret in self._said:
            text = text.replace(secret, "***")
        return text or type(exc).__name__

    # --- calling ---------------------------------------------------------------------

    def call(self, what: str, action: Callable[[IMAPClient], T], *, replay: bool = True) -> T:
        """Run ``action`` on the client; a dropped connection is made again and, if
        ``replay``, the action retried once (else ``ConnectionDropped`` is raised)."""
        for attempt in (1, 2):
            client = self.client()
            try:
                return action(client)
            except LoginError as exc:
                raise AuthError(f"{self.settings.display}: {self._scrub(exc)}") from None
            except _DROPPED as exc:
                reason = self._scrub(exc)
                selected = self._selected
                self._drop()
                if not replay:
                    raise ConnectionDropped(f"connection lost during {what}: {reason}",
                                            retry_after=1.0) from None
                if attempt == 2:
                    raise ConnectError(f"{self.settings.display}: connection lost during "
                                       f"{what}, again after reconnecting: {reason}") from None
                log.warning("%s: connection lost during %s (%s); reconnecting",
                            self.settings.display, what, reason)
                self._restore(selected)
            except IMAPClientError as exc:
                raise refusal(f"{what}: {self._scrub(exc)}", self.quirks) from None
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._client is not None:
            _close_quietly(self._client)
        self._client = None
        self._selected = None

    def _restore(self, selected: tuple[str, bool] | None) -> None:
        """Reconnect and select again what was selected (ConnectError if that fails)."""
        self.client()
        if selected is not None:
            self.select(*selected)

    def select(self, name: str, readonly: bool = True) -> dict:
        """Select ``name`` (EXAMINE when ``readonly``); the response as imapclient gives it."""
        info = self.call(f"SELECT {name}",
                         lambda client: client.select_folder(name, readonly=readonly))
        self._selected = (name, readonly)
        self.uidvalidity = info.get(b"UIDVALIDITY")
        return info

    def ensure_selected(self, name: str, readonly: bool = True) -> None:
        """Select ``name`` unless it is already (read-write also serves a read-only need)."""
        current = self._selected
        if current is None or current[0] != name or (current[1] and not readonly):
            self.select(name, readonly)

    def capable(self, name: str) -> bool:
        return self.call("CAPABILITY", lambda client: client.has_capability(name))

    def close(self) -> None:
        """Log out politely; a connection already gone is fine."""
        if self._client is not None:
            with contextlib.suppress(IMAPClientError, OSError, EOFError):
                self._client.logout()
            _close_quietly(self._client)
            self._client = None
            self._selected = None


def _close_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(OSError, IMAPClientError, AttributeError, socket.error):
        client.shutdown()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
