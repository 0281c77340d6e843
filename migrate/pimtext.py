"""What people need to recognise an event or a contact in a report: its UID, its SUMMARY
(event) or FN (contact) and its DTSTART, read leniently from iCalendar or vCard bytes.

Never used to rebuild anything: the entry is its bytes. Broken input gives Nones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Only the start of an entry is read for its label (an event with attachments is large).
HEAD = 64 * 1024
MAX_LABEL = 300
_COMPONENTS = (b"VEVENT", b"VTODO", b"VJOURNAL", b"VCARD")


@dataclass(frozen=True)
class EntryLabel:
    """The fields a report shows for an entry (None where the bytes have none)."""

    uid: str | None = None
    summary: str | None = None  # SUMMARY of an event, FN of a contact
    start: str | None = None  # DTSTART as written (with its TZID parameter, if any)


def unfold(head: bytes) -> list[bytes]:
    """Content lines with RFC 5545/6350 folding undone (CRLF or bare LF line ends)."""
    lines: list[bytes] = []
    for raw in head.replace(b"\r\n", b"\n").split(b"\n"):
        if raw[:1] in (b" ", b"\t") and lines:
            lines[-1] += raw[1:]
        else:
            lines.append(raw)
    return lines


def unescape(text: str) -> str:
    """A TEXT value with its backslash escapes undone (``\\,`` ``\\;`` ``\\n``; RFC 5545
    3.3.11, RFC 6350 3.4)."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _value(text: str) -> str | None:
    """A property value unescaped, on one line, bounded."""
    value = " ".join(unescape(text).split())
    return value[:MAX_LABEL] or None


def entry_label(data: bytes) -> EntryLabel:
    """The label of one iCalendar or vCard entry, from the properties of its first
    VEVENT/VTODO/VJOURNAL or VCARD (not of a VTIMEZONE or VALARM inside it)."""
    fields: dict[str, str | None] = {"UID": None, "SUMMARY": None, "FN": None, "DTSTART": None}
    depth = 0  # 1 inside the first item component, more inside its sub-components
    done = False
    for line in unfold(data[:HEAD]):
        name, _, rest = line.partition(b":")
        base = name.split(b";", 1)[0].strip().upper()
        if base == b"BEGIN":
            component = rest.strip().upper()
            if depth == 0 and not done and component in _COMPONENTS:
                depth = 1
            elif depth:
                depth += 1
            continue
        if base == b"END":
            if depth == 1:
                done = True
            depth = max(0, depth - 1)
            continue
        key = base.decode("ascii", "replace")
        if depth == 1 and key in fields and fields[key] is None:
            text = rest.decode("utf-8", "replace")
            if key == "DTSTART":
                params = name.split(b";", 1)[1].decode("utf-8", "replace") if b";" in name \
                    else ""
                fields[key] = _value(f"{text} ({params})" if params else text)
            else:
                fields[key] = _value(text)
    return EntryLabel(fields["UID"], fields["SUMMARY"] or fields["FN"], fields["DTSTART"])


#: Properties a platform sets itself (stamps, its own ids): left out of ``entry_names``.
_VOLATILE = frozenset({"DTSTAMP", "CREATED", "LAST-MODIFIED", "REV", "SEQUENCE", "PRODID",
                       "VERSION", "UID", "X-MS-GRAPH-ID"})


def entry_names(data: bytes) -> frozenset[str]:
    """The property and sub-component names (``ATTENDEE``, ``VALARM`` …) of the first
    VEVENT/VTODO/VJOURNAL or VCARD, without those a platform sets itself: what a report
    compares of two translations of one entry."""
    names: set[str] = set()
    depth = 0
    for line in unfold(data[:HEAD]):
        name, _, rest = line.partition(b":")
        base = name.split(b";", 1)[0].strip().upper().decode("ascii", "replace")
        if base == "BEGIN":
            component = rest.strip().upper()
            if depth == 0 and component in _COMPONENTS:
                depth = 1
            elif depth:
                depth += 1
                if depth == 2:
                    names.add(component.decode("ascii", "replace"))
            continue
        if base == "END":
            if depth == 1:
                break
            depth = max(0, depth - 1)
            continue
        if depth == 1 and base and base not in _VOLATILE:
            names.add(base)
    return frozenset(names)


def start_instant(start: str | None) -> str | None:
    """An ``EntryLabel.start`` as one comparable value: a date as ``YYYYMMDD``, a time as
    UTC ``YYYYMMDDTHHMMSSZ`` (TZID converted when it is an IANA name, a floating time taken
    as UTC); as written when it cannot be read."""
    if not start:
        return None
    value, _, params = start.partition(" (")
    value = value.strip()
    if len(value) == 8 or value.endswith("Z"):
        return value
    tzid = next((p.split("=", 1)[1].strip('"') for p in params.rstrip(")").split(";")
                 if p.upper().startswith("TZID=")), None)
    try:
        local = datetime.strptime(value, "%Y%m%dT%H%M%S")
        zone = ZoneInfo(tzid) if tzid else UTC
    except (ValueError, ZoneInfoNotFoundError):
        return start
    return local.replace(tzinfo=zone).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
