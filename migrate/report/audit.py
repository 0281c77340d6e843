"""The audit log as an operator reads it (``migrate audit``): one line per event, in French
or English, or one JSON object per line for a log collector. The log itself is written by
the state database (append-only); this only reads it, streamed."""

from __future__ import annotations

import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..i18n import MESSAGES, Texts
from ..state import StateDB

#: The kinds of event the tool writes (each has its sentence, ``audit.event.<kind>``).
EVENTS = tuple(sorted(key.removeprefix("audit.event.") for key in MESSAGES
                      if key.startswith("audit.event.")))


@dataclass(frozen=True)
class AuditLine:
    """One audit event with what its ids stand for: the pair of its job, its folder."""

    at: datetime
    operator: str
    event: str
    run_id: int | None
    job_id: int | None
    pair: str | None      # the job's label, or "source → target"
    folder: list[str] | None
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The event for a log collector: times in UTC, ids and names as they are."""
        return {"at": _aware(self.at).isoformat(), "operator": self.operator,
                "event": self.event, "run": self.run_id, "job": self.job_id,
                "pair": self.pair, "folder": self.folder, "detail": self.detail}


def audit_lines(state: StateDB, events: Sequence[str] | None = None,
                since: datetime | None = None, job_id: int | None = None
                ) -> Iterator[AuditLine]:
    """The audit log, oldest first, filtered, each event with its pair and folder named."""
    pairs = {job.id: job.label or f"{job.source} → {job.target}" for job in state.jobs()}
    folders: dict[int, list[str]] = {}
    for entry in state.audit_log(events, since, job_id):
        detail = dict(entry.detail or {})
        folder_id = detail.pop("folder_id", None)
        if isinstance(folder_id, int) and folder_id not in folders:
            folders.update(state.folder_paths([folder_id]))
        yield AuditLine(entry.at, entry.operator, entry.event, entry.run_id, entry.job_id,
                        pairs.get(entry.job_id) if entry.job_id is not None else None,
                        folders.get(folder_id) if isinstance(folder_id, int) else None,
                        detail)


def describe(line: AuditLine, texts: Texts) -> str:
    """The event as a sentence in the operator's language; an event this version does not
    know (written by a newer one) as its name and details."""
    key = f"audit.event.{line.event}"
    if key not in MESSAGES:
        return f"{line.event} " + " ".join(f"{name}={value}"
                                           for name, value in sorted(line.detail.items()))
    values = _Values({name: value for name, value in line.detail.items() if value is not None})
    values.update(run=line.run_id, folder="/".join(line.folder) if line.folder else "?")
    if line.event == "run-started":
        source, target = line.detail.get("source"), line.detail.get("target")
        values["pair"] = texts("audit.run_pair", source=source, target=target) \
            if source and target else ""
    outcome = f"audit.outcome.{line.detail.get('outcome')}"
    if outcome in MESSAGES:
        values["outcome"] = texts(outcome)
    return string.Formatter().vformat(texts.raw(key), (), values)


def text_line(line: AuditLine, texts: Texts) -> str:
    """``date time (local)  operator  sentence  [pair]``."""
    when = _aware(line.at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    pair = texts("audit.pair", job=line.job_id, pair=line.pair) if line.pair else ""
    return f"{when}  {line.operator:<12} {describe(line, texts)}{pair}"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _Values(dict):
    """An event's values; one an older entry lacks shows as "?" rather than failing."""

    def __missing__(self, key: str) -> str:
        return "?"
