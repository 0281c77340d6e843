"""Calendars and contacts read through Graph (the real msgraph-sdk against tests/fake_graph.py)
and translated into iCalendar and vCard: what Microsoft documents as an event or a contact
comes out as the equivalent RFC 5545 / RFC 6350 text, folded and escaped."""

from __future__ import annotations

import pytest
from fake_graph import FakeGraph, FakeMailbox
from test_graph_copy import TOKEN, USER, graph_config, open_reader

from migrate.model import CalendarEvent, CollectionKind, Contact

MEETING = {
    "@odata.etag": 'W/"ZlnW4RIAV06KYYwlrfNZvQAAKGWwbw=="',
    "id": "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AZlnW4RIAV06KYYwlrfNZvQAAKHWqbwAA",
    "createdDateTime": "2024-02-20T08:00:00.0000000Z",
    "lastModifiedDateTime": "2024-02-21T10:30:00.0000000Z",
    "iCalUId": "040000008200E00074C5B7101A82E00800000000D0E5A7A2C765DA01000000000000000010000000",
    "subject": "Conseil municipal; séance ordinaire, budget",
    "body": {"contentType": "html",
             "content": "<html><body><p>Ordre du jour :</p><p>1. Budget &amp; vote</p>"
                        "</body></html>"},
    "start": {"dateTime": "2024-03-04T17:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2024-03-04T19:00:00.0000000", "timeZone": "UTC"},
    "isAllDay": False, "isCancelled": False, "sensitivity": "normal", "showAs": "busy",
    "categories": ["Élus"],
    "location": {"displayName": "Salle du conseil, mairie"},
    "organizer": {"emailAddress": {"name": "Maire", "address": "maire@mairie-exemple.fr"}},
    "attendees": [
        {"type": "required", "status": {"response": "accepted", "time": "2024-02-21T00:00:00Z"},
         "emailAddress": {"name": "Jeanne Dupont", "address": "jdupont@mairie-exemple.fr"}},
        {"type": "optional", "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
         "emailAddress": {"name": "Paul Martin", "address": "pmartin@mairie-exemple.fr"}}],
    "recurrence": {
        "pattern": {"type": "relativeMonthly", "interval": 1, "month": 0, "dayOfMonth": 0,
                    "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday", "index": "first"},
        "range": {"type": "numbered", "startDate": "2024-03-04", "endDate": "0001-01-01",
                  "recurrenceTimeZone": "Romance Standard Time", "numberOfOccurrences": 10}},
    "type": "seriesMaster",
}
HOLIDAY = {"id": "AAkALgHoliday", "subject": "Fête nationale", "isAllDay": True,
           "start": {"dateTime": "2024-07-14T00:00:00.0000000", "timeZone": "UTC"},
           "end": {"dateTime": "2024-07-15T00:00:00.0000000", "timeZone": "UTC"},
           "showAs": "free", "body": {"contentType": "text", "content": ""}}
CONTACT = {
    "id": "AAMkContact0001",
    "lastModifiedDateTime": "2024-01-05T12:00:00Z",
    "displayName": "Jeanne Dupont", "givenName": "Jeanne", "surname": "Dupont",
    "jobTitle": "Secrétaire de mairie", "companyName": "Mairie d'Exemple",
    "department": "Services; accueil", "birthday": "1980-05-17T11:59:00Z",
    "emailAddresses": [{"name": "Jeanne Dupont", "address": "jdupont@mairie-exemple.fr"}],
    "businessPhones": ["+33 1 23 45 67 89"], "homePhones": [], "mobilePhone": "+33 6 12 34 56 78",
    "businessAddress": {"street": "1 place de la Mairie", "city": "Exemple",
                        "postalCode": "12345", "countryOrRegion": "France"},
    "homeAddress": {}, "otherAddress": {},
    "personalNotes": "Ligne 1\nLigne 2, suite", "categories": ["Agents"],
}


def unfold(data: bytes) -> list[str]:
    """The content lines of an iCalendar or vCard text (RFC 5545 3.1 unfolding)."""
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    raw = data.decode().split("\r\n")[:-1]
    assert all(len(line.encode()) <= 75 for line in raw)  # folded at 75 octets
    lines: list[str] = []
    for line in raw:
        if line.startswith(" "):
            lines[-1] += line[1:]
        else:
            lines.append(line)
    return lines


@pytest.fixture
def server():
    box = FakeMailbox(USER)
    box.calendars["AAMkCalendar1"] = ("Calendrier", [MEETING, HOLIDAY])
    box.calendars["AAMkCalendar2"] = ("Salles", [
        {**HOLIDAY, "id": f"AAkALgRoom{n:03d}", "subject": f"Réservation {n}"}
        for n in range(60)])
    box.contacts.append(CONTACT)
    box.contact_folders["AAMkContacts2"] = ("Élus", [{"id": "AAMkContact0002",
                                                      "displayName": "Maire"}])
    fake = FakeGraph(box, tokens={TOKEN}).start()
    yield fake
    fake.stop()


def test_collections_and_entries(server, tmp_path):
    reader = open_reader(graph_config(tmp_path, server))
    try:
        found = {c.path: c for c in reader.collections()}
        assert {(c.kind, path) for path, c in found.items()} == {
            (CollectionKind.CALENDAR, ("Calendrier",)), (CollectionKind.CALENDAR, ("Salles",)),
            (CollectionKind.CONTACTS, ("Contacts",)),
            (CollectionKind.CONTACTS, ("Contacts", "Élus"))}
        rooms = list(reader.entries(found[("Salles",)]))
        assert len(rooms) == 60 and len({e.source_id for e in rooms}) == 60  # 2 pages
        assert server.requests["events:utc"] == server.requests["events"] == 2
        events = {e.source_id: e for e in reader.entries(found[("Calendrier",)])}
        contacts = list(reader.entries(found[("Contacts",)]))
        others = list(reader.entries(found[("Contacts", "Élus")]))
    finally:
        reader.close()
    assert all(isinstance(e, CalendarEvent) for e in events.values())
    meeting = unfold(events[MEETING["id"]].data)
    assert meeting[:4] == ["BEGIN:VCALENDAR", "VERSION:2.0",
                           "PRODID:-//sovereign-migrate//Microsoft Graph//EN", "BEGIN:VEVENT"]
    assert f"UID:{MEETING['iCalUId']}" in meeting
    assert "SUMMARY:Conseil municipal\\; séance ordinaire\\, budget" in meeting
    assert "DTSTART:20240304T170000Z" in meeting and "DTEND:20240304T190000Z" in meeting
    assert "DESCRIPTION:Ordre du jour :\\n1. Budget & vote" in meeting
    assert any(line.startswith("X-ALT-DESC;FMTTYPE=text/html:<html>") for line in meeting)
    assert "LOCATION:Salle du conseil\\, mairie" in meeting
    assert "ORGANIZER;CN=Maire:mailto:maire@mairie-exemple.fr" in meeting
    assert ("ATTENDEE;CN=Jeanne Dupont;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:"
            "mailto:jdupont@mairie-exemple.fr") in meeting
    assert ("ATTENDEE;CN=Paul Martin;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION:"
            "mailto:pmartin@mairie-exemple.fr") in meeting
    assert "RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1;COUNT=10" in meeting
    assert "CATEGORIES:Élus" in meeting and "TRANSP:OPAQUE" in meeting
    assert "LAST-MODIFIED:20240221T103000Z" in meeting and meeting[-1] == "END:VCALENDAR"
    holiday = unfold(events[HOLIDAY["id"]].data)
    assert "DTSTART;VALUE=DATE:20240714" in holiday and "DTEND;VALUE=DATE:20240715" in holiday
    assert "TRANSP:TRANSPARENT" in holiday

    (card,) = contacts
    assert isinstance(card, Contact) and card.source_id == CONTACT["id"]
    lines = unfold(card.data)
    assert lines[:2] == ["BEGIN:VCARD", "VERSION:4.0"] and lines[-1] == "END:VCARD"
    assert "FN:Jeanne Dupont" in lines and "N:Dupont;Jeanne;;;" in lines
    assert "EMAIL:jdupont@mairie-exemple.fr" in lines
    assert "TEL;TYPE=work:+33 1 23 45 67 89" in lines
    assert "TEL;TYPE=cell:+33 6 12 34 56 78" in lines
    assert "ADR;TYPE=work:;;1 place de la Mairie;Exemple;;12345;France" in lines
    assert not any(line.startswith("ADR;TYPE=home") for line in lines)  # empty: left out
    assert "ORG:Mairie d'Exemple;Services\\; accueil" in lines
    assert "TITLE:Secrétaire de mairie" in lines and "BDAY:19800517" in lines
    assert "NOTE:Ligne 1\\nLigne 2\\, suite" in lines and "CATEGORIES:Agents" in lines
    assert [c.source_id for c in others] == ["AAMkContact0002"]
    assert "FN:Maire" in unfold(others[0].data)


def test_copy_to_archive_carries_events_and_contacts(server, tmp_path):
    """Acceptance: ``migrate copy graph://… archive:A`` has the events and contacts too."""
    from test_graph_copy import copy

    from migrate.connector import PimSource
    from migrate.endpoint import parse_endpoint
    from migrate.registry import connector_for

    def archived() -> dict:
        reader = connector_for(parse_endpoint(f"archive:{tmp_path / 'A'}")).open_source()
        try:
            assert isinstance(reader, PimSource)
            return {(c.kind, c.path): [e.data for e in reader.entries(c)]
                    for c in reader.collections()}
        finally:
            reader.close()

    config = graph_config(tmp_path, server)
    done = copy(config, f"archive:{tmp_path / 'A'}", str(tmp_path / "state.db"))
    assert done.returncode == 0, done.stdout + done.stderr
    held = archived()
    assert {key: len(entries) for key, entries in held.items()} == {
        (CollectionKind.CALENDAR, ("Calendrier",)): 2,
        (CollectionKind.CALENDAR, ("Salles",)): 60,
        (CollectionKind.CONTACTS, ("Contacts",)): 1,
        (CollectionKind.CONTACTS, ("Contacts", "Élus")): 1}
    meeting = next(unfold(data) for data in held[(CollectionKind.CALENDAR, ("Calendrier",))]
                   if f"UID:{MEETING['iCalUId']}" in unfold(data))
    assert "SUMMARY:Conseil municipal\\; séance ordinaire\\, budget" in meeting
    again = copy(config, f"archive:{tmp_path / 'A'}", str(tmp_path / "state.db"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert archived() == held  # a rerun adds no event or contact twice


def test_an_event_graph_gives_no_time_for_has_the_same_bytes_on_every_pass():
    """DTSTAMP is required; without Graph's times it is fixed, not the run's clock, or
    every incremental pass would see the event changed and write it again."""
    from msgraph.generated.models.event import Event

    from connectors.graph.ical import event_ics

    first = event_ics(Event(id="AAMkAbc", subject="Sans date de modification"))
    assert b"DTSTAMP:19700101T000000Z" in first
    assert event_ics(Event(id="AAMkAbc", subject="Sans date de modification")) == first
