"""The homeserver connection of an appservice: mautrix's ``AppServiceAPI`` on a private
event loop, with Matrix errors turned into ``migrate.errors`` at this boundary::

    M_UNKNOWN_TOKEN, M_MISSING_TOKEN          → AuthError (exit 3): the registration is
                                                not installed or its token changed
    M_LIMIT_EXCEEDED                          → waited for (retry_after_ms), then
                                                RetryableError
    M_TOO_LARGE                               → TooLargeError (that item fails alone)
    M_FORBIDDEN and other refusals            → ItemError (that item fails alone)
    cannot connect                            → ConnectError (exit 3)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from mautrix.api import Method, Path
from mautrix.appservice import AppServiceAPI, IntentAPI
from mautrix.appservice.state_store import ASStateStore
from mautrix.client.state_store import MemoryStateStore
from mautrix.errors import (
    MatrixConnectionError,
    MatrixError,
    MatrixInvalidToken,
    MatrixRequestError,
    MForbidden,
    MLimitExceeded,
    MTooLarge,
)

from migrate.asyncloop import LoopThread
from migrate.errors import AuthError, ConnectError, ItemError, RetryableError, TooLargeError

from .registration import Registration
from .settings import MatrixSettings

T = TypeVar("T")
log = logging.getLogger(__name__)
#: Bot mode: the prefix of the rooms' aliases (an appservice's own are exclusive to it).
BOT_PREFIX = "sovereign-migrate"
#: Rate-limit answers waited out per request before giving up on it.
THROTTLE_RETRIES = 10


class _StateStore(ASStateStore, MemoryStateStore):
    """mautrix's in-memory room state cache (who is registered and joined where)."""

    def __init__(self) -> None:
        ASStateStore.__init__(self)
        MemoryStateStore.__init__(self)


class MatrixSession:
    """The homeserver as the appservice (its bot and any user in its namespaces), or, in
    bot mode, as one ordinary account whose access token this is."""

    def __init__(self, settings: MatrixSettings, registration: Registration | None,
                 token: str | None = None) -> None:
        self.settings, self.registration = settings, registration
        if registration is not None:
            self.bot_id = f"@{registration.sender_localpart}:{settings.server_name}"
            token = registration.as_token
        else:
            self.bot_id = settings.user or ""
        self.prefix = registration.prefix if registration else BOT_PREFIX
        self._loop = LoopThread("matrix-loop")
        self.state_store = _StateStore()
        self._api: AppServiceAPI = self._loop.run(self._open(token))
        self._intents: dict[str, IntentAPI] = {}
        if registration is None:  # an ordinary account: never registered by the tool
            self._loop.run(self.state_store.registered(self.bot_id))

    @property
    def bot_mode(self) -> bool:
        return self.registration is None

    async def _open(self, token: str | None) -> AppServiceAPI:
        session = aiohttp.ClientSession()
        return AppServiceAPI(self.settings.base_url, bot_mxid=self.bot_id, token=token,
                             state_store=self.state_store, client_session=session,
                             default_retry_count=2, real_user=self.registration is None,
                             log=logging.getLogger("mautrix.appservice"))

    def sign_in(self, password: str) -> None:
        """Bot mode without a token: sign in with the account's password (a new device)."""
        body = {"type": "m.login.password", "password": password,
                "identifier": {"type": "m.id.user", "user": self.bot_id},
                "initial_device_display_name": "sovereign-migrate"}
        done = self.call("signing in", lambda: self._api.request(Method.POST, Path.v3.login,
                                                                 body))
        self._api.token = done["access_token"]

    def intent(self, user_id: str | None = None) -> IntentAPI:
        """The intent of ``user_id`` (the bot's when None)."""
        key = user_id or self.bot_id
        if key not in self._intents:
            self._intents[key] = (self._api.bot_intent() if key == self.bot_id
                                  else self._api.intent(key))
        return self._intents[key]

    def call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` on the loop; rate limits waited out, errors translated."""
        for _attempt in range(THROTTLE_RETRIES):
            try:
                return self._loop.run(make())
            except MLimitExceeded as exc:
                wait = (getattr(exc, "retry_after_ms", None) or 1000) / 1000
                time.sleep(min(wait, 60))
            except MatrixInvalidToken:
                if self.bot_mode:
                    raise AuthError(f"{self.settings.display}: the homeserver refuses the "
                                    f"access token of {self.bot_id}") from None
                raise AuthError(f"{self.settings.display}: the homeserver refuses the "
                                "appservice token: is the registration file installed "
                                "(app_service_config_files) and Synapse restarted?") from None
            except MForbidden as exc:
                if what == "signing in":
                    raise AuthError(f"{self.settings.display}: {self.bot_id} cannot sign in "
                                    f"({exc.message})") from None
                raise ItemError(f"{what}: the homeserver refused it: {exc.errcode or ''} "
                                f"{exc.message}".strip()) from None
            except MTooLarge as exc:
                raise TooLargeError(f"{what}: the homeserver refuses it as too large "
                                    f"({exc.message})") from None
            except MatrixRequestError as exc:
                raise ItemError(f"{what}: the homeserver refused it: {exc.errcode or ''} "
                                f"{exc.message}".strip()) from None
            except (MatrixConnectionError, aiohttp.ClientError, OSError) as exc:
                raise ConnectError(f"{self.settings.display}: cannot reach the homeserver "
                                   f"({exc})") from None
            except MatrixError as exc:  # mautrix's own checks (IntentError …)
                raise ItemError(f"{what}: {exc}") from None
        raise RetryableError(f"{what}: the homeserver keeps asking to slow down")

    def close(self) -> None:
        try:
            self._loop.run(self._api.session.close())
        finally:
            self._loop.close()
