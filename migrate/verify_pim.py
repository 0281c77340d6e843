"""Comparing calendars and address books, when both endpoints hold them.

Collections are paired by kind and path. Entries are paired by the sha256 of their bytes
(ids differ across platforms): **match**; then by iCalendar/vCard UID, once on each side:
**differ** (bytes); what is left is **missing** in the target (listed with its source id
and SUMMARY or FN) or **only in target**. One collection's fingerprints (sha256 and label,
never the bytes) are held at a time. A collection that cannot be read to the end is an
error of that collection: never a pass.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from .connector import Kind, PimSource
from .errors import ConnectError, MigrateError
from .model import Collection, CollectionKind, MessageSummary
from .pimtext import EntryLabel, entry_label
from .verify import Aspect, Comparison, Item, Outcome

#: Outcomes an entry can have (no transformation is declared for iCalendar or vCard).
PIM_OUTCOMES = (Outcome.MATCH, Outcome.DIFFER, Outcome.MISSING, Outcome.EXTRA)
PIM_KINDS = frozenset({Kind.CALENDAR, Kind.CONTACTS})


@dataclass
class CollectionComparison:
    """Counts for one calendar or address book (paired by kind and path)."""

    kind: CollectionKind
    path: tuple[str, ...]
    match: int = 0
    differ: int = 0
    missing: int = 0
    extra: int = 0
    error: str | None = None

    @property
    def name(self) -> str:
        return "/".join(self.path)

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.differ == 0 and self.error is None

    def count(self, outcome: Outcome) -> int:
        return getattr(self, outcome.value, 0)

    def add(self, outcome: Outcome, n: int = 1) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + n)


@dataclass(frozen=True)
class _Print:
    """What is compared of one entry, and what a report shows of it."""

    sha256: str
    source_id: str
    label: EntryLabel


def _read(reader: PimSource, collection: Collection | None) -> tuple[list[_Print], str | None]:
    """The collection's fingerprints, and the error that stopped the listing (if any)."""
    prints: list[_Print] = []
    if collection is None:
        return prints, None
    try:
        for entry in reader.entries(collection):
            prints.append(_Print(entry.sha256, entry.source_id, entry_label(entry.data)))
    except ConnectError:
        raise
    except (MigrateError, OSError) as exc:
        return prints, str(exc)
    return prints, None


def compare_pim(left: PimSource, right: PimSource, kinds: frozenset[Kind],
                result: Comparison) -> None:
    """Compare every collection of ``kinds`` of both sides into ``result.collections``."""
    wanted = {CollectionKind(k.value) for k in kinds & PIM_KINDS}
    theirs = {(c.kind, c.path): c for c in right.collections() if c.kind in wanted}
    for collection in left.collections():
        if collection.kind not in wanted:
            continue
        counts = CollectionComparison(collection.kind, collection.path)
        result.collections.append(counts)
        ours, error = _read(left, collection)
        other, their_error = _read(right, theirs.pop((collection.kind, collection.path), None))
        counts.error = error or their_error
        _pair(ours, other, counts, result)
    for collection in theirs.values():  # only in target
        counts = CollectionComparison(collection.kind, collection.path)
        result.collections.append(counts)
        other, counts.error = _read(right, collection)
        _pair([], other, counts, result)


def _pair(ours: list[_Print], theirs: list[_Print], counts: CollectionComparison,
          result: Comparison) -> None:
    index: dict[str, list[_Print]] = defaultdict(list)
    for fp in theirs:
        index[fp.sha256].append(fp)
    unpaired = []
    for fp in ours:
        if index.get(fp.sha256):
            index[fp.sha256].pop()
            counts.add(Outcome.MATCH)
        else:
            unpaired.append(fp)
    rest = [fp for copies in index.values() for fp in copies]
    left, right = _unique_uids(unpaired), _unique_uids(rest)
    same_uid = set(left) & set(right)
    for uid in same_uid:
        change = f"sha256 {left[uid].sha256[:12]}… → {right[uid].sha256[:12]}…"
        _list(result, counts, Outcome.DIFFER, left[uid], ((Aspect.BYTES, change),))
    for fp in unpaired:
        if fp.label.uid not in same_uid:
            _list(result, counts, Outcome.MISSING, fp)
    for fp in rest:
        if fp.label.uid not in same_uid:
            _list(result, counts, Outcome.EXTRA, fp)


def _unique_uids(prints: list[_Print]) -> dict[str, _Print]:
    found = Counter(fp.label.uid for fp in prints if fp.label.uid)
    return {fp.label.uid: fp for fp in prints if fp.label.uid and found[fp.label.uid] == 1}


def _list(result: Comparison, counts: CollectionComparison, outcome: Outcome, fp: _Print,
          changes: tuple[tuple[Aspect, str], ...] = ()) -> None:
    counts.add(outcome)
    summary = MessageSummary(fp.label.uid, fp.label.summary, None, fp.label.start)
    result.items.append(Item(outcome, (counts.kind.value, *counts.path), summary, changes,
                             detail=f"id {fp.source_id}", kind=Kind(counts.kind.value)))
