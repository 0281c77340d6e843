"""A Graph ``chatMessage`` (JSON) as the neutral ``ChatMessage``; the JSON text is kept
untouched in ``raw``, so what has no neutral field (importance, eventDetail, file
attachments by reference, policy violations …) is not lost."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser

from migrate.errors import BadInputError
from migrate.model import BlobRef, ChatMessage, ChatMessageType, Identity, Reaction

from .teams_json import RawItem

#: An inline image in a message body: ``…/hostedContents/{id}/$value``.
HOSTED = re.compile(r"/hostedContents/([^/\"'\s]+)/\$value")
_SYSTEM_TYPES = frozenset({"systemEventMessage", "chatEvent"})


class _Text(HTMLParser):
    """The visible text of an HTML body, with a line break for each block element."""

    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self._BREAKS and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(html: str) -> str:
    """A plain-text version of an HTML body (tags dropped, entities decoded)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts).strip()


def when(value: object) -> datetime | None:
    """A Graph timestamp (``2024-03-01T09:00:00.123Z``) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


#: Members of the conversation by source id: names Graph leaves out (reactions) come from them.
Known = Mapping[str, Identity]


def identity(identity_set: object, known: Known | None = None) -> Identity | None:
    """The person (or app, or device) of a Graph identitySet, keyed ``aad:``/``app:``;
    without a display name, the conversation member of that id if there is one."""
    if not isinstance(identity_set, dict):
        return None
    for key, prefix in (("user", "aad"), ("application", "app"), ("device", "device")):
        who = identity_set.get(key)
        if isinstance(who, dict) and who.get("id"):
            found = Identity(f"{prefix}:{who['id']}", who.get("displayName"))
            if found.display_name is None and known and found.source_id in known:
                return known[found.source_id]
            return found
    return None


def member(data: dict) -> Identity | None:
    """A conversationMember (aadUserConversationMember) as an Identity with its e-mail."""
    user_id = data.get("userId")
    if not user_id:
        return None
    return Identity(f"aad:{user_id}", data.get("displayName"), data.get("email"))


def hosted_ids(message: dict) -> list[str]:
    """The ids of the hosted contents (inline images) a message body shows, in order."""
    body = message.get("body") or {}
    found = HOSTED.findall(body.get("content") or "")
    return list(dict.fromkeys(found))


def _mentions(message: dict, known: Known) -> tuple[Identity, ...]:
    people = (identity(m.get("mentioned"), known) for m in message.get("mentions") or ()
              if isinstance(m, dict))
    return tuple(p for p in people if p is not None)


def _reactions(message: dict, known: Known) -> tuple[Reaction, ...]:
    found = []
    for reaction in message.get("reactions") or ():
        if not isinstance(reaction, dict):
            continue
        who = identity(reaction.get("user"), known)
        key = reaction.get("reactionType") or reaction.get("displayName")
        if who is not None and key:
            found.append(Reaction(who, key, when(reaction.get("createdDateTime"))))
    return tuple(found)


def _event_text(message: dict) -> str:
    """A short description of a system event (``members added``) from its eventDetail."""
    detail = message.get("eventDetail") or {}
    kind = str(detail.get("@odata.type", "")).rsplit(".", 1)[-1]
    kind = kind.removesuffix("EventMessageDetail") or "system event"
    return re.sub(r"(?<!^)([A-Z])", lambda m: " " + m.group(1).lower(), kind)


def chat_message(item: RawItem, conversation_id: str, attachments: tuple[BlobRef, ...] = (),
                 thread_root: str | None = None, known: Known | None = None) -> ChatMessage:
    """Map one chatMessage; a reply names its thread's first message as root and parent;
    ``known`` are the conversation's members."""
    data, known = item.data, known or {}
    key, created = data.get("id"), when(data.get("createdDateTime"))
    if not key or created is None:
        raise BadInputError(f"chat message {key or '(no id)'} in {conversation_id}: "
                            "no id or no createdDateTime")
    system = data.get("messageType") in _SYSTEM_TYPES
    body = data.get("body") or {}
    content = body.get("content") or None
    html = content if content and body.get("contentType") == "html" else None
    text = html_text(html) if html else content
    if system and (not text or text == "<systemEventMessage/>"):
        html, text = None, _event_text(data)
    root = thread_root or data.get("replyToId") or None
    return ChatMessage(
        source_id=key, conversation_id=conversation_id, author=identity(data.get("from"), known),
        created=created, body_html=html, body_text=text or None,
        thread_root_id=root if root and root != key else None,
        reply_to_id=root if root and root != key else None,
        edited=when(data.get("lastEditedDateTime")), deleted=when(data.get("deletedDateTime")),
        subject=data.get("subject") or None,
        message_type=ChatMessageType.SYSTEM if system else ChatMessageType.MESSAGE,
        mentions=_mentions(data, known), reactions=_reactions(data, known), attachments=attachments,
        raw=item.text)
