"""App-only credentials for Graph: azure-identity's secret or certificate, or a token read
from a file or a command (``SuppliedToken``), renewed when it expires or is refused.

All three are azure-core ``TokenCredential``\\ s, which the SDK's authentication provider
asks before each request; azure-identity caches and renews its own tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time

from azure.core.credentials import AccessToken
from azure.identity import CertificateCredential, ClientSecretCredential

from migrate.endpoint import Secret
from migrate.errors import ConfigError

from .settings import Settings

#: Login hosts MSAL knows (instance discovery works there); any other is trusted as given.
KNOWN_AUTHORITIES = frozenset({"login.microsoftonline.com", "login.microsoftonline.us",
                               "login.chinacloudapi.cn", "login.partner.microsoftonline.cn"})
#: How long a supplied token that is not a JWT is used before the file or command is read again.
OPAQUE_LIFETIME = 300


class SuppliedToken:
    """An access token obtained elsewhere; read again once expired (JWT ``exp``), after
    ``OPAQUE_LIFETIME`` seconds when it is not a JWT, or when the server refused it."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self.reads = 0

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        with self._lock:
            if self._token is None or self._token.expires_on <= time.time() + 60:
                value = self._secret.get()
                if not value:
                    raise ConfigError("the access token file or command gave nothing")
                self.reads += 1
                self._token = AccessToken(value, expires_at(value))
            return self._token

    def invalidate(self) -> bool:
        """Forget the token so that the next request reads it again (after a 401)."""
        with self._lock:
            self._token = None
        return True

    def close(self) -> None:
        pass


def expires_at(token: str) -> int:
    """The ``exp`` claim of a JWT, or ``OPAQUE_LIFETIME`` from now for any other token."""
    parts = token.split(".")
    if len(parts) == 3:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload))
            return int(claims["exp"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            pass
    return int(time.time()) + OPAQUE_LIFETIME


def credential_for(settings: Settings, secrets: dict[str, Secret], password: str | None):
    """The credential the endpoint asks for (see ``Settings``); ``password`` is the client
    secret, or the certificate's password, already read from the endpoint's secrets."""
    if settings.auth == "token":
        return SuppliedToken(secrets["token"])
    options: dict[str, object] = {"authority": settings.authority}
    if settings.authority not in KNOWN_AUTHORITIES:
        options["disable_instance_discovery"] = True
    if settings.ca_file:
        options["connection_verify"] = settings.ca_file
    if settings.auth == "certificate":
        try:
            return CertificateCredential(
                settings.tenant, settings.client_id, certificate_path=settings.certificate,
                password=password.encode() if password else None, **options)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{settings.display}: cannot use the certificate "
                              f"{settings.certificate}: {exc}") from None
    try:
        return ClientSecretCredential(settings.tenant, settings.client_id, password or "",
                                      **options)
    except ValueError as exc:  # an empty secret, a tenant id azure-identity rejects …
        text = str(exc).replace(password, "***") if password else str(exc)
        raise ConfigError(f"{settings.display}: cannot sign in with a client secret: "
                          f"{text}") from None
