"""``matrix://HOMESERVER`` — Matrix (Synapse, Tchap) as a chat target.

Application-service mode (a self-hosted Synapse): the tool acts as each migrated person
(their own account from the people mapping, or a puppet) and dates every event with the
original time. The first run writes the registration file the admin installs
(``registration=PATH``, see ``connectors.matrix.registration``) and stops until it is.
Bot-account mode (``matrix://USER@HOST``, a hosted homeserver such as Tchap): one ordinary
account posts everything, each message starting with its author and original time.
As a source it reads back the rooms it wrote, or, given ``rooms=`` or ``space=``, any room
(people's own, written in Element or Tchap: ``connectors.matrix.native``).
Parameters: see ``connectors.matrix.settings``.
"""

from __future__ import annotations

import dataclasses

from migrate.connector import Capabilities, Connector, Feature, Kind
from migrate.endpoint import Endpoint
from migrate.errors import ConfigError

from .people import read_mapping
from .registration import ensure_registration
from .settings import MatrixSettings

_EXAMPLE = ("matrix://matrix.mairie-exemple.fr?registration=/etc/synapse/migrate.yaml"
            "&people=mappings/people.csv")
_KEPT = frozenset({Feature.AUTHORS, Feature.TIMESTAMPS, Feature.THREADS, Feature.REACTIONS,
                   Feature.EDITS, Feature.ATTACHMENTS})
_BOT_KEPT = frozenset({Feature.THREADS, Feature.EDITS, Feature.ATTACHMENTS})
#: Reading rooms people wrote (``rooms=``, ``space=``), in either mode: each message's
#: author and time are Matrix's own, and the Matrix event itself is the message's record
#: (kept as ``raw``, as Graph's JSON is for Teams).
NATIVE_KEPT = _KEPT | {Feature.SOURCE_RECORD}
#: What Matrix cannot hold in either mode.
_LIMITS = {
    Feature.SOURCE_RECORD: {
        "en": "each message's record from the source (e.g. Teams' Graph JSON) is not "
              "posted to Matrix: its neutral fields are, and the archive keeps the record",
        "fr": "l'enregistrement d'origine de chaque message (par exemple le JSON Graph de "
              "Teams) n'est pas publié dans Matrix : ses champs neutres le sont, et "
              "l'archive garde l'enregistrement"}}

#: Bot-account mode: what one ordinary account cannot do for everyone.
BOT_CAPABILITIES = Capabilities(
    reads=frozenset({Kind.CHAT}), writes=frozenset({Kind.CHAT}),
    source_keeps=_BOT_KEPT, target_keeps=_BOT_KEPT,
    limits={
        **_LIMITS,
        Feature.AUTHORS: {
            "en": "one migration account posts every message: the author is written at the "
                  "start of the text",
            "fr": "un seul compte de migration publie tous les messages : l'auteur est écrit "
                  "en tête du texte"},
        Feature.TIMESTAMPS: {
            "en": "messages are dated the day of the import: the original time is written "
                  "at the start of the text",
            "fr": "les messages sont datés du jour de l'import : l'heure d'origine est écrite "
                  "en tête du texte"},
        Feature.REACTIONS: {
            "en": "the migration account reacts once per emoji: who reacted is not kept",
            "fr": "le compte de migration réagit une fois par émoji : qui a réagi n'est pas "
                  "conservé"}})


class MatrixConnector(Connector):
    """A Matrix homeserver, written and read back as an application service or through one
    ordinary account (bot mode, whose capabilities are ``BOT_CAPABILITIES``)."""

    scheme = "matrix"
    description = ("Matrix homeserver: as an application service (Synapse), or one bot "
                   "account (Tchap)")
    example = _EXAMPLE
    max_connections = 1  # one writer: the rooms' order of events is the order of posting
    capabilities = Capabilities(reads=frozenset({Kind.CHAT}), writes=frozenset({Kind.CHAT}),
                                source_keeps=_KEPT, target_keeps=_KEPT, limits=_LIMITS)

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        if endpoint.user and "registration" not in endpoint.params:
            self.capabilities = BOT_CAPABILITIES  # type: ignore[misc]
        if "rooms" in endpoint.params or "space" in endpoint.params:
            self.capabilities = dataclasses.replace(  # type: ignore[misc]
                self.capabilities, source_keeps=NATIVE_KEPT)

    def _session(self):
        """The session, signed in (a registration not installed fails now)."""
        from .session import MatrixSession

        settings = MatrixSettings.from_endpoint(self.endpoint)
        mapping = read_mapping(settings.people) if settings.people else {}
        token = self.endpoint.secrets.get("token")
        if settings.registration is not None:
            registration = ensure_registration(settings.registration, settings.server_name,
                                               mapping.values())
            session = MatrixSession(settings, registration)
        else:
            session = MatrixSession(settings, None, token.get() if token else None)
        try:  # check the credentials now, so that a wrong one fails at once
            if token is None and settings.registration is None:
                password = self.endpoint.password
                if password is None:
                    raise ConfigError(f"{settings.display}: bot mode needs the account's "
                                      "access token (token_file, token_env, token_command) "
                                      "or password in the config file")
                session.sign_in(password.get())
            bot = session.intent()
            session.call("checking the account", lambda: bot.whoami())
        except BaseException:
            session.close()
            raise
        return session, mapping

    def open_target(self):
        from .target import MatrixTarget

        return MatrixTarget(*self._session())

    def open_source(self):
        """The rooms the tool wrote, read back (for ``verify`` and ``roundtrip``); with
        ``rooms=`` or ``space=``, the rooms people wrote too (leaving a homeserver)."""
        from .source import MatrixSource

        return MatrixSource(*self._session())
