"""Reversibility dry-run: archive → scratch target → new archive, compared, certified.

``roundtrip`` copies an archive into a scratch target (refused when it holds anything,
unless forced), exports that target into a new archive, and compares the two archives
with the mapping both copies used (mail, chat, calendars and contacts). Differences the
target *declares* (its ``transforms``, and the metadata it cannot keep, e.g. a server that
keeps received times in UTC without their offset) are named as transformations; anything
else is a loss (a calendar the scratch target cannot hold is lost there). The ``Certificate`` holds
the figures, both archives' content hashes, the tool version, the time and the operator.
"""

from __future__ import annotations

import getpass
import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import __version__
from .archive import validate
from .archive.layout import CALENDAR_DIR, CONTACTS_DIR, EML_DIR, MANIFEST, TAGMANIFEST
from .connector import ChatSource, Connector, Kind, MailSource, PimSource
from .endpoint import parse_endpoint
from .engine import CopyOptions, copy
from .errors import ArchiveError, ConfigError, ConnectError, MigrateError
from .observe import Observers
from .registry import connector_for
from .state import StateDB
from .verify import Comparison, Policy, compare


@dataclass(frozen=True)
class ArchiveHashes:
    """How an archive is identified: the sha256 of its tag manifest (which covers its
    manifest and bag-info), and of its sorted message checksums (equal for two archives
    holding the same messages, whatever their layout or date)."""

    path: str
    tagmanifest_sha256: str
    messages_sha256: str
    entries_sha256: str = ""  # the same for its calendar and contacts entries


@dataclass(frozen=True)
class PimCheck:
    """Calendar events and contacts of the original archive, how many came back
    byte-identical, and how many came back translated by a target that rewrites them
    (same event or contact, other words: not lost); ``carried`` lists the kinds the
    scratch target can hold."""

    entries: int
    returned: int
    carried: tuple[str, ...]
    translated: int = 0

    @property
    def lost(self) -> int:
        return self.entries - self.returned - self.translated


@dataclass(frozen=True)
class ChatCheck:
    """Chat messages of the original archive, and how many came back unchanged."""

    messages: int
    returned: int
    carried: bool  # False when the scratch target holds no chat (then none comes back)

    @property
    def lost(self) -> int:
        return self.messages - self.returned


@dataclass
class Certificate:
    """What a round trip through ``via`` proved: figures, hashes, who, when, with what."""

    archive: ArchiveHashes
    returned: ArchiveHashes
    via: str
    comparison: Comparison
    chat: ChatCheck
    pim: PimCheck
    operator: str
    created: str
    tool_version: str = __version__
    renamed_folders: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    returned_kept: bool = False  # False: the returned archive was a temporary directory

    @property
    def messages(self) -> int:
        return self.comparison.messages

    @property
    def identical(self) -> int:
        """Messages that came back byte-identical (whatever their metadata)."""
        return self.comparison.identical

    @property
    def lost(self) -> int:
        c = self.comparison
        return c.total("missing") + c.total("differ") + c.total("unverifiable") \
            + self.chat.lost + self.pim.lost

    @property
    def ok(self) -> bool:
        return self.comparison.ok

    @property
    def identical_percent(self) -> float:
        return 100.0 * self.identical / self.messages if self.messages else 100.0


def archive_hashes(path: Path) -> ArchiveHashes:
    """The content hashes of a sealed archive (see ``ArchiveHashes``)."""
    tags = path / TAGMANIFEST
    if not tags.is_file():
        raise ArchiveError(f"{path}: {TAGMANIFEST} is missing (not sealed)")
    lines = [parts for line in (path / MANIFEST).read_text(encoding="utf-8").splitlines()
             if len(parts := line.split(maxsplit=1)) == 2]
    checksums = sorted(sha for sha, name in lines if name.startswith(EML_DIR + "/"))
    entries = sorted(sha for sha, name in lines
                     if name.startswith((CALENDAR_DIR + "/", CONTACTS_DIR + "/")))
    return ArchiveHashes(str(path.resolve()), hashlib.sha256(tags.read_bytes()).hexdigest(),
                         hashlib.sha256("\n".join(checksums).encode()).hexdigest(),
                         hashlib.sha256("\n".join(entries).encode()).hexdigest())


def roundtrip(archive: Path, via: Connector, *, out: Path | None = None,
              force: bool = False, options: CopyOptions | None = None) -> Certificate:
    """Run the round trip of ``archive`` through ``via`` and return its certificate."""
    options = options or CopyOptions()
    found = validate(archive)
    if not (found.ok and found.sealed):
        raise ArchiveError(f"{archive} is not a valid sealed archive "
                           f"(`migrate archive validate {archive}` says why)")
    if not force and _holds_anything(via):
        raise ConfigError(f"{via.endpoint.display} is not empty: a round trip needs a scratch "
                          "target (or --force)")
    work = Path(tempfile.mkdtemp(prefix="migrate-roundtrip-"))
    try:
        returned = out if out is not None else work / "returned"
        if returned.exists() and any(returned.iterdir()):
            raise ConfigError(f"{returned} is not empty: give a new directory to --out")
        original = connector_for(parse_endpoint(f"archive:{archive}"))
        back = connector_for(parse_endpoint(f"archive:{returned}"))
        state = StateDB.open(work / "state.db")
        for source, target in ((original, via), (via, back)):
            result = copy(source, target, state, options, Observers(), command="roundtrip")
            if not result.ok:
                raise MigrateError(f"the copy {source.endpoint.display} → "
                                   f"{target.endpoint.display} failed for {result.failed} "
                                   "items (`migrate status` lists them)")
        not_held = original.capabilities.lost_between(via.capabilities)
        policy = Policy(via.capabilities.transforms, frozenset(f for f, _ in not_held),
                        via.role_folder)
        comparison = compare(original, back, options, policy)
        comparison.not_held = not_held  # what the round trip's target cannot hold
        chat = ChatCheck(comparison.chat_messages, comparison.chat_total("match"),
                         Kind.CHAT in via.capabilities.writes)
        pim = PimCheck(comparison.pim_entries(), comparison.pim_total("match"),
                       tuple(k.value for k in (Kind.CALENDAR, Kind.CONTACTS)
                             if k in via.capabilities.writes),
                       comparison.pim_total("transformed"))
        renamed = [(f.source.path, f.target.path) for f in comparison.folders
                   if f.source is not None and f.source.path != f.target.path]
        return Certificate(archive_hashes(archive), archive_hashes(returned),
                           via.endpoint.display, comparison, chat, pim, _operator(),
                           datetime.now(UTC).isoformat(timespec="seconds"),
                           renamed_folders=renamed, returned_kept=out is not None)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        return "unknown"


def _holds_anything(target: Connector) -> bool:
    """True when the endpoint, read as a source, has a message or a conversation."""
    path = target.endpoint.path
    if path is not None and not Path(path).expanduser().exists():
        return False  # a directory still to be made
    try:
        reader = target.open_source()
    except ConnectError:
        raise
    except MigrateError:
        return False  # nothing there yet (e.g. a directory still to be made)
    try:
        if isinstance(reader, MailSource) and \
                any(reader.stats(folder).messages for folder in reader.folders()):
            return True
        if isinstance(reader, ChatSource) and \
                next(iter(reader.conversations()), None) is not None:
            return True
        if isinstance(reader, PimSource):
            return any(next(iter(reader.entries(c)), None) is not None
                       for c in reader.collections())
        return False
    finally:
        reader.close()
