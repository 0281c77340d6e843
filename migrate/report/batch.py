"""The per-mailbox report (``migrate report``): one row per job of the state database.

What the helpdesk is handed after a migration night: for each mailbox its state, messages
and bytes copied out of the total, how long its last run took, what its last batch pass
copied and found already there, and every failed item with its reason. As one HTML page
(the same page and tables as the other reports) and as CSV (one row per mailbox).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from .. import __version__
from ..i18n import Texts, human_size
from ..state import JobStatus, StateDB
from .html import page, table, write_page

#: Failed items listed per mailbox (the state keeps them all; the count is always exact).
FAILURES_LISTED = 1000
CSV_COLUMNS = ("job", "label", "source", "target", "state", "messages_done",
               "messages_total", "bytes_done", "bytes_total", "failed_items",
               "duration_seconds", "last_pass_copied", "last_pass_skipped", "error",
               "failures")


@dataclass(frozen=True)
class MailboxRow:
    """One mailbox (job) as the report shows it."""

    job_id: int
    label: str | None
    source: str
    target: str
    status: str
    messages_done: int
    messages_total: int
    bytes_done: int
    bytes_total: int
    failed_items: int
    seconds: float | None
    last_pass_copied: int | None
    last_pass_skipped: int | None
    error: str | None  # why the job itself stopped, if it did
    failures: list[tuple[str, str, str]]  # (folder, source key, error)

    @property
    def name(self) -> str:
        return self.label or self.source


def mailbox_rows(state: StateDB) -> list[MailboxRow]:
    """Every job of the state, with its failed items."""
    rows = []
    for progress in state.job_progress():
        job, entry = progress.job, progress.last_pass
        failures = [("/".join(folder), key, error)
                    for folder, key, error in state.failures(job.id, FAILURES_LISTED)]
        rows.append(MailboxRow(job.id, job.label, job.source, job.target, job.status,
                               job.messages_done, job.messages_total, job.bytes_done,
                               job.bytes_total, job.errors, progress.seconds,
                               entry.copied if entry else None,
                               entry.skipped if entry else None,
                               entry.error if entry else None, failures))
    return rows


def duration_text(seconds: float | None) -> str:
    """``1 h 02 min``, ``3 min 12 s`` or ``45 s``: the same in French and English."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def mailbox_html(rows: list[MailboxRow], t: Texts) -> str:
    """The per-mailbox report as one self-contained HTML page in ``t``'s language."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    done = sum(row.status == JobStatus.DONE for row in rows)
    ok = done == len(rows)
    verdict = t("mailboxes.verdict", mailboxes=len(rows), done=done, other=len(rows) - done,
                messages=sum(row.messages_done for row in rows),
                size=human_size(sum(row.bytes_done for row in rows)),
                failed=sum(row.failed_items for row in rows))
    parts = [f"<h1>{escape(t('mailboxes.title'))}</h1>",
             f'<p class="meta">{escape(t("report.generated", version=__version__, time=created))}'
             "</p>",
             f'<p class="verdict {"ok" if ok else "bad"}">{escape(verdict)}</p>',
             f"<h2>{escape(t('mailboxes.heading'))}</h2>",
             table(t("mailboxes.caption", count=len(rows)),
                   [t(f"mailboxes.col.{name}") for name in
                    ("mailbox", "state", "messages", "size", "failed", "duration", "copied",
                     "skipped", "source", "target", "error")],
                   [(row.name, t(f"status.state.{row.status}"),
                     f"{row.messages_done}/{row.messages_total}",
                     f"{human_size(row.bytes_done)}/{human_size(row.bytes_total)}",
                     row.failed_items, duration_text(row.seconds),
                     "-" if row.last_pass_copied is None else row.last_pass_copied,
                     "-" if row.last_pass_skipped is None else row.last_pass_skipped,
                     row.source, row.target, row.error or "") for row in rows],
                   numeric=(2, 3, 4, 5, 6, 7)),
             f"<h2>{escape(t('copy.failures.title'))}</h2>"]
    failures = [(row.name, folder, key, error) for row in rows
                for folder, key, error in row.failures]
    if failures:
        parts.append(table(t("copy.failures.caption", count=len(failures)),
                           [t("mailboxes.col.mailbox"), t("report.col.folder"),
                            t("copy.col.key"), t("copy.col.error")], failures))
    else:
        parts.append(f"<p>{escape(t('copy.failures.none'))}</p>")
    return page(t.language, t("mailboxes.title"), "".join(parts))


def write_mailbox_html(rows: list[MailboxRow], path: str | os.PathLike, t: Texts) -> None:
    write_page(mailbox_html(rows, t), path)


def write_mailbox_csv(rows: list[MailboxRow], path: str | os.PathLike) -> None:
    """One row per mailbox; column names in English, for tools (a spreadsheet opens it:
    UTF-8 with a byte-order mark)."""
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    with temporary.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([row.job_id, row.label or "", row.source, row.target, row.status,
                             row.messages_done, row.messages_total, row.bytes_done,
                             row.bytes_total, row.failed_items,
                             "" if row.seconds is None else round(row.seconds, 1),
                             "" if row.last_pass_copied is None else row.last_pass_copied,
                             "" if row.last_pass_skipped is None else row.last_pass_skipped,
                             row.error or "",
                             " | ".join(f"{folder} {key}: {error}"
                                        for folder, key, error in row.failures)])
    temporary.replace(target)
