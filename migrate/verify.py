"""Compare a source and a target with the mapping a copy used: what matches, what was lost.

Per mapped folder pair, both sides are read at once (a thread each) into *fingerprints*
(sha256 of the bytes, flags, internal date, a header summary); only one folder pair's
fingerprints are held at a time, plus the messages left unpaired. Pairing, in order:
1. the same bytes (sha256): **match**, or **differ** when metadata both sides keep differs;
2. the same bytes after a transformation the target declares (``Capabilities.transforms``,
   e.g. CRLF line ends): **transformed**, named and counted, not a loss;
3. the same Message-ID, once on each side: **differ** (bytes);
4. at the end, unpaired messages of every folder: the same bytes in another target folder
   are **differ** (folder); what is left is **missing** in the target or **only in target**.
A message whose bytes cannot be read, or endpoints without a fingerprint in common, give
**unverifiable**: never a pass. Chat (when both endpoints hold it) is compared per
conversation by message id: author, times, bodies, thread, reactions, edits and
attachments' hashes, each where both sides keep it, and a channel's visibility (standard,
private, shared) where both sides say it. Calendars and contacts (when both
hold them) are compared collection by collection in ``verify_pim``.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from .connector import (
    ChatSource,
    Connector,
    Feature,
    Kind,
    MailSource,
    PimSource,
    Reason,
    Transformation,
)
from .engine import CopyOptions
from .errors import CapabilityError, ConnectError, ItemError, MigrateError
from .model import (
    ChatMessage,
    Conversation,
    Folder,
    MailMessage,
    MessageSummary,
    Role,
    keywords,
    system_flags,
)
from .readahead import batches

if TYPE_CHECKING:
    from .verify_pim import CollectionComparison

#: Messages whose bytes are fetched together (``MailSource.prefetch``), and their budget.
BATCH_MESSAGES = 200
BATCH_BYTES = 4 * 1024 * 1024


class Outcome(StrEnum):
    MATCH = "match"
    TRANSFORMED = "transformed"
    DIFFER = "differ"
    MISSING = "missing"
    EXTRA = "extra"
    UNVERIFIABLE = "unverifiable"


class Aspect(StrEnum):
    """How two paired messages differ."""

    BYTES = "bytes"
    FLAGS = "flags"
    KEYWORDS = "keywords"
    INTERNAL_DATE = "internal-date"
    DATE_OFFSET = "date-offset"
    FOLDER = "folder"
    # chat (values are the Feature a side must keep for the aspect to be compared)
    BODY = "body"
    AUTHORS = "authors"
    TIMESTAMPS = "timestamps"
    THREADS = "threads"
    REACTIONS = "reactions"
    EDITS = "edits"
    ATTACHMENTS = "attachments"


#: Outcomes counted per folder, in report order; the listed ones are every one of them.
OUTCOMES = tuple(Outcome)
LISTED = (Outcome.MISSING, Outcome.DIFFER, Outcome.EXTRA, Outcome.UNVERIFIABLE)
_METADATA = (Feature.FLAGS, Feature.KEYWORDS, Feature.INTERNAL_DATE, Feature.DATE_OFFSET)


@dataclass(frozen=True)
class Fingerprint:
    """What one side can say about one message, without its bytes."""

    sha256: str | None  # None: the bytes could not be read (``error`` says why)
    normal: str | None  # sha256 after the declared transformations (None: none declared)
    flags: frozenset[str]
    internal_date: datetime | None
    summary: MessageSummary
    error: str | None = None


@dataclass(frozen=True)
class Item:
    """One message listed in a report: where, who, what, and how it differs."""

    outcome: Outcome
    folder: tuple[str, ...]
    summary: MessageSummary
    changes: tuple[tuple[Aspect, str], ...] = ()  # how it differs: (aspect, "before → after")
    detail: str = ""  # why it could not be verified
    target_folder: tuple[str, ...] | None = None
    kind: Kind = Kind.MAIL  # chat: ``folder`` is the conversation's name

    @property
    def aspects(self) -> tuple[Aspect, ...]:
        return tuple(aspect for aspect, _ in self.changes)


@dataclass
class FolderComparison:
    """Counts for one folder pair (``source`` is None for a target folder no source maps to)."""

    source: Folder | None
    target: Folder
    match: int = 0
    transformed: int = 0
    differ: int = 0
    missing: int = 0
    extra: int = 0
    unverifiable: int = 0
    error: str | None = None

    @property
    def name(self) -> str:
        return (self.source or self.target).display()

    def count(self, outcome: Outcome) -> int:
        return getattr(self, outcome.value)

    def add(self, outcome: Outcome, n: int = 1) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + n)


@dataclass
class ConversationComparison:
    """Counts for one conversation (paired by its source id)."""

    name: str
    source_id: str
    match: int = 0
    differ: int = 0
    missing: int = 0
    extra: int = 0
    #: "private → standard" when both sides say who may see the channel and disagree
    visibility_change: str | None = None
    error: str | None = None  # why the conversation could not be compared (never a pass)

    def count(self, outcome: Outcome) -> int:
        return getattr(self, outcome.value, 0)

    def add(self, outcome: Outcome, n: int = 1) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + n)


#: Outcomes a chat message can have (its bytes are not a fingerprint: no transformation).
CHAT_OUTCOMES = (Outcome.MATCH, Outcome.DIFFER, Outcome.MISSING, Outcome.EXTRA)


@dataclass
class Comparison:
    """The whole result: per folder counts, every listed item, transformations seen."""

    source: str
    target: str
    folders: list[FolderComparison] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    transformations: Counter = field(default_factory=Counter)  # name → messages
    unverifiable_features: list[Feature] = field(default_factory=list)
    seconds: float = 0.0
    identical: int = 0  # messages found with the same bytes (in their folder or another)
    conversations: list[ConversationComparison] = field(default_factory=list)
    collections: list[CollectionComparison] = field(default_factory=list)  # verify_pim
    #: Kinds the source reads that the target cannot be read for (e.g. calendars at an
    #: IMAP target): not compared, said so in every report.
    not_compared: list[Kind] = field(default_factory=list)
    #: What the source provides that the target (or a round trip's target) cannot hold,
    #: with the reason it declares: named in every report, not counted as lost.
    not_held: list[tuple[Feature, Reason]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing lost: no message missing, differing, unverifiable, no folder unread;
        the same for chat, calendars and contacts."""
        return all(f.missing == 0 and f.differ == 0 and f.unverifiable == 0
                   and f.error is None for f in self.folders) \
            and all(c.missing == 0 and c.differ == 0 and c.visibility_change is None
                    and c.error is None for c in self.conversations) \
            and all(c.ok for c in self.collections)

    def pim_total(self, outcome: Outcome | str, kind: str | None = None) -> int:
        """Calendar and contacts entries with this outcome (of one kind, or both)."""
        return sum(c.count(Outcome(outcome)) for c in self.collections
                   if kind is None or c.kind.value == kind)

    def pim_entries(self, kind: str | None = None) -> int:
        """Calendar and contacts entries of the source side."""
        return sum(self.pim_total(o, kind) for o in
                   (Outcome.MATCH, Outcome.TRANSFORMED, Outcome.DIFFER, Outcome.MISSING))

    def chat_total(self, outcome: Outcome | str) -> int:
        return sum(c.count(Outcome(outcome)) for c in self.conversations)

    @property
    def chat_messages(self) -> int:
        """Chat messages of the source side."""
        return sum(self.chat_total(o) for o in CHAT_OUTCOMES if o is not Outcome.EXTRA)

    def total(self, outcome: Outcome | str) -> int:
        return sum(f.count(Outcome(outcome)) for f in self.folders)

    @property
    def messages(self) -> int:
        """Messages of the source side (every outcome but *only in target*)."""
        return sum(self.total(o) for o in OUTCOMES if o is not Outcome.EXTRA)


@dataclass(frozen=True)
class Policy:
    """What a comparison tolerates: the target's declared transformations, metadata it
    cannot keep (differences there are transformations, e.g. after a round trip), and
    where a role's folder is (None: the target's own ``role_folder``)."""

    transforms: frozenset[Transformation] = frozenset()
    dropped: frozenset[Feature] = frozenset()
    role_folder: Callable[[Role], tuple[str, ...] | None] | None = None


def compare(source: Connector, target: Connector, options: CopyOptions,
            policy: Policy | None = None) -> Comparison:
    """Walk both endpoints folder by folder and classify every message."""
    started = time.monotonic()
    if policy is None:
        policy = Policy(transforms=target.capabilities.transforms)
    left = source.open_source()
    try:
        right = target.open_source()
    except MigrateError:
        left.close()
        raise
    try:
        both = options.selected(source.capabilities.reads & target.capabilities.reads)
        mail = isinstance(left, MailSource) and isinstance(right, MailSource) and \
            (options.kinds is None or Kind.MAIL in both)
        chat = isinstance(left, ChatSource) and isinstance(right, ChatSource) and \
            Kind.CHAT in both
        pim_kinds = both & {Kind.CALENDAR, Kind.CONTACTS}
        pim = isinstance(left, PimSource) and isinstance(right, PimSource) and bool(pim_kinds)
        if not mail and not chat and not pim:
            raise CapabilityError("verify compares mail, chat, calendars or contacts; these "
                                  "endpoints have none in common")
        checked = _comparable(source, target)
        bytes_comparable = all(Feature.ORIGINAL_BYTES in c.capabilities.source_keeps
                               or c.capabilities.stable_rebuild for c in (source, target))
        result = Comparison(source.endpoint.display, target.endpoint.display,
                            unverifiable_features=_unverifiable(source, target, checked))
        result.not_compared = sorted(source.capabilities.reads - target.capabilities.reads,
                                     key=list(Kind).index)
        result.not_held = [(feature, reason) for feature, reason
                           in source.capabilities.lost_between(target.capabilities)
                           if options.kinds is None or feature.kind in options.kinds]
        if mail:
            walker = _Walker(left, right, checked, policy, bytes_comparable, result)
            walker.run(options, policy.role_folder or target.role_folder)
        if chat:
            _compare_chat(left, right, _chat_checked(source, target), result)
        if pim:
            from .verify_pim import compare_pim

            compare_pim(left, right, pim_kinds, result,  # type: ignore[arg-type]
                        _translated(source, target, policy))
    finally:
        left.close()
        right.close()
    result.seconds = time.monotonic() - started
    return result


def _translated(source: Connector, target: Connector, policy: Policy) -> frozenset[Kind]:
    """Kinds of entries the target rewrites in its own words (it declares a limit for
    their details, or the policy says a round trip went through such a target)."""
    lost = {f for f, _ in source.capabilities.lost_between(target.capabilities)}
    return frozenset(f.kind for f in lost | policy.dropped
                     if f in (Feature.EVENT_DETAILS, Feature.CONTACT_DETAILS))


def _comparable(source: Connector, target: Connector) -> set[Feature]:
    both = source.capabilities.source_keeps & target.capabilities.target_keeps \
        & target.capabilities.source_keeps
    return {f for f in _METADATA if f in both}


def _unverifiable(source: Connector, target: Connector, checked: set[Feature]) -> list[Feature]:
    kept = source.capabilities.source_keeps | target.capabilities.source_keeps
    return [f for f in _METADATA if f in kept and f not in checked]


# --- reading one side -------------------------------------------------------------------


def _crlf(data: bytes) -> bytes:
    if data.count(b"\n") == data.count(b"\r\n"):
        return data  # already CRLF throughout (as every IMAP body is): no copy
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


#: Each transformation as a normal form: two messages equal once normalized were paired
#: through it. (CRLF: every line end as CRLF, as an IMAP server stores it.)
NORMALIZERS: dict[Transformation, Callable[[bytes], bytes]] = {Transformation.CRLF: _crlf}


def _size_without_fetching(message: MailMessage) -> int:
    """The bytes a batch will hold: known ones, or what the source declared, else 0."""
    content = message.content
    return content.size if content.loaded else (content.declared_size or 0)


def fingerprints(reader: MailSource, folder: Folder | None,
                 transforms: frozenset[Transformation]) -> list[Fingerprint]:
    """Every message of ``folder`` as a fingerprint (bytes fetched a batch at a time)."""
    if folder is None:
        return []
    out: list[Fingerprint] = []
    for batch in batches(reader.messages(folder), BATCH_MESSAGES, BATCH_BYTES,
                         _size_without_fetching):
        try:
            reader.prefetch(folder, batch)
        except ConnectError:
            raise
        except MigrateError:
            pass  # each message then loads (or fails) alone
        out.extend(_fingerprint(message, transforms) for message in batch)
    return out


def _fingerprint(message: MailMessage, transforms: frozenset[Transformation]) -> Fingerprint:
    try:
        sha = message.sha256
        normal = None
        if transforms:
            original = data = message.content.read()
            for transformation in sorted(transforms):
                data = NORMALIZERS[transformation](data)
            normal = sha if data is original else hashlib.sha256(data).hexdigest()
            del original, data
        summary = message.summary
    except ConnectError:
        raise
    except (MigrateError, OSError) as exc:
        return Fingerprint(None, None, message.flags, message.internal_date,
                           MessageSummary(), f"{message.source_id}: {exc}")
    if summary.date is None and message.internal_date is not None:
        summary = MessageSummary(summary.message_id, summary.subject, summary.sender,
                                 message.internal_date.isoformat())
    return Fingerprint(sha, normal, message.flags, message.internal_date, summary)


# --- pairing ------------------------------------------------------------------------------


@dataclass
class _Leftover:
    """A message unpaired in its folder, kept for the cross-folder pass."""

    folder: FolderComparison
    print: Fingerprint


class _Walker:
    """Compares folder pair after folder pair, both sides read at once."""

    def __init__(self, left: MailSource, right: MailSource, checked: set[Feature],
                 policy: Policy, bytes_comparable: bool, result: Comparison) -> None:
        self.left, self.right = left, right
        self.checked, self.policy = checked, policy
        self.bytes_comparable = bytes_comparable
        self.result = result
        self.missing: list[_Leftover] = []
        self.extra: list[_Leftover] = []

    def run(self, options: CopyOptions, role_folder) -> None:
        target_folders = {f.path: f for f in self.right.folders()}
        pairs = options.mapping.plan(self.left.folders(), role_folder)
        mapped = {dst.path for _, dst in pairs}
        unfiltered = not options.mapping.include and not options.mapping.exclude
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="verify") as pool:
            for src, dst in pairs:
                folder = FolderComparison(src, dst)
                self.result.folders.append(folder)
                self._folder(pool, src, target_folders.get(dst.path), folder)
            if unfiltered:  # target folders no source folder maps to: only in target
                for path, found in target_folders.items():
                    if path not in mapped:
                        folder = FolderComparison(None, found)
                        self.result.folders.append(folder)
                        self._folder(pool, None, found, folder)
        self._across_folders()
        for left in self.missing:
            self._list(left.folder, Outcome.MISSING, left.print)
        for right in self.extra:
            self._list(right.folder, Outcome.EXTRA, right.print)
        self.result.folders = [f for f in self.result.folders if f.source is not None
                               or f.error or any(f.count(o) for o in OUTCOMES)]

    def _folder(self, pool: ThreadPoolExecutor, src: Folder | None, dst: Folder | None,
                result: FolderComparison) -> None:
        transforms = self.policy.transforms if self.bytes_comparable else frozenset()
        theirs_future = pool.submit(fingerprints, self.right, dst, transforms)
        ours: list[Fingerprint] = []
        try:
            ours = fingerprints(self.left, src, transforms) if src is not None else []
        except ConnectError:
            raise
        except MigrateError as exc:
            result.error = str(exc)  # the folder fails (not ok); nothing of it is judged
        try:
            theirs = theirs_future.result()
        except ConnectError:
            raise
        except MigrateError as exc:  # the target folder cannot be read: nothing provable
            result.error = result.error or str(exc)
            for fp in ours:
                self._list(result, Outcome.UNVERIFIABLE, fp, detail=str(exc))
            return
        if result.error is None:
            self._pair(ours, theirs, result)

    def _pair(self, ours: list[Fingerprint], theirs: list[Fingerprint],
              result: FolderComparison) -> None:
        for side in (ours, theirs):
            for fp in [p for p in side if p.sha256 is None]:
                side.remove(fp)
                self._list(result, Outcome.UNVERIFIABLE, fp, detail=fp.error or "")
        if not self.bytes_comparable:
            self._pair_unverifiable(ours, theirs, result)
            return
        rest = self._pair_by(ours, theirs, lambda p: p.sha256, result, None)
        ours, theirs = rest
        if self.policy.transforms:
            names = ",".join(sorted(self.policy.transforms))
            ours, theirs = self._pair_by(ours, theirs, lambda p: p.normal, result, names)
        ours, theirs = self._pair_by_message_id(ours, theirs, result)
        self.missing.extend(_Leftover(result, p) for p in ours)
        self.extra.extend(_Leftover(result, p) for p in theirs)

    def _pair_by(self, ours: list[Fingerprint], theirs: list[Fingerprint], key,
                 result: FolderComparison, transformation: str | None
                 ) -> tuple[list[Fingerprint], list[Fingerprint]]:
        index: dict[str | None, list[Fingerprint]] = defaultdict(list)
        for fp in theirs:
            index[key(fp)].append(fp)
        unpaired = []
        for fp in ours:
            copies = index.get(key(fp))
            if not copies:
                unpaired.append(fp)
                continue
            if transformation is None:
                self.result.identical += 1
            self._judge(fp, copies.pop(), result, transformation)
        return unpaired, [fp for copies in index.values() for fp in copies]

    def _pair_by_message_id(self, ours: list[Fingerprint], theirs: list[Fingerprint],
                            result: FolderComparison
                            ) -> tuple[list[Fingerprint], list[Fingerprint]]:
        """Same Message-ID, once on each side, different bytes: differ (bytes)."""
        def unique(side: list[Fingerprint]) -> dict[str, Fingerprint]:
            counts = Counter(p.summary.message_id for p in side if p.summary.message_id)
            return {p.summary.message_id: p for p in side
                    if p.summary.message_id and counts[p.summary.message_id] == 1}

        left, right = unique(ours), unique(theirs)
        paired = set(left) & set(right)
        for message_id in paired:
            change = (f"sha256 {(left[message_id].sha256 or '')[:12]}… → "
                      f"{(right[message_id].sha256 or '')[:12]}…")
            self._list(result, Outcome.DIFFER, left[message_id], ((Aspect.BYTES, change),))
        return ([p for p in ours if p.summary.message_id not in paired],
                [p for p in theirs if p.summary.message_id not in paired])

    def _pair_unverifiable(self, ours: list[Fingerprint], theirs: list[Fingerprint],
                           result: FolderComparison) -> None:
        """No bytes both sides keep: present by Message-ID, but never counted as a pass."""
        ids = Counter(p.summary.message_id for p in theirs if p.summary.message_id)
        for fp in ours:
            if fp.summary.message_id and ids[fp.summary.message_id]:
                ids[fp.summary.message_id] -= 1
                self._list(result, Outcome.UNVERIFIABLE, fp,
                           detail="no fingerprint both sides can produce")
            else:
                self._list(result, Outcome.MISSING, fp)
        result.add(Outcome.EXTRA, sum(ids.values()))

    def _judge(self, ours: Fingerprint, theirs: Fingerprint, result: FolderComparison,
               transformation: str | None) -> None:
        changes, dropped = _metadata_difference(ours, theirs, self.checked,
                                                self.policy.dropped)
        names = ([transformation] if transformation else []) + [a.value for a in dropped]
        for name in names:
            self.result.transformations[name] += 1
        if changes:
            self._list(result, Outcome.DIFFER, ours, tuple(changes))
        elif names:
            result.add(Outcome.TRANSFORMED)
        else:
            result.add(Outcome.MATCH)

    def _across_folders(self) -> None:
        """Unpaired messages found, byte-identical, in another folder: differ (folder)."""
        if not self.missing or not self.extra:
            return
        index: dict[str, list[_Leftover]] = defaultdict(list)
        for right in self.extra:
            index[right.print.sha256 or ""].append(right)
        still = []
        for left in self.missing:
            copies = index.get(left.print.sha256 or "")
            if not copies:
                still.append(left)
                continue
            right = copies.pop()
            self.result.identical += 1
            change = f"{left.folder.target.display()} → {right.folder.target.display()}"
            self._list(left.folder, Outcome.DIFFER, left.print, ((Aspect.FOLDER, change),),
                       target_folder=right.folder.target.path)
        self.missing = still
        self.extra = [r for copies in index.values() for r in copies]

    def _list(self, folder: FolderComparison, outcome: Outcome, fp: Fingerprint,
              changes: tuple[tuple[Aspect, str], ...] = (), detail: str = "",
              target_folder: tuple[str, ...] | None = None) -> None:
        folder.add(outcome)
        path = folder.source.path if folder.source is not None and outcome is not \
            Outcome.EXTRA else folder.target.path
        self.result.items.append(Item(outcome, path, fp.summary, changes, detail,
                                      target_folder))


def _metadata_difference(ours: Fingerprint, theirs: Fingerprint, checked: set[Feature],
                         dropped: frozenset[Feature]
                         ) -> tuple[list[tuple[Aspect, str]], list[Aspect]]:
    """(aspects that differ with "before → after", aspects that differ but are tolerated)."""
    found: list[tuple[Aspect, str]] = []
    if Feature.FLAGS in checked and system_flags(ours.flags) != system_flags(theirs.flags):
        found.append((Aspect.FLAGS, _change(system_flags(ours.flags),
                                            system_flags(theirs.flags))))
    if Feature.KEYWORDS in checked and keywords(ours.flags) != keywords(theirs.flags):
        found.append((Aspect.KEYWORDS, _change(keywords(ours.flags), keywords(theirs.flags))))
    mine, other = ours.internal_date, theirs.internal_date
    if Feature.INTERNAL_DATE in checked and mine and other:
        if int(mine.timestamp()) != int(other.timestamp()):
            found.append((Aspect.INTERNAL_DATE, f"{mine.isoformat()} → {other.isoformat()}"))
        elif Feature.DATE_OFFSET in checked and mine.utcoffset() != other.utcoffset():
            found.append((Aspect.DATE_OFFSET, f"{mine.isoformat()} → {other.isoformat()}"))
    differ = [(a, d) for a, d in found if Feature(a.value) not in dropped]
    return differ, [a for a, _ in found if Feature(a.value) in dropped]


def _change(before: frozenset[str], after: frozenset[str]) -> str:
    return f"{' '.join(sorted(before)) or '∅'} → {' '.join(sorted(after)) or '∅'}"


# --- chat ---------------------------------------------------------------------------------


def _chat_checked(source: Connector, target: Connector) -> set[Aspect]:
    both = source.capabilities.source_keeps & target.capabilities.target_keeps \
        & target.capabilities.source_keeps
    # the source's own record is carried, not compared: its neutral fields are
    chat = {Aspect(f.value) for f in both
            if f.kind is Kind.CHAT and f is not Feature.SOURCE_RECORD}
    return chat | {Aspect.BODY}


def _stamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def chat_print(message: ChatMessage) -> dict[Aspect, object]:
    """What is compared of a chat message, by aspect (times as instants)."""
    return {
        Aspect.BODY: (message.body_html, message.body_text, message.subject,
                      message.message_type),
        Aspect.AUTHORS: message.author.source_id if message.author else None,
        Aspect.TIMESTAMPS: (_stamp(message.created), _stamp(message.edited),
                            _stamp(message.deleted)),
        Aspect.THREADS: (message.thread_root_id, message.reply_to_id),
        Aspect.REACTIONS: tuple(sorted((r.author.source_id, r.key) for r in message.reactions)),
        Aspect.EDITS: tuple((_stamp(e.edited), e.body_html, e.body_text) for e in message.edits),
        Aspect.ATTACHMENTS: tuple(sorted(a.sha256 for a in message.attachments)),
    }


def _chat_summary(message: ChatMessage) -> MessageSummary:
    text = message.body_text or message.body_html or ""
    author = message.author.display_name or message.author.source_id if message.author else None
    return MessageSummary(message.source_id, " ".join(text.split())[:80] or None, author,
                          message.created.isoformat())


def _compare_chat(left: ChatSource, right: ChatSource, checked: set[Aspect],
                  result: Comparison) -> None:
    """Conversation by conversation (the target's read in a thread), message by id."""
    theirs_by_id = {c.source_id: c for c in right.conversations()}

    def read(conversation) -> dict[str, tuple[dict, MessageSummary]]:
        if conversation is None:
            return {}
        return {m.source_id: (chat_print(m), _chat_summary(m))
                for m in right.chat_messages(conversation)}

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-chat") as pool:
        for conversation in left.conversations():
            name = conversation.name or conversation.source_id
            counts = ConversationComparison(name, conversation.source_id)
            result.conversations.append(counts)
            paired = theirs_by_id.pop(conversation.source_id, None)
            counts.visibility_change = _visibility_change(conversation, paired)
            future = pool.submit(read, paired)
            try:
                ours = [(m.source_id, chat_print(m), _chat_summary(m))
                        for m in left.chat_messages(conversation)]
                theirs = future.result()
                for gap in left.gaps(conversation):  # a partial listing proves nothing
                    raise ItemError(f"the replies to message {gap.thread_root_id} could "
                                    f"not be listed ({gap.error})")
            except ConnectError:
                raise
            except MigrateError as exc:  # this conversation cannot be compared: say so, go on
                future.exception()  # let the target's reading end first
                counts.error = str(exc)
                continue
            for key, fingerprint, summary in ours:
                other = theirs.pop(key, None)
                if other is None:
                    _list_chat(result, counts, Outcome.MISSING, summary)
                    continue
                changes = tuple((aspect, "") for aspect in Aspect
                                if aspect in fingerprint and aspect in checked
                                and fingerprint[aspect] != other[0][aspect])
                if changes:
                    _list_chat(result, counts, Outcome.DIFFER, summary, changes)
                else:
                    counts.add(Outcome.MATCH)
            for _, summary in theirs.values():
                _list_chat(result, counts, Outcome.EXTRA, summary)
        for conversation in theirs_by_id.values():  # only in target
            counts = ConversationComparison(conversation.name or conversation.source_id,
                                            conversation.source_id)
            result.conversations.append(counts)
            for _, summary in read(conversation).values():
                _list_chat(result, counts, Outcome.EXTRA, summary)


def _visibility_change(ours: Conversation, theirs: Conversation | None) -> str | None:
    """How a channel's visibility changed ("private → standard") when both sides say it
    and they differ; None when they agree or a side does not say (a chat, an old archive)."""
    if theirs is None or ours.visibility is None or theirs.visibility is None \
            or ours.visibility == theirs.visibility:
        return None
    return f"{ours.visibility.value} → {theirs.visibility.value}"


def _list_chat(result: Comparison, counts: ConversationComparison, outcome: Outcome,
               summary: MessageSummary, changes: tuple[tuple[Aspect, str], ...] = ()) -> None:
    counts.add(outcome)
    result.items.append(Item(outcome, (counts.name,), summary, changes, kind=Kind.CHAT))
