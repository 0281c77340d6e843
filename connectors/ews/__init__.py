"""Exchange Server connector (EWS, exchangelib): ``ews://USER@HOST``, as a source.

Layers, each thin: ``session`` (endpoint settings, the exchangelib ``Account``, the error
boundary), ``auth`` (OAuth 2 access tokens), ``folders`` (the folder tree and roles from
well-known folder ids), ``sync`` (SyncFolderItems pages and the delta of a pass),
``source`` (listings and MIME content) and ``pim`` (calendars and contacts as iCalendar
and vCard).

Endpoint parameters: ``endpoint=URL`` (the EWS service URL; default
``https://HOST/EWS/Exchange.asmx``, no autodiscover), ``auth=ntlm|basic|oauth2`` (default
ntlm; oauth2 when only a token or client secret is given: ``tenant=``, ``client_id=`` and
``client_secret_file`` … for the client-credentials grant, which reads USER's mailbox by
impersonation, or ``token_file``/``token_command``; ``authority=`` for national clouds,
``scope=``, default ``https://HOST/.default``),
``tls=off`` (plain http://, loopback or trusted networks only), ``impersonate=SMTP`` (log
in as a service account with the ApplicationImpersonation role and read SMTP's mailbox),
``mailbox=SMTP`` (delegate access to another mailbox), ``version=2013|2016|2019`` (skip
exchangelib's version probe), ``busy_retries=N`` (waits honoured when the server says
ErrorServerBusy, default 5), ``max_wait=SECONDS`` (let exchangelib's FaultTolerance
retry failing requests that long), ``archive=yes`` (the archive mailbox's folders too,
under "Online Archive"), ``public=yes`` (public folders too, under "Public Folders";
listed in full at every pass, as SyncFolderItems does not work there). The password
comes from the config file (``password_file`` …) or the URL, see README.
"""

from __future__ import annotations

from migrate.connector import Capabilities, Connector, Feature, Kind
from migrate.endpoint import Endpoint
from migrate.errors import ConfigError

from .session import Session, Settings
from .source import EwsSource

__all__ = ["EwsConnector", "EwsSource"]

_KEEPS = frozenset({Feature.FOLDERS, Feature.SPECIAL_USE, Feature.FLAGS, Feature.KEYWORDS,
                    Feature.INTERNAL_DATE, Feature.ORIGINAL_BYTES})


class EwsConnector(Connector):
    """A mailbox on Exchange Server (2013 to SE) through EWS; a source for now."""

    scheme = "ews"
    description = "an Exchange Server mailbox through EWS (source)"
    example = "ews://jdupont@mail.mairie-exemple.fr"
    max_connections = 4
    capabilities = Capabilities(
        reads=frozenset({Kind.MAIL, Kind.CALENDAR, Kind.CONTACTS}),
        source_keeps=_KEEPS,
        limits={
            Feature.DATE_OFFSET: {
                "en": "EWS gives the received time in UTC, not the offset it arrived with",
                "fr": "EWS donne l'heure de réception en UTC, pas le décalage d'origine"},
        },
    )

    def open_source(self) -> EwsSource:
        archive, public = _yes(self.endpoint, "archive"), _yes(self.endpoint, "public")
        session = Session(Settings.from_endpoint(self.endpoint), self.endpoint.secrets)
        session.call("opening the mailbox", lambda account: account.root)  # log in now
        return EwsSource(session, archive=archive, public=public)


def _yes(endpoint: Endpoint, name: str) -> bool:
    """A yes/no endpoint parameter (absent: no)."""
    value = endpoint.params.get(name, "no").lower()
    if value not in ("yes", "no"):
        raise ConfigError(f"{endpoint.display}: {name} must be yes or no, not {value!r}")
    return value == "yes"
