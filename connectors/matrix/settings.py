"""What a ``matrix://HOMESERVER`` endpoint says: where the homeserver is, in which mode the
tool acts, and who the people become.

Two modes. **Appservice** (``registration=PATH``): the tool acts as every migrated person.
**Bot account** (``matrix://USER@HOST`` without ``registration``, for a hosted homeserver
such as Tchap): one ordinary account posts everything, the author and time written in each
message; its access token comes from ``token_*`` (config file), or it signs in with
``password_*``.

Parameters: ``tls=off`` (plain HTTP: loopback or trusted networks only),
``server_name=NAME`` (the homeserver's Matrix domain when it differs from its host name,
e.g. ``matrix.mairie-exemple.fr`` served by ``synapse.internal``),
``registration=PATH`` (appservice mode: the registration file the tool wrote and the admin
installed; its ``as_token`` is the credential), ``people=PATH`` (the people mapping sheet,
``target_account`` column).

Reading (``copy`` or ``verify`` from Matrix): without a room selection, the rooms the tool
made are read back. ``rooms=joined`` reads every room the account (the appservice bot, or
the bot-mode account) has joined; ``rooms=!ID:SERVER,#ALIAS:SERVER`` those rooms;
``space=#ALIAS:SERVER`` (or ``!ID``) a space's child rooms. Rooms people wrote are then read
from Matrix itself (``connectors.matrix.native``); the account must be a member.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migrate.endpoint import Endpoint
from migrate.errors import ConfigError


@dataclass(frozen=True)
class MatrixSettings:
    """Where and how to reach one homeserver."""

    display: str
    base_url: str  # the client-server API root, no trailing slash
    server_name: str  # the Matrix domain of user ids and aliases
    registration: Path | None  # appservice mode when set
    people: Path | None
    user: str | None = None  # bot mode: the account's user id
    rooms: tuple[str, ...] = ()  # rooms to read: ids or aliases; ("joined",) for all
    space: str | None = None  # read this space's child rooms

    @property
    def selects_rooms(self) -> bool:
        """True when the endpoint names the rooms to read (native rooms included)."""
        return bool(self.rooms or self.space)

    @property
    def bot_mode(self) -> bool:
        return self.registration is None

    @classmethod
    def from_endpoint(cls, endpoint: Endpoint) -> MatrixSettings:
        if not endpoint.host:
            raise ConfigError(f"{endpoint.display}: a homeserver is needed "
                              "(matrix://HOST[:PORT])")
        tls = endpoint.params.get("tls", "on").lower() not in ("off", "no", "false", "0")
        port = f":{endpoint.port}" if endpoint.port else ""
        base_url = f"{'https' if tls else 'http'}://{endpoint.host}{port}"
        server_name = endpoint.params.get("server_name", endpoint.host)
        registration = endpoint.params.get("registration")
        user = None
        if registration is None:
            if not endpoint.user:
                raise ConfigError(f"{endpoint.display}: say how to write: registration=PATH "
                                  "(appservice, self-hosted Synapse) or USER@ before the host "
                                  "(an ordinary account, e.g. on Tchap)")
            user = endpoint.user if endpoint.user.startswith("@") \
                else f"@{endpoint.user}:{server_name}"
        people = endpoint.params.get("people")
        rooms = tuple(r.strip() for r in endpoint.params.get("rooms", "").split(",")
                      if r.strip())
        for room in rooms:
            if room != "joined" and room[:1] not in ("!", "#"):
                raise ConfigError(f"{endpoint.display}: rooms={room!r} is neither a room id "
                                  "(!ID:SERVER), an alias (#ALIAS:SERVER) nor 'joined'")
        space = endpoint.params.get("space") or None
        if space is not None and space[:1] not in ("!", "#"):
            raise ConfigError(f"{endpoint.display}: space={space!r} is neither a room id "
                              "(!ID:SERVER) nor an alias (#ALIAS:SERVER)")
        return cls(display=endpoint.display, base_url=base_url, server_name=server_name,
                   registration=Path(registration).expanduser() if registration else None,
                   people=Path(people).expanduser() if people else None, user=user,
                   rooms=rooms, space=space)
