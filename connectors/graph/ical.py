"""Graph events as iCalendar (RFC 5545): Graph serves JSON, so this is a translation.

Kept: UID (iCalUId), summary, description (the HTML body too, as X-ALT-DESC), start and end
in UTC (all-day events as dates), location, organizer and attendees with their answers,
categories, sensitivity, free/busy, cancellation, the recurrence rule, creation and
modification times, and Graph's id (``X-MS-GRAPH-ID``). Lost: the original time zone
(Graph is asked for UTC), modified or cancelled occurrences of a series, attachments,
reminders, online meeting details.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from msgraph.generated.models.event import Event

from migrate.pimformat import document, escape, param, utc_stamp

PRODID = "-//sovereign-migrate//Microsoft Graph//EN"
_PARTSTAT = {"accepted": "ACCEPTED", "declined": "DECLINED",
             "tentativelyAccepted": "TENTATIVE", "organizer": "ACCEPTED"}
_ROLE = {"required": "REQ-PARTICIPANT", "optional": "OPT-PARTICIPANT",
         "resource": "NON-PARTICIPANT"}
_CLASS = {"normal": "PUBLIC", "personal": "PRIVATE", "private": "PRIVATE",
          "confidential": "CONFIDENTIAL"}
_DAYS = {"sunday": "SU", "monday": "MO", "tuesday": "TU", "wednesday": "WE",
         "thursday": "TH", "friday": "FR", "saturday": "SA"}
_INDEX = {"first": "1", "second": "2", "third": "3", "fourth": "4", "last": "-1"}


def _value(enum) -> str:
    return getattr(enum, "value", enum) or ""


def _when(name: str, moment, all_day: bool) -> str | None:
    """DTSTART/DTEND from a Graph dateTimeTimeZone (asked in UTC)."""
    if moment is None or not moment.date_time:
        return None
    text = moment.date_time.split(".")[0]
    stamp = datetime.fromisoformat(text)
    if all_day:
        return f"{name};VALUE=DATE:{stamp:%Y%m%d}"
    zone = (moment.time_zone or "UTC").strip()
    if zone.upper() in ("UTC", "ETC/UTC", "Z"):
        return f"{name}:{stamp:%Y%m%dT%H%M%S}Z"
    return f"{name};TZID={param(zone)}:{stamp:%Y%m%dT%H%M%S}"


def rrule(event: Event) -> str | None:
    """The recurrence rule of a series master (Graph's patternedRecurrence)."""
    recurrence = event.recurrence
    if recurrence is None or recurrence.pattern is None:
        return None
    pattern, span = recurrence.pattern, recurrence.range
    kind = _value(pattern.type)
    freq = {"daily": "DAILY", "weekly": "WEEKLY", "absoluteMonthly": "MONTHLY",
            "relativeMonthly": "MONTHLY", "absoluteYearly": "YEARLY",
            "relativeYearly": "YEARLY"}.get(kind)
    if freq is None:
        return None
    parts = [f"FREQ={freq}"]
    if pattern.interval and pattern.interval > 1:
        parts.append(f"INTERVAL={pattern.interval}")
    if kind in ("absoluteYearly", "relativeYearly") and pattern.month:
        parts.append(f"BYMONTH={pattern.month}")
    if kind in ("absoluteMonthly", "absoluteYearly") and pattern.day_of_month:
        parts.append(f"BYMONTHDAY={pattern.day_of_month}")
    days = [_DAYS[_value(d)] for d in pattern.days_of_week or () if _value(d) in _DAYS]
    if days and kind in ("weekly", "relativeMonthly", "relativeYearly"):
        parts.append("BYDAY=" + ",".join(days))
    if kind in ("relativeMonthly", "relativeYearly"):
        parts.append(f"BYSETPOS={_INDEX.get(_value(pattern.index), '1')}")
    if kind == "weekly" and pattern.first_day_of_week is not None:
        parts.append(f"WKST={_DAYS.get(_value(pattern.first_day_of_week), 'SU')}")
    if span is not None:
        if _value(span.type) == "endDate" and span.end_date:
            parts.append(f"UNTIL={span.end_date:%Y%m%d}" if event.is_all_day
                         else f"UNTIL={span.end_date:%Y%m%d}T235959Z")
        elif _value(span.type) == "numbered" and span.number_of_occurrences:
            parts.append(f"COUNT={span.number_of_occurrences}")
    return "RRULE:" + ";".join(parts)


def _plain(body: str) -> str:
    """Readable text of an HTML body (for DESCRIPTION; the HTML goes to X-ALT-DESC)."""
    text = re.sub(r"(?is)<(script|style).*?</\1>", "", body)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _address(recipient) -> tuple[str, str] | None:
    email = getattr(recipient, "email_address", None)
    if email is None or not email.address:
        return None
    return email.address, email.name or ""


#: DTSTAMP of an event Graph gives no time for: fixed, so that the same event always has
#: the same bytes (a run's clock would make every pass see it changed).
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _stamp(event: Event) -> str:
    return utc_stamp(event.last_modified_date_time or event.created_date_time or _NO_TIME)


def event_ics(event: Event) -> bytes:
    """One event as a VCALENDAR holding its VEVENT."""
    all_day = bool(event.is_all_day)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "BEGIN:VEVENT",
             f"UID:{escape(event.i_cal_u_id or event.id or '')}",
             f"DTSTAMP:{_stamp(event)}"]
    lines += [line for line in (_when("DTSTART", event.start, all_day),
                                _when("DTEND", event.end, all_day)) if line]
    if event.subject:
        lines.append(f"SUMMARY:{escape(event.subject)}")
    body = event.body
    if body is not None and body.content:
        if _value(body.content_type) == "html":
            lines.append(f"DESCRIPTION:{escape(_plain(body.content))}")
            lines.append(f"X-ALT-DESC;FMTTYPE=text/html:{escape(body.content)}")
        else:
            lines.append(f"DESCRIPTION:{escape(body.content)}")
    if event.location is not None and event.location.display_name:
        lines.append(f"LOCATION:{escape(event.location.display_name)}")
    organizer = _address(event.organizer)
    if organizer:
        lines.append(f"ORGANIZER;CN={param(organizer[1] or organizer[0])}:mailto:{organizer[0]}")
    for attendee in event.attendees or ():
        found = _address(attendee)
        if not found:
            continue
        answer = _value(attendee.status.response) if attendee.status else ""
        lines.append(f"ATTENDEE;CN={param(found[1] or found[0])};"
                     f"ROLE={_ROLE.get(_value(attendee.type), 'REQ-PARTICIPANT')};"
                     f"PARTSTAT={_PARTSTAT.get(answer, 'NEEDS-ACTION')}:mailto:{found[0]}")
    if event.categories:
        lines.append("CATEGORIES:" + ",".join(escape(c) for c in event.categories))
    if event.sensitivity is not None:
        lines.append(f"CLASS:{_CLASS.get(_value(event.sensitivity), 'PUBLIC')}")
    if event.show_as is not None:
        lines.append("TRANSP:" + ("TRANSPARENT" if _value(event.show_as) == "free"
                                  else "OPAQUE"))
    lines.append("STATUS:" + ("CANCELLED" if event.is_cancelled else "CONFIRMED"))
    if (rule := rrule(event)) is not None:
        lines.append(rule)
    for name, value in (("CREATED", event.created_date_time),
                        ("LAST-MODIFIED", event.last_modified_date_time)):
        if value is not None:
            lines.append(f"{name}:{utc_stamp(value)}")
    if event.id:
        lines.append(f"X-MS-GRAPH-ID:{escape(event.id)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return document(lines)
