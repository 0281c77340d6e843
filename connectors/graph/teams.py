"""Microsoft Teams through Graph: ``teams://TENANT/TEAM_ID`` (one team's channels),
``teams://TENANT/*`` (every team's) and ``teams://TENANT/?user=USER`` (a user's 1:1 and
group chats); a chat source. Same client, sign-in and throttling as ``graph://`` mail
(``session``, ``settings``, ``credentials``); reading is in ``teams_source``, files in
``teams_files``, the identity map in ``teams_people``. ``listing=export`` (with the payment
``model=A|B``) reads messages through the getAllMessages export APIs (``teams_export``).
"""

from __future__ import annotations

from migrate.connector import Capabilities, Connector, Feature, Kind
from migrate.endpoint import Endpoint
from migrate.errors import ConfigError

from .session import Session, opening
from .settings import Settings, _number
from .teams_source import FULL_PASS_DAYS, Scope, TeamsSource

__all__ = ["TeamsConnector", "scope_of"]

_EXAMPLE = "teams://mairie-exemple.onmicrosoft.com/19a7c1e2-0000-4000-8000-00000000abcd"


#: What a 403 on Teams says the app lacks.
TEAMS_PERMISSIONS = (
    "the application permissions Team.ReadBasic.All, Channel.ReadBasic.All, "
    "TeamMember.Read.All, ChannelMember.Read.All, ChannelMessage.Read.All and "
    "Chat.Read.All with admin consent; "
    "Teams message APIs are protected: Microsoft must also have approved the app "
    "(https://aka.ms/teamsgraph/requestaccess)")


def scope_of(endpoint: Endpoint) -> Scope:
    """One team (its id), every team (``*``) or one user's chats (``?user=``)."""
    team = endpoint.location.strip("/")
    user = endpoint.params.get("user")
    listing, model = _listing(endpoint)
    if user and not team:
        return Scope(user=user, listing=listing, model=model)
    if team and not user and "/" not in team:
        return Scope(team=team, listing=listing, model=model)
    raise ConfigError(f"{endpoint.display}: expected teams://TENANT/TEAM_ID, "
                      "teams://TENANT/* or teams://TENANT/?user=USER")


def _listing(endpoint: Endpoint) -> tuple[str, str | None]:
    """``listing=standard|export`` and the export APIs' payment ``model=A|B``."""
    listing = endpoint.params.get("listing", "standard")
    model = endpoint.params.get("model") or None
    if listing not in ("standard", "export"):
        raise ConfigError(f"{endpoint.display}: listing must be 'standard' (per channel and "
                          f"chat) or 'export' (the getAllMessages export APIs), not {listing!r}")
    if model is not None and (listing != "export" or model not in ("A", "B")):
        raise ConfigError(f"{endpoint.display}: model=A or model=B (the payment model of the "
                          "metered export APIs) goes with listing=export")
    return listing, model


class TeamsConnector(Connector):
    """Teams channels and chats through Microsoft Graph; a source."""

    scheme = "teams"
    description = "Microsoft Teams channels and chats through Graph (source)"
    example = _EXAMPLE
    max_connections = 4
    capabilities = Capabilities(
        reads=frozenset({Kind.CHAT}),
        source_keeps=frozenset({Feature.AUTHORS, Feature.TIMESTAMPS, Feature.THREADS,
                                Feature.REACTIONS, Feature.ATTACHMENTS,
                                Feature.SOURCE_RECORD}),
        limits={Feature.EDITS: {
            "en": "Graph gives when a message was last edited, not its former versions",
            "fr": "Graph donne la date de dernière modification, pas les versions "
                  "antérieures"},
            Feature.ATTACHMENTS: {
            "en": "a shared file is copied as it is now in SharePoint or OneDrive, not as "
                  "it was when posted; a deleted one cannot be copied",
            "fr": "un fichier partagé est copié tel qu'il est aujourd'hui dans SharePoint "
                  "ou OneDrive, pas tel qu'il était à l'envoi ; un fichier supprimé ne peut "
                  "pas être copié"}},
    )

    def open_source(self) -> TeamsSource:
        scope = scope_of(self.endpoint)
        settings = Settings.from_endpoint(self.endpoint, user=scope.user or scope.team)
        session = Session(settings, self.endpoint.secrets, TEAMS_PERMISSIONS)
        missing = f"{settings.display}: no such team or user in tenant {settings.tenant}"
        with opening(session, missing):  # a wrong setting or credential fails at once
            if scope.user is not None:
                session.get_json(f"opening the chats of {scope.user}",
                                 lambda c: c.users.by_user_id(scope.user)
                                 .to_get_request_information())
            elif scope.team != "*":
                session.get_json(f"opening team {scope.team}",
                                 lambda c: c.teams.by_team_id(scope.team)
                                 .to_get_request_information())
        full_pass_days = _number(self.endpoint.params, "full_pass_days", FULL_PASS_DAYS,
                                 self.endpoint.display, 0, 3650)
        return TeamsSource(session, scope, full_pass_days)
