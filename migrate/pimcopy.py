"""Copying calendars and address books: events and contacts, resumable and idempotent.

The same rules as mail (``engine``): an entry is marked pending before it is written and
done only after the target committed it; an entry left pending by a dead run is looked up
at the target (``find_entry``) before being written again; one entry that fails is
recorded and the others go on. Collections are recorded in the state as folders keyed by
their kind and path (a mail folder of the same name is another row).

Passes are incremental where the source can be: the cursor of a collection's last
complete pass (``PimSource.collection_cursor``, asked after the pass, saved only when no
entry failed) is given to the next ``entries()``, which then lists only what was added or
changed since. An entry listed again with other bytes than the version copied is a change
at the source: the target updates its copy (``PimTarget.update_entry``; an archive adds
the new version beside the old one) or, when it cannot, keeps it as it was and the change
is audited. Entries the source says were deleted are recorded as removed (their copies
kept) and, with ``copy --delete``, deleted at the target (``PimTarget.remove_entry``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

from .connector import Kind, PimSource, PimTarget
from .errors import CapabilityError, ConnectError, MigrateError
from .model import Collection, Entry, Folder
from .pimtext import entry_label
from .results import CopyResult, Failure, FolderResult, Loss
from .state import ItemStatus, StateDB

#: Entries written between two commits.
BATCH = 100


class PimCopier:
    """Copies every calendar and address book of a source into a target, for one job."""

    def __init__(self, state: StateDB, job_id: int, result: CopyResult,
                 kinds: frozenset[Kind], delete: bool = False) -> None:
        self.state, self.job_id, self.result = state, job_id, result
        self.kinds = kinds  # the kinds both ends hold (calendar, contacts)
        self.delete = delete  # copy --delete: delete the copies of entries deleted at the source

    def copy(self, reader: PimSource, writer: PimTarget) -> None:
        for collection in reader.collections():
            if Kind(collection.kind.value) in self.kinds:
                self._copy_collection(reader, writer, collection)

    def _copy_collection(self, reader: PimSource, writer: PimTarget,
                         collection: Collection) -> None:
        recorded = recorded_path(collection)
        folder_id, cursor = self.state.folder(self.job_id, recorded, recorded, None)
        folder = Folder((collection.kind.value, *collection.path))  # as reports show it
        result = FolderResult(folder, folder, kind=collection.kind.value)
        self.result.folders.append(result)
        broken: list[Exception] = []
        next_cursor: str | None = None
        try:
            writer.prepare_collection(collection)
            listed = reader.entries(collection) if cursor is None \
                else reader.entries(collection, cursor)
            entries = _listed(listed, broken)
            while chunk := list(itertools.islice(entries, BATCH)):
                self._copy_chunk(writer, collection, folder_id, chunk, result)
            if not broken:  # what the source says was deleted, and where this pass ends
                self._record_removed(reader, collection, folder_id, result)
                if self.delete:
                    self._delete_removed(writer, collection, folder_id, result)
                next_cursor = reader.collection_cursor(collection)
        except ConnectError:
            raise
        except (MigrateError, OSError) as exc:  # this collection broke off: the others go on
            broken.append(exc)
        key = f"collection:{collection.kind.value}/{collection.display()}"
        if broken:  # the listing or the writing stopped: recorded, tried again next run
            error = f"collection not copied to the end: {broken[0]}"
            self.state.record_failure(self.job_id, folder_id, key, error)
            result.failed += 1
            self.result.failures.append(Failure(folder.path, key, error))
        else:
            self.state.mark_results(folder_id, [(key, "", None)], [])  # if it had failed
            if result.failed == 0:  # a failed entry is listed again by the next pass
                self.state.save_cursor(folder_id, next_cursor)

    def _copy_chunk(self, writer: PimTarget, collection: Collection, folder_id: int,
                    chunk: list[Entry], result: FolderResult) -> None:
        known = self.state.lookup(folder_id, (entry.source_id for entry in chunk))
        todo: list[Entry] = []
        changed: list[tuple[Entry, str]] = []  # (new version, key of the copy)
        done: list[tuple[str, str, str | None]] = []
        for entry in chunk:
            record = known.get(entry.source_id)
            if record is not None and (record.status == ItemStatus.DONE or (
                    record.status == ItemStatus.REMOVED and record.target_key)):
                if record.target_key and record.sha256 not in (None, entry.sha256):
                    changed.append((entry, record.target_key))  # new bytes: changed
                    continue
                if record.status == ItemStatus.REMOVED:  # listed again: its copy is there
                    done.append((entry.source_id, record.target_key, None))
                result.skipped += 1
                continue
            if record is not None and record.status == ItemStatus.PENDING:
                found = writer.find_entry(collection, entry)
                if found is not None:
                    done.append((entry.source_id, found, entry.sha256))
                    result.skipped += 1
                    continue
            todo.append(entry)
        self.state.mark_pending(self.job_id, folder_id,
                                [(entry.source_id, entry.size) for entry in todo])
        failed: list[tuple[str, str]] = []
        copied: list[Entry] = []
        for entry in todo:
            try:
                done.append((entry.source_id, writer.put_entry(collection, entry),
                             entry.sha256))
                copied.append(entry)
                self._note_losses(writer, collection, entry, result)
            except ConnectError:
                raise
            except (MigrateError, OSError) as exc:
                failed.append((entry.source_id, str(exc)))
                self._failed(result, entry.source_id, str(exc))
        done.extend(self._update_changed(writer, collection, folder_id, changed, result))
        writer.commit()
        self.state.mark_results(folder_id, done, failed)
        result.copied += len(copied)
        result.bytes += sum(entry.size for entry in copied)

    def _update_changed(self, writer: PimTarget, collection: Collection, folder_id: int,
                        changed: list[tuple[Entry, str]], result: FolderResult
                        ) -> list[tuple[str, str, str | None]]:
        """Carry to the target the entries changed at the source since they were copied.

        The state keeps them done (with the old checksum) until the target committed the
        new version, so a crash leads to the same update again, which targets make
        idempotent. One that fails is reported and left as it was: the cursor is not
        saved, so the next pass lists it again. A target that cannot update keeps its copy
        as it was, and the change is audited."""
        updated: list[tuple[str, str, str | None]] = []
        kept: list[str] = []
        for entry, key in changed:
            try:
                updated.append((entry.source_id,
                                writer.update_entry(collection, key, entry), entry.sha256))
                self._note_losses(writer, collection, entry, result)
            except CapabilityError:
                kept.append(entry.source_id)
                result.skipped += 1
                continue
            except ConnectError:
                raise
            except (MigrateError, OSError) as exc:
                self._failed(result, entry.source_id,
                             f"changed at the source, but its copy could not be updated: {exc}")
                continue
            result.updated += 1
        if kept:
            self.state.audit("source-changed-copy-kept", job_id=self.job_id,
                             folder_id=folder_id, count=len(kept))
        return updated

    def _record_removed(self, reader: PimSource, collection: Collection, folder_id: int,
                        result: FolderResult) -> None:
        """Record the entries copied earlier that the source says were deleted since the
        last pass (audited by the state); their copies are kept unless ``--delete``."""
        result.removed += self.state.mark_removed(self.job_id, folder_id,
                                                  reader.removed_entries(collection))

    def _delete_removed(self, writer: PimTarget, collection: Collection, folder_id: int,
                        result: FolderResult) -> None:
        """``copy --delete``: delete the copies of every entry recorded as deleted at the
        source (in this pass or an earlier one); one that fails stays recorded."""
        for key, target_key in self.state.removed_items(folder_id):
            try:
                writer.remove_entry(collection, target_key)
            except CapabilityError:
                return  # this target cannot delete (an archive): the copies are kept
            except ConnectError:
                raise
            except (MigrateError, OSError) as exc:
                self._failed(result, key, f"deleted at the source, but its copy could not "
                                          f"be deleted: {exc}")
                continue
            writer.commit()
            self.state.mark_deleted(self.job_id, folder_id, key, target_key)
            result.deleted += 1

    def _note_losses(self, writer: PimTarget, collection: Collection, entry: Entry,
                     result: FolderResult) -> None:
        """Record what the target said its copy of ``entry`` does not hold (reported)."""
        lost = writer.losses(collection, entry)
        if lost:
            result.lossy += 1
            self.result.losses.append(Loss(result.source.path, entry.source_id,
                                           entry_label(entry.data).summary, tuple(lost)))

    def _failed(self, result: FolderResult, key: str, error: str) -> None:
        result.failed += 1
        self.result.failures.append(Failure(result.source.path, key, error))


def recorded_path(collection: Collection) -> tuple[str]:
    """How a collection is keyed in the state (a one-name "folder" no mail folder can be)."""
    return (json.dumps({collection.kind.value: list(collection.path)}, ensure_ascii=False),)


def _listed(entries: Iterator[Entry], broken: list[Exception]) -> Iterator[Entry]:
    """The entries a source lists, up to an error that is not the connection's (kept in
    ``broken``), so that what was listed before it is still copied."""
    try:
        yield from entries
    except ConnectError:
        raise
    except (MigrateError, OSError) as exc:
        broken.append(exc)
