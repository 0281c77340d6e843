"""``matrix://HOMESERVER`` — Matrix (Synapse, Tchap) as a chat target.

Application-service mode (a self-hosted Synapse): the tool acts as each migrated person
(their own account from the people mapping, or a puppet) and dates every event with the
original time. The first run writes the registration file the admin installs
(``registration=PATH``, see ``connectors.matrix.registration``) and stops until it is.
Parameters: see ``connectors.matrix.settings``.
"""

from __future__ import annotations

from migrate.connector import Capabilities, Connector, Feature, Kind

from .people import read_mapping
from .registration import ensure_registration
from .settings import MatrixSettings

_EXAMPLE = ("matrix://matrix.mairie-exemple.fr?registration=/etc/synapse/migrate.yaml"
            "&people=mappings/people.csv")


class MatrixConnector(Connector):
    """A Matrix homeserver, written and read back as an application service."""

    scheme = "matrix"
    description = "Matrix homeserver (Synapse) through an application service"
    example = _EXAMPLE
    max_connections = 1  # one writer: the rooms' order of events is the order of posting
    capabilities = Capabilities(
        reads=frozenset({Kind.CHAT}),
        writes=frozenset({Kind.CHAT}),
        source_keeps=frozenset({Feature.AUTHORS, Feature.TIMESTAMPS, Feature.THREADS,
                                Feature.REACTIONS, Feature.EDITS, Feature.ATTACHMENTS}),
        target_keeps=frozenset({Feature.AUTHORS, Feature.TIMESTAMPS, Feature.THREADS,
                                Feature.REACTIONS, Feature.EDITS, Feature.ATTACHMENTS}),
    )

    def _session(self):
        """The appservice session, signed in (a registration not installed fails now)."""
        from .session import AppserviceSession

        settings = MatrixSettings.from_endpoint(self.endpoint)
        mapping = read_mapping(settings.people) if settings.people else {}
        registration = ensure_registration(settings.registration,  # type: ignore[arg-type]
                                           settings.server_name, mapping.values())
        session = AppserviceSession(settings, registration)
        try:  # check the token now, so that a registration not installed fails at once
            bot = session.intent()
            session.call("signing in", lambda: bot.whoami())
        except BaseException:
            session.close()
            raise
        return session, mapping

    def open_target(self):
        from .target import MatrixTarget

        return MatrixTarget(*self._session())

    def open_source(self):
        """The rooms the tool wrote, read back (for ``verify`` and ``roundtrip``)."""
        from .source import MatrixSource

        return MatrixSource(*self._session())
