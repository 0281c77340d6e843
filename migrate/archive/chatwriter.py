"""Appends chat to an archive: a directory per conversation (conversation.json and
messages.jsonl), and attachments as content-addressed blobs.

Only the conversation being written is held open, with the digests of its message ids
(for ``find_chat`` and duplicate posts) and of each line's content (a later version whose
content the current one already has is not written twice); switching conversations
releases them. A changed message is appended as a later version (``update``).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from array import array
from pathlib import Path

from ..errors import ArchiveError, BadInputError
from ..model import Blob, ChatMessage, Conversation
from .chatjson import (
    chat_fingerprint,
    chat_message_from_dict,
    chat_message_to_dict,
    conversation_to_dict,
    version_of,
)
from .fileindex import FileIndex
from .jsonl import (
    MAX_CHAT_LINE,
    PendingSync,
    dumps_line,
    fsync_path,
    iter_lines,
    parse_object,
    reopen_index,
    truncate_unfinished,
    write_atomic,
)
from .layout import (
    CHAT_DIR,
    CHAT_MESSAGES_FILE,
    CONVERSATION_FILE,
    CONVERSATIONS_INDEX,
    DirNames,
    blob_path,
    hash64,
)
from .records import ConversationRecord, parse_conversation_record


def _message_key(conversation_id: str, message_id: str) -> int:
    return hash64(json.dumps([conversation_id, message_id]).encode("ascii"))


def _print64(message: ChatMessage) -> int:
    """A 64-bit digest of the message's fingerprint (what tells two versions apart)."""
    return hash64(chat_fingerprint(message).encode("ascii"))


class _Open:
    """The conversation currently written: per line, the digests of its message id and of
    its content; for messages with several versions, the line of the current one."""

    def __init__(self, root: Path, record: ConversationRecord, repair: bool) -> None:
        self.record = record
        self.path = root / record.dir / CHAT_MESSAGES_FILE
        if repair:
            truncate_unfinished(self.path)
        self.keys, self.prints = array("Q"), array("Q")
        self.keyset: set[int] = set()
        self.latest: dict[int, int] = {}  # message key → index of its current line
        self.versions: dict[int, int] = {}  # message key → how many lines it has (if > 1)
        for line in iter_lines(self.path, MAX_CHAT_LINE):
            try:
                data = parse_object(line, str(self.path))
                version_of(data)
                message = chat_message_from_dict(data)
            except ValueError as exc:
                raise ArchiveError(f"cannot append to a damaged archive: {record.dir}/"
                                   f"{CHAT_MESSAGES_FILE} line {line.number}: {exc}") from None
            self.add(_message_key(record.source_id, message.source_id), _print64(message))
        self.stream = open(self.path, "ab")

    def add(self, key: int, fingerprint: int) -> None:
        """Count one more line (a first version, or a later one of a message already in)."""
        if key in self.keyset:
            self.latest[key] = len(self.keys)
            self.versions[key] = self.versions.get(key, 1) + 1
        self.keys.append(key)
        self.prints.append(fingerprint)
        self.keyset.add(key)

    def number_of(self, key: int) -> int | None:
        """The line number of the message's first version."""
        return self.keys.index(key) + 1 if key in self.keyset else None

    def current(self, key: int) -> int:
        """The index of the message's current line (the message must be in the file)."""
        return self.latest.get(key, self.keys.index(key))


class ChatWriter:
    """The chat half of an open archive; ``ArchiveWriter`` owns its lifecycle."""

    def __init__(self, root: Path, repair: bool) -> None:
        self.root = root
        self._repair = repair
        self._names = DirNames()
        self._records: dict[str, ConversationRecord] = {}
        self._current: _Open | None = None
        self._pending = PendingSync()
        self.files = FileIndex(root, repair, self._pending)
        for _, record in reopen_index(root / CONVERSATIONS_INDEX, repair, lambda line:
                                      parse_conversation_record(line, root, CONVERSATIONS_INDEX)):
            self._records.setdefault(record.source_id, record)
            self._names.reserve(CHAT_DIR, record.dir.rsplit("/", 1)[1])

    def prepare_conversation(self, conversation: Conversation) -> ConversationRecord:
        """Create the conversation's directory the first time; (re)write its metadata."""
        record = self._records.get(conversation.source_id)
        directory = self.root / (record.dir if record else CHAT_DIR)
        if record is None:
            name = self._names.allocate(CHAT_DIR, conversation.source_id)
            record = ConversationRecord(conversation.source_id, f"{CHAT_DIR}/{name}")
            directory = self.root / record.dir
            directory.mkdir(parents=True, exist_ok=True)
            (directory / CHAT_MESSAGES_FILE).touch()
        data = json.dumps(conversation_to_dict(conversation), ensure_ascii=False, indent=1)
        metadata = data.encode("utf-8", "surrogatepass") + b"\n"
        meta_path = directory / CONVERSATION_FILE
        if not meta_path.exists() or meta_path.read_bytes() != metadata:
            write_atomic(meta_path, metadata)
        if conversation.source_id not in self._records:
            with open(self.root / CONVERSATIONS_INDEX, "ab") as stream:
                stream.write(dumps_line(record.to_dict()))
            self._pending.add(self.root / CONVERSATIONS_INDEX)
            self._records[conversation.source_id] = record
        return record

    def _open(self, conversation: Conversation) -> _Open:
        current = self._current
        if current is not None and current.record.source_id == conversation.source_id:
            return current
        record = self._records.get(conversation.source_id)
        if record is None:
            record = self.prepare_conversation(conversation)
        self._release()
        self._current = _Open(self.root, record, self._repair)
        return self._current

    def _release(self) -> None:
        if self._current is not None:
            self._current.stream.close()
            self._pending.add(self._current.path)
            self._current = None

    def find_chat(self, conversation: Conversation, message: ChatMessage) -> str | None:
        current = self._open(conversation)
        number = current.number_of(_message_key(conversation.source_id, message.source_id))
        return None if number is None else self._key(current, number)

    @staticmethod
    def _key(current: _Open, number: int) -> str:
        return f"{current.record.dir.rsplit('/', 1)[1]}/{number}"

    def post(self, conversation: Conversation, message: ChatMessage) -> str:
        """Append one message line; a message already there is not written again."""
        current = self._open(conversation)
        key = _message_key(conversation.source_id, message.source_id)
        number = current.number_of(key)
        if number is not None:
            return self._key(current, number)
        self._append(current, chat_message_to_dict(message), message)
        current.add(key, _print64(message))
        return self._key(current, len(current.keys))

    def update(self, conversation: Conversation, message: ChatMessage) -> str:
        """Append a later version of a message already archived (format §4.3), unless its
        current version has this very content (a rerun after a write not yet recorded as
        done); a message not archived yet is posted. Returns the current version's key."""
        current = self._open(conversation)
        key = _message_key(conversation.source_id, message.source_id)
        if key not in current.keyset:
            return self.post(conversation, message)
        fingerprint = _print64(message)
        if current.prints[current.current(key)] == fingerprint:
            return self._key(current, current.current(key) + 1)
        version = current.versions.get(key, 1) + 1
        self._append(current, {**chat_message_to_dict(message), "version": version}, message)
        current.add(key, fingerprint)
        return self._key(current, len(current.keys))

    @staticmethod
    def _append(current: _Open, data: dict, message: ChatMessage) -> None:
        line = dumps_line(data)
        if len(line) > MAX_CHAT_LINE:
            raise BadInputError(f"chat message {message.source_id} is larger than "
                                f"{MAX_CHAT_LINE} bytes as JSON")
        try:
            current.stream.write(line)
            current.stream.flush()
        except OSError as exc:
            raise ArchiveError(f"cannot write {current.path}: {exc.strerror}") from None

    def put_blob(self, blob: Blob) -> None:
        """Store the blob's bytes under their sha256, unless a whole copy is already there,
        and the source's description of the file (``FileIndex``) if it has one."""
        sha256 = blob.content.sha256
        self.files.describe(blob)
        final = self.root / blob_path(sha256)
        try:
            if final.stat().st_size == blob.content.size:
                return
        except FileNotFoundError:
            pass
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.parent / f".{secrets.token_hex(8)}.tmp"
        digest = hashlib.sha256()
        try:
            with open(temp, "wb") as out:
                for chunk in blob.content.iter_chunks():
                    out.write(chunk)
                    digest.update(chunk)
            if digest.hexdigest() != sha256:
                raise BadInputError(f"blob {blob.name or sha256}: its bytes changed while "
                                    "being read")
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self._pending.add(final)

    def commit(self) -> None:
        if self._current is not None:
            self._current.stream.flush()
            fsync_path(self._current.path)
        self._pending.flush()

    def close(self) -> None:
        self._release()
        self._pending.flush()
