"""The reversibility certificate of a round trip, as JSON and as HTML pages (fr, en)."""

from __future__ import annotations

import os
from html import escape

from ..i18n import Texts
from ..roundtrip import ArchiveHashes, Certificate
from .html import (
    bar_chart,
    collections_table,
    items_table,
    not_held_list,
    page,
    table,
    write_page,
)
from .json import comparison_dict, write_document

FORMAT = "sovereign-migrate/reversibility-certificate"
VERSION = 1


def certificate_dict(cert: Certificate) -> dict:
    """Plain data (JSON types only) for ``cert``; the layout is versioned by ``VERSION``."""
    return {
        "format": FORMAT, "version": VERSION, "tool_version": cert.tool_version,
        "created": cert.created, "operator": cert.operator, "via": cert.via,
        "ok": cert.ok,
        "archive": _hashes(cert.archive),
        "returned": {**_hashes(cert.returned), "kept": cert.returned_kept},
        "messages": cert.messages, "byte_identical": cert.identical,
        "byte_identical_percent": round(cert.identical_percent, 2),
        "transformations": dict(sorted(cert.comparison.transformations.items())),
        "renamed_folders": [{"from": list(a), "to": list(b)} for a, b in cert.renamed_folders],
        "lost": cert.lost,
        "chat": {"messages": cert.chat.messages, "returned": cert.chat.returned,
                 "carried": cert.chat.carried, "lost": cert.chat.lost},
        "calendars_contacts": {"entries": cert.pim.entries, "returned": cert.pim.returned,
                               "carried": list(cert.pim.carried), "lost": cert.pim.lost,
                               "translated": cert.pim.translated},
        "not_held": comparison_dict(cert.comparison)["not_held"],
        "comparison": comparison_dict(cert.comparison),
    }


def _hashes(hashes: ArchiveHashes) -> dict:
    return {"path": hashes.path, "tagmanifest_sha256": hashes.tagmanifest_sha256,
            "messages_sha256": hashes.messages_sha256,
            "entries_sha256": hashes.entries_sha256}


def certificate_html(cert: Certificate, t: Texts) -> str:
    """The certificate as one self-contained HTML page in ``t``'s language."""
    verdict = t("cert.ok" if cert.ok else "cert.bad", identical=cert.identical,
                messages=cert.messages, percent=cert.identical_percent, lost=cert.lost)
    transformed = sum(cert.comparison.transformations.values())
    subtitle = t("cert.subtitle", archive=cert.archive.path, via=cert.via)
    parts = [f"<h1>{escape(t('cert.title'))}</h1>",
             f'<p class="meta">{escape(subtitle)}</p>',
             f'<p class="verdict {"ok" if cert.ok else "bad"}">{escape(verdict)}</p>',
             f"<h2>{escape(t('cert.figures'))}</h2>",
             bar_chart(t("cert.chart"), [(t("cert.identical"), cert.identical, "#1b6b3a"),
                                         (t("cert.transformed"), transformed, "#1f4e8c"),
                                         (t("cert.lost"), cert.lost, "#b00020")]),
             table(t("cert.figures.caption"), [t("cert.col.what"), t("cert.col.value")],
                   [(t("cert.messages"), cert.messages),
                    (t("cert.identical"), f"{cert.identical} ({cert.identical_percent:.1f} %)"),
                    (t("cert.lost"), cert.lost),
                    (t("cert.chat"), f"{cert.chat.returned} / {cert.chat.messages}"),
                    (t("cert.pim"), f"{cert.pim.returned} / {cert.pim.entries}")],
                   numeric=(1,)),
             f"<h2>{escape(t('cert.transformations'))}</h2>"]
    rows = [(t(f"transform.{name}"), count)
            for name, count in sorted(cert.comparison.transformations.items())]
    rows += [(t("transform.folder"), f"{'/'.join(a)} → {'/'.join(b)}")
             for a, b in cert.renamed_folders]
    parts.append(table(t("cert.transformations.caption"),
                       [t("report.col.transformation"), t("cert.col.value")], rows)
                 if rows else f"<p>{escape(t('cert.transformations.none'))}</p>")
    parts.append(not_held_list(cert.comparison, t))
    parts += [f"<h2>{escape(t('cert.attestation'))}</h2>",
              table(t("cert.attestation.caption"), [t("cert.col.what"), t("cert.col.value")],
                    [(t("cert.archive.tags"), cert.archive.tagmanifest_sha256),
                     (t("cert.archive.messages"), cert.archive.messages_sha256),
                     (t("cert.returned.tags"), cert.returned.tagmanifest_sha256),
                     (t("cert.returned.messages"), cert.returned.messages_sha256),
                     (t("cert.archive.entries"), cert.archive.entries_sha256),
                     (t("cert.returned.entries"), cert.returned.entries_sha256),
                     (t("cert.via"), cert.via),
                     (t("cert.tool"), f"sovereign-migrate {cert.tool_version}"),
                     (t("cert.time"), cert.created),
                     (t("cert.operator"), cert.operator)]),
              *([f"<h2>{escape(t('report.collections'))}</h2>",
                 collections_table(cert.comparison, t)] if cert.comparison.collections else []),
              f"<h2>{escape(t('report.items'))}</h2>",
              items_table(cert.comparison, t)]
    return page(t.language, t("cert.title"), "".join(parts))


def write_certificate(cert: Certificate, prefix: str | os.PathLike) -> list[str]:
    """Write PREFIX.json, PREFIX.fr.html and PREFIX.en.html; return their paths."""
    paths = [f"{prefix}.json", f"{prefix}.fr.html", f"{prefix}.en.html"]
    write_document(certificate_dict(cert), paths[0])
    write_page(certificate_html(cert, Texts("fr")), paths[1])
    write_page(certificate_html(cert, Texts("en")), paths[2])
    return paths
