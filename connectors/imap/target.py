"""Writing to an IMAP account: folders created as mapped, messages appended untouched.

A batch goes out in one MULTIAPPEND where the server has it (all or nothing, RFC 3502:
if the server refuses one message, the batch is sent again one message at a time so that
only that one fails), else one APPEND each; literals are streamed (``wire``). The target
key is ``UIDVALIDITY:UID`` from APPENDUID (UIDPLUS), else ``sha256:HEX`` of the bytes.

Before writing, a batch is looked up among the messages the folder held *before this
run* (``lookup``): a rerun after the state database was lost, or after the source's
UIDVALIDITY changed, recognises what is already there instead of adding it twice. A
folder that was empty costs no lookup. Messages whose APPEND was cut off by a dropped
connection are looked up again before being re-sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from migrate.connector import MailTarget
from migrate.errors import (
    CapabilityError,
    ConnectError,
    ItemError,
    MigrateError,
    RetryableError,
    TooLargeError,
)
from migrate.model import Folder, MailMessage, Role

from . import keywords, wire
from .folders import ATTRIBUTE_OF_ROLE, Hierarchy, Mailbox, list_mailboxes
from .lookup import Lookup
from .session import ConnectionDropped, Session, refusal
from .source import RECENT

log = logging.getLogger(__name__)


@dataclass
class _Open:
    """A target folder as this run found it."""

    name: str
    uidvalidity: int
    before: int  # UIDNEXT when this run first opened it: older UIDs may be earlier copies
    permanent: frozenset[str]  # PERMANENTFLAGS, lowercased
    claimed: set[int] = field(default_factory=set)  # UIDs matched or written by this run
    warned: set[str] = field(default_factory=set)

    @property
    def any_keyword(self) -> bool:
        return "\\*" in self.permanent


class ImapTarget(MailTarget):
    """Writes folders and messages to one account (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._hierarchy: Hierarchy
        self._hierarchy, boxes = session.call("LIST", list_mailboxes)
        self._existing: dict[tuple[str, ...], Mailbox] = {b.path: b for b in boxes}
        self._folders: dict[tuple[str, ...], _Open] = {}
        self._lookup = Lookup(session)
        self._in_doubt: set[str] = set()  # source keys whose APPEND was cut off
        # Messages a dead run left pending that ``find`` did not see: that run's APPEND may
        # still land after ours (its server session outlives it), so they are checked again
        # at ``close``. Folder path → [(message, the UID this run gave it)].
        self._unseen: dict[tuple[str, ...], dict[str, MailMessage]] = {}
        self._rewritten: dict[tuple[str, ...], list[tuple[MailMessage, int]]] = {}
        quirks = session.quirks
        self._multiappend = quirks.multiappend and session.capable("MULTIAPPEND")
        self._uidplus = session.capable("UIDPLUS")
        self._limit = session.settings.max_size or _appendlimit(session) or \
            quirks.max_message_size

    # --- folders ---------------------------------------------------------------------------

    def prepare_folder(self, folder: Folder) -> None:
        self._open(folder)

    def _open(self, folder: Folder) -> _Open:
        opened = self._folders.get(folder.path)
        if opened is not None:
            return opened
        name = self._hierarchy.name_of(folder.path)
        box = self._existing.get(folder.path)
        if box is None or not box.selectable:
            self._create(name, folder)
        info = self._session.select(name, readonly=False)
        exists = info.get(b"EXISTS", 0)
        uidnext = info.get(b"UIDNEXT") or self._session.call(
            f"STATUS {name}", lambda client: client.folder_status(name, ["UIDNEXT"]))[b"UIDNEXT"]
        permanent = frozenset(_text(f).lower() for f in info.get(b"PERMANENTFLAGS", ()))
        opened = _Open(name, info[b"UIDVALIDITY"], uidnext if exists else 1, permanent)
        self._folders[folder.path] = opened
        return opened

    def _create(self, name: str, folder: Folder) -> None:
        use = None
        if folder.role is not None and folder.role is not Role.INBOX \
                and not any(b.role is folder.role for b in self._existing.values()) \
                and self._session.capable("CREATE-SPECIAL-USE"):
            use = ATTRIBUTE_OF_ROLE.get(folder.role)
        reply = self._session.call(f"CREATE {name}", lambda c: wire.create(c, name, use))
        if not reply.ok and use is not None:  # the role may be taken: create it plain
            reply = self._session.call(f"CREATE {name}", lambda c: wire.create(c, name))
        if not reply.ok and not _exists(reply):
            raise ItemError(f"cannot create folder {name!r}: {reply.text}")
        try:
            self._session.call(f"SUBSCRIBE {name}", lambda c: c.subscribe_folder(name))
        except ItemError as exc:
            log.warning("folder %r created but not subscribed: %s", name, exc)
        self._existing[folder.path] = Mailbox(name, folder.path, frozenset())

    # --- messages --------------------------------------------------------------------------

    def append(self, folder: Folder, message: MailMessage) -> str:
        outcome = self.append_batch(folder, [message])[0]
        if isinstance(outcome, MigrateError):
            raise outcome
        return outcome

    def append_batch(self, folder: Folder,
                     messages: list[MailMessage]) -> list[str | MigrateError]:
        opened = self._open(folder)
        results: list[str | MigrateError | None] = [None] * len(messages)
        for i, key in self._already_there(opened, messages).items():
            results[i] = key
        todo = []
        for i, message in enumerate(messages):
            if results[i] is not None:
                continue
            if self._limit and message.size > self._limit:
                results[i] = TooLargeError(f"{message.size} bytes: the server takes "
                                           f"{self._limit} at most")
            else:
                todo.append(i)
        for i, outcome in zip(todo, self._write(folder, opened, [messages[i] for i in todo]),
                              strict=True):
            results[i] = outcome
        self._flag_after_append(opened, messages, results)
        self._note_rewritten(folder, messages, results)
        return [r if r is not None else ItemError("not written") for r in results]

    def _already_there(self, opened: _Open, messages: list[MailMessage]) -> dict[int, str]:
        """Copies already in the folder: from before this run, or from a cut-off APPEND."""
        found: dict[int, str] = {}
        doubtful = [i for i, m in enumerate(messages) if m.source_id in self._in_doubt]
        others = [i for i in range(len(messages)) if i not in doubtful]
        for indexes, below in ((doubtful, None), (others, opened.before)):
            if not indexes or (below is not None and below <= 1):
                continue
            hits = self._lookup.find(opened.name, [messages[i] for i in indexes], below,
                                     opened.claimed)
            for j, uid in hits.items():
                found[indexes[j]] = f"{opened.uidvalidity}:{uid}"
        for i in doubtful:
            self._in_doubt.discard(messages[i].source_id)
        return found

    def _write(self, folder: Folder, opened: _Open,
               messages: list[MailMessage]) -> list[str | MigrateError]:
        if self._multiappend and len(messages) > 1:
            try:
                reply = self._send(opened, messages)
            except ConnectionDropped as exc:
                self._in_doubt.update(m.source_id for m in messages)
                return [exc] * len(messages)
            if reply.ok:
                return self._keys(opened, reply, messages)
            error = refusal(reply.text, self._session.quirks)
            if isinstance(error, RetryableError):  # throttled: the batch waits as a whole
                return [error] * len(messages)
            if _code(reply) == "TRYCREATE":
                self._recreate(folder, opened)
        return [self._write_one(folder, opened, message) for message in messages]

    def _write_one(self, folder: Folder, opened: _Open, message: MailMessage
                   ) -> str | MigrateError:
        for attempt in (1, 2):
            try:
                reply = self._send(opened, [message])
            except ConnectionDropped as exc:
                self._in_doubt.add(message.source_id)
                return exc
            except ItemError as exc:  # BAD, or a content that cannot be read
                return exc
            if reply.ok:
                return self._keys(opened, reply, [message])[0]
            if _code(reply) == "TRYCREATE" and attempt == 1:
                self._recreate(folder, opened)
                continue
            return refusal(reply.text, self._session.quirks)
        raise AssertionError("unreachable")

    def _send(self, opened: _Open, messages: list[MailMessage]) -> wire.Reply:
        outgoing = [wire.Outgoing(m.content, self._flags(opened, m.flags), m.internal_date)
                    for m in messages]
        return self._session.call(f"APPEND {opened.name}",
                                  lambda client: wire.append(client, opened.name, outgoing),
                                  replay=False)

    def _recreate(self, folder: Folder, opened: _Open) -> None:
        """TRYCREATE: the folder vanished meanwhile; create it again (once per answer)."""
        self._existing.pop(folder.path, None)
        self._create(opened.name, folder)

    def _keys(self, opened: _Open, reply: wire.Reply,
              messages: list[MailMessage]) -> list[str | MigrateError]:
        code = reply.code
        if code is not None and code[0] == "APPENDUID":
            validity, _, uids_text = code[1].partition(" ")
            uids = wire.uid_set(uids_text)
            if len(uids) == len(messages):
                opened.claimed.update(uids)
                return [f"{validity}:{uid}" for uid in uids]
        if self._uidplus:
            log.warning("APPEND to %r answered without APPENDUID: %s", opened.name, reply.text)
        return [f"sha256:{m.sha256}" for m in messages]

    def _flags(self, opened: _Open, flags: frozenset[str]) -> tuple[str, ...]:
        """The flags to send: never ``\\Recent``; keywords only where the folder keeps them,
        written as atoms (``keywords.encode``: categories with spaces or accents too)."""
        kept = []
        for name in sorted(flags):
            if name.lower() == RECENT.lower():
                continue
            keyword = not name.startswith("\\")
            flag = keywords.encode(name) if keyword else name
            if (keyword and not opened.any_keyword and flag.lower() not in opened.permanent) \
                    or not wire.is_atom(flag):
                if flag not in opened.warned:
                    opened.warned.add(flag)
                    log.warning("%r: flag %r cannot be kept by this server: dropped",
                                opened.name, flag)
                continue
            kept.append(flag)
        return tuple(kept)

    def _flag_after_append(self, opened: _Open, messages: list[MailMessage],
                           results: list) -> None:
        """Set by STORE the flags this server ignores on APPEND (a preset's list)."""
        later = self._session.quirks.flags_after_append
        if not later:
            return
        by_flags: dict[tuple[str, ...], list[int]] = {}
        for message, result in zip(messages, results, strict=True):
            wanted = tuple(sorted(f for f in message.flags if f in later))
            if wanted and isinstance(result, str) and not result.startswith("sha256:"):
                by_flags.setdefault(wanted, []).append(int(result.rpartition(":")[2]))
        for flags, uids in by_flags.items():
            try:
                self._session.ensure_selected(opened.name, readonly=False)
                self._session.call("STORE", lambda client, u=uids, f=flags:
                                   client.add_flags(u, f))
            except ItemError as exc:
                log.warning("%r: cannot set %s after APPEND: %s", opened.name, flags, exc)

    def set_flags(self, folder: Folder, key: str, flags: frozenset[str]) -> None:
        """STORE FLAGS.SILENT on the message appended under ``key`` (``UIDVALIDITY:UID``)."""
        opened = self._open(folder)
        uid = self._uid_of(opened, key, "its flags cannot be updated")
        wanted = self._flags(opened, flags)
        self._session.ensure_selected(opened.name, readonly=False)
        self._session.call("STORE", lambda client: client.set_flags([uid], wanted,
                                                                    silent=True))

    def remove(self, folder: Folder, key: str) -> None:
        """Delete the message appended under ``key``: STORE \\Deleted then UID EXPUNGE of
        that UID alone (UIDPLUS), so that nothing else marked deleted goes with it."""
        opened = self._open(folder)
        uid = self._uid_of(opened, key, "it cannot be deleted")
        if not self._uidplus:
            raise CapabilityError(f"{opened.name!r}: the server has no UID EXPUNGE "
                                  "(UIDPLUS): one message cannot be deleted alone")
        self._session.ensure_selected(opened.name, readonly=False)
        self._session.call("EXPUNGE", lambda client: (
            client.add_flags([uid], ["\\Deleted"], silent=True), client.uid_expunge([uid])))

    @staticmethod
    def _uid_of(opened, key: str, consequence: str) -> int:
        """The UID in a target key ``UIDVALIDITY:UID``; ItemError when the key has none or
        the folder was recreated since (another UIDVALIDITY)."""
        validity, _, uid = key.partition(":")
        if not (validity.isdigit() and uid.isdigit()):
            raise ItemError(f"{opened.name!r}: no UID was given for this message "
                            f"(no UIDPLUS): {consequence}")
        if int(validity) != opened.uidvalidity:
            raise ItemError(f"{opened.name!r} was recreated since the copy (UIDVALIDITY "
                            f"{validity} → {opened.uidvalidity}): {consequence}")
        return int(uid)

    def find(self, folder: Folder, message: MailMessage) -> str | None:
        opened = self._open(folder)
        hits = self._lookup.find(opened.name, [message], None, opened.claimed)
        if 0 in hits:
            return f"{opened.uidvalidity}:{hits[0]}"
        self._unseen.setdefault(folder.path, {})[message.source_id] = message
        return None

    def _note_rewritten(self, folder: Folder, messages: list[MailMessage],
                        results: list) -> None:
        """Remember the UIDs given to messages that ``find`` did not see (see ``close``)."""
        unseen = self._unseen.get(folder.path)
        if not unseen:
            return
        for message, result in zip(messages, results, strict=True):
            if message.source_id in unseen and isinstance(result, str) \
                    and not result.startswith("sha256:"):
                del unseen[message.source_id]
                uid = int(result.rpartition(":")[2])
                self._rewritten.setdefault(folder.path, []).append((message, uid))

    def _remove_late_copies(self) -> None:
        """Delete the copies a dead run's APPEND added after this run looked for them.

        Only a copy that appeared during this run (UID at or above the folder's UIDNEXT when
        this run opened it) and is the same message as one this run wrote again is removed:
        never anything the folder held before. Needs UID EXPUNGE (UIDPLUS).
        """
        if not self._rewritten or not self._uidplus:
            return
        for path, written in self._rewritten.items():
            opened = self._folders[path]
            late: set[int] = set()
            for message, uid in written:
                taken = {uid}
                while hits := self._lookup.find(opened.name, [message], None, taken):
                    if hits[0] >= opened.before and hits[0] not in opened.claimed:
                        late.add(hits[0])
            if late:
                log.warning("%r: %d copies written by an interrupted run after this one had "
                            "looked for them: removed", opened.name, len(late))
                self._session.ensure_selected(opened.name, readonly=False)
                self._session.call("EXPUNGE", lambda client, uids=sorted(late): (  # noqa: B008
                    client.add_flags(uids, ["\\Deleted"], silent=True),
                    client.uid_expunge(uids)))

    def close(self, complete: bool = True) -> None:
        """Remove late copies of rewritten messages; nothing to flush (APPEND OK is durable)."""
        try:
            self._remove_late_copies()
        except MigrateError as exc:
            log.warning("late copies of interrupted APPENDs not checked: %s", exc)
        self._session.close()


def _appendlimit(session: Session) -> int | None:
    """The server's APPENDLIMIT=N (RFC 7889), if it advertises one."""
    def read(client) -> int | None:
        for capability in client.capabilities():
            name = _text(capability)
            if name.upper().startswith("APPENDLIMIT="):
                value = name.partition("=")[2]
                return int(value) if value.isdigit() else None
        return None
    try:
        return session.call("CAPABILITY", read)
    except ConnectError:
        raise
    except MigrateError:
        return None


def _code(reply: wire.Reply) -> str | None:
    code = reply.code
    return code[0] if code else None


def _exists(reply: wire.Reply) -> bool:
    return _code(reply) == "ALREADYEXISTS" or "exist" in reply.text.lower()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
