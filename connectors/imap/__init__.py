"""IMAP connector: ``imap://USER@HOST[:PORT]`` (STARTTLS) and ``imaps://…``, source and target.

Layers, each thin: ``session`` (endpoint settings, TLS, login, reconnection, the error
boundary), ``folders`` (LIST ↔ neutral paths and roles), ``source`` and ``target``,
``lookup`` (finding copies without UIDs), ``wire`` (APPEND with untouched bytes, the one
place below imapclient) and ``quirks`` (server presets, as data).

Endpoint parameters: ``tls=off`` (plain text, loopback or trusted networks only),
``cafile=PATH`` (trust this CA), ``auth=login|plain|xoauth2|oauthbearer``, ``authzid=USER``
(SASL PLAIN as an admin for USER), ``preset=dovecot|exchange|gmail|bluemind|zimbra``,
``max_size=BYTES``, ``timeout=SECONDS``. A Dovecot master user logs in as
``USER*MASTER``. Passwords and tokens come from the config file (``password_file``,
``token_command`` …), see README.
"""

from __future__ import annotations

from migrate.connector import Capabilities, Connector, Feature, Kind, Transformation
from migrate.model import Role

from .folders import INBOX, list_mailboxes
from .session import Session, Settings
from .source import ImapSource
from .target import ImapTarget

__all__ = ["ImapConnector", "ImapSource", "ImapTarget"]

_KEEPS = frozenset({Feature.FOLDERS, Feature.SPECIAL_USE, Feature.FLAGS, Feature.KEYWORDS,
                    Feature.INTERNAL_DATE, Feature.ORIGINAL_BYTES})


class ImapConnector(Connector):
    """An IMAP account (any IMAP4rev1 server), as source and target."""

    scheme = "imap"
    description = "an IMAP account (Dovecot, BlueMind, Zimbra, Exchange, Gmail …)"
    example = "imaps://jdupont@imap.mairie-exemple.fr"
    capabilities = Capabilities(
        reads=frozenset({Kind.MAIL}),
        writes=frozenset({Kind.MAIL}),
        source_keeps=_KEEPS | {Feature.DATE_OFFSET},
        target_keeps=_KEEPS,
        transforms=frozenset({Transformation.CRLF}),  # servers store lines ending in CRLF
        limits={
            Feature.DATE_OFFSET: {
                "en": "IMAP servers keep the received time, not its UTC offset: it comes "
                      "back in the server's time zone (Dovecot, Exchange)",
                "fr": "les serveurs IMAP gardent l'heure de réception, pas son décalage UTC : "
                      "elle revient dans le fuseau du serveur (Dovecot, Exchange)"},
            Feature.KEYWORDS: {
                "en": "kept where the folder's PERMANENTFLAGS has \\*; Exchange keeps none "
                      "(dropped, and logged)",
                "fr": "gardés si les PERMANENTFLAGS du dossier contiennent \\* ; Exchange n'en "
                      "garde aucun (abandonnés, et journalisés)"},
        },
    )

    def __init__(self, endpoint) -> None:
        super().__init__(endpoint)
        self._roles: dict[Role, tuple[str, ...]] | None = None

    def _session(self, enable: tuple[str, ...] = ()) -> Session:
        return Session(Settings.from_endpoint(self.endpoint), self.endpoint.secrets, enable)

    def role_folder(self, role: Role) -> tuple[str, ...] | None:
        """INBOX, or the folder the server marks with the role's special-use attribute.

        Looked up once, read-only (LIST): the account is never changed by asking.
        """
        if role is Role.INBOX:
            return (INBOX,)
        if self._roles is None:
            session = self._session()
            try:
                _, boxes = session.call("LIST", list_mailboxes)
            finally:
                session.close()
            self._roles = {}
            for box in boxes:
                if box.role is not None and box.selectable:
                    self._roles.setdefault(box.role, box.path)
        return self._roles.get(role)

    def open_source(self) -> ImapSource:
        session = self._session(enable=("QRESYNC",))  # deletions since the last pass
        session.client()  # connect now: a wrong password stops the run before it starts
        return ImapSource(session)

    def open_target(self) -> ImapTarget:
        session = self._session()
        session.client()
        return ImapTarget(session)
