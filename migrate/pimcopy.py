"""Copying calendars and address books: events and contacts, resumable and idempotent.

The same rules as mail (``engine``): an entry is marked pending before it is written and
done only after the target committed it; an entry left pending by a dead run is looked up
at the target (``find_entry``) before being written again; one entry that fails is
recorded and the others go on. Collections are recorded in the state as folders keyed by
their kind and path (a mail folder of the same name is another row).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

from .connector import Kind, PimSource, PimTarget
from .errors import ConnectError, MigrateError
from .model import Collection, Entry, Folder
from .results import CopyResult, Failure, FolderResult
from .state import ItemStatus, StateDB

#: Entries written between two commits.
BATCH = 100


class PimCopier:
    """Copies every calendar and address book of a source into a target, for one job."""

    def __init__(self, state: StateDB, job_id: int, result: CopyResult,
                 kinds: frozenset[Kind]) -> None:
        self.state, self.job_id, self.result = state, job_id, result
        self.kinds = kinds  # the kinds both ends hold (calendar, contacts)

    def copy(self, reader: PimSource, writer: PimTarget) -> None:
        for collection in reader.collections():
            if Kind(collection.kind.value) in self.kinds:
                self._copy_collection(reader, writer, collection)

    def _copy_collection(self, reader: PimSource, writer: PimTarget,
                         collection: Collection) -> None:
        recorded = recorded_path(collection)
        folder_id, _ = self.state.folder(self.job_id, recorded, recorded, None)
        folder = Folder((collection.kind.value, *collection.path))  # as reports show it
        result = FolderResult(folder, folder, kind=collection.kind.value)
        self.result.folders.append(result)
        broken: list[Exception] = []
        try:
            writer.prepare_collection(collection)
            entries = _listed(reader.entries(collection), broken)
            while chunk := list(itertools.islice(entries, BATCH)):
                self._copy_chunk(writer, collection, folder_id, chunk, result)
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

    def _copy_chunk(self, writer: PimTarget, collection: Collection, folder_id: int,
                    chunk: list[Entry], result: FolderResult) -> None:
        known = self.state.lookup(folder_id, (entry.source_id for entry in chunk))
        todo: list[Entry] = []
        done: list[tuple[str, str, str | None]] = []
        for entry in chunk:
            record = known.get(entry.source_id)
            if record is not None and record.status == ItemStatus.DONE:
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
            except ConnectError:
                raise
            except (MigrateError, OSError) as exc:
                failed.append((entry.source_id, str(exc)))
                result.failed += 1
                self.result.failures.append(Failure(result.source.path, entry.source_id,
                                                    str(exc)))
        writer.commit()
        self.state.mark_results(folder_id, done, failed)
        result.copied += len(copied)
        result.bytes += sum(entry.size for entry in copied)


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
