"""A readable, self-contained HTML transcript of one conversation, written at seal time.

Everything from the archive is escaped with ``html.escape``: a body's HTML is shown as its
text, never rendered, so a transcript cannot run a script or load anything from outside.
Replies are nested under their thread's first message. A message with several archived
versions (format §4.3) is shown in its current one, the former ones folded beneath it.
Memory: a few offsets per message.
"""

from __future__ import annotations

import html
import json
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import TextIO

from ..model import ChatMessage, ChatMessageType, Conversation
from .chatjson import conversation_from_dict
from .chatversions import Versions, message_versions, read_version
from .jsonl import MAX_CHAT_LINE, read_capped
from .layout import CHAT_MESSAGES_FILE, CONVERSATION_FILE, TRANSCRIPT_FILE, blob_path

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:56em;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.4em}.meta{color:#666}.msg{border-left:3px solid #ccd;margin:1em 0;padding:.2em .8em}
.msg header{color:#555;font-size:.9em}.body{white-space:pre-wrap;margin:.3em 0}
.replies{margin-left:1.5em}.system{color:#777;font-style:italic}.deleted{color:#a33}
ul{margin:.2em 0;padding-left:1.2em;font-size:.9em}
"""


class _Text(HTMLParser):
    """The visible text of an HTML fragment, with line breaks for block elements."""

    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def body_text(message: ChatMessage) -> str:
    """The message's text: the plain body, or the text of the HTML body."""
    if message.body_text is not None:
        return message.body_text
    if not message.body_html:
        return ""
    parser = _Text()
    parser.feed(message.body_html)
    parser.close()
    return "".join(parser.parts).strip()


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _render(out: TextIO, message: ChatMessage) -> None:
    who, system = message.author, message.message_type == ChatMessageType.SYSTEM
    author = (who.display_name or who.source_id) if who else ("system" if system else "?")
    kind = " system" if system else ""
    out.write(f'<article class="msg{kind}" id="m-{_e(message.source_id)}"><header>'
              f'<b>{_e(author)}</b> <time>{_e(message.created.isoformat())}</time>')
    if message.edited:
        out.write(f" · edited {_e(message.edited.isoformat())}")
    if message.deleted:
        out.write(f' · <span class="deleted">deleted {_e(message.deleted.isoformat())}</span>')
    out.write("</header>")
    if message.subject:
        out.write(f"<p><b>{_e(message.subject)}</b></p>")
    out.write(f'<div class="body">{_e(body_text(message))}</div>')
    if message.attachments:
        out.write("<ul>")
        for ref in message.attachments:
            href = "../../../" + blob_path(ref.sha256)
            out.write(f'<li><a href="{_e(href)}">{_e(ref.name or ref.sha256)}</a> '
                      f"({ref.size} bytes)</li>")
        out.write("</ul>")
    if message.reactions:
        items = ", ".join(f"{_e(r.key)} {_e(r.author.display_name or r.author.source_id)}"
                          for r in message.reactions)
        out.write(f"<ul><li>reactions: {items}</li></ul>")
    if message.edits:
        out.write(f"<details><summary>{len(message.edits)} earlier version(s)</summary><ul>")
        for edit in message.edits:
            text = edit.body_text if edit.body_text is not None else edit.body_html or ""
            out.write(f"<li>{_e(edit.edited.isoformat())}: {_e(text)}</li>")
        out.write("</ul></details>")


def _order(path: Path) -> tuple[list[Versions], dict[int, list[Versions]]]:
    """Top-level messages in order, and each top-level message's replies (by first line)."""
    tops: list[Versions] = []
    replies: dict[int, list[Versions]] = {}
    first_of: dict[str, Versions] = {}
    with open(path, "rb") if path.exists() else open(os.devnull, "rb") as stream:
        for versions in message_versions(path):
            try:
                message = read_version(stream, versions.offsets[0]) \
                    if versions.error is None else None
            except ValueError:
                message = None
            root = message and (message.thread_root_id or message.reply_to_id)
            if message is not None and root and root != message.source_id \
                    and root in first_of:
                replies.setdefault(first_of[root].number, []).append(versions)
                continue
            tops.append(versions)
            if message is not None:
                first_of.setdefault(message.source_id, versions)
    return tops, replies


def write_transcript(conversation_dir: Path) -> None:
    """(Re)write ``transcript.html`` in a conversation's directory."""
    try:
        data = json.loads(read_capped(conversation_dir / CONVERSATION_FILE, MAX_CHAT_LINE))
        conversation: Conversation | None = conversation_from_dict(data)
    except (OSError, ValueError):
        conversation = None
    path = conversation_dir / CHAT_MESSAGES_FILE
    title = (conversation.name or conversation.source_id) if conversation else "conversation"
    final = conversation_dir / TRANSCRIPT_FILE
    temp = conversation_dir / f".{TRANSCRIPT_FILE}.tmp"
    with open(temp, "w", encoding="utf-8", errors="replace") as out:
        _write_page(out, conversation, path, title)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, final)


def _write_page(out: TextIO, conversation: Conversation | None, path: Path, title: str) -> None:
    tops, replies = _order(path)
    out.write(f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{_e(title)}'
              f"</title><style>{_STYLE}</style></head><body><h1>{_e(title)}</h1>")
    if conversation is not None:
        details = [conversation.kind.value]
        if conversation.visibility is not None:  # "channel (private)"
            details[0] += f" ({conversation.visibility.value})"
        if conversation.workspace:
            details.append(conversation.workspace.name)
        if conversation.topic:
            details.append(conversation.topic)
        members = ", ".join(m.display_name or m.source_id for m in conversation.members)
        out.write(f'<p class="meta">{_e(" · ".join(details))}</p>')
        if members:
            out.write(f'<p class="meta">members: {_e(members)}</p>')
    with open(path, "rb") if tops else open(os.devnull, "rb") as stream:
        for versions in tops:
            _write_at(out, stream, versions)
            if versions.number in replies:
                out.write('<section class="replies">')
                for reply in replies[versions.number]:
                    _write_at(out, stream, reply)
                    out.write("</article>")
                out.write("</section>")
            out.write("</article>")
    out.write("</body></html>\n")


def _write_at(out: TextIO, stream, versions: Versions) -> None:
    """The current version of a message, and its former archived versions folded."""
    try:
        message = read_version(stream, versions.current) if versions.error is None else None
    except ValueError:
        message = None
    if message is None:
        out.write('<article class="msg system"><div class="body">[an unreadable line of '
                  f'{CHAT_MESSAGES_FILE} at byte {versions.current}]</div>')
        return
    _render(out, message)
    former = versions.offsets[:-1]
    if former:
        out.write(f"<details><summary>{len(former)} former archived version(s)</summary><ul>")
        for offset in former:
            try:
                old = read_version(stream, offset)
            except ValueError:
                continue
            when = old.deleted or old.edited or old.created
            reactions = ", ".join(r.key for r in old.reactions)
            out.write(f"<li>{_e(when.isoformat())}: {_e(body_text(old))}"
                      f"{' · reactions: ' + _e(reactions) if reactions else ''}</li>")
        out.write("</ul></details>")
