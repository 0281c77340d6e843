"""Matrix event contents for the neutral chat model: a message's text and HTML (Teams
mentions as Matrix pills, ``m.mentions``), attachments as ``m.image``/``m.file``, reactions
as ``m.annotation``, later versions as ``m.replace``.

Every event the tool sends carries ``SOURCE_KEY``: the source message's id and which part of
it the event is (``message``, ``attachment:N``, ``reaction:…``, ``version:…``,
``redaction``). That is how a rerun finds what a dead run sent (``RoomIndex``) and how the
Matrix source reads the original ids back.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from migrate.model import BlobRef, ChatMessage, ChatMessageType

SOURCE_KEY = "de.sovereign-migrate.source"
#: In a room's creation content: the source conversation it stands for, and its kind.
CONVERSATION_KEY = "de.sovereign-migrate.conversation"
MESSAGE_PART = "message"
REDACTION_PART = "redaction"

#: Teams reaction names as the emoji Matrix clients show (others are kept as they are).
_REACTION_EMOJI = {"like": "👍", "heart": "❤️", "laugh": "😆", "surprised": "😮",
                   "sad": "😢", "angry": "😡"}
_AT = re.compile(r'<at\s+id="(\d+)"\s*>(.*?)</at>', re.S | re.I)
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _BLOCK and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(body_html: str) -> str:
    """The readable text of an HTML body (for ``body``, which every client shows)."""
    parser = _Text()
    parser.feed(body_html)
    parser.close()
    return "".join(parser.parts).strip()


def reaction_key(key: str) -> str:
    return _REACTION_EMOJI.get(key, key)


def part_hash(*texts: str | None) -> str:
    return hashlib.sha256("\x00".join(t or "" for t in texts).encode()).hexdigest()[:16]


def source_marker(message_id: str, part: str, carried: dict | None = None) -> dict:
    """The ``SOURCE_KEY`` field of an event: which message and part it is, and what of the
    source the event itself cannot say (``carried``), for reading the room back."""
    return {SOURCE_KEY: {"id": message_id, "part": part, **(carried or {})}}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def carried_fields(message: ChatMessage, body_html: str | None,
                   body_text: str | None) -> dict:
    """What a message's event carries of the source beside what Matrix shows: the body as
    the source wrote it (Matrix shows it converted: pills, no remote images), the subject,
    the kind, and the edit times (Matrix dates only the edits it holds)."""
    return {"html": body_html, "text": body_text, "subject": message.subject,
            "type": str(message.message_type), "edited": _iso(message.edited),
            "edits_at": [_iso(edit.edited) for edit in message.edits]}


def _pill(user_id: str, name: str) -> str:
    return f'<a href="https://matrix.to/#/{html.escape(user_id)}">{name}</a>'


def body_content(message: ChatMessage, body_html: str | None, body_text: str | None,
                 user_of: dict[str, str]) -> dict:
    """The ``m.room.message`` content of one version of a message's body; ``user_of`` maps
    source ids of mentioned people to their Matrix user ids."""
    mentioned = [user_of[m.source_id] for m in message.mentions if m.source_id in user_of]
    formatted = None
    if body_html:
        def pill(match: re.Match) -> str:
            index = int(match.group(1))
            if index < len(message.mentions) and message.mentions[index].source_id in user_of:
                return _pill(user_of[message.mentions[index].source_id], match.group(2))
            return match.group(2)
        formatted = _IMG.sub("", _AT.sub(pill, body_html)).strip()
    text = body_text if body_text is not None else html_to_text(formatted or "")
    system = message.message_type == ChatMessageType.SYSTEM
    content: dict = {"msgtype": "m.notice" if system else "m.text",
                     "body": text or ("(system event)" if system else "")}
    if formatted and formatted != html.escape(text):
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = formatted
    content["m.mentions"] = {"user_ids": sorted(set(mentioned))} if mentioned else {}
    return content


def attachment_content(ref: BlobRef, mxc: str) -> dict:
    """An ``m.image`` (for an image) or ``m.file`` event pointing at uploaded media."""
    image = (ref.media_type or "").startswith("image/")
    info = {"size": ref.size}
    if ref.media_type:
        info["mimetype"] = ref.media_type
    return {"msgtype": "m.image" if image else "m.file",
            "body": ref.name or ("image" if image else "file"), "url": mxc, "info": info}


def signed(content: dict, author: str, when: datetime) -> dict:
    """Bot mode: the content with its author and original time written first (the sender
    and the event's date are the migration account's and the import's)."""
    utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    stamp = utc.strftime("%Y-%m-%d %H:%M UTC")
    html_body = content.get("formatted_body") or html.escape(content["body"])
    return {**content, "body": f"{author} · {stamp}\n{content['body']}",
            "format": "org.matrix.custom.html",
            "formatted_body": f"<p><b>{html.escape(author)}</b> · {stamp}</p>{html_body}"}
