"""The identity map of a Teams read: everyone seen (authors, mentioned, reacting, members),
looked up once each in Entra ID for their UPN and mail.

``GET /users/{id}?$select=id,userPrincipalName,displayName,mail`` (User.Read.All) answers for
the tenant's accounts; a guest from another tenant, an external or a deleted account has no
record (404) and keeps what the messages say. A 403 (the permission is missing) is logged
once and the rest are left unlooked-up: the identity map is worth having even then.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from kiota_abstractions.base_request_configuration import RequestConfiguration

from migrate.errors import AuthError, ConnectError, MigrateError
from migrate.model import Identity, Person

from .session import NotFound, Session, TokenRefused
from .teams_json import parse_object

log = logging.getLogger(__name__)

#: The user properties the identity map needs.
USER_FIELDS = ["id", "userPrincipalName", "displayName", "mail"]
_ENTRA = "aad:"


class People:
    """Everyone seen while reading, and their directory details (see the module doc)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._seen: dict[str, Identity] = {}
        self._found: dict[str, Person] = {}  # looked up already (this run)
        self._refused = False

    def see(self, identities: Iterable[Identity | None]) -> None:
        """Remember these people; a later sighting fills in a name or mail left empty."""
        for who in identities:
            if who is None:
                continue
            known = self._seen.get(who.source_id)
            if known is None:
                self._seen[who.source_id] = who
            elif (known.display_name is None and who.display_name) or \
                    (known.email is None and who.email):
                self._seen[who.source_id] = Identity(
                    who.source_id, known.display_name or who.display_name,
                    known.email or who.email)

    def people(self) -> Iterator[Person]:
        """Each person seen, sorted by source id, with the directory's details."""
        for key in sorted(self._seen):
            if key not in self._found:
                self._found[key] = self._person(self._seen[key])
            yield self._found[key]

    def _person(self, who: Identity) -> Person:
        seen = Person(who.source_id, who.display_name, None, who.email)
        if not who.source_id.startswith(_ENTRA) or self._refused:
            return seen
        user_id = who.source_id.removeprefix(_ENTRA)
        try:
            data = parse_object(self.session.get_json(
                f"looking up user {user_id}", lambda c: self._request(c, user_id)),
                f"user {user_id}")
        except NotFound:
            return Person(who.source_id, who.display_name, None, who.email, False)
        except TokenRefused:
            raise
        except AuthError as exc:
            self._refused = True
            log.warning("%s; people are kept with what the messages say (User.Read.All "
                        "gives their UPN and mail)", exc)
            return seen
        except ConnectError:
            raise
        except MigrateError as exc:
            log.warning("%s; kept with what the messages say", exc)
            return seen

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        return Person(who.source_id, text("displayName") or who.display_name,
                      text("userPrincipalName"), text("mail") or who.email, True)

    @staticmethod
    def _request(client, user_id: str):
        builder = client.users.by_user_id(user_id)
        query = builder.UserItemRequestBuilderGetQueryParameters(select=USER_FIELDS)
        return builder.to_get_request_information(RequestConfiguration(query_parameters=query))
