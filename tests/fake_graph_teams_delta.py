"""Incremental listings for the fake Teams (tests/fake_graph_teams.py), as Graph documents
them: ``/teams/{t}/channels/{c}/messages/delta`` (first messages only, newest first; pages
of ``$top`` with an absolute ``@odata.nextLink`` carrying a ``$skiptoken``, the last page
an ``@odata.deltaLink`` carrying a ``$deltatoken``; a first round may be filtered by
``$filter=lastModifiedDateTime gt …``; a round from a delta token lists the first messages
that changed since; a reply's change does not count, as Graph documents lastModifiedDateTime:
edits and reactions only) and ``$filter=lastModifiedDateTime gt …`` on chat messages,
which Graph accepts only with ``$orderby=lastModifiedDateTime desc``.

What makes a first message "changed" is ``FakeTeams.changed``, kept by the change helpers
(``edit``, ``react``, ``delete``, ``add_reply``). With ``server.expire_deltas`` a delta
token is answered 410, as Graph does when its sync state expired; with
``FakeTeams.delta_filter`` off, a filtered first round is refused (400). Counters:
``channel delta:initial``, ``channel delta:next``, ``channel delta:token``, ``chat
messages:filtered``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from fake_graph import FakeGraph, Request, _error, _json, _token, _untoken, route
from fake_graph_teams import _channel, _data, _not_found, _protected

_FILTER = re.compile(r"lastModifiedDateTime gt (\S+)")


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _since(request: Request) -> datetime | tuple[int, bytes, dict] | None:
    """The instant of ``$filter=lastModifiedDateTime gt …``, None without a filter, or the
    400 Graph answers for any other filter."""
    text = request.query.get("$filter")
    if text is None:
        return None
    found = _FILTER.fullmatch(text.strip())
    if found is None:
        return _error(400, "BadRequest", f"Unsupported filter: {text}")
    try:
        return _instant(found.group(1))
    except ValueError:
        return _error(400, "BadRequest", f"Invalid date-time in filter: {text}")


def _after(items: list[dict], since: datetime) -> list[dict]:
    return [m for m in items if _instant(m["lastModifiedDateTime"]) > since]


def modified_since(server: FakeGraph, request: Request, newest_first: list[dict]):
    """A chat's messages modified after the ``$filter`` instant, newest first, paged with
    a nextLink that keeps the filter."""
    since = _since(request)
    if isinstance(since, tuple):
        return since
    if request.query.get("$orderby", "").strip() != "lastModifiedDateTime desc":
        return _error(400, "BadRequest", "$filter on lastModifiedDateTime requires "
                      "$orderby=lastModifiedDateTime desc")
    server.requests["chat messages:filtered"] += 1
    items = _after(newest_first, since) if since is not None else newest_first
    top = int(request.query.get("$top", 20))
    skip = int(request.query.get("$skiptoken", 0))
    page: dict = {"@odata.context": f"{server.url}/$metadata#chatMessages",
                  "value": items[skip:skip + top]}
    if skip + top < len(items):
        page["@odata.nextLink"] = (
            f"{server.url}{request.path}?$top={top}&$skiptoken={skip + top}"
            f"&$filter={quote(request.query['$filter'])}"
            f"&$orderby={quote('lastModifiedDateTime desc')}")
    return _json(page)


@route(r"/teams/([^/]+)/channels/([^/]+)/messages/delta(?:\(\))?")
def _channel_delta(server: FakeGraph, request: Request, match):
    channel = _channel(server, match.group(1), match.group(2))
    if channel is None:
        return _not_found("channel")
    if (refused := _protected(server)) is not None:
        return refused
    teams = _data(server)
    if "$skiptoken" in request.query:
        state = _untoken(request.query["$skiptoken"])
        server.requests["channel delta:next"] += 1
    elif "$deltatoken" in request.query:
        if server.expire_deltas:
            server.requests["410"] += 1
            return _error(410, "SyncStateNotFound", "The sync state has expired.")
        server.requests["channel delta:token"] += 1
        state = {"since": int(request.query["$deltatoken"]), "until": teams.seq, "at": 0,
                 "top": int(request.query.get("$top", 20))}
    else:
        since = _since(request)
        if isinstance(since, tuple):
            return since
        if since is not None and not teams.delta_filter:
            server.requests["400"] += 1
            return _error(400, "BadRequest", "$filter is not supported on this delta query.")
        server.requests["channel delta:initial"] += 1
        state = {"since": -1, "until": teams.seq, "at": 0, "top": int(
            request.query.get("$top", 20)), "after": since.isoformat() if since else None}
    roots = sorted(channel.messages, key=lambda m: m["lastModifiedDateTime"], reverse=True)
    if state["since"] < 0:
        after = state.get("after")
        entries = _after(roots, _instant(after)) if after else roots
    else:
        entries = [m for m in roots
                   if state["since"] < teams.changed.get(m["id"], 0) <= state["until"]]
    at, top = state["at"], state["top"]
    link = f"{server.url}{unquote(request.path)}"
    page: dict = {"@odata.context": f"{server.url}/$metadata#Collection(chatMessage)",
                  "value": entries[at:at + top]}
    if at + top < len(entries):
        page["@odata.nextLink"] = f"{link}?$skiptoken={_token({**state, 'at': at + top})}"
    else:
        page["@odata.deltaLink"] = f"{link}?$deltatoken={state['until']}"
    return _json(page)
