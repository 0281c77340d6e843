"""Reading Teams through Graph: a team's channels (or a user's chats) as conversations,
their messages oldest first with each thread's replies after its first message, the
inline images (hosted contents) and files (``teams_files``) as blobs, and everyone seen
(``teams_people``).

Every listing is read as the exact JSON Graph sent (``Session.get_json``), page by page
following the absolute ``@odata.nextLink``, so that each message keeps its untouched JSON.
Requests are built by msgraph-sdk's request builders and sent through its adapter (token,
base URL, middleware) and the session's throttling loop.

A channel's first messages are listed whole before any is given out (Graph lists them
newest first); replies are listed per thread. Inline images are fetched with their message
and so are the SharePoint or OneDrive files it links to (a blob is addressed by the sha256
of its bytes); one that cannot be fetched makes only that message fail, when the copier
asks for the blob, and is fetched again next run.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient

from migrate.connector import ChatSource
from migrate.errors import BadInputError, ConnectError, ItemError, MigrateError
from migrate.model import (
    Blob,
    BlobRef,
    ChatMessage,
    Conversation,
    ConversationKind,
    Identity,
    Person,
    Workspace,
)

from .session import Session
from .teams_export import ExportSpool, channel_of, chat_of
from .teams_files import FileReference, fetch_file, file_references
from .teams_json import RawItem, parse_object, parse_page
from .teams_map import chat_message, hosted_ids, member, when
from .teams_people import People

log = logging.getLogger(__name__)

#: Graph's largest page for channel and chat messages.
MESSAGE_PAGE = 50
_CHAT_KINDS = {"oneOnOne": ConversationKind.DIRECT_CHAT, "group": ConversationKind.GROUP_CHAT,
               "meeting": ConversationKind.GROUP_CHAT}


@dataclass(frozen=True)
class Scope:
    """What a ``teams://`` endpoint reads: one team, every team, or one user's chats."""

    team: str | None = None  # a team id, or "*" for every team
    user: str | None = None
    #: "export": messages come from the getAllMessages export APIs (``teams_export``)
    listing: str = "standard"
    model: str | None = None  # the export APIs' payment model (A or B); None: evaluation


@dataclass(frozen=True)
class _Where:
    """Where a conversation lives at Graph: a team's channel, or a chat."""

    team: str | None
    channel: str | None
    chat: str | None


def _query(builder, **values) -> RequestConfiguration:
    """A GET configuration with the builder's own query parameter class (``top`` → $top)."""
    kind = next(v for k, v in vars(type(builder)).items() if k.endswith("GetQueryParameters"))
    return RequestConfiguration(query_parameters=kind(**values))


def _sniff(data: bytes) -> str | None:
    """The media type of an inline image, from its first bytes."""
    for magic, media in ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                         (b"GIF8", "image/gif"), (b"RIFF", "image/webp")):
        if data.startswith(magic):
            return media
    return None


class TeamsSource(ChatSource):
    """Channels or chats of one ``teams://`` endpoint (see the module docstring)."""

    def __init__(self, session: Session, scope: Scope) -> None:
        self.session, self.scope = session, scope
        self._where: dict[str, _Where] = {}
        self._blobs: dict[str, Blob] = {}
        self._unfetched: dict[str, ItemError] = {}
        self._top = min(session.settings.page_size, MESSAGE_PAGE)
        self._known: dict[str, Identity] = {}  # members of the conversation being read
        self._people = People(session)
        self._export: tuple[str, ExportSpool] | None = None  # (team or user, its listing)

    # --- listing -------------------------------------------------------------------------

    def _pages(self, what: str, first: Callable[[GraphServiceClient], object],
               **query) -> Iterator[RawItem]:
        """Every item of a collection, page after page (``first(client)`` is its builder)."""
        link: str | None = None
        while True:
            if link is None:
                body = self.session.get_json(what, lambda c: (b := first(c))
                                             .to_get_request_information(_query(b, **query)))
            else:
                body = self.session.get_json(what, lambda c, url=link: first(c).with_url(url)
                                             .to_get_request_information())
            page = parse_page(body, what)
            yield from page.items
            if page.next_link is None:
                return
            link = page.next_link

    def conversations(self) -> Iterator[Conversation]:
        if self.scope.user is not None:
            yield from self._chats(self.scope.user)
            return
        teams = [self.scope.team] if self.scope.team != "*" else \
            [t.data["id"] for t in self._pages("listing teams", lambda c: c.teams)]
        for team in teams:
            yield from self._channels(team)

    def _channels(self, team_id: str) -> Iterator[Conversation]:
        team = parse_object(self.session.get_json(
            f"reading team {team_id}",
            lambda c: c.teams.by_team_id(team_id).to_get_request_information()),
            f"team {team_id}")
        workspace = Workspace(team_id, team.get("displayName") or team_id,
                              team.get("description") or None)
        for item in self._pages(f"listing the channels of team {team_id}",
                                lambda c: c.teams.by_team_id(team_id).channels):
            channel = item.data
            key = channel["id"]
            members = self._pages(
                f"listing the members of channel {key}",
                lambda c, k=key: c.teams.by_team_id(team_id).channels.by_channel_id(k).members)
            people = tuple(p for p in (member(m.data) for m in members) if p is not None)
            self._people.see(people)
            self._where[key] = _Where(team_id, key, None)
            yield Conversation(key, ConversationKind.CHANNEL, channel.get("displayName"),
                               channel.get("description") or None, people, workspace,
                               when(channel.get("createdDateTime")))

    def _chats(self, user: str) -> Iterator[Conversation]:
        for item in self._pages(f"listing the chats of {user}",
                                lambda c: c.users.by_user_id(user).chats, expand=["members"]):
            chat = item.data
            key = chat["id"]
            people = tuple(p for p in (member(m) for m in chat.get("members") or ()
                                       if isinstance(m, dict)) if p is not None)
            self._people.see(people)
            self._where[key] = _Where(None, None, key)
            kind = _CHAT_KINDS.get(chat.get("chatType", ""), ConversationKind.GROUP_CHAT)
            yield Conversation(key, kind, chat.get("topic") or None, None, people, None,
                               when(chat.get("createdDateTime")))

    # --- messages ------------------------------------------------------------------------

    def chat_messages(self, conversation: Conversation) -> Iterator[ChatMessage]:
        where = self._where.get(conversation.source_id)
        if where is None:
            raise ItemError(f"{self.session.settings.display}: conversation "
                            f"{conversation.source_id} was not listed by this source")
        self._known = {m.source_id: m for m in conversation.members}
        if self.scope.listing == "export":
            yield from self._exported_messages(where)
        elif where.chat is not None:
            yield from self._chat_messages(where.chat)
        else:
            yield from self._channel_messages(where.team or "", where.channel or "")

    def _chat_messages(self, chat: str) -> Iterator[ChatMessage]:
        def messages(c: GraphServiceClient):
            return c.chats.by_chat_id(chat).messages

        def hosted(c: GraphServiceClient, key: str, hosted_id: str):
            return messages(c).by_chat_message_id(key).hosted_contents \
                .by_chat_message_hosted_content_id(hosted_id).content

        items = list(self._pages(f"listing the messages of chat {chat}", messages,
                                 top=self._top))
        for item in sorted(items, key=_created):
            yield from self._message(item, chat, hosted)

    def _channel_messages(self, team: str, channel: str) -> Iterator[ChatMessage]:
        def messages(c: GraphServiceClient):
            return c.teams.by_team_id(team).channels.by_channel_id(channel).messages

        def hosted(c: GraphServiceClient, key: str, hosted_id: str):
            return messages(c).by_chat_message_id(key).hosted_contents \
                .by_chat_message_hosted_content_id(hosted_id).content

        roots = list(self._pages(f"listing the messages of channel {channel}", messages,
                                 top=self._top))
        for root in sorted(roots, key=_created):
            yield from self._message(root, channel, hosted)
            if root.data.get("id"):
                yield from self._replies(messages, channel, root.data["id"])

    def _replies(self, messages: Callable, channel: str, root: str) -> Iterator[ChatMessage]:
        """The replies to one first message, oldest first, each naming it as root."""
        def replies(c: GraphServiceClient):
            return messages(c).by_chat_message_id(root).replies

        def hosted(c: GraphServiceClient, key: str, hosted_id: str):
            return replies(c).by_chat_message_id1(key).hosted_contents \
                .by_chat_message_hosted_content_id(hosted_id).content

        found = list(self._pages(f"listing the replies to message {root}", replies,
                                 top=self._top))
        for reply in sorted(found, key=_created):
            yield from self._message(reply, channel, hosted, root)

    def _message(self, item: RawItem, conversation_id: str, hosted: Callable,
                 root: str | None = None) -> Iterator[ChatMessage]:
        """The neutral message, its inline images fetched; an unreadable one is logged."""
        self._blobs.clear()
        self._unfetched.clear()
        key = item.data.get("id", "")
        refs = tuple(self._fetch(key, h, hosted) for h in hosted_ids(item.data)) if key else ()
        refs += tuple(self._fetch_file(key, f) for f in file_references(item.data)) \
            if key else ()
        try:
            found = chat_message(item, conversation_id, refs, root, self._known)
        except BadInputError as exc:
            log.error("%s: %s", self.session.settings.display, exc)
            return
        self._people.see((found.author, *found.mentions, *(r.author for r in found.reactions)))
        yield found

    def _fetch(self, message: str, hosted_id: str, hosted: Callable) -> BlobRef:
        """Download one hosted content; a failure gives a ref whose blob() raises it."""
        what = f"fetching inline image {hosted_id} of message {message}"

        def download() -> Blob:
            content = self.session.download(
                what, lambda c: hosted(c, message, hosted_id).to_get_request_information())
            return Blob(content, hosted_id, _sniff(content.head(16)))

        return self._keep(f"{message}:{hosted_id}", hosted_id, download)

    def _fetch_file(self, message: str, reference: FileReference) -> BlobRef:
        """Download one SharePoint or OneDrive file a message links to (``teams_files``)."""
        return self._keep(f"{message}:{reference.url}", reference.name,
                          lambda: fetch_file(self.session, reference, message))

    def _keep(self, key: str, name: str | None, fetch: Callable[[], Blob]) -> BlobRef:
        """The ref of a fetched blob, held until the next message; when it cannot be
        fetched, a ref whose ``blob()`` raises why, so that only this message fails."""
        try:
            blob = fetch()
        except ConnectError:
            raise
        except MigrateError as exc:  # gone, refused, or still throttled after every wait
            marker = hashlib.sha256(f"unfetched:{key}".encode()).hexdigest()
            self._unfetched[marker] = exc if isinstance(exc, ItemError) else ItemError(str(exc))
            return BlobRef(marker, 0, name)
        self._blobs[blob.content.sha256] = blob
        return blob.ref

    # --- the export listings (getAllMessages) ---------------------------------------------

    def _exported_messages(self, where: _Where) -> Iterator[ChatMessage]:
        """A conversation's messages from its team's (or user's) export listing, in the
        order the per-conversation listings give (``teams_export``)."""
        if where.chat is not None:
            spool = self._spool(self.scope.user or "", chat_of, lambda c, u: c.users
                                .by_user_id(u).chats.get_all_messages)
            hosted = _chat_hosted(where.chat)
            for item in spool.chat_messages(where.chat):
                yield from self._message(item, where.chat, hosted)
            return
        team, channel = where.team or "", where.channel or ""
        spool = self._spool(team, channel_of, lambda c, t: c.teams.by_team_id(t).channels
                            .get_all_messages)
        for item, root in spool.thread_messages(channel):
            yield from self._message(item, channel, _channel_hosted(team, channel, root), root)

    def _spool(self, owner: str, conversation_of: Callable[[dict], str | None],
               listing: Callable[[GraphServiceClient, str], object]) -> ExportSpool:
        """The export listing of one team or user, read once (the previous one released)."""
        if self._export is not None and self._export[0] == owner:
            return self._export[1]
        self._close_export()
        what = f"exporting the messages of {owner} (getAllMessages)"
        query = {"top": self._top, **({"model": self.scope.model} if self.scope.model else {})}
        items = self._pages(what, lambda c: listing(c, owner), **query)
        self._export = (owner, ExportSpool(items, conversation_of, what))
        return self._export[1]

    def _close_export(self) -> None:
        if self._export is not None:
            self._export[1].close()
            self._export = None

    def blob(self, ref: BlobRef) -> Blob:
        if ref.sha256 in self._unfetched:
            raise self._unfetched[ref.sha256]
        found = self._blobs.get(ref.sha256)
        if found is None:
            raise ItemError(f"{self.session.settings.display}: blob {ref.sha256} is not one "
                            "of the current message's inline images or files")
        return found

    def people(self) -> Iterator[Person]:
        return self._people.people()

    def close(self) -> None:
        self._close_export()
        self.session.close()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _created(item: RawItem) -> tuple[datetime, str]:
    """Sort key: creation time (parsed: Graph's fractions of a second vary), then id."""
    return (when(item.data.get("createdDateTime")) or _EPOCH, str(item.data.get("id", "")))


def _channel_hosted(team: str, channel: str, root: str | None) -> Callable:
    """How to reach the inline images of a channel message (``root``: of a reply)."""
    def hosted(c: GraphServiceClient, key: str, hosted_id: str):
        messages = c.teams.by_team_id(team).channels.by_channel_id(channel).messages
        item = messages.by_chat_message_id(key) if root is None else \
            messages.by_chat_message_id(root).replies.by_chat_message_id1(key)
        return item.hosted_contents.by_chat_message_hosted_content_id(hosted_id).content
    return hosted


def _chat_hosted(chat: str) -> Callable:
    """How to reach the inline images of a chat message."""
    def hosted(c: GraphServiceClient, key: str, hosted_id: str):
        return c.chats.by_chat_id(chat).messages.by_chat_message_id(key).hosted_contents \
            .by_chat_message_hosted_content_id(hosted_id).content
    return hosted
