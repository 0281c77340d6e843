"""OAuth 2 access tokens for EWS: the client-credentials grant, or a token obtained elsewhere.

exchangelib's own OAuth classes fetch tokens from a hard-wired authority
(``login.microsoftonline.com``) for the scope ``https://outlook.office365.com/.default``,
which rules out national clouds, Exchange hybrid modern auth (the scope is the on-premises
server's own URL) and tests. So the token is obtained here — one plain client-credentials
POST to ``{authority}/{tenant}/oauth2/v2.0/token`` — or read from a file or command, and
exchangelib is handed the access token through ``RenewingCredentials``, whose
``refresh`` (exchangelib's documented hook for applications that refresh tokens
themselves) fetches a new one. Secrets and tokens never appear in error texts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import requests
from exchangelib import OAuth2AuthorizationCodeCredentials

from migrate.endpoint import Secret
from migrate.errors import AuthError, ConnectError

#: The Microsoft identity platform (global cloud); national clouds have their own.
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
#: Renew a token this many seconds before the expiry its issuer declared.
EXPIRY_MARGIN = 120
_TIMEOUT = 60


@dataclass(frozen=True)
class OAuthSettings:
    """Where tokens come from: an app registration (client credentials) or a stored token."""

    authority: str  # e.g. https://login.microsoftonline.com, without the tenant
    tenant: str | None
    client_id: str | None
    scope: str  # e.g. https://outlook.office365.com/.default

    @property
    def token_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{self.tenant}/oauth2/v2.0/token"


Token = dict[str, object]  # what exchangelib and requests-oauthlib take: access_token, …


class TokenSource:
    """Fetches access tokens; ``said`` collects every secret value seen, for scrubbing."""

    def __init__(self, where: str, said: Callable[[str], None]) -> None:
        self.where, self._said = where, said

    def fetch(self) -> Token:
        raise NotImplementedError

    def _token(self, access_token: str, expires_in: float | None = None) -> Token:
        self._said(access_token)
        token: Token = {"access_token": access_token, "token_type": "Bearer"}
        if expires_in is not None:  # requests-oauthlib then renews before the server refuses
            token["expires_in"] = max(expires_in - EXPIRY_MARGIN, 1)
        return token


class ClientCredentials(TokenSource):
    """The OAuth 2 client-credentials grant of an app registration (application access)."""

    def __init__(self, where: str, said: Callable[[str], None], settings: OAuthSettings,
                 secret: Secret) -> None:
        super().__init__(where, said)
        self.settings, self._secret = settings, secret

    def fetch(self) -> Token:
        s = self.settings
        secret = self._secret.get()
        self._said(secret)
        form = {"grant_type": "client_credentials", "client_id": s.client_id,
                "client_secret": secret, "scope": s.scope}
        try:
            answer = requests.post(s.token_url, data=form, timeout=_TIMEOUT,
                                   headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise ConnectError(f"{self.where}: cannot reach the token endpoint {s.token_url}: "
                               f"{type(exc).__name__}") from None
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code == 200 and isinstance(body.get("access_token"), str):
            try:
                expires: float | None = float(body.get("expires_in"))
            except (TypeError, ValueError):
                expires = None
            return self._token(body["access_token"], expires)
        reason = str(body.get("error_description") or body.get("error")
                     or f"HTTP {answer.status_code}").split("\r\n")[0].replace(secret, "***")
        if answer.status_code >= 500:
            raise ConnectError(f"{self.where}: the token endpoint {s.token_url} failed: "
                               f"{reason}")
        raise AuthError(f"{self.where}: the token endpoint refused the app registration "
                        f"(client id {s.client_id}, tenant {s.tenant}): {reason}")


class StoredToken(TokenSource):
    """An access token obtained elsewhere (``token_file``, ``token_command``), read anew
    each time, so that a token refreshed meanwhile by another tool is picked up."""

    def __init__(self, where: str, said: Callable[[str], None], secret: Secret) -> None:
        super().__init__(where, said)
        self._secret = secret

    def fetch(self) -> Token:
        value = self._secret.get().strip()
        if not value:
            raise AuthError(f"{self.where}: the access token (token_file/token_command) "
                            "is empty")
        return self._token(value)


class RenewingCredentials(OAuth2AuthorizationCodeCredentials):
    """exchangelib credentials holding an access token that ``source`` renews."""

    def __init__(self, source: TokenSource) -> None:
        super().__init__(access_token=source.fetch())
        self.source = source

    def refresh(self, session=None) -> None:
        """Fetch a new token (exchangelib calls this when the token has expired)."""
        token = self.source.fetch()
        with self.lock:
            self.access_token = token
