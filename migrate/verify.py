"""Compare a source and a target with the mapping a copy used: what matches, what was lost.

Messages are paired by the sha256 of their bytes inside each mapped folder pair. A pair
whose metadata differs (flags, internal date) where *both* sides keep that metadata is a
**differ**; metadata only one side keeps is reported as not comparable, never as a pass.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from .connector import Connector, Feature, MailSource
from .engine import CopyOptions
from .errors import CapabilityError
from .model import Folder, MailMessage, MessageSummary, keywords, system_flags


@dataclass(frozen=True)
class Difference:
    """One message that is missing, extra or different, with what people need to find it."""

    kind: str  # "missing" | "differ" | "extra"
    folder: tuple[str, ...]
    summary: MessageSummary
    detail: str = ""


@dataclass
class FolderComparison:
    source: Folder
    target: Folder
    match: int = 0
    differ: int = 0
    missing: int = 0
    extra: int = 0


@dataclass
class Comparison:
    source: str
    target: str
    folders: list[FolderComparison] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    unverifiable: list[Feature] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.missing == 0 and f.differ == 0 for f in self.folders)

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.folders)


@dataclass(frozen=True)
class _Seen:
    flags: frozenset[str]
    internal_date: datetime | None
    summary: MessageSummary


def compare(source: Connector, target: Connector, options: CopyOptions) -> Comparison:
    """Walk both endpoints folder by folder and classify every message."""
    left = source.open_source()
    try:
        right = target.open_source()
    except CapabilityError:
        left.close()
        raise
    try:
        if not isinstance(left, MailSource) or not isinstance(right, MailSource):
            raise CapabilityError("verify compares mail; one of the endpoints holds no mail")
        checked = _comparable(source, target)
        result = Comparison(source.endpoint.display, target.endpoint.display,
                            unverifiable=_unverifiable(source, target, checked))
        target_folders = {f.path: f for f in right.folders()}
        for src, dst in options.mapping.plan(left.folders(), target.role_folder):
            found = target_folders.get(dst.path)
            folder = FolderComparison(src, dst)
            result.folders.append(folder)
            _compare_folder(left, right if found else None, src, found, folder, checked,
                            result.differences)
        return result
    finally:
        left.close()
        right.close()


def _comparable(source: Connector, target: Connector) -> set[Feature]:
    both = source.capabilities.source_keeps & target.capabilities.target_keeps \
        & target.capabilities.source_keeps
    return {f for f in (Feature.FLAGS, Feature.KEYWORDS, Feature.INTERNAL_DATE,
                        Feature.DATE_OFFSET) if f in both}


def _unverifiable(source: Connector, target: Connector, checked: set[Feature]) -> list[Feature]:
    kept = source.capabilities.source_keeps | target.capabilities.source_keeps
    return [f for f in (Feature.FLAGS, Feature.KEYWORDS, Feature.INTERNAL_DATE,
                        Feature.DATE_OFFSET) if f in kept and f not in checked]


def _index(reader: MailSource | None, folder: Folder | None) -> dict[str, list[_Seen]]:
    """sha256 → what each copy of those bytes carries, for one folder."""
    seen: dict[str, list[_Seen]] = defaultdict(list)
    if reader is None or folder is None:
        return seen
    for message in reader.messages(folder):
        seen[message.sha256].append(_Seen(message.flags, message.internal_date,
                                          message.summary))
    return seen


def _compare_folder(left: MailSource, right: MailSource | None, src: Folder,
                    dst: Folder | None, result: FolderComparison, checked: set[Feature],
                    differences: list[Difference]) -> None:
    theirs = _index(right, dst)
    for message in left.messages(src):
        copies = theirs.get(message.sha256)
        if not copies:
            result.missing += 1
            differences.append(Difference("missing", src.path, message.summary))
            continue
        other = copies.pop()
        detail = _metadata_difference(message, other, checked)
        if detail:
            result.differ += 1
            differences.append(Difference("differ", src.path, message.summary, detail))
        else:
            result.match += 1
    for copies in theirs.values():
        for other in copies:
            result.extra += 1
            differences.append(Difference("extra", src.path, other.summary))


def _metadata_difference(message: MailMessage, other: _Seen, checked: set[Feature]) -> str:
    parts = []
    if Feature.FLAGS in checked and message.system_flags != system_flags(other.flags):
        parts.append(f"flags {sorted(message.system_flags)} → {sorted(system_flags(other.flags))}")
    if Feature.KEYWORDS in checked and message.keywords != keywords(other.flags):
        parts.append(f"keywords {sorted(message.keywords)} → {sorted(keywords(other.flags))}")
    if Feature.INTERNAL_DATE in checked and message.internal_date and other.internal_date:
        if int(message.internal_date.timestamp()) != int(other.internal_date.timestamp()):
            parts.append(f"date {message.internal_date.isoformat()} → "
                         f"{other.internal_date.isoformat()}")
        elif Feature.DATE_OFFSET in checked and \
                message.internal_date.utcoffset() != other.internal_date.utcoffset():
            parts.append(f"date offset {message.internal_date.isoformat()} → "
                         f"{other.internal_date.isoformat()}")
    return "; ".join(parts)

