"""Reading an IMAP account: folders, message listings, and bodies fetched in batches.

``messages`` lists UIDs, then fetches RFC822.SIZE, FLAGS and INTERNALDATE for a chunk of
them in one FETCH; each message's bytes are a deferred ``Content``. The engine's
``prefetch`` fetches a whole batch's bodies in one UID FETCH; a content loaded on its own
(``verify``, a test reading an account) fetches itself and a few following ones, so that
reading a folder costs a round trip per few dozen messages, not per message. Bodies are
fetched with BODY.PEEK[]: reading never sets ``\\Seen``.

Source keys are ``UIDVALIDITY:UID``. The folder cursor is ``UIDVALIDITY:LASTUID`` (with
``:HIGHESTMODSEQ`` where CONDSTORE is offered), read before a pass; the next pass lists
only newer UIDs when UIDVALIDITY is unchanged, and everything when it changed (the target
then recognises what it already holds, see ``lookup``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from migrate.connector import FolderStats, MailSource
from migrate.errors import BadInputError
from migrate.model import Content, Folder, MailMessage
from migrate.unfetched import Unfetched

from . import keywords, wire
from .folders import Mailbox, list_mailboxes
from .session import Session

RECENT = "\\Recent"
_READ_AHEAD = 50  # messages fetched together when a content loads itself
_FETCH_BYTES = 16 * 1024 * 1024  # bodies per UID FETCH, at most (one at least)


@dataclass(frozen=True)
class Cursor:
    """Where a folder pass ended: ``UIDVALIDITY:LASTUID[:HIGHESTMODSEQ]``."""

    uidvalidity: int
    last_uid: int
    modseq: int | None = None

    def __str__(self) -> str:
        tail = f":{self.modseq}" if self.modseq is not None else ""
        return f"{self.uidvalidity}:{self.last_uid}{tail}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """The cursor saved by an earlier pass (None if absent or not ours)."""
        if not text:
            return None
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            return None
        numbers = [int(p) for p in parts]
        return cls(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None)


def source_key(uidvalidity: int, uid: int) -> str:
    return f"{uidvalidity}:{uid}"


def parse_key(key: str) -> tuple[int, int]:
    validity, _, uid = key.partition(":")
    return int(validity), int(uid)


def flags_of(raw: tuple) -> frozenset[str]:
    """FLAGS as strings, without ``\\Recent`` (a session state, not the message's);
    keywords written by ``keywords.encode`` read back as the names they stand for."""
    flags = (f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f) for f in raw)
    return frozenset(f if f.startswith("\\") else keywords.decode(f)
                     for f in flags if f.lower() != RECENT.lower())


def internal_date(value: datetime | None) -> datetime | None:
    """INTERNALDATE with its offset as a plain ``timezone`` (naive: taken as UTC)."""
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is None:
        return value.replace(tzinfo=UTC)
    return value.replace(tzinfo=timezone(timedelta(seconds=offset.total_seconds())))


class ImapSource(MailSource):
    """Reads folders and messages of one account (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._boxes: dict[tuple[str, ...], Mailbox] | None = None
        self._unfetched = Unfetched(_READ_AHEAD)  # listed, bodies not fetched yet
        self._sizes: dict[str, int] = {}  # RFC822.SIZE of the listed chunk
        self._started: dict[tuple[str, ...], str | None] = {}  # cursor when a listing began
        self._after: dict[tuple[str, ...], Cursor | None] = {}  # cursor a listing started from

    def folders(self) -> Iterator[Folder]:
        for box in self._mailboxes().values():
            yield Folder(box.path, box.role, box.name)

    def _mailboxes(self) -> dict[tuple[str, ...], Mailbox]:
        if self._boxes is None:
            _, boxes = self._session.call("LIST", list_mailboxes)
            skip = self._session.quirks.skip_attributes
            self._boxes = {b.path: b for b in boxes if not b.has_any(skip)}
        return self._boxes

    def _box(self, folder: Folder) -> Mailbox:
        box = self._mailboxes().get(folder.path)
        if box is None:
            raise BadInputError(f"folder {folder.display()!r} is not on the server any more")
        return box

    # --- counting and cursors ------------------------------------------------------------

    def stats(self, folder: Folder) -> FolderStats:
        """From STATUS (MESSAGES SIZE), or summed RFC822.SIZE where STATUS=SIZE is missing."""
        box = self._box(folder)
        if not box.selectable:
            return FolderStats(0, 0)
        if self._session.capable("STATUS=SIZE"):
            status = self._status(box, ("MESSAGES", "SIZE"))
            return FolderStats(status.get(b"MESSAGES", 0), status.get(b"SIZE", 0))
        count = size = 0
        for _, _, sizes in self._listing(box, None):
            count += len(sizes)
            size += sum(info.get(b"RFC822.SIZE", 0) for info in sizes.values())
        return FolderStats(count, size)

    def cursor(self, folder: Folder) -> str | None:
        """The position taken when the last ``messages()`` of ``folder`` began (so that a
        message arriving during the pass is listed by the next one), else the current one."""
        started = self._started.pop(folder.path, None)
        return started if started is not None else self._position(folder)

    def _position(self, folder: Folder) -> str | None:
        box = self._box(folder)
        if not box.selectable:
            return None
        items = ["UIDVALIDITY", "UIDNEXT"]
        condstore = self._session.capable("CONDSTORE")
        if condstore:
            items.append("HIGHESTMODSEQ")
        status = self._status(box, items)
        modseq = status.get(b"HIGHESTMODSEQ") if condstore else None
        return str(Cursor(status[b"UIDVALIDITY"], status[b"UIDNEXT"] - 1, modseq))

    def _status(self, box: Mailbox, items) -> dict:
        return self._session.call(f"STATUS {box.name}",
                                  lambda client: client.folder_status(box.name, items))

    # --- messages --------------------------------------------------------------------------

    def messages(self, folder: Folder, cursor: str | None = None) -> Iterator[MailMessage]:
        box = self._box(folder)
        if not box.selectable:
            return
        self._started[folder.path] = self._position(folder)
        self._after[folder.path] = Cursor.parse(cursor)
        exact = self._session.quirks.exact_size
        for validity, uids, info in self._listing(box, Cursor.parse(cursor)):
            chunk: list[MailMessage] = []
            self._sizes = {}
            for uid in uids:
                data = info.get(uid)
                if data is None:  # expunged since the SEARCH
                    continue
                key = source_key(validity, uid)
                load = functools.partial(self._load, box, key)
                size = data.get(b"RFC822.SIZE")
                self._sizes[key] = size or 0
                if not exact:
                    size = None
                chunk.append(MailMessage(Content.deferred(load, size), key,
                                         flags_of(data.get(b"FLAGS", ())),
                                         internal_date(data.get(b"INTERNALDATE"))))
            self._unfetched.listed(chunk)
            yield from chunk

    def removed(self, folder: Folder) -> Iterator[str]:
        """Messages up to the last pass's last UID expunged since (QRESYNC's VANISHED,
        RFC 7162); nothing without QRESYNC or after a UIDVALIDITY change."""
        after = self._after.pop(folder.path, None)
        box = self._box(folder)
        if after is None or after.modseq is None or after.last_uid < 1 \
                or not box.selectable or "QRESYNC" not in self._session.enabled:
            return
        info = self._session.select(box.name)
        validity = info[b"UIDVALIDITY"]
        if validity != after.uidvalidity:
            return
        gone = self._session.call(
            f"UID FETCH {box.name} VANISHED",
            lambda client: wire.vanished(client, after.last_uid, after.modseq))
        for uid in gone:
            yield source_key(validity, uid)

    def flag_changes(self, folder: Folder,
                     cursor: str) -> Iterator[tuple[str, frozenset[str]]]:
        """Messages up to the cursor's last UID whose flags changed since its HIGHESTMODSEQ
        (SEARCH MODSEQ, CONDSTORE, RFC 7162), with their flags now; nothing without
        CONDSTORE or after a UIDVALIDITY change (then every message is listed again)."""
        after = Cursor.parse(cursor)
        box = self._box(folder)
        if after is None or after.modseq is None or not box.selectable \
                or not self._session.capable("CONDSTORE"):
            return
        info = self._session.select(box.name)
        validity = info[b"UIDVALIDITY"]
        if validity != after.uidvalidity or after.last_uid < 1:
            return
        uids = [uid for uid in self._session.call(
            f"SEARCH {box.name} MODSEQ",
            lambda client: client.search(["MODSEQ", str(after.modseq + 1)]))
            if uid <= after.last_uid]  # newer ones are listed, with their flags, anyway
        if not uids:
            return
        changed = self._session.call(f"FETCH {box.name} FLAGS",
                                     lambda client: client.fetch(uids, ["FLAGS"]))
        for uid in sorted(changed):
            flags = changed[uid].get(b"FLAGS")
            if flags is not None:
                yield source_key(validity, uid), flags_of(flags)

    def _listing(self, box: Mailbox, after: Cursor | None
                 ) -> Iterator[tuple[int, list[int], dict[int, dict]]]:
        """(UIDVALIDITY, UIDs, their FETCH data) per chunk of UIDs, oldest first."""
        session = self._session
        info = session.select(box.name)  # anew: UIDVALIDITY is read now
        validity = info[b"UIDVALIDITY"]
        since = after.last_uid if after is not None and after.uidvalidity == validity else 0
        criteria = ["UID", f"{since + 1}:*"] if since else ["ALL"]
        uids = sorted(u for u in session.call(f"SEARCH {box.name}",
                                              lambda client: client.search(criteria))
                      if u > since)
        step = max(1, session.quirks.fetch_chunk)
        for start in range(0, len(uids), step):
            chunk = uids[start:start + step]
            session.ensure_selected(box.name)
            data = session.call(f"FETCH {box.name}", lambda client, c=chunk: client.fetch(
                c, ["RFC822.SIZE", "FLAGS", "INTERNALDATE"]))
            yield validity, chunk, data

    def _load(self, box: Mailbox, key: str) -> Content:
        """Fetch one body, and the next few listed ones while at it (read-ahead)."""
        body = self._unfetched.deliver(key, self._bodies(box, self._unfetched.group(key)))
        if body is None:
            raise BadInputError(f"message {key} is gone from {box.name!r} at the source")
        return body

    def prefetch(self, folder: Folder, messages: list[MailMessage]) -> None:
        """Fetch the bodies of a batch in as few UID FETCHes as the byte budget allows."""
        box = self._box(folder)
        wanted = [m for m in messages if not m.content.loaded]
        self._unfetched.provide(wanted, self._bodies(box, [m.source_id for m in wanted]))

    def _bodies(self, box: Mailbox, keys: list[str]) -> dict[str, Content]:
        """BODY.PEEK[] of ``keys`` (``UIDVALIDITY:UID``); those gone are simply absent."""
        sizes = self._sizes
        out: dict[str, Content] = {}
        group: list[str] = []
        budget = 0
        for key in [*keys, None]:
            if key is not None and (not group or budget + sizes.get(key, 0) <= _FETCH_BYTES):
                group.append(key)
                budget += sizes.get(key, 0)
                continue
            out.update(self._fetch_bodies(box, group))
            group, budget = ([key], sizes.get(key, 0)) if key is not None else ([], 0)
        return out

    def _fetch_bodies(self, box: Mailbox, keys: list[str]) -> dict[str, Content]:
        if not keys:
            return {}
        session = self._session
        session.select(box.name)  # anew, one round trip a batch: UIDVALIDITY is current
        # A UID means nothing under another UIDVALIDITY: such messages are gone (fail alone).
        by_uid = {uid: k for k in keys
                  for validity, uid in [parse_key(k)] if validity == session.uidvalidity}
        if not by_uid:
            return {}
        data = session.call(f"FETCH {box.name}",
                            lambda client: client.fetch(list(by_uid), ["BODY.PEEK[]"]))
        out = {}
        for uid, key in by_uid.items():
            body = data.get(uid, {}).get(b"BODY[]")
            if body is not None:
                out[key] = Content.from_chunks([body])  # spilled to disk past 4 MB
        return out

    def close(self) -> None:
        self._session.close()
