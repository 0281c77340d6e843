"""Microsoft 365 connector (Microsoft Graph, msgraph-sdk): ``graph://TENANT/USER``, a source
and a mail target.

Layers, each thin: ``settings`` (the endpoint's parameters), ``credentials`` (app-only
sign-in with azure-identity, or a token read from a file or a command), ``session`` (the
SDK client on its own event loop, throttling, the error boundary), ``folders`` (the tree
and roles from well-known folder names), ``source`` (delta listings and MIME by
``$value``) and ``target`` (messages imported as received mail through ``mailbox_import``
and ``fts``, or kept as MIME drafts with ``import=draft``; ``max_size=BYTES``). See
``settings`` for the endpoint parameters and the README for the app registration.
"""

from __future__ import annotations

from dataclasses import replace

from migrate.connector import Capabilities, Connector, Feature, Kind
from migrate.errors import ConfigError
from migrate.model import Role

from .session import Session, opening
from .settings import Settings
from .source import GraphSource
from .target import DEFAULT_MAX_SIZE, DRAFT_MODE, FTS, GraphTarget, role_paths

__all__ = ["GraphConnector", "GraphSource", "GraphTarget"]

_KEEPS = frozenset({Feature.FOLDERS, Feature.SPECIAL_USE, Feature.FLAGS, Feature.KEYWORDS,
                    Feature.INTERNAL_DATE, Feature.ORIGINAL_BYTES})


class GraphConnector(Connector):
    """A Microsoft 365 (Exchange Online) mailbox through Microsoft Graph; a source, and a
    target for mail."""

    scheme = "graph"
    description = ("a Microsoft 365 mailbox (mail, calendars, contacts) through Graph "
                   "(source and target)")
    example = "graph://mairie-exemple.onmicrosoft.com/agent@mairie-exemple.fr"
    max_connections = 4
    capabilities = Capabilities(
        reads=frozenset({Kind.MAIL, Kind.CALENDAR, Kind.CONTACTS}),
        writes=frozenset({Kind.MAIL, Kind.CALENDAR, Kind.CONTACTS}),
        source_keeps=_KEEPS,
        target_keeps=frozenset({Feature.FOLDERS, Feature.SPECIAL_USE, Feature.KEYWORDS,
                                Feature.INTERNAL_DATE}),
        limits={
            Feature.EVENT_DETAILS: {
                "en": "events are rewritten as Graph JSON: attachments, the organizer (the "
                      "mailbox owner becomes it), attendees' answers and their times, "
                      "excluded dates, modified occurrences and recurrences Graph has no "
                      "pattern for (only the first occurrence is written) are not kept; "
                      "attendees are set only with attendees=invite, since Graph then "
                      "sends each of them an invitation",
                "fr": "les événements sont réécrits en JSON Graph : pièces jointes, "
                      "organisateur (le titulaire de la boîte le devient), réponses des "
                      "participants et leurs dates, dates exclues, occurrences modifiées et "
                      "récurrences sans équivalent Graph (seule la première occurrence est "
                      "écrite) ne sont pas gardés ; les participants ne sont posés qu'avec "
                      "attendees=invite, car Graph envoie alors une invitation à chacun"},
            Feature.CONTACT_DETAILS: {
                "en": "contacts are rewritten as Graph JSON: the photo, e-mails beyond three, "
                      "phones beyond two work, two home and one mobile, fax and pager "
                      "numbers, addresses beyond work, home and other, related people and "
                      "other vCard fields are not kept",
                "fr": "les contacts sont réécrits en JSON Graph : photo, adresses e-mail "
                      "au-delà de trois, téléphones au-delà de deux professionnels, deux "
                      "personnels et un mobile, fax et bipeurs, adresses postales au-delà de "
                      "professionnelle, personnelle et autre, personnes liées et autres "
                      "champs vCard ne sont pas gardés"},
            Feature.DATE_OFFSET: {
                "en": "Graph gives the received time in UTC, not the offset it arrived with",
                "fr": "Graph donne l'heure de réception en UTC, pas le décalage d'origine"},
            Feature.FLAGS: {
                "en": "copies are imported as received mail (not drafts) with read, flagged, "
                      "answered and forwarded set, but Graph does not list answered back, so "
                      "verify cannot confirm these flags; with import=draft copies stay "
                      "drafts and answered/forwarded are lost",
                "fr": "les copies sont importées comme des messages reçus (pas des brouillons) "
                      "avec lu, suivi, répondu et transféré, mais Graph ne restitue pas "
                      "« répondu » : verify ne peut pas confirmer ces indicateurs ; avec "
                      "import=draft les copies restent des brouillons et répondu/transféré "
                      "sont perdus"},
            Feature.ORIGINAL_BYTES: {
                "en": "the MIME is uploaded untouched, but Exchange Online stores a message "
                      "as properties: the MIME it serves back is rebuilt (headers kept, parts "
                      "may be re-encoded); verify names each message that comes back different",
                "fr": "le MIME est déposé tel quel, mais Exchange Online stocke un message "
                      "sous forme de propriétés : le MIME restitué est reconstruit (en-têtes "
                      "gardés, parties parfois réencodées) ; verify nomme chaque message "
                      "revenu différent"},
            Feature.INTERNAL_DATE: {
                "en": "the received time is kept to the second, but with import=draft Graph "
                      "shows the upload time instead (the sent time comes from the Date: "
                      "header)",
                "fr": "l'heure de réception est gardée à la seconde, mais avec import=draft "
                      "Graph affiche l'heure du dépôt à la place (l'heure d'envoi vient de "
                      "l'en-tête Date:)"},
        },
    )
    #: What a target opened with ``import=draft`` keeps: MIME drafts, received at upload.
    draft_capabilities = replace(capabilities, target_keeps=frozenset({
        Feature.FOLDERS, Feature.SPECIAL_USE, Feature.KEYWORDS}))

    def __init__(self, endpoint) -> None:
        super().__init__(endpoint)
        self._roles: dict[Role, tuple[str, ...]] | None = None
        self.mode = endpoint.params.get("import", FTS)
        if self.mode not in (FTS, DRAFT_MODE):
            raise ConfigError(f"{endpoint.display}: import must be {FTS} (received mail, "
                              f"needs MailboxItem.ImportExport.All) or {DRAFT_MODE} (drafts)")
        if self.mode == DRAFT_MODE:
            self.capabilities = self.draft_capabilities

    def role_folder(self, role: Role) -> tuple[str, ...] | None:
        """The path of the well-known folder for ``role`` ("Boîte de réception" for the inbox
        of a French mailbox), read once; asking creates nothing."""
        if self._roles is None:
            session = Session(Settings.from_endpoint(self.endpoint), self.endpoint.secrets)
            try:
                self._roles = role_paths(session)
            finally:
                session.close()
        return self._roles.get(role)

    def open_source(self) -> GraphSource:
        return GraphSource(self._open())

    def open_target(self) -> GraphTarget:
        value = self.endpoint.params.get("max_size")
        if value is not None and not value.isdigit():
            raise ConfigError(f"{self.endpoint.display}: max_size must be a number of bytes")
        max_size = DEFAULT_MAX_SIZE if value is None else int(value) or None
        attendees = self.endpoint.params.get("attendees", "keep-out")
        if attendees not in ("keep-out", "invite"):
            raise ConfigError(f"{self.endpoint.display}: attendees must be keep-out (the "
                              "default) or invite (Graph then invites each attendee)")
        target = GraphTarget(self._open(), max_size, self.mode)
        target.invite_attendees = attendees == "invite"
        return target

    def _open(self) -> Session:
        """A session signed in, with the mailbox found: a wrong setting fails at once."""
        settings = Settings.from_endpoint(self.endpoint)
        session = Session(settings, self.endpoint.secrets)
        with opening(session, f"{settings.display}: no mailbox for {settings.user} in "
                              f"tenant {settings.tenant}"):
            session.call("opening the mailbox", lambda c: c.users.by_user_id(settings.user)
                         .mail_folders.by_mail_folder_id("msgfolderroot").get())
        return session
