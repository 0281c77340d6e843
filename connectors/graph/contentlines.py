"""A small, lenient reader of iCalendar (RFC 5545) and vCard (RFC 6350) text: components,
properties, parameters and unescaped values, for translating an entry into Graph's JSON.

Only what the translators need: no time-zone rules, no recurrence expansion. Lines are
unfolded as ``migrate.pimtext`` does for report labels; a line without a colon is skipped
(and named in ``Component.skipped``) rather than failing the whole entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.errors import BadInputError
from migrate.pimtext import unescape, unfold


@dataclass(frozen=True)
class Property:
    """One content line: upper-case name, parameters (upper-case names, values as given)
    and the raw value (still escaped: use ``text``/``texts``/``parts``)."""

    name: str
    params: dict[str, list[str]]
    value: str

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    def types(self) -> set[str]:
        """The TYPE parameter's values, lower case (``TYPE=work,voice`` or repeated)."""
        return {t.strip().lower() for v in self.params.get("TYPE", ())
                for t in v.split(",") if t.strip()}

    def text(self) -> str:
        """The value as TEXT, unescaped (``\\n`` ``\\,`` ``\\;`` ``\\\\``)."""
        return unescape(self.value)

    def texts(self) -> list[str]:
        """A comma-separated list of TEXT values (CATEGORIES, NICKNAME)."""
        return [unescape(part) for part in split(self.value, ",")]

    def parts(self) -> list[str]:
        """A structured value's components (N, ADR, ORG), unescaped."""
        return [unescape(part) for part in split(self.value, ";")]


@dataclass
class Component:
    """BEGIN:NAME … END:NAME with its properties in order and its sub-components."""

    name: str
    properties: list[Property] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    skipped: int = 0  # unreadable lines

    def all(self, name: str) -> list[Property]:
        return [p for p in self.properties if p.name == name]

    def first(self, name: str) -> Property | None:
        return next((p for p in self.properties if p.name == name), None)

    def sub(self, name: str) -> list[Component]:
        return [c for c in self.components if c.name == name]


def split(value: str, separator: str) -> list[str]:
    """``value`` cut at each ``separator`` not escaped by a backslash (still escaped)."""
    parts, current, i = [], [], 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            current.append(value[i:i + 2])
            i += 2
            continue
        if char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _property(line: str) -> Property | None:
    """``NAME;P=V;Q="a,b":value`` (colons inside quoted parameter values allowed)."""
    quoted, cut = False, -1
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            cut = i
            break
    if cut <= 0:
        return None
    head, value = line[:cut], line[cut + 1:]
    pieces = split_params(head)
    name = pieces[0].strip().upper()
    if "." in name:  # vCard groups: item1.EMAIL
        name = name.rsplit(".", 1)[1]
    params: dict[str, list[str]] = {}
    for piece in pieces[1:]:
        key, _, val = piece.partition("=")
        key = key.strip().upper()
        if not val and key:  # vCard 2.1 bare types: TEL;WORK;VOICE
            params.setdefault("TYPE", []).append(key.lower())
            continue
        params.setdefault(key, []).append(val.strip().strip('"'))
    return Property(name, params, value)


def split_params(head: str) -> list[str]:
    pieces, current, quoted = [], [], False
    for char in head:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def parse(data: bytes, what: str) -> Component:
    """The top component of ``data`` (a VCALENDAR or a VCARD); BadInputError when there is
    none or its BEGIN/END do not nest."""
    stack: list[Component] = []
    top: Component | None = None
    for raw in unfold(data):  # unfolded as bytes: a fold may split a UTF-8 sequence
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            line = raw.decode("latin-1").rstrip("\r")  # old vCards: every byte means something
        if not line.strip():
            continue
        prop = _property(line)
        if prop is None:
            if stack:
                stack[-1].skipped += 1
            continue
        if prop.name == "BEGIN":
            component = Component(prop.value.strip().upper())
            if stack:
                stack[-1].components.append(component)
            elif top is None:
                top = component
            else:
                break  # a second top-level object: only the first is this entry
            stack.append(component)
        elif prop.name == "END":
            if not stack or stack[-1].name != prop.value.strip().upper():
                raise BadInputError(f"{what}: END:{prop.value.strip()} does not close "
                                    f"{'BEGIN:' + stack[-1].name if stack else 'anything'}")
            stack.pop()
            if not stack:
                break
        elif stack:
            stack[-1].properties.append(prop)
    if top is None:
        raise BadInputError(f"{what}: no BEGIN line: this is not iCalendar or vCard text")
    if stack:
        raise BadInputError(f"{what}: BEGIN:{stack[-1].name} is never closed (truncated?)")
    return top


@dataclass(frozen=True)
class Translated:
    """An entry as Graph JSON, its UID, and what the JSON could not carry (for logs and
    reports: one short English phrase each)."""

    json: dict[str, object]
    uid: str | None
    lost: tuple[str, ...] = ()
