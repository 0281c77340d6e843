"""Teams connector parts on their own: collection pages split into items whose exact JSON
text is kept, chatMessage mapping details, and the endpoint forms."""

from __future__ import annotations

import json

import pytest

from connectors.graph.teams import scope_of
from connectors.graph.teams_json import RawItem, parse_page
from connectors.graph.teams_map import chat_message, html_text
from connectors.graph.teams_source import Scope
from migrate.endpoint import parse_endpoint
from migrate.errors import BadInputError, ConfigError


def test_items_keep_their_exact_text_whatever_the_layout() -> None:
    first = '{ "id" : "1", "body": {"content": "a ] } , [ \\" é \\u00e9"}, "n": 1.50 }'
    second = '{"id":"2","reactions":[]}'
    body = ('{"@odata.nextLink": "https://x/next?$skiptoken=2", "value" : [\n '
            f'{first} ,{second}\n], "@odata.count": 2}}').encode()
    page = parse_page(body, "listing")
    assert [item.text for item in page.items] == [first, second]
    assert page.items[0].data == json.loads(first)
    assert page.next_link == "https://x/next?$skiptoken=2"
    assert parse_page(b'{"value": []}', "listing").items == []


def test_an_unreadable_page_is_a_bad_input_naming_what_was_read() -> None:
    with pytest.raises(BadInputError, match="listing replies"):
        parse_page(b'{"value": [{"id": "1"', "listing replies")
    with pytest.raises(BadInputError, match="not a collection page"):
        parse_page(b'[1, 2]', "listing replies")


def test_html_bodies_get_a_plain_text_version() -> None:
    assert html_text("<p>Bonjour&nbsp;<b>à</b> tous</p><div>2<br>3</div>") == \
        "Bonjour\xa0à tous\n2\n3"


def test_a_message_without_creation_time_is_refused_clearly() -> None:
    with pytest.raises(BadInputError, match=r"m1 in 19:c.*createdDateTime"):
        chat_message(RawItem({"id": "m1"}, '{"id": "m1"}'), "19:c")


@pytest.mark.parametrize(("url", "scope"), [
    ("teams://t.onmicrosoft.com/team-1", Scope(team="team-1")),
    ("teams://t.onmicrosoft.com/*", Scope(team="*")),
    ("teams://t.onmicrosoft.com/?user=agent@t.fr", Scope(user="agent@t.fr")),
])
def test_endpoint_forms(url, scope) -> None:
    assert scope_of(parse_endpoint(url)) == scope


@pytest.mark.parametrize("url", ["teams://t.onmicrosoft.com", "teams://t/a/b",
                                 "teams://t/team-1?user=x"])
def test_wrong_endpoints_are_config_errors(url) -> None:
    with pytest.raises(ConfigError, match="expected teams://TENANT/TEAM_ID"):
        scope_of(parse_endpoint(url))
