"""Comparing calendars and address books, when both endpoints hold them.

Collections are paired by kind and path. Entries are paired by the sha256 of their bytes
(ids differ across platforms): **match**; then by iCalendar/vCard UID, once on each side:
**differ** (bytes); then, for a kind the target rewrites in its own words (it declares a
limit for ``event-details`` / ``contact-details``, e.g. Microsoft 365, which takes JSON),
by what the entry is (an event's SUMMARY and start as one UTC instant, a contact's FN),
once on each side: **transformed**, listed with the properties that did not come back
(``−VALARM``) and those the target added (``+ORGANIZER``); what is left is **missing** in
the target (listed with its source id and SUMMARY or FN) or **only in target**. One
collection's fingerprints (sha256, label and property names, never the bytes) are held at
a time. A collection that cannot be read to the end is an
error of that collection: never a pass.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from .connector import Kind, PimSource
from .errors import ConnectError, MigrateError
from .model import Collection, CollectionKind, MessageSummary
from .pimtext import EntryLabel, entry_label, entry_names, start_instant
from .verify import Aspect, Comparison, Item, Outcome

#: Outcomes an entry can have (transformed: translated by a target that rewrites entries).
PIM_OUTCOMES = (Outcome.MATCH, Outcome.TRANSFORMED, Outcome.DIFFER, Outcome.MISSING,
                Outcome.EXTRA)
PIM_KINDS = frozenset({Kind.CALENDAR, Kind.CONTACTS})


@dataclass
class CollectionComparison:
    """Counts for one calendar or address book (paired by kind and path)."""

    kind: CollectionKind
    path: tuple[str, ...]
    match: int = 0
    transformed: int = 0
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
    names: frozenset[str]  # its property and sub-component names (``entry_names``)

    def identity(self, kind: CollectionKind) -> tuple[str | None, ...] | None:
        """What the entry is, in any platform's words (None: nothing to tell it by)."""
        summary = " ".join((self.label.summary or "").casefold().split())
        if kind is CollectionKind.CONTACTS:
            return (summary,) if summary else None
        start = start_instant(self.label.start)
        return (summary, start) if summary or start else None


def _read(reader: PimSource, collection: Collection | None) -> tuple[list[_Print], str | None]:
    """The collection's fingerprints, and the error that stopped the listing (if any)."""
    prints: list[_Print] = []
    if collection is None:
        return prints, None
    try:
        for entry in reader.entries(collection):
            prints.append(_Print(entry.sha256, entry.source_id, entry_label(entry.data),
                                 entry_names(entry.data)))
    except ConnectError:
        raise
    except (MigrateError, OSError) as exc:
        return prints, str(exc)
    return prints, None


def compare_pim(left: PimSource, right: PimSource, kinds: frozenset[Kind],
                result: Comparison, translated: frozenset[Kind] = frozenset()) -> None:
    """Compare every collection of ``kinds`` of both sides into ``result.collections``;
    entries of ``translated`` kinds are also paired by what they are (see the module doc)."""
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
        _pair(ours, other, counts, result, Kind(collection.kind.value) in translated)
    for collection in theirs.values():  # only in target
        counts = CollectionComparison(collection.kind, collection.path)
        result.collections.append(counts)
        other, counts.error = _read(right, collection)
        _pair([], other, counts, result)


def _pair(ours: list[_Print], theirs: list[_Print], counts: CollectionComparison,
          result: Comparison, translated: bool = False) -> None:
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
    unpaired = [fp for fp in unpaired if fp.label.uid not in same_uid]
    rest = [fp for fp in rest if fp.label.uid not in same_uid]
    if translated:
        unpaired, rest = _pair_translated(unpaired, rest, counts, result)
    for fp in unpaired:
        _list(result, counts, Outcome.MISSING, fp)
    for fp in rest:
        _list(result, counts, Outcome.EXTRA, fp)


def _pair_translated(ours: list[_Print], theirs: list[_Print], counts: CollectionComparison,
                     result: Comparison) -> tuple[list[_Print], list[_Print]]:
    """Pair entries a target rewrote by what they are (once on each side): transformed,
    with the properties lost and added on the way; the unpaired ones are returned."""
    def unique(prints: list[_Print]) -> dict[tuple, _Print]:
        found = Counter(fp.identity(counts.kind) for fp in prints)
        return {key: fp for fp in prints if (key := fp.identity(counts.kind)) is not None
                and found[key] == 1}

    left, right = unique(ours), unique(theirs)
    paired = set(left) & set(right)
    for key in paired:
        before, after = left[key], right[key]
        change = " ".join([f"−{name}" for name in sorted(before.names - after.names)]
                          + [f"+{name}" for name in sorted(after.names - before.names)])
        _list(result, counts, Outcome.TRANSFORMED, before, ((Aspect.BYTES, change or "="),))
    return ([fp for fp in ours if fp.identity(counts.kind) not in paired],
            [fp for fp in theirs if fp.identity(counts.kind) not in paired])


def _unique_uids(prints: list[_Print]) -> dict[str, _Print]:
    found = Counter(fp.label.uid for fp in prints if fp.label.uid)
    return {fp.label.uid: fp for fp in prints if fp.label.uid and found[fp.label.uid] == 1}


def _list(result: Comparison, counts: CollectionComparison, outcome: Outcome, fp: _Print,
          changes: tuple[tuple[Aspect, str], ...] = ()) -> None:
    counts.add(outcome)
    summary = MessageSummary(fp.label.uid, fp.label.summary, None, fp.label.start)
    result.items.append(Item(outcome, (counts.kind.value, *counts.path), summary, changes,
                             detail=f"id {fp.source_id}", kind=Kind(counts.kind.value)))
