"""Outlook data files (.pst/.ost) as a mail source, read with libpff (the ``pst`` extra).

A PST keeps messages as MAPI properties, not as their MIME text: each message is rebuilt
(``mime``), deterministically, and carries its provenance (the file's name, size and
sha256, the item's node id) into the archive, which marks it as derived.
"""

from __future__ import annotations

from migrate.connector import Capabilities, Connector, Feature, Kind

from .source import PstSource

__all__ = ["PstConnector", "PstSource"]


class PstConnector(Connector):
    """Outlook data files, as a source."""

    scheme = "pst"
    description = "Outlook data files (.pst/.ost), or a directory of them (read only)"
    example = "pst:/srv/partage/agent.pst"
    capabilities = Capabilities(
        reads=frozenset({Kind.MAIL, Kind.CALENDAR, Kind.CONTACTS}),
        source_keeps=frozenset({Feature.FOLDERS, Feature.SPECIAL_USE, Feature.FLAGS,
                                Feature.KEYWORDS, Feature.INTERNAL_DATE}),
        stable_rebuild=True,  # deterministic MIME: verify compares copies byte for byte
        limits={
            Feature.ORIGINAL_BYTES: {
                "en": "a .pst file keeps a message as properties, not as the MIME text it "
                      "arrived as: each message is rebuilt (transport headers kept, body and "
                      "attachments re-encoded) and marked as derived in the archive",
                "fr": "un fichier .pst garde un message sous forme de propriétés, pas le "
                      "texte MIME reçu : chaque message est reconstruit (en-têtes de "
                      "transport gardés, corps et pièces jointes réencodés) et marqué comme "
                      "dérivé dans l'archive"},
            Feature.DATE_OFFSET: {
                "en": "a .pst file keeps the received time in UTC, not the offset it "
                      "arrived with",
                "fr": "un fichier .pst garde l'heure de réception en UTC, pas le décalage "
                      "d'origine"},
        },
    )

    def open_source(self) -> PstSource:
        return PstSource(self.endpoint.local_path())
