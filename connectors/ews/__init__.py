"""Exchange Server connector (EWS, exchangelib): ``ews://USER@HOST``, source and target.

Layers, each thin: ``session`` (endpoint settings, the exchangelib ``Account``, the error
boundary), ``auth`` (OAuth 2 access tokens), ``folders`` (the folder tree and roles from
well-known folder ids), ``sync`` (SyncFolderItems pages and the delta of a pass),
``source`` (listings and MIME content), ``pim`` (calendars and contacts as iCalendar and
vCard), ``target`` (folders created, MIME uploaded with read state, flag, categories and
received time; events and contacts) and ``properties`` (the MAPI properties exchangelib
has no field for).

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
listed in full at every pass, as SyncFolderItems does not work there), ``max_size=BYTES``
(as a target: larger messages fail alone before sending; default 45 MiB, as EWS takes
64 MB requests; 0: no limit). The password comes from the config file
(``password_file`` …) or the URL, see README.
"""

from __future__ import annotations

from migrate.connector import Capabilities, Connector, Feature, Kind
from migrate.endpoint import Endpoint
from migrate.errors import ConfigError
from migrate.model import Role

from .session import Session, Settings
from .source import EwsSource
from .target import DEFAULT_MAX_SIZE, EwsTarget, load_tree

__all__ = ["EwsConnector", "EwsSource", "EwsTarget"]

_KEEPS = frozenset({Feature.FOLDERS, Feature.SPECIAL_USE, Feature.FLAGS, Feature.KEYWORDS,
                    Feature.INTERNAL_DATE, Feature.ORIGINAL_BYTES})


class EwsConnector(Connector):
    """A mailbox on Exchange Server (2013 to SE) through EWS; a source and a target."""

    scheme = "ews"
    description = "an Exchange Server mailbox through EWS (source and target)"
    example = "ews://jdupont@mail.mairie-exemple.fr"
    max_connections = 4
    capabilities = Capabilities(
        reads=frozenset({Kind.MAIL, Kind.CALENDAR, Kind.CONTACTS}),
        writes=frozenset({Kind.MAIL, Kind.CALENDAR, Kind.CONTACTS}),
        source_keeps=_KEEPS,
        target_keeps=_KEEPS - {Feature.ORIGINAL_BYTES},
        limits={
            Feature.DATE_OFFSET: {
                "en": "EWS gives the received time in UTC, not the offset it arrived with",
                "fr": "EWS donne l'heure de réception en UTC, pas le décalage d'origine"},
            Feature.ORIGINAL_BYTES: {
                "en": "Exchange stores a message as properties, not as its MIME text: the "
                      "MIME it serves back is rebuilt (headers kept, body parts may be "
                      "re-encoded); verify names each message that comes back different",
                "fr": "Exchange stocke un message sous forme de propriétés, pas son texte "
                      "MIME : le MIME qu'il restitue est reconstruit (en-têtes gardés, parties "
                      "parfois réencodées) ; verify nomme chaque message revenu différent"},
        },
    )

    def __init__(self, endpoint) -> None:
        super().__init__(endpoint)
        self._roles: dict[Role, tuple[str, ...] | None] | None = None

    def _session(self) -> Session:
        return Session(Settings.from_endpoint(self.endpoint), self.endpoint.secrets)

    def role_folder(self, role: Role) -> tuple[str, ...] | None:
        """The path of the well-known folder for ``role`` ("Boîte de réception" for the
        inbox of a French mailbox), read once; asking creates nothing."""
        if self._roles is None:
            session = self._session()
            try:
                tree = session.call("listing folders", load_tree)
            finally:
                session.close()
            self._roles = {r: tree.role_path(r) for r in Role}
        return self._roles.get(role)

    def open_source(self) -> EwsSource:
        archive, public = _yes(self.endpoint, "archive"), _yes(self.endpoint, "public")
        session = self._session()
        session.call("opening the mailbox", lambda account: account.root)  # log in now
        return EwsSource(session, archive=archive, public=public)

    def open_target(self) -> EwsTarget:
        max_size = self._max_size()
        session = self._session()
        try:
            tree = session.call("listing folders", load_tree)  # logs in now
        except BaseException:
            session.close()
            raise
        return EwsTarget(session, tree, max_size)

    def _max_size(self) -> int | None:
        """``max_size=BYTES``: items larger are refused before sending (0: no limit)."""
        value = self.endpoint.params.get("max_size")
        if value is None:
            return DEFAULT_MAX_SIZE
        if not value.isdigit():
            raise ConfigError(f"{self.endpoint.display}: max_size must be a number of bytes")
        return int(value) or None


def _yes(endpoint: Endpoint, name: str) -> bool:
    """A yes/no endpoint parameter (absent: no)."""
    value = endpoint.params.get(name, "no").lower()
    if value not in ("yes", "no"):
        raise ConfigError(f"{endpoint.display}: {name} must be yes or no, not {value!r}")
    return value == "yes"
