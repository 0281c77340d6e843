"""Observers of a copy: progress bars for people, JSON Lines events for a SIEM.

The engine calls an ``Observer``; it never prints. Several observers are combined with
``Observers``. No observer ever sees a secret: endpoints arrive in their display form.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from tqdm import tqdm

from .connector import FolderStats
from .model import Folder, MailMessage

if TYPE_CHECKING:
    from .results import CopyResult, FolderResult


class Observer:
    """Receives the events of a copy; every method is optional."""

    def copy_started(self, source: str, target: str, messages: int, size: int) -> None: ...

    def folder_started(self, source: Folder, target: Folder, stats: FolderStats) -> None: ...

    def item_copied(self, folder: Folder, message: MailMessage) -> None: ...

    def item_skipped(self, folder: Folder, message: MailMessage) -> None: ...

    def item_failed(self, folder: Folder, key: str, error: str) -> None: ...

    def folder_finished(self, folder: Folder, result: FolderResult) -> None: ...

    def copy_finished(self, result: CopyResult) -> None: ...

    def close(self) -> None: ...


class Observers(Observer):
    """Forwards every event to each of several observers."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def copy_started(self, *args) -> None:
        for observer in self.observers:
            observer.copy_started(*args)

    def folder_started(self, *args) -> None:
        for observer in self.observers:
            observer.folder_started(*args)

    def item_copied(self, *args) -> None:
        for observer in self.observers:
            observer.item_copied(*args)

    def item_skipped(self, *args) -> None:
        for observer in self.observers:
            observer.item_skipped(*args)

    def item_failed(self, *args) -> None:
        for observer in self.observers:
            observer.item_failed(*args)

    def folder_finished(self, *args) -> None:
        for observer in self.observers:
            observer.folder_finished(*args)

    def copy_finished(self, *args) -> None:
        for observer in self.observers:
            observer.copy_finished(*args)

    def close(self) -> None:
        for observer in self.observers:
            observer.close()


class ProgressBars(Observer):
    """tqdm bars: the whole copy in bytes (MB/s), and each folder being copied in messages/s.

    Safe when several folders are copied at once: each has its own bar line.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total: tqdm | None = None
        self.folders: dict[tuple[str, ...], tqdm] = {}
        self.positions: dict[tuple[str, ...], int] = {}  # bar line of each folder
        self.lock = threading.Lock()

    @staticmethod
    def wanted(quiet: bool) -> bool:
        """Bars only for a person at a terminal."""
        return not quiet and sys.stderr.isatty()

    def copy_started(self, source: str, target: str, messages: int, size: int) -> None:
        self.total = tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024,
                          desc="total", position=0, file=self.stream, dynamic_ncols=True)

    def folder_started(self, source: Folder, target: Folder, stats: FolderStats) -> None:
        with self.lock:
            used = set(self.positions.values())
            position = next(p for p in range(1, len(used) + 2) if p not in used)
            self.positions[source.path] = position
            self.folders[source.path] = tqdm(
                total=stats.messages, unit="msg", desc=source.display()[:40], position=position,
                leave=False, file=self.stream, dynamic_ncols=True)

    def _advance(self, folder: Folder, size: int) -> None:
        with self.lock:
            bar = self.folders.get(folder.path)
            if bar is not None:
                bar.update(1)
            if self.total is not None and size:
                self.total.update(size)

    def item_copied(self, folder: Folder, message: MailMessage) -> None:
        self._advance(folder, message.size)

    def item_skipped(self, folder: Folder, message: MailMessage) -> None:
        self._advance(folder, message.size)

    def item_failed(self, folder: Folder, key: str, error: str) -> None:
        self._advance(folder, 0)

    def folder_finished(self, folder: Folder, result: FolderResult) -> None:
        with self.lock:
            bar = self.folders.pop(folder.path, None)
            self.positions.pop(folder.path, None)
            if bar is not None:
                bar.close()

    def close(self) -> None:
        with self.lock:
            for bar in [*self.folders.values(), self.total]:
                if bar is not None:
                    bar.close()
            self.folders.clear()
            self.positions.clear()


class JsonLog(Observer):
    """One JSON object per line per event, for a SIEM (``--log-json FILE``)."""

    def __init__(self, path: str | os.PathLike, run: dict[str, object]) -> None:
        self.file = open(path, "a", encoding="utf-8")
        self.run = run
        self.lock = threading.Lock()  # one line at a time when folders run at once

    def _write(self, event: str, **fields: object) -> None:
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                  "event": event, **self.run, **fields}
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self.lock:
            self.file.write(line)
            self.file.flush()

    def copy_started(self, source: str, target: str, messages: int, size: int) -> None:
        self._write("copy-started", source=source, target=target, messages=messages,
                    bytes=size)

    def folder_started(self, source: Folder, target: Folder, stats: FolderStats) -> None:
        self._write("folder-started", folder=list(source.path), target_folder=list(target.path),
                    messages=stats.messages, bytes=stats.bytes)

    def item_copied(self, folder: Folder, message: MailMessage) -> None:
        self._write("item-copied", folder=list(folder.path), key=message.source_id,
                    size=message.size, sha256=message.sha256)

    def item_failed(self, folder: Folder, key: str, error: str) -> None:
        self._write("item-failed", folder=list(folder.path), key=key, error=error)

    def folder_finished(self, folder: Folder, result: FolderResult) -> None:
        self._write("folder-finished", folder=list(folder.path), copied=result.copied,
                    skipped=result.skipped, failed=result.failed, bytes=result.bytes)

    def copy_finished(self, result: CopyResult) -> None:
        self._write("copy-finished", copied=result.copied, skipped=result.skipped,
                    failed=result.failed, bytes=result.bytes, seconds=round(result.seconds, 3))

    def close(self) -> None:
        self.file.close()
