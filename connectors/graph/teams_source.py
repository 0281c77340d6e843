"""Reading Teams through Graph: a team's channels (or a user's chats) as conversations,
their messages oldest first with each thread's replies after its first message, the
inline images (hosted contents) and files (``teams_files``) as blobs, and everyone seen
(``teams_people``).

Every listing is read as the exact JSON Graph sent (``Session.get_json``), page by page
following the absolute ``@odata.nextLink``, so that each message keeps its untouched JSON.
Requests are built by msgraph-sdk's request builders and sent through its adapter (token,
base URL, middleware) and the session's throttling loop.

A replies listing that fails (after the session's retries) is a *gap*: that thread's
replies fail alone, the copier records it and the next pass lists the thread again.

Incremental passes (``chat_cursor``). A channel's cursor is the delta link of
``…/messages/delta`` and the time of its last full listing: a full pass lists every thread
(delta only reaches eight months back), then runs a delta round filtered on
``lastModifiedDateTime gt`` the listing's start (less ``DELTA_MARGIN``) to get a delta link
(a whole round if Graph refuses the filter); later passes read the delta round from it and
re-list the replies of every thread whose first message it reports. Graph's delta gives
first messages only, and a reply does not change its first message's lastModifiedDateTime
(only edits and reactions do), so a reply added or changed in a thread whose first message
did not change is found by the next full pass: one every ``full_pass_days`` (default 7; 0:
every pass is full, as the last pass before the source is shut down should be). A chat's
cursor is the latest ``lastModifiedDateTime`` seen: later passes list
``$filter=lastModifiedDateTime gt …&$orderby=lastModifiedDateTime desc``, as Graph
documents for chat messages. An expired delta link (410) lists the channel afresh.

Channels are those the team hosts (``/channels``), standard, private and shared, each with
its own members and its ``membershipType`` as the conversation's visibility. Shared
channels other teams host and share with this one appear in ``/allChannels`` only: they
are logged with their host team and not copied, so that no channel is archived under two
teams (and Graph reads a channel's messages only from its owner's tenant). With
``listing=export``, shared channels are still read through their own listings: Graph
documents ``getAllMessages`` for public and private channels only.

A channel's first messages are listed whole before any is given out (Graph lists them
newest first); replies are listed per thread. Inline images are fetched with their message
and so are the SharePoint or OneDrive files it links to (a blob is addressed by the sha256
of its bytes); one that cannot be fetched makes only that message fail, when the copier
asks for the blob, and is fetched again next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient

from migrate.connector import ChatSource, ListingGap
from migrate.errors import (
    AuthError,
    BadInputError,
    ConnectError,
    ItemError,
    MigrateError,
    RetryableError,
)
from migrate.model import (
    Blob,
    BlobRef,
    ChannelVisibility,
    ChatMessage,
    Conversation,
    ConversationKind,
    Identity,
    Person,
    Workspace,
)

from .session import Session, SyncStateGone
from .teams_export import ExportSpool, channel_of, chat_of
from .teams_files import FileReference, fetch_file, file_references
from .teams_json import RawItem, parse_object, parse_page
from .teams_map import chat_message, hosted_ids, member, when
from .teams_people import People

log = logging.getLogger(__name__)

#: Graph's largest page for channel and chat messages.
MESSAGE_PAGE = 50
#: Days between full listings of a channel (see ChannelCursor); ``full_pass_days=``.
FULL_PASS_DAYS = 7
#: How far before a first listing its delta round starts: changes made meanwhile come
#: again at worst (the copier tells an unchanged message by its content), never missed.
DELTA_MARGIN = timedelta(minutes=5)
#: Graph's channel membershipType; another value (unknownFutureValue) is kept as unknown.
_VISIBILITIES = {v.value: v for v in ChannelVisibility}
#: The host team in an incoming shared channel's ``@odata.id``.
_HOST_TEAM = re.compile(r"/teams/([^/]+)/channels/")
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
class ChannelCursor:
    """A channel's cursor: the delta link of its last pass, and when its last full listing
    started (replies are re-read whole then, since Graph's delta does not report them)."""

    delta_link: str
    full_pass: str  # Graph time text

    def text(self) -> str:
        return json.dumps({"delta": self.delta_link, "full": self.full_pass})

    @classmethod
    def parse(cls, text: str | None) -> ChannelCursor | None:
        """The cursor saved by an earlier pass; None if there is none or it is unreadable
        (the pass then lists the channel whole)."""
        try:
            data = json.loads(text) if text else None
            return cls(str(data["delta"]), str(data["full"])) if data else None
        except (ValueError, TypeError, KeyError):
            return None

    def full_pass_due(self, days: int) -> bool:
        started = when(self.full_pass)
        return started is None or datetime.now(UTC) - started >= timedelta(days=days)


@dataclass(frozen=True)
class _Where:
    """Where a conversation lives at Graph: a team's channel, or a chat."""

    team: str | None
    channel: str | None
    chat: str | None
    #: a shared channel: Graph's export listing documents public and private channels only,
    #: so its messages are always read through its own listing
    shared: bool = False


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

    def __init__(self, session: Session, scope: Scope,
                 full_pass_days: int = FULL_PASS_DAYS) -> None:
        self.session, self.scope = session, scope
        self.full_pass_days = full_pass_days
        self._where: dict[str, _Where] = {}
        self._blobs: dict[str, Blob] = {}
        self._unfetched: dict[str, ItemError] = {}
        self._cursors: dict[str, str | None] = {}  # conversation → cursor of its last pass
        self._gaps: dict[str, list[ListingGap]] = {}  # conversation → threads not listed
        self._top = min(session.settings.page_size, MESSAGE_PAGE)
        self._known: dict[str, Identity] = {}  # members of the conversation being read
        self._people = People(session)
        self._export: tuple[str, ExportSpool] | None = None  # (team or user, its listing)

    # --- listing -------------------------------------------------------------------------

    def _pages(self, what: str, first: Callable[[GraphServiceClient], object],
               start: str | None = None, **query) -> Iterator[RawItem]:
        """Every item of a collection, page after page (``first(client)`` is its builder;
        ``start``, a link to begin from); returns the delta link of a delta round's end."""
        link: str | None = start
        begun = start is not None
        while True:
            if not begun:
                body = self.session.get_json(what, lambda c: (b := first(c))
                                             .to_get_request_information(_query(b, **query)))
                begun = True
            else:
                body = self.session.get_json(what, lambda c, url=link: first(c).with_url(url)
                                             .to_get_request_information())
            page = parse_page(body, what)
            yield from page.items
            if page.next_link is None:
                return page.delta_link
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
        own: set[str] = set()  # the team's channels (hosted by it)
        for item in self._pages(f"listing the channels of team {team_id}",
                                lambda c: c.teams.by_team_id(team_id).channels):
            channel = item.data
            key = channel["id"]
            members = self._pages(
                f"listing the members of channel {key}",
                lambda c, k=key: c.teams.by_team_id(team_id).channels.by_channel_id(k).members)
            people = tuple(p for p in (member(m.data) for m in members) if p is not None)
            self._people.see(people)
            visibility = _VISIBILITIES.get(channel.get("membershipType"))
            self._where[key] = _Where(team_id, key, None,
                                      visibility is ChannelVisibility.SHARED)
            own.add(key)
            yield Conversation(key, ConversationKind.CHANNEL, channel.get("displayName"),
                               channel.get("description") or None, people, workspace,
                               when(channel.get("createdDateTime")), visibility)
        self._log_incoming(team_id, own)

    def _log_incoming(self, team_id: str, own: set[str]) -> None:
        """Say which shared channels another team hosts and shares with this one (in
        ``allChannels``, not in ``channels``): they are archived with their host team, so
        they are never copied twice under two teams. Only a log: a refusal is no failure."""
        try:
            listed = list(self._pages(f"listing the channels shared with team {team_id}",
                                      lambda c: c.teams.by_team_id(team_id).all_channels))
        except (ItemError, AuthError) as exc:
            log.warning("%s: the channels other teams share with team %s could not be "
                        "listed (%s); this team's own channels are copied all the same",
                        self.session.settings.display, team_id, exc)
            return
        for item in listed:
            channel = item.data
            if channel.get("id") in own:
                continue
            log.warning("%s: channel %r (%s) is shared with team %s by its host team %s "
                        "(tenant %s): it is not copied with this team; archive the host "
                        "team to keep it", self.session.settings.display,
                        channel.get("displayName"), channel.get("id"), team_id,
                        _host_team(channel), channel.get("tenantId") or "?")

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

    def chat_messages(self, conversation: Conversation,
                      cursor: str | None = None) -> Iterator[ChatMessage]:
        """Every message (no cursor), or those changed since ``cursor`` (incremental)."""
        where = self._where.get(conversation.source_id)
        if where is None:
            raise ItemError(f"{self.session.settings.display}: conversation "
                            f"{conversation.source_id} was not listed by this source")
        self._known = {m.source_id: m for m in conversation.members}
        self._cursors.pop(conversation.source_id, None)
        self._gaps[conversation.source_id] = []
        if self.scope.listing == "export" and not where.shared:  # no cursor: always whole
            listed = self._exported_messages(where)
        elif where.chat is not None:
            listed = self._chat_messages(where.chat, cursor)
        else:
            listed = self._channel_messages(where.team or "", where.channel or "", cursor)
        next_cursor = yield from listed
        self._cursors[conversation.source_id] = next_cursor

    def _chat_messages(self, chat: str, since: str | None) -> Iterator[ChatMessage]:
        """A chat's messages, or (``since``) those modified after it, through the documented
        ``$filter=lastModifiedDateTime gt`` with ``$orderby=lastModifiedDateTime desc``;
        returns the latest lastModifiedDateTime seen (the next pass's cursor)."""
        def messages(c: GraphServiceClient):
            return c.chats.by_chat_id(chat).messages

        def hosted(c: GraphServiceClient, key: str, hosted_id: str):
            return messages(c).by_chat_message_id(key).hosted_contents \
                .by_chat_message_hosted_content_id(hosted_id).content

        query: dict = {"top": self._top}
        if since is not None:
            query.update(filter=f"lastModifiedDateTime gt {since}",
                         orderby=["lastModifiedDateTime desc"])
        items = list(self._pages(f"listing the messages of chat {chat}", messages, **query))
        for item in sorted(items, key=_created):
            yield from self._message(item, chat, hosted)
        return _latest_change(items, since)

    def _channel_messages(self, team: str, channel: str,
                          cursor: str | None) -> Iterator[ChatMessage]:
        """A channel's threads: all of them (no cursor, or the last full listing is older
        than ``full_pass_days``), then a delta round from the start of the listing to get a
        delta link; or the threads the delta round from the cursor's link reports changed.
        Returns the next cursor (``ChannelCursor``)."""
        def messages(c: GraphServiceClient):
            return c.teams.by_team_id(team).channels.by_channel_id(channel).messages

        last = ChannelCursor.parse(cursor)
        if last is not None and not last.full_pass_due(self.full_pass_days):
            try:
                link = yield from self._changed_threads(messages, channel, last.delta_link)
                return ChannelCursor(link, last.full_pass).text() if link else None
            except SyncStateGone:
                log.warning("%s: the delta link of channel %s expired; listing it afresh",
                            self.session.settings.display, channel)
        started = datetime.now(UTC) - DELTA_MARGIN
        roots = list(self._pages(f"listing the messages of channel {channel}", messages,
                                 top=self._top))
        seen: dict[str, str] = {}
        for root in sorted(roots, key=_created):
            yield from self._thread(messages, channel, root)
            seen[str(root.data.get("id"))] = root.text
        try:
            link = yield from self._changed_threads(messages, channel, None,
                                                    _graph_time(started), seen)
        except ItemError as exc:  # the filter refused: a whole round (eight months) instead
            log.warning("%s: channel %s: a delta round filtered on lastModifiedDateTime was "
                        "refused (%s); reading the whole round for its delta link",
                        self.session.settings.display, channel, exc)
            link = yield from self._changed_threads(messages, channel, None, None, seen)
        return ChannelCursor(link, _graph_time(started)).text() if link else None

    def _changed_threads(self, messages: Callable, channel: str, delta_link: str | None,
                         since: str | None = None,
                         seen: dict[str, str] | None = None) -> Iterator[ChatMessage]:
        """One delta round of a channel (from ``delta_link``, or a first round filtered on
        ``lastModifiedDateTime gt since``): each first message it lists, then all its
        replies (Graph's delta lists first messages only); a thread already read (``seen``:
        id → JSON text) is not read again if its first message is the same. Returns the
        round's delta link."""
        def delta(c: GraphServiceClient):
            return messages(c).delta

        what = f"listing the changes of channel {channel}"
        query = {"top": self._top, "filter": f"lastModifiedDateTime gt {since}"} \
            if since is not None else {"top": self._top}
        listing = self._pages(what, delta, delta_link, **query)
        found: dict[str, RawItem] = {}
        while True:
            try:
                item = next(listing)
            except StopIteration as end:
                link = end.value
                break
            key = item.data.get("id")
            if "@removed" in item.data or not isinstance(key, str):
                continue  # Graph marks a deleted message with deletedDateTime, not @removed
            found[key] = item
        for item in sorted(found.values(), key=_created):
            if seen is None or seen.get(item.data["id"]) != item.text:
                yield from self._thread(messages, channel, item)
        return link

    def _thread(self, messages: Callable, channel: str, root: RawItem) -> Iterator[ChatMessage]:
        """A first message then its replies; a replies listing that fails is a gap (that
        thread's replies fail alone, the copy goes on)."""
        def hosted(c: GraphServiceClient, key: str, hosted_id: str):
            return messages(c).by_chat_message_id(key).hosted_contents \
                .by_chat_message_hosted_content_id(hosted_id).content

        yield from self._message(root, channel, hosted)
        key = root.data.get("id")
        if not key:
            return
        try:
            replies = self._list_replies(messages, key)
        except (ItemError, RetryableError, AuthError) as exc:
            log.error("%s: %s", self.session.settings.display, exc)
            self._gaps[channel].append(ListingGap(key, str(exc)))
            return
        yield from self._replies(messages, channel, key, replies)

    def chat_cursor(self, conversation: Conversation) -> str | None:
        """The delta link (channel) or latest modification time (chat) the last complete
        pass of ``conversation`` ended with."""
        return self._cursors.get(conversation.source_id)

    def gaps(self, conversation: Conversation) -> Iterator[ListingGap]:
        return iter(self._gaps.pop(conversation.source_id, []))

    def _list_replies(self, messages: Callable, root: str) -> list[RawItem]:
        """Every reply to one first message, listed whole before any is given out."""
        def replies(c: GraphServiceClient):
            return messages(c).by_chat_message_id(root).replies

        return list(self._pages(f"listing the replies to message {root}", replies,
                                top=self._top))

    def _replies(self, messages: Callable, channel: str, root: str,
                 found: list[RawItem]) -> Iterator[ChatMessage]:
        """The replies to one first message, oldest first, each naming it as root."""
        def hosted(c: GraphServiceClient, key: str, hosted_id: str):
            return messages(c).by_chat_message_id(root).replies.by_chat_message_id1(key) \
                .hosted_contents.by_chat_message_hosted_content_id(hosted_id).content

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


def _graph_time(moment: datetime) -> str:
    """A UTC instant as Graph writes it in a $filter (milliseconds, Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


def _latest_change(items: list[RawItem], since: str | None) -> str | None:
    """The latest lastModifiedDateTime among ``items`` (Graph's text), else ``since``."""
    latest, text = when(since) if since else None, since
    for item in items:
        value = item.data.get("lastModifiedDateTime")
        moment = when(value) if isinstance(value, str) else None
        if moment is not None and (latest is None or moment > latest):
            latest, text = moment, value
    return text


def _host_team(channel: dict) -> str:
    """The id of the team hosting a shared channel, from its ``@odata.id``; "?" if absent."""
    found = _HOST_TEAM.search(str(channel.get("@odata.id") or ""))
    return found.group(1) if found else "?"


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
