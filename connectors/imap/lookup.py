"""Finding copies a target folder already holds, without knowing their UIDs.

Used after a crash (``find``), when the state database was lost, and when the source's
UIDVALIDITY changed (its keys are new, its messages are not). A copy is the same message
when it has the same Message-ID, the same size and the same internal date (to the second;
any date if the message has none). A message without a usable Message-ID is looked up by
size, then its candidates' bytes are compared (sha256). Servers store lines with CRLF, so
a message written with bare LF is also recognised in its CRLF form; where RFC822.SIZE is
only an estimate (Exchange), candidates are confirmed by their bytes too.

Each UID found is *claimed*, so that two identical source messages never both take the
same copy.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32

from migrate.model import MailMessage

from .session import Session
from .source import internal_date

_SAFE_ID = re.compile(r"^<[^\x00-\x20\x7f-\xff\"(){%*\\\]]+>$")
_IDS_PER_SEARCH = 50
_MAX_BYTE_CANDIDATES = 20
_HEADER = "BODY[HEADER.FIELDS (MESSAGE-ID)]"
_BARE_LF = re.compile(rb"(?<!\r)\n")


@dataclass(frozen=True)
class _Candidate:
    uid: int
    size: int
    date: datetime | None
    message_id: str | None


def crlf(data: bytes) -> bytes:
    """``data`` with bare LF turned into CRLF, as IMAP servers store it."""
    return _BARE_LF.sub(b"\r\n", data)


def message_id(message: MailMessage) -> str | None:
    """The Message-ID when it can be searched for safely (ASCII, no specials)."""
    value = message.summary.message_id
    return value if value and _SAFE_ID.match(value) else None


class Lookup:
    """Searches the selected target folder for copies of messages (see module doc)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def find(self, mailbox: str, messages: list[MailMessage], below: int | None,
             claimed: set[int]) -> dict[int, int]:
        """Index in ``messages`` → UID of its copy, among UIDs under ``below`` if given."""
        if below is not None and below <= 1:
            return {}
        self._session.ensure_selected(mailbox, readonly=False)
        scope = ["UID", f"1:{below - 1}"] if below is not None else []
        found: dict[int, int] = {}
        by_id = [(i, mid) for i, m in enumerate(messages) if (mid := message_id(m))]
        for start in range(0, len(by_id), _IDS_PER_SEARCH):
            group = by_id[start:start + _IDS_PER_SEARCH]
            criteria = scope + _any_of([["HEADER", "MESSAGE-ID", mid] for _, mid in group])
            candidates = self._candidates(self._search(criteria))
            for i, mid in group:
                for candidate in candidates:
                    if candidate.uid not in claimed and candidate.message_id == mid \
                            and self._same(messages[i], candidate):
                        found[i] = candidate.uid
                        claimed.add(candidate.uid)
                        break
        searched = {i for i, _ in by_id}
        for i, message in enumerate(messages):
            if i not in searched:
                uid = self._find_by_bytes(message, scope, claimed)
                if uid is not None:
                    found[i] = uid
                    claimed.add(uid)
        return found

    def _search(self, criteria: list) -> list[int]:
        return sorted(self._session.call("SEARCH", lambda client: client.search(criteria)))

    def _candidates(self, uids: list[int]) -> list[_Candidate]:
        if not uids:
            return []
        data = self._session.call("FETCH", lambda client: client.fetch(
            uids, ["RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]))
        out = []
        for uid in uids:
            info = data.get(uid)
            if info is None:
                continue
            header = info.get(_HEADER.encode()) or b""
            parsed = BytesHeaderParser(policy=compat32).parsebytes(header).get("Message-ID")
            value = str(parsed).replace("\r", "").replace("\n", "").strip() if parsed else None
            out.append(_Candidate(uid, info.get(b"RFC822.SIZE", -1),
                                  internal_date(info.get(b"INTERNALDATE")), value))
        return out

    def _same(self, message: MailMessage, candidate: _Candidate) -> bool:
        if not _same_date(message.internal_date, candidate.date):
            return False
        if not self._session.quirks.exact_size:
            return self._same_bytes(message, [candidate.uid]) is not None
        if candidate.size == message.size:
            return True
        return candidate.size == len(crlf(message.content.read()))

    def _find_by_bytes(self, message: MailMessage, scope: list, claimed: set[int]
                       ) -> int | None:
        sizes = sorted({message.size, len(crlf(message.content.read()))})
        if self._session.quirks.exact_size:
            by_size = [["LARGER", size - 1, "SMALLER", size + 1] for size in sizes]
        else:  # an estimate: a window around it
            by_size = [["LARGER", int(sizes[0] * 0.9), "SMALLER", int(sizes[-1] * 1.1) + 2]]
        uids = [u for u in self._search(scope + _any_of(by_size)) if u not in claimed]
        return self._same_bytes(message, uids[-_MAX_BYTE_CANDIDATES:])

    def _same_bytes(self, message: MailMessage, uids: list[int]) -> int | None:
        """The first of ``uids`` whose date and bytes (as given, or in CRLF) match."""
        if not uids:
            return None
        data = self._session.call("FETCH", lambda client: client.fetch(
            uids, ["INTERNALDATE", "BODY.PEEK[]"]))
        raw = message.content.read()
        wanted = {hashlib.sha256(raw).hexdigest(), hashlib.sha256(crlf(raw)).hexdigest()}
        for uid in uids:
            info = data.get(uid, {})
            body = info.get(b"BODY[]")
            if body is not None and hashlib.sha256(body).hexdigest() in wanted \
                    and _same_date(message.internal_date,
                                   internal_date(info.get(b"INTERNALDATE"))):
                return uid
        return None


def _same_date(ours: datetime | None, theirs: datetime | None) -> bool:
    if ours is None or theirs is None:
        return True
    return int(ours.timestamp()) == int(theirs.timestamp())


def _any_of(criteria: list[list]) -> list:
    """One search key matching any of ``criteria``: a balanced tree of ORs."""
    if len(criteria) == 1:
        return [criteria[0]]
    middle = len(criteria) // 2
    return ["OR", _group(_any_of(criteria[:middle])), _group(_any_of(criteria[middle:]))]


def _group(keys: list) -> list:
    return keys[0] if len(keys) == 1 else keys

