"""The copy engine: source connector → mapping → target connector, resumable and idempotent.

Per folder, messages are taken from the source in batches. For each batch the engine

1. looks the source keys up in the state DB and drops those already done;
2. asks the target to ``find`` those left *pending* by a run that died mid-write;
3. marks the rest pending (write-ahead, committed), appends them one by one;
4. calls ``target.commit()`` so the writes are durable, then marks them done.

So a kill -9 anywhere leaves each item either done (never written again), pending (looked
up at the target before any new write) or untouched. One failing item is recorded with its
error and the run goes on; it is tried again on the next run. The engine imports no
connector and never asks which platform it talks to: only ``Capabilities``.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .chatcopy import ChatCopier
from .connector import (
    ChatSource,
    ChatTarget,
    Connector,
    Feature,
    FolderStats,
    Kind,
    MailSource,
    MailTarget,
    PimSource,
    PimTarget,
)
from .errors import (
    CapabilityError,
    ConfigError,
    ConnectError,
    ItemError,
    MigrateError,
    RetryableError,
)
from .mapping import FolderMapping
from .model import Collection, Folder, MailMessage
from .observe import Observer
from .pimcopy import PimCopier, recorded_path
from .readahead import batches, read_ahead
from .results import CopyResult, Failure, FolderResult
from .state import ItemStatus, JobStatus, StateDB, utcnow


@dataclass(frozen=True)
class DateWindow:
    """``--since`` / ``--before``: the internal (received) dates a pass copies.

    ``since`` is inclusive, ``before`` exclusive, both timezone-aware. A message whose date
    is unknown is taken by a ``--since`` pass (nothing says it is old) and left by a
    ``--before`` pass (nothing says it is old enough): the final pass, without dates,
    takes whatever a windowed pass left.
    """

    since: datetime | None = None
    before: datetime | None = None

    @classmethod
    def parse(cls, since: str | None, before: str | None) -> DateWindow:
        """A window from ``YYYY-MM-DD`` or ISO 8601 texts; a date without a time zone is
        midnight on this machine's clock. Raises ``ConfigError`` naming the bad one."""
        window = cls(parse_pass_date(since, "--since"), parse_pass_date(before, "--before"))
        if window.since and window.before and window.since >= window.before:
            raise ConfigError(f"--since {since} is not before --before {before}: "
                              "this pass would copy nothing")
        return window

    @property
    def active(self) -> bool:
        return self.since is not None or self.before is not None

    def holds(self, message: MailMessage) -> bool:
        """Whether this pass copies ``message``."""
        date = message.internal_date
        if date is None:
            return self.before is None
        if date.tzinfo is None:  # a naive date is taken as UTC
            date = date.replace(tzinfo=UTC)
        if self.since is not None and date < self.since:
            return False
        return self.before is None or date < self.before


def parse_pass_date(text: str | None, name: str) -> datetime | None:
    """``text`` (``YYYY-MM-DD`` or ISO 8601) as an aware datetime, local time if naive."""
    if text is None or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{name} {text!r} is not a date (expected YYYY-MM-DD, e.g. "
                          "2026-11-01)") from None
    return value if value.tzinfo is not None else value.astimezone()


@dataclass
class CopyOptions:
    """How a copy runs; the defaults suit a local copy."""

    mapping: FolderMapping = field(default_factory=FolderMapping)
    batch_messages: int = 200
    batch_bytes: int = 4 * 1024 * 1024
    retries: int = 3
    max_wait: float = 300.0  # the longest Retry-After honoured, in seconds
    label: str | None = None
    connections: int = 1  # folders copied at once, each over its own reader and writer
    delete: bool = False  # carry deletions at the source to the target (else recorded only)
    window: DateWindow = field(default_factory=DateWindow)  # --since / --before
    kinds: frozenset[Kind] | None = None  # --only: the kinds of items copied (None: all)

    def selected(self, kinds: frozenset[Kind]) -> frozenset[Kind]:
        """Those of ``kinds`` this run takes (``--only``)."""
        return kinds if self.kinds is None else kinds & self.kinds


@dataclass
class FolderPlan:
    source: Folder
    target: Folder
    stats: FolderStats
    done: int = 0  # messages already recorded as copied by earlier runs
    error: str | None = None  # why the folder could not be counted


def folder_stats(reader: MailSource, folder: Folder) -> tuple[FolderStats, str | None]:
    """A folder's counts, or zero and the reason when it cannot be read (it fails alone)."""
    try:
        return reader.stats(folder), None
    except ConnectError:
        raise
    except (MigrateError, OSError) as exc:
        return FolderStats(0, 0), str(exc)


@dataclass
class CollectionPlan:
    """A calendar or address book a copy would carry, with its entries (events or contacts)."""

    collection: Collection
    stats: FolderStats
    done: int = 0  # entries already recorded as copied by earlier runs
    error: str | None = None  # why the collection could not be counted


def collection_stats(reader: PimSource, collection: Collection
                     ) -> tuple[FolderStats, str | None]:
    """A collection's entries and bytes, or zero and the reason when it cannot be read (it
    fails alone)."""
    try:
        return reader.collection_stats(collection), None
    except ConnectError:
        raise
    except (MigrateError, OSError) as exc:
        return FolderStats(0, 0), str(exc)


@dataclass
class Plan:
    """What a copy would do: folders, counts, bytes, mapping, what the target loses, and
    the kinds of items (calendars, contacts ...) it cannot hold at all."""

    source: str
    target: str
    folders: list[FolderPlan]
    lost: list[tuple[Feature, str]]
    conversations: int = 0
    collections: list[CollectionPlan] = field(default_factory=list)
    not_held: list[Kind] = field(default_factory=list)  # read by the source, not copied
    held: list[Kind] = field(default_factory=list)  # what the target can hold
    left_out: list[Kind] = field(default_factory=list)  # both hold it, --only leaves it

    def entries(self, kind: Kind) -> int:
        """Events (``Kind.CALENDAR``) or contacts (``Kind.CONTACTS``) a copy would carry."""
        return sum(c.stats.messages for c in self.collections
                   if c.collection.kind.value == kind.value)

    @property
    def messages(self) -> int:
        return sum(f.stats.messages for f in self.folders)

    @property
    def bytes(self) -> int:
        return sum(f.stats.bytes for f in self.folders)


def make_plan(source: Connector, target: Connector, state: StateDB | None,
              options: CopyOptions) -> Plan:
    """Read the source (and the state) to say what a copy would do; writes nothing."""
    carried = source.capabilities.reads & target.capabilities.writes
    wanted = options.selected(frozenset(Kind))
    reader = source.open_source()
    try:
        folders: list[FolderPlan] = []
        if isinstance(reader, MailSource) and Kind.MAIL in wanted:
            role_folder = target.role_folder
            job_id = _existing_job(state, source, target)
            for src, dst in options.mapping.plan(reader.folders(), role_folder):
                done = 0
                if state is not None and job_id is not None:
                    done = state.done_count(job_id, src.path)
                stats, error = folder_stats(reader, src)
                folders.append(FolderPlan(src, dst, stats, done, error))
        conversations = 0
        if isinstance(reader, ChatSource) and Kind.CHAT in carried & wanted:
            conversations = sum(1 for _ in reader.conversations())
        collections = _plan_collections(source, target, reader, state,
                                        carried & wanted & {Kind.CALENDAR, Kind.CONTACTS})
    finally:
        reader.close()
    lost = [(feature, reason) for feature, reason
            in source.capabilities.lost_between(target.capabilities) if feature.kind in wanted]
    not_held = sorted(source.capabilities.kinds_not_held_by(target.capabilities),
                      key=list(Kind).index)
    held = sorted(target.capabilities.writes, key=list(Kind).index)
    left_out = sorted(carried - wanted, key=list(Kind).index)
    return Plan(source.endpoint.display, target.endpoint.display, folders, lost, conversations,
                collections, not_held, held, left_out)


def _plan_collections(source: Connector, target: Connector, reader, state: StateDB | None,
                      kinds: frozenset[Kind]) -> list[CollectionPlan]:
    """The calendars and address books (of ``kinds``) a copy would carry."""
    if not kinds or not isinstance(reader, PimSource):
        return []
    job_id = _existing_job(state, source, target)
    planned = []
    for collection in reader.collections():
        if Kind(collection.kind.value) not in kinds:
            continue
        stats, error = collection_stats(reader, collection)
        done = 0
        if state is not None and job_id is not None:
            done = state.done_count(job_id, recorded_path(collection))
        planned.append(CollectionPlan(collection, stats, done, error))
    return planned


def _existing_job(state: StateDB | None, source: Connector, target: Connector) -> int | None:
    if state is None:
        return None
    return state.find_job(source.endpoint.display, target.endpoint.display)


class Copier:
    """Runs one copy job between two opened connectors, recording everything in the state."""

    def __init__(self, source: Connector, target: Connector, state: StateDB,
                 options: CopyOptions, observer: Observer, run_id: int) -> None:
        self.source, self.target, self.state = source, target, state
        self.options, self.observer, self.run_id = options, observer, run_id
        self.job_id = state.job(source.endpoint.display, target.endpoint.display, options.label)
        self.result = CopyResult(self.job_id, run_id)
        done, done_bytes = state.job_counts(self.job_id)
        self._done, self._done_bytes = done, done_bytes
        self._lock = threading.Lock()  # counters and the work queue, when folders run at once

    # --- mail -------------------------------------------------------------------------

    def copy_mail(self, reader: MailSource, writer: MailTarget) -> None:
        pairs = self.options.mapping.plan(reader.folders(), self.target.role_folder)
        stats = [folder_stats(reader, src)[0] for src, _ in pairs]
        self.state.update_job(self.job_id, messages_total=sum(s.messages for s in stats),
                              bytes_total=sum(s.bytes for s in stats))
        self.observer.copy_started(self.source.endpoint.display, self.target.endpoint.display,
                                   sum(s.messages for s in stats), sum(s.bytes for s in stats))
        work = [(src, dst, counted) for (src, dst), counted in zip(pairs, stats, strict=True)]
        workers = min(self.options.connections, self.source.max_connections,
                      self.target.max_connections, len(work))
        if workers <= 1:
            for src, dst, counted in work:
                self._copy_folder(reader, writer, src, dst, counted)
            return
        # Biggest folders first, so that the last one to finish is a small one.
        work.sort(key=lambda item: item[2].bytes, reverse=True)
        self._copy_in_parallel(reader, writer, work, workers)

    def _copy_in_parallel(self, reader: MailSource, writer: MailTarget,
                          work: list[tuple[Folder, Folder, FolderStats]], workers: int) -> None:
        """Folders over ``workers`` connections: the first uses the opened pair, the others
        open their own. The first error that ends a job stops every worker after its folder."""
        queue = list(reversed(work))
        stop = threading.Event()

        def take() -> tuple[Folder, Folder, FolderStats] | None:
            with self._lock:
                return queue.pop() if queue and not stop.is_set() else None

        def run(own: bool) -> None:
            try:
                if not own:
                    while (item := take()) is not None:
                        self._copy_folder(reader, writer, *item)
                    return
                with _opened(self.source.open_source()) as mine, \
                        _opened(self.target.open_target()) as theirs:
                    theirs.begin(self.source.endpoint.display)
                    while (item := take()) is not None:
                        self._copy_folder(mine, theirs, *item)
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(workers, thread_name_prefix="copy") as pool:
            futures = [pool.submit(run, n > 0) for n in range(workers)]
            for future in futures:
                future.result()

    def _copy_folder(self, reader: MailSource, writer: MailTarget, src: Folder, dst: Folder,
                     stats: FolderStats) -> None:
        folder_id, cursor = self.state.folder(self.job_id, src.path, dst.path,
                                              dst.role.value if dst.role else None)
        window = self.options.window
        saved_cursor = cursor
        if window.active:
            # A windowed pass leaves messages behind on purpose: it lists the whole folder
            # (the state skips what is done) and neither uses nor moves the cursor, so the
            # next pass still sees everything this one left.
            cursor = None
        self.state.set_folder_totals(folder_id, stats.messages, stats.bytes)
        result = FolderResult(src, dst)
        self.result.folders.append(result)
        self.observer.folder_started(src, dst, stats)
        folder_key = f"folder:{src.display()}"  # the item that records a folder failure
        complete = True
        try:
            writer.prepare_folder(dst)
            messages = reader.messages(src, cursor)
            if window.active:
                messages = (message for message in messages if window.holds(message))
            listed = batches(messages, self.options.batch_messages,
                             self.options.batch_bytes, _safe_size)
            listed = read_ahead(listed, lambda batch: self._prepare(reader, folder_id, src, batch))
            for batch in listed:
                self._copy_batch(writer, folder_id, src, dst, batch, result)
            if cursor is not None:  # what changed since the last pass, as the source tells
                self._update_flags(reader, writer, folder_id, src, dst, cursor, result)
                self._record_removed(reader, folder_id, src, result)
            if self.options.delete:
                self._delete_removed(writer, folder_id, src, dst, result)
            next_cursor = reader.cursor(src) if not window.active else saved_cursor
        except ConnectError:
            raise
        except (MigrateError, OSError) as exc:  # this folder broke off: record it, go on
            complete = False
            self._fail(folder_id, src, folder_key, f"folder stopped: {exc}", result)
        if complete:
            self.state.mark_results(folder_id, [(folder_key, "", None)], [])  # if it had failed
            if result.failed == 0:
                self.state.save_cursor(folder_id, next_cursor)
        self._save_counters()
        self.observer.folder_finished(src, result)

    def _update_flags(self, reader: MailSource, writer: MailTarget, folder_id: int,
                      src: Folder, dst: Folder, cursor: str, result: FolderResult) -> None:
        """Carry to the target the flag changes the source reports since the last pass."""
        changes = reader.flag_changes(src, cursor)
        while chunk := list(itertools.islice(changes, 500)):
            known = self.state.lookup(folder_id, (key for key, _ in chunk))
            for key, flags in chunk:
                record = known.get(key)
                if record is None or record.status != ItemStatus.DONE or not record.target_key:
                    continue  # not copied yet: the copy will take its flags as they are now
                try:
                    writer.set_flags(dst, record.target_key, flags)
                except CapabilityError:
                    return  # e.g. an archive: what it holds is never rewritten
                except ConnectError:
                    raise
                except (MigrateError, OSError) as exc:
                    error = f"flags not updated: {exc}"
                    result.failed += 1
                    self.result.failures.append(Failure(src.path, key, error))
                    self.observer.item_failed(src, key, error)
                    continue
                result.updated += 1

    def _record_removed(self, reader: MailSource, folder_id: int, src: Folder,
                        result: FolderResult) -> None:
        """Record the messages copied earlier that the source says were deleted since the
        last pass: their copies are kept (see ``_delete_removed``)."""
        result.removed += self.state.mark_removed(self.job_id, folder_id, reader.removed(src))

    def _delete_removed(self, writer: MailTarget, folder_id: int, src: Folder, dst: Folder,
                        result: FolderResult) -> None:
        """``copy --delete``: delete the copies of every message recorded as deleted at
        the source (in this pass or an earlier one); one that fails stays recorded."""
        for key, target_key in self.state.removed_items(folder_id):
            try:
                writer.remove(dst, target_key)
            except CapabilityError as exc:
                self.observer.item_failed(src, key, f"copy kept: {exc}")
                return  # this target cannot delete: nothing more to try
            except ConnectError:
                raise
            except (MigrateError, OSError) as exc:
                error = f"deleted at the source, but its copy could not be deleted: {exc}"
                result.failed += 1
                self.result.failures.append(Failure(src.path, key, error))
                self.observer.item_failed(src, key, error)
                continue
            writer.commit()
            self.state.mark_deleted(self.job_id, folder_id, key, target_key)
            result.deleted += 1

    def _prepare(self, reader: MailSource, folder_id: int, src: Folder,
                 batch: list[MailMessage]) -> None:
        """In the read-ahead thread: fetch the bytes of what is not done yet, so that the
        writing thread never has to ask the source (which belongs to this thread)."""
        known = self.state.lookup(folder_id, (m.source_id for m in batch))
        wanted = [m for m in batch if (record := known.get(m.source_id)) is None
                  or record.status != ItemStatus.DONE]
        if not wanted:
            return
        self._prefetch(reader, src, wanted)
        for message in wanted:
            # A failure is remembered by the content: its write fails alone, with this error.
            with contextlib.suppress(MigrateError, OSError):
                message.content.load()

    def _copy_batch(self, writer: MailTarget, folder_id: int, src: Folder,
                    dst: Folder, batch: list[MailMessage], result: FolderResult) -> None:
        todo, confirmed = self._still_to_write(writer, folder_id, src, dst, batch, result)
        self.state.mark_pending(self.job_id, folder_id,
                                [(message.source_id, _safe_size(message)) for message in todo])
        failed: list[tuple[str, str]] = []
        written: list[MailMessage] = []
        for message, outcome in zip(todo, self._append_all(writer, dst, todo), strict=True):
            if isinstance(outcome, str):
                sha256 = _safe_sha256(message)
                if sha256 is not None:
                    confirmed.append((message.source_id, outcome, sha256))
                    written.append(message)
                    continue
                outcome = ItemError("written, but its bytes could not be read for the checksum")
            failure = self._failure(src, message, str(outcome))
            failed.append((message.source_id, failure.error))
            result.failed += 1
            self.result.failures.append(failure)
            self.observer.item_failed(src, message.source_id, failure.error)
        writer.commit()
        self.state.mark_results(folder_id, confirmed, failed)
        for message in written:
            result.copied += 1
            result.bytes += message.size
            self.observer.item_copied(src, message)
        with self._lock:
            self._done += len(written)
            self._done_bytes += sum(message.size for message in written)
        self._save_counters()

    def _prefetch(self, reader: MailSource, folder: Folder, messages: list[MailMessage]) -> None:
        """Let the source fetch a batch in one go; if that fails, each loads (or fails) alone."""
        try:
            reader.prefetch(folder, messages)
        except ConnectError:
            raise
        except (MigrateError, OSError):
            pass

    def _append_all(self, writer: MailTarget, folder: Folder,
                    messages: list[MailMessage]) -> list[str | MigrateError]:
        """Append a batch; retry the passing failures, honouring the server's Retry-After."""
        outcomes = writer.append_batch(folder, messages) if messages else []
        for attempt in range(self.options.retries):
            again = [i for i, outcome in enumerate(outcomes)
                     if isinstance(outcome, RetryableError)]
            if not again:
                break
            waits = [outcomes[i].retry_after for i in again]  # type: ignore[union-attr]
            wait = max((w for w in waits if w is not None), default=2.0 ** attempt)
            time.sleep(min(wait, self.options.max_wait))
            retried = writer.append_batch(folder, [messages[i] for i in again])
            for i, outcome in zip(again, retried, strict=True):
                outcomes[i] = outcome
        return outcomes

    def _still_to_write(self, writer: MailTarget, folder_id: int, src: Folder, dst: Folder,
                        batch: list[MailMessage], result: FolderResult,
                        ) -> tuple[list[MailMessage], list[tuple[str, str, str | None]]]:
        """Drop what is done; look up at the target what a dead run left pending.

        Returns the messages to write, and the pending ones found written (key, target key).
        """
        known = self.state.lookup(folder_id, (m.source_id for m in batch))
        todo: list[MailMessage] = []
        found_written: list[tuple[str, str, str | None]] = []
        seen: set[str] = set()
        for message in batch:
            key = message.source_id
            record = known.get(key)
            found = None
            if record is not None and record.status == ItemStatus.PENDING and key not in seen:
                found = self._guard(src, message, lambda m=message: writer.find(dst, m))
                if isinstance(found, str):
                    found_written.append((key, found, None))
            elif record is not None and record.status == ItemStatus.REMOVED \
                    and record.target_key and key not in seen:
                found = record.target_key  # listed again, and its kept copy is still there
                found_written.append((key, found, None))
            if key in seen or isinstance(found, str) or \
                    (record is not None and record.status == ItemStatus.DONE):
                result.skipped += 1
                self.observer.item_skipped(src, message)
            else:
                todo.append(message)
            seen.add(key)
        return todo, found_written

    def _save_counters(self) -> None:
        with self._lock:
            done, done_bytes = self._done, self._done_bytes
        self.state.update_job(self.job_id, messages_done=done, bytes_done=done_bytes,
                              errors=self.state.failed_count(self.job_id))

    def _guard(self, folder: Folder, message: MailMessage, action) -> str | Failure | None:
        """Run a per-item action; an item-level error becomes a Failure, not a crash."""
        try:
            return action()
        except ConnectError:
            raise
        except MigrateError as exc:  # ItemError, RetryableError past its retries ...
            return self._failure(folder, message, str(exc))
        except OSError as exc:
            return self._failure(folder, message, f"{exc.strerror or exc}")

    def _failure(self, folder: Folder, message: MailMessage, error: str) -> Failure:
        summary = _safe_summary(message)
        return Failure(folder.path, message.source_id, error,
                       summary.subject if summary else None,
                       summary.message_id if summary else None)

    def _fail(self, folder_id: int, folder: Folder, key: str, error: str,
              result: FolderResult) -> None:
        self.state.record_failure(self.job_id, folder_id, key, error)
        result.failed += 1
        self.result.failures.append(Failure(folder.path, key, error))
        self.observer.item_failed(folder, key, error)


def _safe_size(message: MailMessage) -> int:
    try:
        return message.size
    except (OSError, MigrateError):
        return 0


def _safe_sha256(message: MailMessage) -> str | None:
    try:
        return message.content.sha256
    except (OSError, MigrateError):
        return None


def _safe_summary(message: MailMessage):
    try:
        return message.summary
    except (OSError, MigrateError):
        return None


def copy(source: Connector, target: Connector, state: StateDB, options: CopyOptions,
         observer: Observer, command: str = "copy") -> CopyResult:
    """Copy everything the two connectors have in common; resumable and idempotent."""
    carried = source.capabilities.reads & target.capabilities.writes
    if not carried:
        raise CapabilityError(f"{source.endpoint.scheme} cannot be copied to "
                              f"{target.endpoint.scheme}: no kind of item in common")
    common = options.selected(carried)
    if not common:
        raise CapabilityError(f"--only {', '.join(sorted(options.kinds or ()))}: "
                              f"{source.endpoint.scheme} → {target.endpoint.scheme} carries "
                              f"only {', '.join(sorted(carried))}")
    run_id = state.start_run(command, source.endpoint.display, target.endpoint.display,
                             {"include": options.mapping.include,
                              "exclude": options.mapping.exclude})
    started = time.monotonic()
    copier: Copier | None = None
    outcome = "aborted"
    try:
        copier = Copier(source, target, state, options, observer, run_id)
        copier.state.update_job(copier.job_id, status=JobStatus.RUNNING, started=utcnow(),
                                finished=None)
        state.audit("job-started", run_id, copier.job_id)
        with _opened(source.open_source()) as reader, _opened(target.open_target()) as writer:
            writer.begin(source.endpoint.display)
            if Kind.MAIL in common and isinstance(reader, MailSource) \
                    and isinstance(writer, MailTarget):
                copier.copy_mail(reader, writer)
            if Kind.CHAT in common and isinstance(reader, ChatSource) \
                    and isinstance(writer, ChatTarget):
                ChatCopier(state, copier.job_id, copier.result).copy(reader, writer)
            pim = common & {Kind.CALENDAR, Kind.CONTACTS}
            if pim and isinstance(reader, PimSource) and isinstance(writer, PimTarget):
                PimCopier(state, copier.job_id, copier.result, pim,
                          delete=options.delete).copy(reader, writer)
        result = copier.result
        result.seconds = time.monotonic() - started
        outcome = "done" if result.ok else "failed-items"
        status = JobStatus.DONE if result.ok else JobStatus.FAILED
        state.update_job(copier.job_id, status=status, finished=utcnow())
        state.audit("job-finished", run_id, copier.job_id, outcome=outcome,
                    copied=result.copied, failed=result.failed)
        observer.copy_finished(result)
        return result
    finally:
        if copier is not None and outcome == "aborted":
            state.update_job(copier.job_id, status=JobStatus.ABORTED, finished=utcnow())
        copied = copier.result.copied if copier else 0
        failed = copier.result.failed if copier else 0
        state.finish_run(run_id, outcome, copied, failed)


class _opened:
    """Close a connector's reader or writer at the end of a ``with`` block; a block left by
    an exception closes it as incomplete (an archive stays unsealed)."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def __enter__(self):
        return self.handle

    def __exit__(self, exc_type, *exc_info) -> None:
        if isinstance(self.handle, MailTarget | ChatTarget | PimTarget):
            self.handle.close(complete=exc_type is None)
        else:
            self.handle.close()
