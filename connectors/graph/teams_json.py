"""Graph collection pages read as exact text: each item of ``value`` keeps the JSON text
Graph sent for it (a chat message's untouched source JSON), beside its parsed form."""

from __future__ import annotations

import json
from dataclasses import dataclass

from migrate.errors import BadInputError

_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"


@dataclass(frozen=True)
class RawItem:
    """One item of a page: its parsed JSON and the exact text it was parsed from."""

    data: dict
    text: str


@dataclass(frozen=True)
class Page:
    """One page of a Graph collection: its items and the link to the next page, if any."""

    items: list[RawItem]
    next_link: str | None
    delta_link: str | None = None  # the last page of a delta round: where the next starts


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SPACE:
        at += 1
    return at


def _expect(text: str, at: int, char: str, what: str) -> int:
    at = _skip(text, at)
    if at >= len(text) or text[at] != char:
        raise BadInputError(f"{what}: Graph answered JSON that is not a collection page")
    return at + 1


def _items(text: str, at: int, what: str) -> tuple[list[RawItem], int]:
    """The elements of the array starting at ``at``, each with its exact text."""
    at = _expect(text, at, "[", what)
    items: list[RawItem] = []
    at = _skip(text, at)
    if at < len(text) and text[at] == "]":
        return items, at + 1
    while True:
        at = _skip(text, at)
        data, end = _DECODER.raw_decode(text, at)
        if isinstance(data, dict):
            items.append(RawItem(data, text[at:end]))
        at = _skip(text, end)
        if at < len(text) and text[at] == "]":
            return items, at + 1
        at = _expect(text, at, ",", what)


def parse_page(body: bytes, what: str) -> Page:
    """Split a collection page (``{"value": [...], "@odata.nextLink": ...}``, or a delta
    page ending with ``@odata.deltaLink``) into items."""
    try:
        text = body.decode("utf-8")
        at = _expect(text, 0, "{", what)
        items: list[RawItem] = []
        next_link = delta_link = None
        while True:
            at = _skip(text, at)
            if at < len(text) and text[at] == "}":
                return Page(items, next_link, delta_link)
            key, at = _DECODER.raw_decode(text, at)
            at = _expect(text, at, ":", what)
            if key == "value":
                items, at = _items(text, at, what)
            else:
                value, at = _DECODER.raw_decode(text, _skip(text, at))
                if key == "@odata.nextLink" and isinstance(value, str):
                    next_link = value
                elif key == "@odata.deltaLink" and isinstance(value, str):
                    delta_link = value
            at = _skip(text, at)
            if at < len(text) and text[at] == ",":
                at += 1
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInputError(f"{what}: Graph answered JSON that cannot be read: {exc}") from None


def parse_object(body: bytes, what: str) -> dict:
    """A single Graph entity (a team, a chat) as parsed JSON."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadInputError(f"{what}: Graph answered JSON that cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise BadInputError(f"{what}: Graph answered JSON that is not an object")
    return data
