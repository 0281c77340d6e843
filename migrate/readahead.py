"""Batches, and reading the next batch while the current one is written.

A copy between two servers waits on each in turn: the source for a batch of bodies, then
the target for their APPENDs. ``read_ahead`` runs the source side (listing a batch and
preparing it, e.g. fetching its bodies) in a thread of its own, one batch ahead, so both
servers work at once. Only that thread touches the source; an error it meets reaches the
consumer after the batches read before it, where it would have come without read-ahead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


def batches(items: Iterable[T], max_items: int, max_bytes: int,
            size_of: Callable[[T], int]) -> Iterator[list[T]]:
    """``items`` in lists of at most ``max_items``, closed once they reach ``max_bytes``."""
    batch: list[T] = []
    size = 0
    for item in items:
        batch.append(item)
        size += size_of(item)
        if len(batch) >= max_items or size >= max_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def read_ahead(batches: Iterator[T], prepare: Callable[[T], None],
               depth: int = 1) -> Iterator[T]:
    """Yield ``batches``, each ``prepare``-d in a background thread, ``depth`` ahead."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                prepare(batch)
                while not stop.is_set():
                    try:
                        handoff.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            handoff.put(exc)

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let the producer see the stop and leave
            try:
                handoff.get_nowait()
            except queue.Empty:
                thread.join(0.05)
