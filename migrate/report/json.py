"""A comparison as JSON: totals, per folder counts, transformations and every listed item."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..connector import reason_text
from ..verify import CHAT_OUTCOMES, OUTCOMES, Comparison, FolderComparison, Item
from ..verify_pim import PIM_OUTCOMES

FORMAT = "sovereign-migrate/verify-report"
VERSION = 1


def comparison_dict(result: Comparison) -> dict:
    """Plain data (JSON types only) for ``result``; the layout is versioned by ``VERSION``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "tool_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": result.source,
        "target": result.target,
        "ok": result.ok,
        "seconds": round(result.seconds, 3),
        "totals": {"messages": result.messages,
                   **{o.value: result.total(o) for o in OUTCOMES}},
        "transformations": dict(sorted(result.transformations.items())),
        "unverifiable_features": [f.value for f in result.unverifiable_features],
        "chat_totals": {"messages": result.chat_messages,
                        **{o.value: result.chat_total(o) for o in CHAT_OUTCOMES}},
        "folders": [_folder(f) for f in result.folders],
        "conversations": [{"name": c.name, "source_id": c.source_id,
                           **{o.value: c.count(o) for o in CHAT_OUTCOMES},
                           "visibility_change": c.visibility_change, "error": c.error}
                          for c in result.conversations],
        "not_compared": [k.value for k in result.not_compared],
        "not_held": [{"feature": feature.value,
                      "reason": {lang: reason_text(reason, lang) for lang in ("en", "fr")}}
                     for feature, reason in result.not_held],
        "pim_totals": {kind: {"entries": result.pim_entries(kind),
                              **{o.value: result.pim_total(o, kind) for o in PIM_OUTCOMES}}
                       for kind in ("calendar", "contacts")},
        "collections": [{"kind": c.kind.value, "path": list(c.path),
                         **{o.value: c.count(o) for o in PIM_OUTCOMES}, "error": c.error}
                        for c in result.collections],
        "items": [_item(i) for i in result.items],
    }


def _folder(folder: FolderComparison) -> dict:
    return {"source": list(folder.source.path) if folder.source else None,
            "target": list(folder.target.path),
            **{o.value: folder.count(o) for o in OUTCOMES},
            "error": folder.error}


def _item(item: Item) -> dict:
    summary = item.summary
    return {"kind": item.kind.value, "outcome": item.outcome.value, "folder": list(item.folder),
            "target_folder": list(item.target_folder) if item.target_folder else None,
            "changes": [{"aspect": a.value, "change": c} for a, c in item.changes],
            "detail": item.detail or None,
            "date": summary.date, "sender": summary.sender, "subject": summary.subject,
            "message_id": summary.message_id}


def write_json(result: Comparison, path: str | os.PathLike) -> None:
    """Write ``comparison_dict(result)`` to ``path`` (UTF-8, indented)."""
    write_document(comparison_dict(result), path)


def write_document(document: dict, path: str | os.PathLike) -> None:
    """Write any report document as indented UTF-8 JSON, replacing the file atomically."""
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n",
                         encoding="utf-8")
    temporary.replace(target)
