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
from mautrix.appservice import AppServiceAPI, IntentAPI
from mautrix.appservice.state_store import ASStateStore
from mautrix.client.state_store import MemoryStateStore
from mautrix.errors import (
    MatrixConnectionError,
    MatrixInvalidToken,
    MatrixRequestError,
    MLimitExceeded,
    MTooLarge,
)

from migrate.errors import AuthError, ConnectError, ItemError, RetryableError, TooLargeError

from .loop import LoopThread
from .registration import Registration
from .settings import MatrixSettings

T = TypeVar("T")
log = logging.getLogger(__name__)
#: Rate-limit answers waited out per request before giving up on it.
THROTTLE_RETRIES = 10


class _StateStore(ASStateStore, MemoryStateStore):
    """mautrix's in-memory room state cache (who is registered and joined where)."""

    def __init__(self) -> None:
        ASStateStore.__init__(self)
        MemoryStateStore.__init__(self)


class AppserviceSession:
    """Acts as the appservice's bot and as any user in its namespaces."""

    def __init__(self, settings: MatrixSettings, registration: Registration) -> None:
        self.settings, self.registration = settings, registration
        self.bot_id = f"@{registration.sender_localpart}:{settings.server_name}"
        self._loop = LoopThread("matrix-loop")
        self.state_store = _StateStore()
        self._api: AppServiceAPI = self._loop.run(self._open())
        self._intents: dict[str, IntentAPI] = {}

    async def _open(self) -> AppServiceAPI:
        session = aiohttp.ClientSession()
        return AppServiceAPI(self.settings.base_url, bot_mxid=self.bot_id,
                             token=self.registration.as_token, state_store=self.state_store,
                             client_session=session, default_retry_count=2,
                             log=logging.getLogger("mautrix.appservice"))

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
                raise AuthError(f"{self.settings.display}: the homeserver refuses the "
                                "appservice token: is the registration file installed "
                                "(app_service_config_files) and Synapse restarted?") from None
            except MTooLarge as exc:
                raise TooLargeError(f"{what}: the homeserver refuses it as too large "
                                    f"({exc.message})") from None
            except MatrixRequestError as exc:
                raise ItemError(f"{what}: the homeserver refused it: {exc.errcode or ''} "
                                f"{exc.message}".strip()) from None
            except (MatrixConnectionError, aiohttp.ClientError, OSError) as exc:
                raise ConnectError(f"{self.settings.display}: cannot reach the homeserver "
                                   f"({exc})") from None
        raise RetryableError(f"{what}: the homeserver keeps asking to slow down")

    def close(self) -> None:
        try:
            self._loop.run(self._api.session.close())
        finally:
            self._loop.close()
