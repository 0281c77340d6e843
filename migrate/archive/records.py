"""The index records of format v1: one ``MailRecord`` per message, one ``FolderRecord`` per
folder, one ``ConversationRecord`` per conversation; to JSON and back, validating every field.

Parsing is strict about what could hurt (paths, types, sizes) and lenient about what a
newer v1 writer may add (unknown fields are ignored, an unknown role reads as None).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from ..errors import UnsafePathError
from ..model import Folder, MailMessage, MessageSummary, Provenance, Role
from .errors import IndexLineError, UnsafeIndexPathError
from .jsonl import Line, parse_object
from .layout import CHAT_DIR, EML_DIR, is_sha256, safe_path

MAX_NAME_CHARS = 1024     # one folder name
MAX_DEPTH = 128           # folder nesting
MAX_FLAGS = 1024
MAX_TEXT_CHARS = 2000     # a header value kept for reports


def clean_text(value: str | None) -> str | None:
    """A header value fit for reports: 8-bit UTF-8 recovered, one line, bounded length."""
    if value is None:
        return None
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = " ".join(text.replace("\r", " ").replace("\n", " ").split())
    return text[:MAX_TEXT_CHARS] or None


_HEADER_FIELDS = {"message-id": "message_id", "subject": "subject", "from": "sender",
                  "date": "date", "to": "to", "cc": "cc", "bcc": "bcc",
                  "content-type": "content_type"}


def header_fields(head: bytes) -> dict[str, str | None]:
    """Report fields (Message-ID, Subject, From, Date, To, Cc, Bcc, Content-Type) read from
    the raw header block, so 8-bit UTF-8 values survive; broken input gives Nones."""
    end = head.find(b"\n\n")
    if end < 0:
        end = head.find(b"\r\n\r\n")
    block = head if end < 0 else head[: end + 2]
    values: dict[str, str | None] = dict.fromkeys(_HEADER_FIELDS.values())
    try:
        items = BytesHeaderParser(policy=compat32).parsebytes(block).raw_items()
        for name, value in items:
            key = _HEADER_FIELDS.get(name.lower())
            if key and values[key] is None and isinstance(value, str):
                values[key] = clean_text(value)
    except Exception:  # a header block we cannot parse gives Nones, never an error
        pass
    return values


@dataclass(frozen=True)
class MailRecord:
    """One line of ``messages.jsonl``: everything needed to restore one message."""

    id: int
    folder: tuple[str, ...]
    role: Role | None
    flags: tuple[str, ...]
    internal_date: datetime | None
    source_id: str
    source: str | None
    sha256: str
    size: int
    path: str
    message_id: str | None = None
    subject: str | None = None
    sender: str | None = None
    date: str | None = None
    to: str | None = None
    cc: str | None = None
    bcc: str | None = None
    content_type: str | None = None
    added: str | None = None
    #: Set for a message rebuilt by its source (e.g. from a .pst): not original bytes.
    derived_from: Provenance | None = None

    def to_dict(self) -> dict:
        data = {
            "id": self.id, "folder": list(self.folder),
            "role": self.role.value if self.role else None, "flags": list(self.flags),
            "internal_date": self.internal_date.isoformat() if self.internal_date else None,
            "source_id": self.source_id, "source": self.source,
            "sha256": self.sha256, "size": self.size, "path": self.path,
            "message_id": self.message_id, "subject": self.subject, "from": self.sender,
            "date": self.date, "to": self.to, "cc": self.cc, "bcc": self.bcc,
            "content_type": self.content_type, "added": self.added,
        }
        if self.derived_from is not None:  # absent, not null, for original bytes
            data["derived_from"] = provenance_dict(self.derived_from)
        return data

    @property
    def summary(self) -> MessageSummary:
        return MessageSummary(self.message_id, self.subject, self.sender, self.date)

    def identity(self) -> bytes:
        """What makes two appends "the same message": folder, source id, sha256."""
        return identity_key(self.folder, self.source_id, self.sha256)


def provenance_dict(provenance: Provenance) -> dict:
    """The ``derived_from`` object of an index line."""
    return {"kind": provenance.kind, "file": provenance.file_name,
            "file_size": provenance.file_size, "file_sha256": provenance.file_sha256,
            "item_id": provenance.item_id}


def _provenance(value: object) -> Provenance | None:
    """``derived_from`` checked: an object naming the file (name, size, sha256) and item."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("'derived_from' must be an object or absent")
    try:
        if not is_sha256(value.get("file_sha256")):
            raise ValueError("'file_sha256' must be 64 lower-case hex digits")
        kind = _text(value, "kind")
        if kind != "derived":
            raise ValueError(f"'kind' {kind!r} is not 'derived'")
        return Provenance(_text(value, "file"), _int(value, "file_size"),
                          value["file_sha256"], _text(value, "item_id"), kind)
    except ValueError as exc:
        raise ValueError(f"'derived_from': {exc}") from None


def identity_key(folder: tuple[str, ...], source_id: str, sha256: str) -> bytes:
    """An unambiguous byte form of (folder, source id, sha256), whatever the names hold."""
    return json.dumps([list(folder), source_id, sha256]).encode("ascii")


def new_record(number: int, folder: Folder, message: MailMessage, *, sha256: str, size: int,
               path: str, source: str | None, head: bytes) -> MailRecord:
    """The record for ``message`` just written as message ``number`` at ``path``."""
    fields = header_fields(head)
    if None in (fields["message_id"], fields["subject"], fields["sender"], fields["date"]):
        summary = message.summary  # what the source says, where the headers say nothing
        for key, value in (("message_id", summary.message_id), ("subject", summary.subject),
                           ("sender", summary.sender), ("date", summary.date)):
            fields[key] = fields[key] or clean_text(value)
    return MailRecord(
        id=number, folder=folder.path, role=folder.role, flags=tuple(sorted(message.flags)),
        internal_date=message.internal_date, source_id=message.source_id, source=source,
        sha256=sha256, size=size, path=path, message_id=fields["message_id"],
        subject=fields["subject"], sender=fields["sender"], date=fields["date"],
        to=fields["to"], cc=fields["cc"], bcc=fields["bcc"], content_type=fields["content_type"],
        added=datetime.now(UTC).isoformat(timespec="seconds"),
        derived_from=message.provenance,
    )


def _folder_path(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or len(value) > MAX_DEPTH:
        raise ValueError("'folder' must be a non-empty list of names")
    for name in value:
        if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
            raise ValueError("'folder' holds an empty, over-long or non-text name")
    return tuple(value)


def _role(value: object) -> Role | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("'role' must be text or null")
    try:
        return Role(value)
    except ValueError:  # a role a newer writer knows: read as no role
        return None


def _opt_text(data: dict, key: str, limit: int = MAX_TEXT_CHARS * 4) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"'{key}' must be text of at most {limit} characters or null")
    return value


def _text(data: dict, key: str) -> str:
    value = _opt_text(data, key)
    if value is None:
        raise ValueError(f"'{key}' is missing")
    return value


def _int(data: dict, key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"'{key}' must be a non-negative integer")
    return value


def parse_datetime(value: object, key: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"'{key}' must be an ISO 8601 date-time or null")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{key}' {value!r} is not an ISO 8601 date-time") from None


def _flags(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_FLAGS:
        raise ValueError("'flags' must be a list of text")
    for flag in value:
        if not isinstance(flag, str) or not flag or len(flag) > MAX_NAME_CHARS:
            raise ValueError("'flags' holds an empty or non-text flag")
    return tuple(value)


def parse_mail_record(line: Line, root: Path, file: str) -> MailRecord:
    """Validate one ``messages.jsonl`` line; IndexLineError or UnsafeIndexPathError if bad."""
    folder: tuple[str, ...] | None = None
    try:
        data = parse_object(line, file)
        folder = _folder_path(data.get("folder"))
        number = _int(data, "id")
        if number != line.number:
            raise ValueError(f"'id' {number} differs from the line number")
        sha256 = data.get("sha256")
        if not is_sha256(sha256):
            raise ValueError("'sha256' must be 64 lower-case hex digits")
        path = data.get("path")
        safe_path(root, path, EML_DIR)
        if not isinstance(path, str) or not path.endswith(".eml"):
            raise ValueError("'path' must name an .eml file")
        return MailRecord(
            id=number, folder=folder, role=_role(data.get("role")),
            flags=_flags(data.get("flags", [])),
            internal_date=parse_datetime(data.get("internal_date"), "internal_date"),
            source_id=_text(data, "source_id"), source=_opt_text(data, "source"),
            sha256=sha256, size=_int(data, "size"), path=path,
            message_id=_opt_text(data, "message_id"), subject=_opt_text(data, "subject"),
            sender=_opt_text(data, "from"), date=_opt_text(data, "date"),
            to=_opt_text(data, "to"), cc=_opt_text(data, "cc"), bcc=_opt_text(data, "bcc"),
            content_type=_opt_text(data, "content_type"), added=_opt_text(data, "added"),
            derived_from=_provenance(data.get("derived_from")),
        )
    except UnsafePathError as exc:
        raise UnsafeIndexPathError(file, line.number, str(exc), folder) from None
    except ValueError as exc:
        raise IndexLineError(file, line.number, str(exc), folder) from None


@dataclass(frozen=True)
class FolderRecord:
    """One line of ``folders.jsonl``: a folder as at the source and its directory."""

    path: tuple[str, ...]
    role: Role | None
    source_id: str | None
    dir: str

    def to_dict(self) -> dict:
        return {"path": list(self.path), "role": self.role.value if self.role else None,
                "source_id": self.source_id, "dir": self.dir}

    @property
    def folder(self) -> Folder:
        return Folder(self.path, self.role, self.source_id)


def parse_folder_record(line: Line, root: Path, file: str) -> FolderRecord:
    """Validate one ``folders.jsonl`` line: one directory component per folder name."""
    try:
        data = parse_object(line, file)
        path = _folder_path(data.get("path"))
        directory = data.get("dir")
        safe_path(root, directory, EML_DIR)
        assert isinstance(directory, str)
        if len(directory.split("/")) != 2 + len(path):
            raise ValueError("'dir' must have one component per folder name")
        return FolderRecord(path, _role(data.get("role")), _opt_text(data, "source_id"),
                            directory)
    except UnsafePathError as exc:
        raise UnsafeIndexPathError(file, line.number, str(exc)) from None
    except ValueError as exc:
        raise IndexLineError(file, line.number, str(exc)) from None


@dataclass(frozen=True)
class ConversationRecord:
    """One line of ``conversations.jsonl``: a conversation's source id and directory."""

    source_id: str
    dir: str

    def to_dict(self) -> dict:
        return {"source_id": self.source_id, "dir": self.dir}


def parse_conversation_record(line: Line, root: Path, file: str) -> ConversationRecord:
    try:
        data = parse_object(line, file)
        directory = data.get("dir")
        safe_path(root, directory, CHAT_DIR)
        assert isinstance(directory, str)
        if len(directory.split("/")) != 3:
            raise ValueError("'dir' must be data/chat/<name>")
        return ConversationRecord(_text(data, "source_id"), directory)
    except UnsafePathError as exc:
        raise UnsafeIndexPathError(file, line.number, str(exc)) from None
    except ValueError as exc:
        raise IndexLineError(file, line.number, str(exc)) from None
