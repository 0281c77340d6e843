"""An iCalendar event (RFC 5545) as a Graph ``event`` to create: the reverse of ``ical``.

Graph takes no iCalendar upload, so the first VEVENT that is not a modified occurrence is
translated: SUMMARY → subject; X-ALT-DESC (HTML) or DESCRIPTION → body; DTSTART/DTEND (or
DURATION) → start/end with a time zone (an IANA name, a Windows name turned into its IANA
one, UTC for ``Z``; a custom VTIMEZONE is applied to give UTC; dates → ``isAllDay``);
LOCATION; ATTENDEE → attendees with their type and answer (only when asked: Graph sends an
invitation to every attendee of an event it creates); RRULE → ``patternedRecurrence`` for
the forms Graph has (daily, weekly, monthly and yearly, absolute or relative; INTERVAL,
COUNT, UNTIL); CATEGORIES; TRANSP / X-MICROSOFT-CDO-BUSYSTATUS → showAs; CLASS →
sensitivity; PRIORITY → importance; the first VALARM before the start → the reminder.

What cannot be carried is listed in ``Translated.lost``: the organizer (Graph makes the
mailbox owner the organizer), other recurrence forms (the first occurrence is kept),
excluded or added dates, modified occurrences, attachments, a cancelled status, floating
times (written as UTC), and any other property.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from migrate.errors import BadInputError

from .contentlines import Component, Property, Translated, parse

#: Windows time-zone names (what Outlook writes as TZID) → IANA names. Graph knows both;
#: IANA names are sent so that the times can be checked here.
WINDOWS_ZONES = {
    "romance standard time": "Europe/Paris", "w. europe standard time": "Europe/Berlin",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "gmt standard time": "Europe/London", "greenwich standard time": "Atlantic/Reykjavik",
    "utc": "UTC", "coordinated universal time": "UTC",
    "e. europe standard time": "Europe/Chisinau", "fle standard time": "Europe/Kiev",
    "gtb standard time": "Europe/Bucharest", "morocco standard time": "Africa/Casablanca",
    "sa western standard time": "America/Martinique",
    "sa eastern standard time": "America/Cayenne",
    "saint pierre standard time": "America/Miquelon",
    "mauritius standard time": "Indian/Reunion", "e. africa standard time": "Indian/Mayotte",
    "central pacific standard time": "Pacific/Noumea",
    "hawaiian standard time": "Pacific/Tahiti", "eastern standard time": "America/New_York",
    "central standard time": "America/Chicago", "mountain standard time": "America/Denver",
    "pacific standard time": "America/Los_Angeles",
}
_DAYS = {"SU": "sunday", "MO": "monday", "TU": "tuesday", "WE": "wednesday",
         "TH": "thursday", "FR": "friday", "SA": "saturday"}
_WEEKDAY = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_INDEX = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
_RULE_KEYS = {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "COUNT",
              "UNTIL", "WKST"}
_PARTSTAT = {"ACCEPTED": "accepted", "DECLINED": "declined",
             "TENTATIVE": "tentativelyAccepted", "NEEDS-ACTION": "notResponded"}
_SHOW_AS = {"FREE": "free", "TENTATIVE": "tentative", "BUSY": "busy", "OOF": "oof",
            "WORKINGELSEWHERE": "workingElsewhere"}
_SENSITIVITY = {"PUBLIC": "normal", "PRIVATE": "private", "CONFIDENTIAL": "confidential"}
#: Properties read here, or that Graph sets itself (times of creation, sequence …).
_HANDLED = {"UID", "SUMMARY", "DESCRIPTION", "X-ALT-DESC", "DTSTART", "DTEND", "DURATION",
            "LOCATION", "ATTENDEE", "ORGANIZER", "RRULE", "EXDATE", "RDATE", "CATEGORIES",
            "TRANSP", "X-MICROSOFT-CDO-BUSYSTATUS", "CLASS", "PRIORITY", "STATUS",
            "ATTACH", "DTSTAMP", "CREATED", "LAST-MODIFIED", "SEQUENCE", "X-MS-GRAPH-ID",
            "X-MICROSOFT-CDO-IMPORTANCE", "X-MICROSOFT-CDO-INTENDEDSTATUS",
            "X-MICROSOFT-CDO-APPT-SEQUENCE", "X-MICROSOFT-CDO-OWNERAPPTID",
            "X-MICROSOFT-CDO-ALLDAYEVENT", "X-MICROSOFT-DISALLOW-COUNTER",
            "X-MICROSOFT-DONOTFORWARDMEETING", "X-MICROSOFT-LOCATIONS"}


def event_json(data: bytes, invite: bool = False) -> Translated:
    """The Graph ``event`` for one iCalendar entry; BadInputError when it has no usable
    VEVENT. ``invite``: set the attendees (Graph then invites each of them)."""
    calendar = parse(data, "event")
    if calendar.name != "VCALENDAR":
        raise BadInputError(f"event: a VCALENDAR was expected, not {calendar.name}")
    events = calendar.sub("VEVENT")
    masters = [e for e in events if e.first("RECURRENCE-ID") is None]
    if not masters:
        raise BadInputError("event: the calendar holds no VEVENT" if not events else
                            "event: only modified occurrences, without their series")
    event, lost = masters[0], []
    if len(events) > 1:
        lost.append(f"{len(events) - 1} other event(s) or modified occurrence(s) in the "
                    "same file")
    uid = event.first("UID")
    out: dict[str, object] = {}
    if (summary := event.first("SUMMARY")) is not None:
        out["subject"] = summary.text()
    html = next((p for p in event.all("X-ALT-DESC")
                 if (p.param("FMTTYPE") or "").lower() == "text/html"), None)
    description = event.first("DESCRIPTION")
    if html is not None:
        out["body"] = {"contentType": "html", "content": html.text()}
    elif description is not None:
        out["body"] = {"contentType": "text", "content": description.text()}
    _times(calendar, event, out, lost)
    if (location := event.first("LOCATION")) is not None and location.text().strip():
        out["location"] = {"displayName": location.text()}
    _people(event, out, lost, invite)
    _recurrence(event, out, lost)
    categories = [c for p in event.all("CATEGORIES") for c in p.texts() if c.strip()]
    if categories:
        out["categories"] = categories
    _flags(event, out, lost)
    _reminder(event, out, lost)
    if event.all("ATTACH"):
        lost.append(f"{len(event.all('ATTACH'))} attachment(s)")
    others = sorted({p.name for p in event.properties} - _HANDLED)
    if others:
        lost.append("properties " + ", ".join(others))
    return Translated(out, uid.text().strip() if uid is not None else None, tuple(lost))


# --- times ---------------------------------------------------------------------------------


def _times(calendar: Component, event: Component, out: dict, lost: list[str]) -> None:
    start_prop = event.first("DTSTART")
    if start_prop is None:
        raise BadInputError("event: no DTSTART (Graph needs a start)")
    start, zone = _moment(calendar, start_prop, lost)
    end_prop, duration = event.first("DTEND"), event.first("DURATION")
    if end_prop is not None:
        end, end_zone = _moment(calendar, end_prop, lost)
    elif duration is not None:
        end, end_zone = start + _duration(duration.value), zone
    else:  # RFC 5545 3.6.1: a day for a date, no length for a date-time
        end, end_zone = (start + timedelta(days=1) if _is_date(start) else start), zone
    if _is_date(start):
        if not _is_date(end):
            end = end.date()
        out["isAllDay"] = True
        out["start"] = _graph_time(datetime.combine(start, datetime.min.time()), "UTC")
        out["end"] = _graph_time(datetime.combine(max(end, start + timedelta(days=1)),
                                                  datetime.min.time()), "UTC")
        return
    if _is_date(end):
        end, end_zone = datetime.combine(end, datetime.min.time()), zone
    out["isAllDay"] = False
    out["start"] = _graph_time(start, zone)
    out["end"] = _graph_time(end, end_zone)


def _is_date(value: date | datetime) -> bool:
    return not isinstance(value, datetime)


def _graph_time(moment: datetime, zone: str) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone}


def _moment(calendar: Component, prop: Property, lost: list[str]) -> tuple:
    """(date or naive local datetime, Graph time-zone name) of a DTSTART/DTEND value."""
    value = prop.value.strip()
    try:
        if (prop.param("VALUE") or "").upper() == "DATE" or len(value) == 8:
            return datetime.strptime(value[:8], "%Y%m%d").date(), "UTC"
        moment = datetime.strptime(value.rstrip("Zz"), "%Y%m%dT%H%M%S")
    except ValueError:
        raise BadInputError(f"event: {prop.name} {value!r} is not an iCalendar date or "
                            "date-time") from None
    if value[-1:] in "Zz":
        return moment, "UTC"
    tzid = prop.param("TZID")
    if not tzid:
        if "floating time" not in lost:
            lost.append("floating time (no time zone): written as UTC")
        return moment, "UTC"
    zone = known_zone(tzid)
    if zone is not None:
        return moment, zone
    offset = _custom_offset(calendar, tzid, moment)
    if offset is None:
        raise BadInputError(f"event: time zone {tzid!r} is neither an IANA nor a Windows "
                            "name and the file has no VTIMEZONE for it")
    note = (f"time zone {tzid!r} is not a known name: times written in UTC (a series keeps "
            "its first UTC time across clock changes)")
    if note not in lost:
        lost.append(note)
    return (moment - offset), "UTC"


def known_zone(tzid: str) -> str | None:
    """The IANA name for a TZID that is one (``Europe/Paris``, also ``/Europe/Paris``) or a
    Windows name Outlook writes (``Romance Standard Time``); None otherwise."""
    name = tzid.strip().strip('"')
    windows = WINDOWS_ZONES.get(name.casefold())
    if windows is not None:
        return windows
    for candidate in (name, name.lstrip("/")):
        try:
            ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return candidate
    return None


def zone_of(name: str) -> tzinfo:
    """The tzinfo of a Graph time-zone name this module writes (IANA or UTC)."""
    return UTC if name == "UTC" else ZoneInfo(name)


def _custom_offset(calendar: Component, tzid: str, moment: datetime) -> timedelta | None:
    """The UTC offset at ``moment`` by the file's own VTIMEZONE ``tzid`` (STANDARD and
    DAYLIGHT onsets with yearly BYMONTH/BYDAY rules, or fixed dates)."""
    zone = next((z for z in calendar.sub("VTIMEZONE")
                 if (p := z.first("TZID")) is not None and p.text().strip() == tzid), None)
    if zone is None:
        return None
    best: tuple[datetime, timedelta] | None = None
    for part in zone.components:
        to = part.first("TZOFFSETTO")
        begin = part.first("DTSTART")
        if to is None or begin is None:
            continue
        try:
            offset = _offset(to.value)
            first = datetime.strptime(begin.value.strip()[:15], "%Y%m%dT%H%M%S")
        except ValueError:
            continue
        for year in (moment.year - 1, moment.year):
            onset = _onset(part.first("RRULE"), first, year)
            if onset is not None and onset <= moment and (best is None or onset > best[0]):
                best = (onset, offset)
    return best[1] if best else None


def _offset(text: str) -> timedelta:
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if len(digits) not in (4, 6) or not digits.isdigit():
        raise ValueError(text)
    seconds = int(digits[:2]) * 3600 + int(digits[2:4]) * 60 + int(digits[4:6] or 0)
    return sign * timedelta(seconds=seconds)


def _onset(rule: Property | None, first: datetime, year: int) -> datetime | None:
    """When a STANDARD/DAYLIGHT part starts in ``year`` (``BYMONTH=3;BYDAY=-1SU`` forms)."""
    if year < first.year:
        return None
    if rule is None:
        return first if year == first.year else None
    parts = dict(p.partition("=")[::2] for p in rule.value.upper().split(";") if "=" in p)
    month = int(parts.get("BYMONTH", first.month))
    byday = parts.get("BYDAY", "")
    if not byday:
        return first.replace(year=year, month=month)
    nth, day = int(byday[:-2] or 1), byday[-2:]
    wanted = list(_DAYS).index(day)  # SU = 0 … SA = 6
    days = [d for d in range(1, 32) if _valid(year, month, d)
            and (date(year, month, d).weekday() + 1) % 7 == wanted]
    chosen = days[nth - 1] if nth > 0 else days[nth]
    return datetime(year, month, chosen, first.hour, first.minute, first.second)


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _duration(text: str) -> timedelta:
    """An iCalendar DURATION (``PT1H30M``, ``P1D``, ``-PT15M``, ``P2W``)."""
    value = text.strip().upper()
    sign = -1 if value.startswith("-") else 1
    value = value.lstrip("+-")
    if not value.startswith("P"):
        raise BadInputError(f"event: DURATION {text!r} is not an iCalendar duration")
    total, number, in_time = timedelta(), "", False
    units = {"W": timedelta(weeks=1), "D": timedelta(days=1), "H": timedelta(hours=1),
             "M": timedelta(minutes=1), "S": timedelta(seconds=1)}
    for char in value[1:]:
        if char == "T":
            in_time = True
        elif char.isdigit():
            number += char
        elif char in units and number and (in_time or char in "WD"):
            total += int(number) * units[char]
            number = ""
        else:
            raise BadInputError(f"event: DURATION {text!r} is not an iCalendar duration")
    return sign * total


# --- people --------------------------------------------------------------------------------


def _address(prop: Property) -> dict[str, str]:
    value = prop.value.strip()
    address = value[7:] if value.lower().startswith("mailto:") else value
    return {"address": address, "name": prop.param("CN") or address}


def _people(event: Component, out: dict, lost: list[str], invite: bool) -> None:
    if event.first("ORGANIZER") is not None:
        lost.append("organizer (Microsoft 365 makes the mailbox owner the organizer)")
    attendees = []
    for prop in event.all("ATTENDEE"):
        role = (prop.param("ROLE") or "").upper()
        cutype = (prop.param("CUTYPE") or "").upper()
        kind = "resource" if cutype in ("RESOURCE", "ROOM") else \
            "optional" if role in ("OPT-PARTICIPANT", "NON-PARTICIPANT") else "required"
        answer = _PARTSTAT.get((prop.param("PARTSTAT") or "").upper(), "none")
        attendees.append({"type": kind, "status": {"response": answer},
                          "emailAddress": _address(prop)})
    if not attendees:
        return
    if invite:
        out["attendees"] = attendees
        lost.append("attendees' answers and answer times (Graph resets them)")
    else:
        lost.append(f"{len(attendees)} attendee(s) not set: Graph would send each an "
                    "invitation (attendees=invite)")


# --- recurrence ----------------------------------------------------------------------------


def _recurrence(event: Component, out: dict, lost: list[str]) -> None:
    rules = event.all("RRULE")
    for name in ("EXDATE", "RDATE"):
        if event.all(name):
            lost.append(f"{name} (excluded or added dates of the series)")
    if event.all("EXRULE"):
        lost.append("EXRULE")
    if not rules:
        return
    pattern = _pattern(rules[0].value, out) if len(rules) == 1 else None
    if pattern is None:
        lost.append(f"recurrence {rules[0].value!r}: Graph has no such pattern, only the "
                    "first occurrence is written")
        return
    out["recurrence"] = pattern


def _pattern(rule: str, out: dict) -> dict | None:
    """Graph's patternedRecurrence for an RRULE, or None for a form Graph does not have."""
    parts: dict[str, str] = {}
    for piece in rule.upper().split(";"):
        key, _, value = piece.partition("=")
        if key:
            parts[key] = value
    if set(parts) - _RULE_KEYS or ("COUNT" in parts and "UNTIL" in parts):
        return None
    start_text = out["start"]["dateTime"]  # type: ignore[index]
    start = datetime.strptime(start_text, "%Y-%m-%dT%H:%M:%S")
    try:
        interval = int(parts.get("INTERVAL", "1"))
        days = [_day(d) for d in parts["BYDAY"].split(",")] if "BYDAY" in parts else []
        monthdays = [int(d) for d in parts["BYMONTHDAY"].split(",")] \
            if "BYMONTHDAY" in parts else []
        months = [int(m) for m in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else []
        setpos = [int(p) for p in parts["BYSETPOS"].split(",")] if "BYSETPOS" in parts else []
    except (KeyError, ValueError):
        return None
    if interval < 1 or len(monthdays) > 1 or len(months) > 1 or len(setpos) > 1:
        return None
    freq, pattern = parts.get("FREQ"), {"interval": interval}
    ordinals = {n for n, _ in days}
    plain_days = [d for n, d in days]
    if freq == "DAILY" and not (monthdays or months or setpos):
        if days and (interval != 1 or ordinals != {0}):
            return None
        pattern |= {"type": "weekly", "daysOfWeek": plain_days} if days else {"type": "daily"}
    elif freq == "WEEKLY" and not (monthdays or months or setpos) and ordinals <= {0}:
        pattern |= {"type": "weekly",
                    "daysOfWeek": plain_days or [_WEEKDAY[start.weekday()]],
                    "firstDayOfWeek": _DAYS.get(parts.get("WKST", "MO"), "monday")}
    elif freq in ("MONTHLY", "YEARLY"):
        relative = _relative(days, setpos)
        if relative is None and (days or setpos):
            return None
        if freq == "YEARLY":
            pattern["month"] = months[0] if months else start.month
        elif months:
            return None
        if relative is not None:
            if monthdays:
                return None
            kind = "relativeMonthly" if freq == "MONTHLY" else "relativeYearly"
            pattern |= {"type": kind, "daysOfWeek": relative[1], "index": relative[0]}
        else:
            day = monthdays[0] if monthdays else start.day
            if day < 1:
                return None
            kind = "absoluteMonthly" if freq == "MONTHLY" else "absoluteYearly"
            pattern |= {"type": kind, "dayOfMonth": day}
    else:
        return None
    span: dict[str, object] = {"type": "noEnd", "startDate": start.date().isoformat(),
                               "recurrenceTimeZone": out["start"]["timeZone"]}  # type: ignore[index]
    if "COUNT" in parts:
        if not parts["COUNT"].isdigit() or int(parts["COUNT"]) < 1:
            return None
        span |= {"type": "numbered", "numberOfOccurrences": int(parts["COUNT"])}
    elif "UNTIL" in parts:
        try:
            until = datetime.strptime(parts["UNTIL"][:8], "%Y%m%d").date()
        except ValueError:
            return None
        span |= {"type": "endDate", "endDate": until.isoformat()}
    return {"pattern": pattern, "range": span}


def _day(text: str) -> tuple[int, str]:
    """``-1SU`` → (-1, "sunday"); ``MO`` → (0, "monday"); KeyError/ValueError if not one."""
    text = text.strip()
    return int(text[:-2] or 0), _DAYS[text[-2:]]


def _relative(days: list[tuple[int, str]], setpos: list[int]) -> tuple[str, list[str]] | None:
    """(Graph index, days) for ``BYDAY=2TU`` or ``BYDAY=MO,TU;BYSETPOS=-1``; else None."""
    if not days:
        return None
    ordinals = {n for n, _ in days}
    if setpos and ordinals == {0} and setpos[0] in _INDEX:
        return _INDEX[setpos[0]], [d for _, d in days]
    if not setpos and len(days) == 1 and days[0][0] in _INDEX:
        return _INDEX[days[0][0]], [days[0][1]]
    return None


# --- flags ---------------------------------------------------------------------------------


def _flags(event: Component, out: dict, lost: list[str]) -> None:
    busy = event.first("X-MICROSOFT-CDO-BUSYSTATUS")
    transp = event.first("TRANSP")
    if busy is not None and busy.text().strip().upper() in _SHOW_AS:
        out["showAs"] = _SHOW_AS[busy.text().strip().upper()]
    elif transp is not None:
        out["showAs"] = "free" if transp.text().strip().upper() == "TRANSPARENT" else "busy"
    if (klass := event.first("CLASS")) is not None:
        out["sensitivity"] = _SENSITIVITY.get(klass.text().strip().upper(), "private")
    if (priority := event.first("PRIORITY")) is not None and priority.value.strip().isdigit():
        level = int(priority.value.strip())
        if level:
            out["importance"] = "high" if level < 5 else "normal" if level == 5 else "low"
    status = event.first("STATUS")
    if status is not None and status.text().strip().upper() == "CANCELLED":
        lost.append("cancelled status (Graph cancels only by sending a cancellation)")


def _reminder(event: Component, out: dict, lost: list[str]) -> None:
    """The first VALARM set before the start, in minutes; none: no reminder (Graph would
    otherwise add its default one)."""
    alarms = event.sub("VALARM")
    for alarm in alarms:
        trigger = alarm.first("TRIGGER")
        if trigger is None or (trigger.param("VALUE") or "").upper() == "DATE-TIME" \
                or (trigger.param("RELATED") or "START").upper() != "START":
            continue
        try:
            before = -_duration(trigger.value)
        except BadInputError:
            continue
        if before >= timedelta(0):
            out["isReminderOn"] = True
            out["reminderMinutesBeforeStart"] = int(before.total_seconds() // 60)
            if len(alarms) > 1:
                lost.append(f"{len(alarms) - 1} other reminder(s)")
            return
    out["isReminderOn"] = False
    if alarms:
        lost.append("reminder not relative to the start")

