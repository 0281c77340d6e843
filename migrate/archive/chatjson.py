"""The chat data classes as JSON objects (format v1) and back, validating types on the way in.

Date-times are ISO 8601 with their offset; tuples are lists; enums are their values; the
source's JSON (``raw``) is kept as the exact text it was, never re-serialised.
``from_dict`` functions raise ValueError with a reason on anything malformed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from ..model import (
    BlobRef,
    ChannelVisibility,
    ChatMessage,
    ChatMessageType,
    Conversation,
    ConversationKind,
    Edit,
    Identity,
    Reaction,
    Workspace,
)
from .layout import is_sha256
from .records import parse_datetime

MAX_LIST = 100_000


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _opt(data: dict, key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"'{key}' must be text or null")
    return value


def _req(data: dict, key: str) -> str:
    value = _opt(data, key)
    if value is None:
        raise ValueError(f"'{key}' is missing")
    return value


def _obj(value: object, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value


def _list(data: dict, key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise ValueError(f"'{key}' must be a list")
    return value


def _required_dt(data: dict, key: str) -> datetime:
    value = parse_datetime(data.get(key), key)
    if value is None:
        raise ValueError(f"'{key}' is missing")
    return value


def identity_to_dict(identity: Identity) -> dict:
    return {"source_id": identity.source_id, "display_name": identity.display_name,
            "email": identity.email}


def identity_from_dict(value: object) -> Identity:
    data = _obj(value, "an identity")
    return Identity(_req(data, "source_id"), _opt(data, "display_name"), _opt(data, "email"))


def workspace_to_dict(workspace: Workspace) -> dict:
    return {"source_id": workspace.source_id, "name": workspace.name,
            "description": workspace.description}


def workspace_from_dict(value: object) -> Workspace:
    data = _obj(value, "a workspace")
    return Workspace(_req(data, "source_id"), _req(data, "name"), _opt(data, "description"))


def conversation_to_dict(conversation: Conversation) -> dict:
    """The conversation record; ``visibility`` only when known, so that conversations
    without one are written exactly as before it existed."""
    workspace = conversation.workspace
    data = {
        "source_id": conversation.source_id, "kind": conversation.kind.value,
        "name": conversation.name, "topic": conversation.topic,
        "members": [identity_to_dict(m) for m in conversation.members],
        "workspace": workspace_to_dict(workspace) if workspace else None,
        "created": _dt(conversation.created),
    }
    if conversation.visibility is not None:
        data["visibility"] = conversation.visibility.value
    return data


def _visibility(data: dict) -> ChannelVisibility | None:
    """The optional ``visibility`` of a conversation record (absent in older archives)."""
    value = _opt(data, "visibility")
    try:
        return ChannelVisibility(value) if value is not None else None
    except ValueError:
        raise ValueError(f"unknown conversation visibility {value!r}") from None


def conversation_from_dict(value: object) -> Conversation:
    data = _obj(value, "a conversation")
    try:
        kind = ConversationKind(_req(data, "kind"))
    except ValueError:
        raise ValueError(f"unknown conversation kind {data.get('kind')!r}") from None
    workspace = data.get("workspace")
    return Conversation(
        source_id=_req(data, "source_id"), kind=kind, name=_opt(data, "name"),
        topic=_opt(data, "topic"),
        members=tuple(identity_from_dict(m) for m in _list(data, "members")),
        workspace=workspace_from_dict(workspace) if workspace is not None else None,
        created=parse_datetime(data.get("created"), "created"),
        visibility=_visibility(data),
    )


def blob_ref_to_dict(ref: BlobRef) -> dict:
    return {"sha256": ref.sha256, "size": ref.size, "name": ref.name,
            "media_type": ref.media_type}


def blob_ref_from_dict(value: object) -> BlobRef:
    data = _obj(value, "an attachment")
    sha256, size = data.get("sha256"), data.get("size")
    if not is_sha256(sha256):
        raise ValueError("attachment 'sha256' must be 64 lower-case hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError("attachment 'size' must be a non-negative integer")
    return BlobRef(sha256, size, _opt(data, "name"), _opt(data, "media_type"))


def chat_message_to_dict(message: ChatMessage) -> dict:
    return {
        "source_id": message.source_id, "conversation_id": message.conversation_id,
        "author": identity_to_dict(message.author) if message.author else None,
        "created": _dt(message.created), "edited": _dt(message.edited),
        "deleted": _dt(message.deleted), "message_type": message.message_type.value,
        "thread_root_id": message.thread_root_id, "reply_to_id": message.reply_to_id,
        "subject": message.subject, "body_html": message.body_html,
        "body_text": message.body_text,
        "mentions": [identity_to_dict(m) for m in message.mentions],
        "reactions": [{"author": identity_to_dict(r.author), "key": r.key,
                       "created": _dt(r.created)} for r in message.reactions],
        "edits": [{"edited": _dt(e.edited), "body_html": e.body_html,
                   "body_text": e.body_text} for e in message.edits],
        "attachments": [blob_ref_to_dict(a) for a in message.attachments],
        "raw": message.raw,
    }


def chat_fingerprint(message: ChatMessage) -> str:
    """The sha256 (hex) of a message's neutral fields and source JSON, canonically written:
    equal for the same content however often it is listed, different after any change
    (edit, reaction, deletion) whatever the source; what tells a changed message apart."""
    text = json.dumps(chat_message_to_dict(message), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def version_of(data: dict) -> int:
    """A message line's version number: ``version`` (2, 3 …) on a later version of a message
    already in the file, absent (1) on the first; ValueError if it is not a whole number."""
    value = data.get("version", 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("'version' must be a whole number from 1")
    return value


def _reaction(value: object) -> Reaction:
    data = _obj(value, "a reaction")
    return Reaction(identity_from_dict(data.get("author")), _req(data, "key"),
                    parse_datetime(data.get("created"), "created"))


def _edit(value: object) -> Edit:
    data = _obj(value, "an edit")
    return Edit(_required_dt(data, "edited"), _opt(data, "body_html"), _opt(data, "body_text"))


def chat_message_from_dict(value: object) -> ChatMessage:
    data = _obj(value, "a chat message")
    author = data.get("author")
    try:
        message_type = ChatMessageType(data.get("message_type", "message"))
    except ValueError:
        raise ValueError(f"unknown message type {data.get('message_type')!r}") from None
    return ChatMessage(
        source_id=_req(data, "source_id"), conversation_id=_req(data, "conversation_id"),
        author=identity_from_dict(author) if author is not None else None,
        created=_required_dt(data, "created"),
        body_html=_opt(data, "body_html"), body_text=_opt(data, "body_text"),
        thread_root_id=_opt(data, "thread_root_id"), reply_to_id=_opt(data, "reply_to_id"),
        edited=parse_datetime(data.get("edited"), "edited"),
        deleted=parse_datetime(data.get("deleted"), "deleted"),
        subject=_opt(data, "subject"), message_type=message_type,
        mentions=tuple(identity_from_dict(m) for m in _list(data, "mentions")),
        reactions=tuple(_reaction(r) for r in _list(data, "reactions")),
        edits=tuple(_edit(e) for e in _list(data, "edits")),
        attachments=tuple(blob_ref_from_dict(a) for a in _list(data, "attachments")),
        raw=_opt(data, "raw"),
    )
