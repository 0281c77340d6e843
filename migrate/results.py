"""What a copy did: per folder counts, the failures with what people need to find them."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Folder


@dataclass(frozen=True)
class Failure:
    """One item that could not be copied, and why."""

    folder: tuple[str, ...]
    key: str
    error: str
    subject: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class Loss:
    """An entry copied whole except for some details its target cannot hold (a translation
    into another platform's format): what they are, for the report."""

    folder: tuple[str, ...]
    key: str
    title: str | None
    lost: tuple[str, ...]


@dataclass
class FolderResult:
    source: Folder
    target: Folder
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    updated: int = 0  # messages copied earlier whose flags this pass brought up to date
    removed: int = 0  # messages deleted at the source since the last pass (recorded)
    deleted: int = 0  # copies deleted at the target because deleted at the source (--delete)
    changed: int = 0  # chat messages copied earlier and changed since: new version written
    lossy: int = 0  # entries written without some details the target cannot hold
    kind: str = "mail"  # "calendar" or "contacts" for a collection's entries (pimcopy)


@dataclass
class CopyResult:
    """The outcome of a copy run."""

    job_id: int
    run_id: int
    folders: list[FolderResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def copied(self) -> int:
        return sum(f.copied for f in self.folders)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.folders)

    @property
    def failed(self) -> int:
        return sum(f.failed for f in self.folders)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.folders)

    @property
    def updated(self) -> int:
        return sum(f.updated for f in self.folders)

    @property
    def removed(self) -> int:
        return sum(f.removed for f in self.folders)

    @property
    def changed(self) -> int:
        return sum(f.changed for f in self.folders)

    @property
    def deleted(self) -> int:
        return sum(f.deleted for f in self.folders)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def by_kind(self, *kinds: str) -> list[FolderResult]:
        """The rows of these kinds (``mail`` covers mail folders and conversations)."""
        return [f for f in self.folders if f.kind in kinds]
