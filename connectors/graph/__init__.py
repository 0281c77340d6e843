"""Microsoft 365 connector (Microsoft Graph, msgraph-sdk): ``graph://TENANT/USER``, a source.

Layers, each thin: ``settings`` (the endpoint's parameters), ``credentials`` (app-only
sign-in with azure-identity, or a token read from a file or a command), ``session`` (the
SDK client on its own event loop, throttling, the error boundary), ``folders`` (the tree
and roles from well-known folder names) and ``source`` (delta listings and MIME by
``$value``). See ``settings`` for the endpoint parameters and the README for the app
registration.
"""

from __future__ import annotations

from migrate.connector import Capabilities, Connector, Feature, Kind
from migrate.errors import ConnectError

from .session import NotFound, Session
from .settings import Settings
from .source import GraphSource

__all__ = ["GraphConnector", "GraphSource"]

_KEEPS = frozenset({Feature.FOLDERS, Feature.SPECIAL_USE, Feature.FLAGS, Feature.KEYWORDS,
                    Feature.INTERNAL_DATE, Feature.ORIGINAL_BYTES})


class GraphConnector(Connector):
    """A Microsoft 365 (Exchange Online) mailbox through Microsoft Graph; a source for now."""

    scheme = "graph"
    description = "a Microsoft 365 mailbox (mail, calendars, contacts) through Graph (source)"
    example = "graph://mairie-exemple.onmicrosoft.com/agent@mairie-exemple.fr"
    max_connections = 4
    capabilities = Capabilities(
        reads=frozenset({Kind.MAIL, Kind.CALENDAR, Kind.CONTACTS}),
        source_keeps=_KEEPS,
        limits={
            Feature.DATE_OFFSET: {
                "en": "Graph gives the received time in UTC, not the offset it arrived with",
                "fr": "Graph donne l'heure de réception en UTC, pas le décalage d'origine"},
        },
    )

    def open_source(self) -> GraphSource:
        settings = Settings.from_endpoint(self.endpoint)
        session = Session(settings, self.endpoint.secrets)
        try:  # sign in and find the mailbox now, so that a wrong setting fails at once
            session.call("opening the mailbox", lambda c: c.users.by_user_id(settings.user)
                         .mail_folders.by_mail_folder_id("msgfolderroot").get())
        except NotFound as exc:
            session.close()
            raise ConnectError(f"{settings.display}: no mailbox for {settings.user} in tenant "
                               f"{settings.tenant} ({exc})") from None
        except BaseException:
            session.close()
            raise
        return GraphSource(session)
