"""What a copy did, as JSON and as one HTML page: totals, per folder counts, every failure."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from html import escape

from .. import __version__
from ..i18n import Texts, human_size
from ..results import CopyResult, FolderResult
from .html import bar_chart, page, table, write_page
from .json import write_document

FORMAT = "sovereign-migrate/copy-report"
VERSION = 1


def copy_dict(result: CopyResult, source: str, target: str) -> dict:
    """Plain data (JSON types only) for a copy run; versioned by ``VERSION``."""
    return {
        "format": FORMAT, "version": VERSION, "tool_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source, "target": target, "ok": result.ok,
        "job_id": result.job_id, "run_id": result.run_id,
        "seconds": round(result.seconds, 3),
        "totals": {"copied": result.copied, "skipped": result.skipped,
                   "failed": result.failed, "bytes": result.bytes, "updated": result.updated},
        "totals_by_kind": {kind: _totals(result.by_kind(kind))
                           for kind in ("mail", "calendar", "contacts")
                           if result.by_kind(kind)},
        "folders": [{"kind": f.kind, "source": list(f.source.path),
                     "target": list(f.target.path),
                     "copied": f.copied, "skipped": f.skipped, "failed": f.failed,
                     "bytes": f.bytes, "updated": f.updated} for f in result.folders],
        "failures": [{"folder": list(f.folder), "key": f.key, "error": f.error,
                      "subject": f.subject, "message_id": f.message_id}
                     for f in result.failures],
        "losses": [{"folder": list(loss.folder), "key": loss.key, "title": loss.title,
                    "lost": list(loss.lost)} for loss in result.losses],
    }


def _totals(rows: list[FolderResult]) -> dict:
    """Counts of some rows: mail folders and conversations, or calendars, or address books
    (whose ``source`` path starts with the kind: ``["calendar", "Agenda"]``)."""
    return {"collections": len(rows), "copied": sum(f.copied for f in rows),
            "skipped": sum(f.skipped for f in rows), "failed": sum(f.failed for f in rows),
            "bytes": sum(f.bytes for f in rows)}


def copy_html(result: CopyResult, source: str, target: str, t: Texts) -> str:
    """The copy report as one self-contained HTML page in ``t``'s language."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    mail = _totals(result.by_kind("mail"))
    verdict = t("copy.summary", copied=mail["copied"], size=human_size(mail["bytes"]),
                seconds=result.seconds, skipped=mail["skipped"], failed=mail["failed"])
    names = [t("copy.col.copied"), t("copy.col.skipped"), t("copy.col.failed")]
    parts = [f"<h1>{escape(t('copy.report.title'))}</h1>",
             f'<p class="meta">{escape(source)} → {escape(target)}<br>'
             f"{escape(t('report.generated', version=__version__, time=created))}</p>",
             f'<p class="verdict {"ok" if result.ok else "bad"}">{escape(verdict)}</p>',
             *[f"<p>{escape(line)}</p>" for line in pim_lines(result, t)],
             f"<h2>{escape(t('report.totals'))}</h2>",
             bar_chart(t("copy.chart"), [(names[0], result.copied, "#1b6b3a"),
                                         (names[1], result.skipped, "#1f4e8c"),
                                         (names[2], result.failed, "#b00020")]),
             f"<h2>{escape(t('report.folders'))}</h2>",
             table(t("copy.folders.caption"),
                   [t("report.col.folder"), t("report.col.target"), *names,
                    t("copy.col.size")],
                   [(f.source.display(), f.target.display(), f.copied, f.skipped, f.failed,
                     human_size(f.bytes)) for f in result.folders],
                   numeric=(2, 3, 4, 5)),
             f"<h2>{escape(t('copy.failures.title'))}</h2>"]
    if result.failures:
        parts.append(table(t("copy.failures.caption", count=len(result.failures)),
                           [t("report.col.folder"), t("copy.col.key"),
                            t("report.col.subject"), t("report.col.message_id"),
                            t("copy.col.error")],
                           [("/".join(f.folder), f.key, f.subject or "", f.message_id or "",
                             f.error) for f in result.failures]))
    else:
        parts.append(f"<p>{escape(t('copy.failures.none'))}</p>")
    if result.losses:
        parts += [f"<h2>{escape(t('copy.losses.title'))}</h2>",
                  table(t("copy.losses.caption", count=len(result.losses)),
                        [t("report.col.folder"), t("copy.col.key"), t("copy.col.title"),
                         t("copy.col.lost")],
                        [("/".join(loss.folder), loss.key, loss.title or "",
                          "; ".join(loss.lost)) for loss in result.losses])]
    return page(t.language, t("copy.report.title"), "".join(parts))


def pim_lines(result: CopyResult, t: Texts) -> list[str]:
    """One line per kind of collection copied (events, contacts), for people."""
    lines = []
    for kind in ("calendar", "contacts"):
        rows = result.by_kind(kind)
        if rows:
            totals = _totals(rows)
            lines.append(t(f"copy.pim.{kind}", copied=totals["copied"],
                           collections=totals["collections"], skipped=totals["skipped"],
                           failed=totals["failed"]))
            changes = {name: sum(getattr(row, name) for row in rows)
                       for name in ("updated", "removed", "deleted")}
            if any(changes.values()):  # what a pass after the first carried
                lines.append(t("copy.pim.changes", **changes))
            if lossy := sum(row.lossy for row in rows):
                lines.append(t(f"copy.pim.lossy.{kind}", count=lossy))
    return lines


def write_copy_reports(result: CopyResult, source: str, target: str, t: Texts,
                       json_path: str | os.PathLike | None,
                       html_path: str | os.PathLike | None) -> list[str]:
    """Write the reports asked for; return their paths."""
    written = []
    if json_path:
        write_document(copy_dict(result, source, target), json_path)
        written.append(str(json_path))
    if html_path:
        write_page(copy_html(result, source, target, t), html_path)
        written.append(str(html_path))
    return written
