"""Calendar items as iCalendar and contacts as vCard, from their MAPI properties.

Events keep: UID (from the meeting's global object id, MS-OXCICAL 2.1.3.1.1.20.26), start
and end in UTC (all-day events as dates), summary, description (plain text), location,
organizer, attendees with their role and answer, categories, sensitivity, free/busy, the
recurrence rule of simple series (daily, weekly, monthly, yearly, with their end), creation
and modification times. Lost: the event's own time zone (times are UTC), the deleted and
modified occurrences of a series, reminders, attachments, the HTML/RTF body's formatting.
Contacts keep: names, e-mail addresses, phones, the three postal addresses, company,
department, title, birthday, notes, web pages, categories, modification time. Lost: the
photo, IM addresses, the people around (assistant, manager, spouse, children).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from migrate.pimformat import document, escape, param, utc_stamp

from . import props as P
from .props import (
    PS_PUBLIC_STRINGS,
    PSETID_ADDRESS,
    PSETID_APPOINTMENT,
    PSETID_MEETING,
    Properties,
)

PRODID = "-//sovereign-migrate//Outlook data file//EN"
_SENSITIVITY, _MODIFIED, _SENT_REPRESENTING_EMAIL = 0x0036, 0x3008, 0x0065
_CLASS = {0: "PUBLIC", 1: "PRIVATE", 2: "PRIVATE", 3: "CONFIDENTIAL"}
_PARTSTAT = {1: "ACCEPTED", 2: "TENTATIVE", 3: "ACCEPTED", 4: "DECLINED"}
_ROLE = {1: "REQ-PARTICIPANT", 2: "OPT-PARTICIPANT", 3: "NON-PARTICIPANT"}
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")
_MINUTES_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

# PidLid… numbers (MS-OXPROPS), in the property sets above
_START, _END, _LOCATION, _ALL_DAY = 0x820D, 0x820E, 0x8208, 0x8215
_BUSY, _RECUR, _TIME_ZONE = 0x8205, 0x8216, 0x8233
_GLOBAL_OBJECT_ID = 0x0003


@dataclass(frozen=True)
class Attendee:
    """One recipient of a meeting: who, as what (required …), and their answer."""

    name: str | None
    email: str | None
    kind: int | None      # PidTagRecipientType: 1 required, 2 optional, 3 resource
    response: int | None  # PidTagRecipientTrackStatus


def event_ics(props: Properties, attendees: list[Attendee], source_id: str) -> bytes:
    """One calendar item as a VCALENDAR holding its VEVENT; the same item gives the same
    bytes every time (no "now": DTSTAMP is its modification time)."""
    start = props.time(props.named(PSETID_APPOINTMENT, _START))
    end = props.time(props.named(PSETID_APPOINTMENT, _END))
    all_day = bool(props.boolean(props.named(PSETID_APPOINTMENT, _ALL_DAY)))
    stamp = props.time(_MODIFIED) or props.time(P.CREATION_TIME) or start
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "BEGIN:VEVENT",
             f"UID:{escape(event_uid(props, source_id))}"]
    if stamp is not None:
        lines.append(f"DTSTAMP:{utc_stamp(stamp)}")
    for name, moment in (("DTSTART", start), ("DTEND", end)):
        if moment is not None:
            lines.append(f"{name};VALUE=DATE:{_nearest_date(moment):%Y%m%d}" if all_day
                         else f"{name}:{utc_stamp(moment)}")
    for name, value in (("SUMMARY", props.subject()), ("DESCRIPTION", props.text(P.BODY)),
                        ("LOCATION", props.text(props.named(PSETID_APPOINTMENT, _LOCATION)))):
        if value:
            lines.append(f"{name}:{escape(value)}")
    organizer = props.text(_SENT_REPRESENTING_EMAIL)
    if organizer and "@" in organizer:
        name = props.text(P.SENT_REPRESENTING_NAME) or organizer
        lines.append(f"ORGANIZER;CN={param(name)}:mailto:{organizer}")
    for person in attendees:
        if person.email and "@" in person.email:
            lines.append(f"ATTENDEE;CN={param(person.name or person.email)};"
                         f"ROLE={_ROLE.get(person.kind or 1, 'REQ-PARTICIPANT')};"
                         f"PARTSTAT={_PARTSTAT.get(person.response or 0, 'NEEDS-ACTION')}"
                         f":mailto:{person.email}")
    categories = props.texts(props.named(PS_PUBLIC_STRINGS, "Keywords"))
    if categories:
        lines.append("CATEGORIES:" + ",".join(escape(c) for c in categories))
    sensitivity = props.integer(_SENSITIVITY)
    if sensitivity is not None:
        lines.append(f"CLASS:{_CLASS.get(sensitivity, 'PUBLIC')}")
    busy = props.integer(props.named(PSETID_APPOINTMENT, _BUSY))
    if busy is not None:
        lines.append("TRANSP:" + ("TRANSPARENT" if busy == 0 else "OPAQUE"))
    recurrence = props.binary(props.named(PSETID_APPOINTMENT, _RECUR) or -1)
    if recurrence and start is not None:
        offset = _standard_offset(props.binary(props.named(PSETID_APPOINTMENT, _TIME_ZONE)
                                               or -1))
        rule = recurrence_rule(recurrence, start, offset)
        if rule:
            lines.append(rule)
    for name, value in (("CREATED", props.time(P.CREATION_TIME)),
                        ("LAST-MODIFIED", props.time(_MODIFIED))):
        if value is not None:
            lines.append(f"{name}:{utc_stamp(value)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return document(lines)


def event_uid(props: Properties, source_id: str) -> str:
    """The meeting's UID: the one an iCalendar import stored in the global object id
    ("vCal-Uid"), else the id in hex; an item without one gets an id from its node."""
    goid = props.binary(props.named(PSETID_MEETING, _GLOBAL_OBJECT_ID) or -1)
    if not goid:
        return f"pst-{source_id}@sovereign-migrate.invalid"
    marker = goid.find(b"vCal-Uid\x01\x00\x00\x00")
    if marker >= 0:
        text = goid[marker + 12:].split(b"\0", 1)[0]
        return text.decode("utf-8", "replace")
    return goid.hex().upper()


def _nearest_date(moment: datetime) -> date:
    """The local date of an all-day event stored as local midnight in UTC: the nearest
    midnight (right for every offset from UTC-11 to UTC+12)."""
    return (moment.astimezone(UTC) + timedelta(hours=12)).date()


def _standard_offset(zone: bytes | None) -> timedelta:
    """Local time minus UTC, standard time, from PidLidTimeZoneStruct (0 if unknown)."""
    if not zone or len(zone) < 8:
        return timedelta(0)
    bias, standard = struct.unpack_from("<ii", zone)
    return -timedelta(minutes=bias + standard)


def recurrence_rule(blob: bytes, start: datetime, offset: timedelta) -> str | None:
    """The RRULE of a RecurrencePattern (MS-OXOCAL 2.2.1.44.1), for the day, week, month
    and nth-weekday patterns; None for what it cannot say (Hijri calendars …). Weekdays
    are those of the local start: shifted if the start's UTC day differs."""
    try:
        frequency, pattern, calendar, _first, period, _sliding = \
            struct.unpack_from("<HHHIII", blob, 4)
        at = 22
        specific: tuple[int, ...] = ()
        if pattern in (1, 2, 4):
            specific = struct.unpack_from("<I", blob, at)
            at += 4
        elif pattern == 3:
            specific = struct.unpack_from("<II", blob, at)
            at += 8
        end_type, count, _first_dow, deleted = struct.unpack_from("<IIII", blob, at)
        at += 16 + 4 * deleted
        modified = struct.unpack_from("<I", blob, at)[0]
        at += 4 + 4 * modified
        _start_date, end_date = struct.unpack_from("<II", blob, at)
    except struct.error:
        return None
    if calendar not in (0, 1):  # a non-Gregorian calendar: not said in iCalendar
        return None
    shift = (start + offset).date() - start.astimezone(UTC).date()
    parts: list[str]
    if frequency == 0x200A and pattern == 0:
        parts = ["FREQ=DAILY", f"INTERVAL={max(period // 1440, 1)}"]
    elif frequency == 0x200A and pattern == 1:  # every weekday
        parts = ["FREQ=WEEKLY", f"BYDAY={_days(specific[0], shift)}"]
    elif frequency == 0x200B and pattern == 1:
        parts = ["FREQ=WEEKLY", f"INTERVAL={max(period, 1)}", f"BYDAY={_days(specific[0], shift)}"]
    elif frequency in (0x200C, 0x200D):
        yearly = frequency == 0x200D
        parts = [f"FREQ={'YEARLY' if yearly else 'MONTHLY'}",
                 f"INTERVAL={max(period // 12 if yearly else period, 1)}"]
        if yearly:
            parts.append(f"BYMONTH={(start + offset).month}")
        if pattern == 2:
            parts.append(f"BYMONTHDAY={specific[0]}")
        elif pattern == 4:
            parts.append("BYMONTHDAY=-1")
        elif pattern == 3:
            position = -1 if specific[1] == 5 else specific[1]
            parts += [f"BYDAY={_days(specific[0], timedelta(0))}", f"BYSETPOS={position}"]
        else:
            return None
    else:
        return None
    if end_type == 0x2022 and count:
        parts.append(f"COUNT={count}")
    elif end_type == 0x2021:
        last = _MINUTES_EPOCH + timedelta(minutes=end_date)
        parts.append(f"UNTIL={last:%Y%m%d}T235959Z")
    return "RRULE:" + ";".join(parts)


def _days(mask: int, shift: timedelta) -> str:
    """Weekday names of a day mask (bit 0 = Sunday), moved by the local/UTC day shift."""
    move = shift.days
    return ",".join(_DAYS[(index - move) % 7] for index in range(7) if mask & (1 << index))


# --- contacts ------------------------------------------------------------------------------

_GIVEN, _SURNAME, _MIDDLE, _PREFIX, _GENERATION, _NICKNAME = (
    0x3A06, 0x3A11, 0x3A44, 0x3A45, 0x3A05, 0x3A4F)
_COMPANY, _DEPARTMENT, _TITLE, _BIRTHDAY = 0x3A16, 0x3A18, 0x3A17, 0x3A42
_PHONES = (("work", 0x3A08), ("home", 0x3A09), ("cell", 0x3A1C), ("fax", 0x3A24))
_HOME_ADDRESS = (0x3A5D, 0x3A59, 0x3A5C, 0x3A5B, 0x3A5A)
_OTHER_ADDRESS = (0x3A63, 0x3A5F, 0x3A62, 0x3A61, 0x3A60)
_WORK_ADDRESS = (0x8045, 0x8046, 0x8047, 0x8048, 0x8049)  # PSETID_Address
_EMAILS = (0x8083, 0x8093, 0x80A3)                         # PSETID_Address
_FILE_UNDER = 0x8005                                        # PSETID_Address
_WEB_PAGES = (0x3A50, 0x3A51)


def contact_vcf(props: Properties, source_id: str) -> bytes:
    """One contact as a vCard 4.0; the same item gives the same bytes every time."""
    emails = [e for e in (props.text(props.named(PSETID_ADDRESS, n)) for n in _EMAILS)
              if e and "@" in e]
    name = (props.text(P.DISPLAY_NAME) or props.text(props.named(PSETID_ADDRESS, _FILE_UNDER))
            or (emails[0] if emails else "") or props.subject() or "")
    lines = ["BEGIN:VCARD", "VERSION:4.0", f"UID:pst-{source_id}@sovereign-migrate.invalid",
             f"FN:{escape(name)}",
             "N:" + ";".join(escape(props.text(tag) or "")
                             for tag in (_SURNAME, _GIVEN, _MIDDLE, _PREFIX, _GENERATION))]
    if nickname := props.text(_NICKNAME):
        lines.append(f"NICKNAME:{escape(nickname)}")
    lines += [f"EMAIL:{escape(address)}" for address in emails]
    for kind, tag in _PHONES:
        if number := props.text(tag):
            lines.append(f"TEL;TYPE={kind}:{escape(number)}")
    for kind, tags, named in (("work", _WORK_ADDRESS, True), ("home", _HOME_ADDRESS, False),
                              ("other", _OTHER_ADDRESS, False)):
        values = [props.text(props.named(PSETID_ADDRESS, t) if named else t) or ""
                  for t in tags]
        if any(values):
            lines.append(f"ADR;TYPE={kind}:;;" + ";".join(escape(v) for v in values))
    company, department = props.text(_COMPANY), props.text(_DEPARTMENT)
    if company or department:
        lines.append(f"ORG:{escape(company or '')};{escape(department or '')}")
    if title := props.text(_TITLE):
        lines.append(f"TITLE:{escape(title)}")
    if (birthday := props.time(_BIRTHDAY)) is not None:
        lines.append(f"BDAY:{_nearest_date(birthday):%Y%m%d}")
    if note := props.text(P.BODY):
        lines.append(f"NOTE:{escape(note)}")
    for tag in _WEB_PAGES:
        if page := props.text(tag):
            lines.append(f"URL:{page.strip()}")
    categories = props.texts(props.named(PS_PUBLIC_STRINGS, "Keywords"))
    if categories:
        lines.append("CATEGORIES:" + ",".join(escape(c) for c in categories))
    if (modified := props.time(_MODIFIED)) is not None:
        lines.append(f"REV:{utc_stamp(modified)}")
    lines.append("END:VCARD")
    return document(lines)
