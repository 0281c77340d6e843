"""Incremental listings with SyncFolderItems: one page of changes at a time, and the delta.

A pass from a sync state asks the server what changed since, page by page (at most 512
changes each, Exchange's limit); each page comes with the state that follows it, so a
page interrupted by a busy server is asked again from where it was, and the state after
the last page is the folder's cursor for the next pass. Without a state every item is a
``Create``: the first pass is the same loop, streamed, never a whole folder in memory.

Creates are copied; the rest of a delta (flag changes, deletions) is kept for after the
pass in a ``Delta``, a spooled file (in memory while small), because a pass from an old
state may carry thousands of them.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from exchangelib import Account
from exchangelib.errors import ErrorInvalidSyncStateData
from exchangelib.folders import Folder as ExchangeFolder
from exchangelib.items import ID_ONLY, Item
from exchangelib.services import SyncFolderItems

from migrate.errors import ItemError

from .folders import EwsFolder

log = logging.getLogger(__name__)

#: Changes per SyncFolderItems response (the most Exchange returns).
PAGE = 512


class InvalidSyncState(Exception):
    """The server does not know the sync state any more (ErrorInvalidSyncStateData)."""


def start_afresh(display: str, name: str, state: str | None) -> None:
    """After InvalidSyncState: a forgotten state means a full pass (the state DB skips
    what is done), said in the log; refused without any state, the folder cannot be read."""
    if state is None:
        raise ItemError(f"{display}: the server refused to list {name!r} from the start") \
            from None
    log.warning("%s: the server no longer knows the sync state of %r; listing it all again "
                "(what is done is skipped)", display, name)


@dataclass
class Page:
    """One SyncFolderItems response: what it says changed, and the state after it."""

    state: str
    last: bool
    created: list[Item] = field(default_factory=list)
    updated: list[Item] = field(default_factory=list)  # properties changed: flags now
    read: list[str] = field(default_factory=list)  # only the read state changed
    deleted: list[str] = field(default_factory=list)
    failed: list[Exception] = field(default_factory=list)  # items the server could not list


def sync_page(account: Account, folder: EwsFolder, state: str | None,
              fields: tuple[str, ...]) -> Page:
    """Ask for the changes of ``folder`` after ``state`` (None: every item), one page."""
    target = ExchangeFolder(id=folder.id, changekey=folder.changekey, root=account.root)
    wanted = {f for f in target.normalize_fields(fields=fields) if not f.field.is_attribute}
    service = SyncFolderItems(account=account)
    page = Page(state="", last=True)
    try:
        changes = list(service.call(folder=target, shape=ID_ONLY, additional_fields=wanted,
                                    sync_state=state, ignore=None, max_changes_returned=PAGE,
                                    sync_scope=None))
    except ErrorInvalidSyncStateData as exc:
        raise InvalidSyncState(str(exc)) from None
    for change in changes:
        if isinstance(change, ErrorInvalidSyncStateData):
            raise InvalidSyncState(str(change))
        if isinstance(change, Exception):
            page.failed.append(change)
            continue
        kind, item = change
        if kind == SyncFolderItems.CREATE:
            page.created.append(item)
        elif kind == SyncFolderItems.UPDATE:
            page.updated.append(item)
        elif kind == SyncFolderItems.READ_FLAG_CHANGE:
            page.read.append(item[0].id)
        elif kind == SyncFolderItems.DELETE:
            page.deleted.append(item.id)
    page.state = service.sync_state or ""
    page.last = bool(service.includes_last_item_in_range) or page.state == (state or "")
    return page


class Delta:
    """What a pass learned besides new items: (kind, source key, flags) in a spooled file;
    kinds are ``flags`` (flags known now), ``read`` (to be asked) and ``removed``."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)

    def add(self, kind: str, key: str, flags: frozenset[str] = frozenset()) -> None:
        line = json.dumps([kind, key, sorted(flags)], ensure_ascii=False) + "\n"
        self._file.write(line.encode())

    def entries(self, *kinds: str) -> Iterator[tuple[str, str, frozenset[str]]]:
        """The entries of these kinds, in the order they were added."""
        self._file.seek(0)
        for line in self._file:
            kind, key, flags = json.loads(line)
            if kind in kinds:
                yield kind, key, frozenset(flags)
        self._file.seek(0, 2)

    def close(self) -> None:
        self._file.close()
