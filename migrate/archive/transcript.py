"""A readable, self-contained HTML transcript of one conversation, written at seal time.

Everything from the archive is escaped with ``html.escape``: a body's HTML is shown as its
text, never rendered, so a transcript cannot run a script or load anything from outside;
images are shown from the archive's own blobs. Replies are nested under their thread's
first message. A message with several archived versions (format §4.3) is shown in its
current one, the former ones folded beneath it. Times are shown in this machine's time
zone (each with its UTC offset; the exact instant stays in ``<time datetime>``), labels
in the operator's language (``--lang``, else the locale). Memory: a few offsets per
message.
"""

from __future__ import annotations

import html
import json
import os
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TextIO

from ..i18n import Texts, operator_language
from ..model import BlobRef, ChatMessage, ChatMessageType, Conversation
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
figure{margin:.4em 0}img{max-width:100%;max-height:30em}
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


def _when(moment: datetime) -> str:
    """A time as a reader of the archive reads it: local date and time with the UTC
    offset, the exact instant in the ``datetime`` attribute."""
    local = moment.astimezone()
    offset = local.strftime("%z")
    shown = local.strftime("%Y-%m-%d %H:%M:%S") + f" (UTC{offset[:3]}:{offset[3:]})"
    return f'<time datetime="{_e(moment.isoformat())}">{_e(shown)}</time>'


def _attachment(out: TextIO, ref: BlobRef, t: Texts) -> None:
    """A link to an attachment in the archive; an image is also shown."""
    href = _e("../../../" + blob_path(ref.sha256))
    name = _e(ref.name or ref.sha256)
    if (ref.media_type or "").startswith("image/"):
        out.write(f'<li><figure><img src="{href}" alt="{name}"></figure></li>')
    out.write(f'<li><a href="{href}">{name}</a> ({_e(t("transcript.bytes", size=ref.size))})'
              "</li>")


def _render(out: TextIO, message: ChatMessage, t: Texts) -> None:
    who, system = message.author, message.message_type == ChatMessageType.SYSTEM
    author = (who.display_name or who.source_id) if who else \
        (t("transcript.system") if system else "?")
    kind = " system" if system else ""
    out.write(f'<article class="msg{kind}" id="m-{_e(message.source_id)}"><header>'
              f"<b>{_e(author)}</b> {_when(message.created)}")
    if message.edited:
        out.write(f" · {_e(t('transcript.edited'))} {_when(message.edited)}")
    if message.deleted:
        out.write(f' · <span class="deleted">{_e(t("transcript.deleted"))} '
                  f"{_when(message.deleted)}</span>")
    out.write("</header>")
    if message.subject:
        out.write(f"<p><b>{_e(message.subject)}</b></p>")
    out.write(f'<div class="body">{_e(body_text(message))}</div>')
    if message.attachments:
        out.write("<ul>")
        for ref in message.attachments:
            _attachment(out, ref, t)
        out.write("</ul>")
    if message.reactions:
        items = ", ".join(f"{r.key} {r.author.display_name or r.author.source_id}"
                          for r in message.reactions)
        out.write(f"<ul><li>{_e(t('transcript.reactions', items=items))}</li></ul>")
    if message.edits:
        out.write(f"<details><summary>{_e(t('transcript.earlier', count=len(message.edits)))}"
                  "</summary><ul>")
        for edit in message.edits:
            text = edit.body_text if edit.body_text is not None else edit.body_html or ""
            out.write(f"<li>{_when(edit.edited)}: {_e(text)}</li>")
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
        _write_page(out, conversation, path, title, Texts(operator_language()))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, final)


def _write_page(out: TextIO, conversation: Conversation | None, path: Path, title: str,
                t: Texts) -> None:
    tops, replies = _order(path)
    out.write(f'<!DOCTYPE html>\n<html lang="{t.language}"><head><meta charset="utf-8">'
              f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
              f"<h1>{_e(title)}</h1>")
    if conversation is not None:
        details = [t(f"transcript.kind.{conversation.kind.value}")]
        if conversation.visibility is not None:  # "channel (private)"
            details[0] += f" ({t(f'transcript.visibility.{conversation.visibility.value}')})"
        if conversation.workspace:
            details.append(conversation.workspace.name)
        if conversation.topic:
            details.append(conversation.topic)
        members = ", ".join(m.display_name or m.source_id for m in conversation.members)
        out.write(f'<p class="meta">{_e(" · ".join(details))}</p>')
        if members:
            out.write(f'<p class="meta">{_e(t("transcript.members", names=members))}</p>')
    with open(path, "rb") if tops else open(os.devnull, "rb") as stream:
        for versions in tops:
            _write_at(out, stream, versions, t)
            if versions.number in replies:
                out.write('<section class="replies">')
                for reply in replies[versions.number]:
                    _write_at(out, stream, reply, t)
                    out.write("</article>")
                out.write("</section>")
            out.write("</article>")
    out.write("</body></html>\n")


def _write_at(out: TextIO, stream, versions: Versions, t: Texts) -> None:
    """The current version of a message, and its former archived versions folded."""
    try:
        message = read_version(stream, versions.current) if versions.error is None else None
    except ValueError:
        message = None
    if message is None:
        out.write('<article class="msg system"><div class="body">'
                  f'{_e(t("transcript.unreadable", file=CHAT_MESSAGES_FILE, at=versions.current))}'
                  "</div>")
        return
    _render(out, message, t)
    former = versions.offsets[:-1]
    if former:
        out.write(f"<details><summary>{_e(t('transcript.former', count=len(former)))}"
                  "</summary><ul>")
        for offset in former:
            try:
                old = read_version(stream, offset)
            except ValueError:
                continue
            when = old.deleted or old.edited or old.created
            reactions = ", ".join(r.key for r in old.reactions)
            shown = _e(t("transcript.reactions", items=reactions)) if reactions else ""
            out.write(f"<li>{_when(when)}: {_e(body_text(old))}"
                      f"{' · ' + shown if shown else ''}</li>")
        out.write("</ul></details>")
