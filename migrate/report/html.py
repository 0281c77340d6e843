"""A comparison as one self-contained HTML page, for a director or an auditor.

No script, no network: inline CSS and an inline SVG bar chart. Accessibility (RGAA):
``lang`` on the page, headings in order, every table with a ``<caption>`` and ``<th
scope>``, the chart with a text alternative (and its figures in a table), contrast of at
least 4.5:1. Every value is escaped with ``html.escape``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from .. import __version__
from ..connector import reason_text
from ..i18n import Texts
from ..verify import (
    CHAT_OUTCOMES,
    LISTED,
    OUTCOMES,
    Comparison,
    ConversationComparison,
    Item,
    Outcome,
)
from ..verify_pim import PIM_OUTCOMES

#: Bar colours, each at least 4.5:1 against white.
COLOURS = {Outcome.MATCH: "#1b6b3a", Outcome.TRANSFORMED: "#1f4e8c",
           Outcome.DIFFER: "#8a4b00", Outcome.MISSING: "#b00020",
           Outcome.EXTRA: "#4d4d4d", Outcome.UNVERIFIABLE: "#5e3a99"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;
background:#fff;margin:2rem auto;max-width:72rem;padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:2px solid #1f4e8c;padding-bottom:.2rem}
.meta{color:#3d3d3d}.verdict{font-size:1.15rem;font-weight:bold;padding:.6rem 1rem;
border-left:.4rem solid}.ok{border-color:#1b6b3a;background:#e9f5ee}
.bad{border-color:#b00020;background:#fbe9ec}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
caption{text-align:left;font-weight:bold;padding:.3rem 0}
th,td{border:1px solid #8c8c8c;padding:.3rem .5rem;text-align:left;vertical-align:top}
thead th{background:#e8edf5}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tbody th{font-weight:normal}code{font-size:.9em;word-break:break-all}
"""


def cell(value: object, numeric: bool = False) -> str:
    text = "" if value is None else str(value)
    return f'<td class="n">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>"


def table(caption: str, columns: Sequence[str], rows: Sequence[Sequence[object]],
          numeric: Sequence[int] = ()) -> str:
    """A table whose first column heads each row (``th scope="row"``)."""
    head = "".join(f'<th scope="col"{" class=n" if i in numeric else ""}>{escape(c)}</th>'
                   for i, c in enumerate(columns))
    body = []
    for row in rows:
        first = f'<th scope="row">{escape(str(row[0]))}</th>'
        rest = "".join(cell(v, i + 1 in numeric) for i, v in enumerate(row[1:]))
        body.append(f"<tr>{first}{rest}</tr>")
    return (f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def bar_chart(title: str, bars: Sequence[tuple[str, int, str]]) -> str:
    """A horizontal bar chart as inline SVG; ``bars`` are (label, value, colour)."""
    width, label_w, row_h = 640, 220, 30
    top = max((v for _, v, _ in bars), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{row_h * len(bars) + 10}" aria-labelledby="chart-title">'
             f'<title id="chart-title">{escape(title)}</title>']
    for n, (label, value, colour) in enumerate(bars):
        y = 5 + n * row_h
        length = 0 if not value else max(2, int((width - label_w - 80) * value / top))
        parts.append(f'<text x="0" y="{y + 19}" font-size="14" fill="#1a1a1a">'
                     f'{escape(label)}</text><rect x="{label_w}" y="{y + 4}" '
                     f'width="{length}" height="20" fill="{colour}"/>'
                     f'<text x="{label_w + length + 6}" y="{y + 19}" font-size="14" '
                     f'fill="#1a1a1a">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def page(language: str, title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="{escape(language)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def comparison_html(result: Comparison, t: Texts) -> str:
    """The verification report of ``result`` as one HTML page in ``t``'s language."""
    kinds = {o: t(f"verify.kind.{o.value}") for o in OUTCOMES}
    created = datetime.now(UTC).isoformat(timespec="seconds")
    verdict = (t("verify.ok", count=result.messages) if result.ok else
               t("verify.bad", missing=result.total("missing") + result.chat_total("missing")
                 + result.pim_total("missing"), differ=result.total("differ")
                 + result.chat_total("differ") + result.pim_total("differ"),
                 unverifiable=result.total("unverifiable")))
    parts = [f"<h1>{escape(t('report.title'))}</h1>",
             f'<p class="meta">{escape(result.source)} → {escape(result.target)}<br>'
             f"{escape(t('report.generated', version=__version__, time=created))}</p>",
             f'<p class="verdict {"ok" if result.ok else "bad"}">{escape(verdict)}</p>',
             f"<h2>{escape(t('report.totals'))}</h2>",
             bar_chart(t("report.chart"), [(kinds[o], result.total(o), COLOURS[o])
                                           for o in OUTCOMES]),
             table(t("report.totals.caption"), [t("report.col.outcome"), t("report.col.count")],
                   [(kinds[o], result.total(o)) for o in OUTCOMES], numeric=(1,))]
    if result.transformations:
        parts.append(table(t("report.transformations.caption"),
                           [t("report.col.transformation"), t("report.col.count")],
                           [(t(f"transform.{name}"), count)
                            for name, count in sorted(result.transformations.items())],
                           numeric=(1,)))
    if result.not_compared:
        kinds_text = ", ".join(t(f"kind.{k.value}") for k in result.not_compared)
        parts.append(f"<p>{escape(t('verify.not_compared', kinds=kinds_text))}</p>")
    if result.unverifiable_features:
        features = ", ".join(t(f"feature.{f.value}") for f in result.unverifiable_features)
        parts.append(f"<p>{escape(t('verify.unverifiable', features=features))}</p>")
    parts.append(not_held_list(result, t))
    parts.append(f"<h2>{escape(t('report.folders'))}</h2>")
    parts.append(table(t("report.folders.caption"),
                       [t("report.col.folder"), t("report.col.target"),
                        *[kinds[o] for o in OUTCOMES]],
                       [(f.name, f.target.display(), *[f.count(o) for o in OUTCOMES])
                        for f in result.folders],
                       numeric=tuple(range(2, 2 + len(OUTCOMES)))))
    if result.conversations:
        parts.append(f"<h2>{escape(t('report.conversations'))}</h2>")
        parts.append(table(t("report.conversations.caption"),
                           [t("report.col.conversation"), *[kinds[o] for o in CHAT_OUTCOMES]],
                           [(_conversation_name(c, t), *[c.count(o) for o in CHAT_OUTCOMES])
                            for c in result.conversations],
                           numeric=tuple(range(1, 1 + len(CHAT_OUTCOMES)))))
    if result.collections:
        parts.append(f"<h2>{escape(t('report.collections'))}</h2>")
        parts.append(collections_table(result, t))
    parts.append(f"<h2>{escape(t('report.items'))}</h2>")
    parts.append(items_table(result, t))
    return page(t.language, t("report.title"), "".join(parts))


def _conversation_name(conversation: ConversationComparison, t: Texts) -> str:
    """A conversation's name, how its channel visibility differs if it does, and why it
    could not be compared if it could not."""
    name = conversation.name
    if conversation.visibility_change is not None:
        name = t("report.visibility", name=name, change=conversation.visibility_change)
    if conversation.error is not None:
        name += t("plan.unreadable", error=conversation.error)
    return name


def collections_table(result: Comparison, t: Texts) -> str:
    """Events and contacts by calendar or address book and outcome."""
    kinds = [t(f"verify.kind.{o.value}") for o in PIM_OUTCOMES]
    return table(t("report.collections.caption"),
                 [t("report.col.collection"), t("report.col.kind"), *kinds,
                  t("report.col.error")],
                 [(c.name, t(f"plan.kind.{c.kind.value}"),
                   *[c.count(o) for o in PIM_OUTCOMES], c.error or "")
                  for c in result.collections],
                 numeric=tuple(range(2, 2 + len(PIM_OUTCOMES))))


def items_table(result: Comparison, t: Texts) -> str:
    """Every listed item (missing, differing, only in target, unverifiable)."""
    listed = [i for i in result.items if i.outcome in LISTED]
    if not listed:
        return f"<p>{escape(t('report.items.none'))}</p>"
    rows = []
    for item in listed:
        rows.append(("/".join(item.folder), t(f"verify.kind.{item.outcome.value}"),
                     describe(item, t),
                     item.summary.date or "", item.summary.sender or "",
                     item.summary.subject or "", item.summary.message_id or ""))
    return table(t("report.items.caption", count=len(listed)),
                 [t("report.col.folder"), t("report.col.outcome"), t("report.col.how"),
                  t("report.col.date"), t("report.col.sender"), t("report.col.subject"),
                  t("report.col.message_id")], rows)


def describe(item: Item, t: Texts) -> str:
    """How an item differs ("flags: \\Seen → ∅; folder: A → B"), or why it is unverifiable."""
    parts = [f"{t(f'aspect.{aspect.value}')}: {change}" if change else t(f"aspect.{aspect.value}")
             for aspect, change in item.changes]
    if item.detail:
        parts.append(item.detail)
    return "; ".join(parts)


def write_html(result: Comparison, path: str | os.PathLike, texts: Texts) -> None:
    """Write the HTML report of ``result`` to ``path``."""
    write_page(comparison_html(result, texts), path)


def write_page(text: str, path: str | os.PathLike) -> None:
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)


def not_held_list(result: Comparison, t: Texts) -> str:
    """What the target cannot hold, each with its reason (empty when it holds everything)."""
    if not result.not_held:
        return ""
    items = "".join(
        "<li>" + escape(t("verify.not_held.item", feature=t(f"feature.{feature.value}"),
                          reason=reason_text(reason, t.language)).strip())
        + "</li>" for feature, reason in result.not_held)
    return f"<p>{escape(t('verify.not_held', target=result.target))}</p><ul>{items}</ul>"
