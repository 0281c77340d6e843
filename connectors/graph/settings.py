"""What a ``graph://TENANT/USER`` endpoint says: tenant, mailbox, app, clouds and limits.

Parameters: ``client_id=APP`` (the app registration's application id), ``certificate=PEM``
(sign in with a certificate instead of the client secret), ``graph_url=URL`` (default
``https://graph.microsoft.com/v1.0``; national clouds such as
``https://graph.microsoft.us/v1.0``), ``authority=HOST`` (default
``login.microsoftonline.com``), ``ca_file=PEM`` (extra CA bundle to trust, e.g. a TLS
inspecting proxy), ``hidden=on`` (hidden folders too), ``concurrency=N`` (requests in flight
per mailbox, at most 4, Graph's limit), ``max_wait=SECONDS`` (longest single Retry-After
honoured, default 600), ``throttle_retries=N`` (throttled answers waited out per request,
default 10), ``page_size=N`` (messages per listing page, default 100),
``calendar_window=DAYS`` (how far before and after the first pass the calendar view whose
changes later passes follow reaches, default 1830: about five years each way).

Credentials come from the endpoint's secrets: ``password_*`` is the client secret (or the
certificate's password with ``certificate=``), ``token_*`` an access token obtained
elsewhere (a file or command re-read when it expires).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from migrate.endpoint import Endpoint
from migrate.errors import ConfigError

#: Graph's documented limit of concurrent requests against one mailbox.
MAILBOX_CONCURRENCY = 4
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_AUTHORITY = "login.microsoftonline.com"


@dataclass(frozen=True)
class Settings:
    """Where and how to reach one mailbox through Microsoft Graph."""

    display: str
    tenant: str
    user: str  # UPN, SMTP address or object id of the mailbox's user
    client_id: str | None
    auth: str  # "secret", "certificate" or "token"
    certificate: str | None
    graph_url: str  # base URL including the version, no trailing slash
    authority: str  # login host (https is implied)
    ca_file: str | None
    hidden: bool
    concurrency: int
    max_wait: float
    throttle_retries: int
    page_size: int
    calendar_window: int = 1830  # days each side of the first pass (``pim``)

    @property
    def scope(self) -> str:
        """The app-only scope for this Graph cloud (``https://graph.microsoft.com/.default``)."""
        parts = urlsplit(self.graph_url)
        return f"{parts.scheme}://{parts.netloc}/.default"

    @classmethod
    def from_endpoint(cls, endpoint: Endpoint, user: str | None = None) -> Settings:
        """Read and check the endpoint's parameters (ConfigError when wrong); ``user`` is
        given by endpoints whose location is not a mailbox (``teams://``)."""
        params, where = endpoint.params, endpoint.display
        tenant = endpoint.host
        user = user if user is not None else endpoint.location.strip("/")
        if not tenant or not user or "/" in user:
            raise ConfigError(f"{where}: expected graph://TENANT/USER (e.g. "
                              "graph://mairie-exemple.onmicrosoft.com/agent@mairie-exemple.fr)")
        if "token" in endpoint.secrets:
            auth = "token"
        elif params.get("certificate"):
            auth = "certificate"
        elif "password" in endpoint.secrets:
            auth = "secret"
        else:
            raise ConfigError(f"{where}: no credentials: give the app's client secret "
                              "(password_file, password_env or password_command), a "
                              "certificate= or an access token (token_file, token_command)")
        client_id = params.get("client_id")
        if auth != "token" and not client_id:
            raise ConfigError(f"{where}: client_id= (the app registration's application id) "
                              "is needed to sign in with a secret or a certificate")
        graph_url = params.get("graph_url", DEFAULT_GRAPH_URL).rstrip("/")
        parts = urlsplit(graph_url)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ConfigError(f"{where}: graph_url must be an https:// URL")
        authority = params.get("authority", DEFAULT_AUTHORITY)
        if authority.startswith("http://"):
            raise ConfigError(f"{where}: authority must be reached over https")
        authority = authority.removeprefix("https://").rstrip("/")
        return cls(display=where, tenant=tenant, user=user, client_id=client_id, auth=auth,
                   certificate=params.get("certificate"), graph_url=graph_url,
                   authority=authority, ca_file=params.get("ca_file"),
                   hidden=_switch(params.get("hidden", "off"), "hidden", where),
                   concurrency=_number(params, "concurrency", MAILBOX_CONCURRENCY, where,
                                       1, MAILBOX_CONCURRENCY),
                   max_wait=float(_number(params, "max_wait", 600, where, 1, 86400)),
                   throttle_retries=_number(params, "throttle_retries", 10, where, 0, 1000),
                   page_size=_number(params, "page_size", 100, where, 1, 1000),
                   calendar_window=_number(params, "calendar_window", 1830, where, 1, 36600))


def _switch(value: str, name: str, where: str) -> bool:
    if value.lower() not in ("on", "off"):
        raise ConfigError(f"{where}: {name} must be on or off, not {value!r}")
    return value.lower() == "on"


def _number(params: dict[str, str], name: str, default: int, where: str,
            low: int, high: int) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        raise ConfigError(f"{where}: {name} must be a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{where}: {name} must be between {low} and {high}")
    return value
