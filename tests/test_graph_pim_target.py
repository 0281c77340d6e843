"""Calendars and contacts written to Microsoft 365 through Graph (the real msgraph-sdk against
tests/fake_graph.py): iCalendar and vCard translated into Graph's JSON, each entry written
once (a rerun, a lost state database, a dropped answer or a kill -9 write nothing twice),
and what was written reads back through the Graph source."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from fake_graph import FakeGraph, FakeMailbox
from fake_graph_pim_write import properties
from test_archive_pim import EVENT, VCARD3, VCARD4, FixtureConnector, engine_copy, read_all
from test_graph_copy import TENANT, TOKEN, USER
from test_graph_target import cli, open_target

from connectors.graph.contact_json import contact_json
from connectors.graph.event_json import event_json
from connectors.graph.pim_target import UID_PROPERTY
from connectors.graph.target import SHA256_PROPERTY
from migrate.errors import BadInputError, ConfigError
from migrate.model import CalendarEvent, Collection, CollectionKind, Contact
from migrate.pimtext import entry_names, start_instant

CAL, CONTACTS = CollectionKind.CALENDAR, CollectionKind.CONTACTS


def ics(*lines: str, zones: str = "") -> bytes:
    """A VCALENDAR holding one VEVENT with ``lines`` (CRLF, as servers write them)."""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//FR\r\n" + zones
            + "BEGIN:VEVENT\r\n" + "".join(f"{line}\r\n" for line in lines)
            + "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


# --- translators ---------------------------------------------------------------------------


def test_an_event_in_a_named_zone_with_attendees_reminder_and_flags():
    data = ics("UID:conseil-42@mairie-exemple.fr", "SUMMARY:Conseil\\, séance publique",
               "DTSTART;TZID=Europe/Paris:20260615T180000",
               "DTEND;TZID=Europe/Paris:20260615T200000",
               "DESCRIPTION:Ordre du jour :\\n1. Budget",
               "X-ALT-DESC;FMTTYPE=text/html:<p>Ordre du jour</p>",
               "LOCATION:Salle du conseil\\; mairie", "CATEGORIES:Élus,Public",
               "ORGANIZER;CN=Maire:mailto:maire@mairie-exemple.fr",
               'ATTENDEE;CN="Dupont, Jeanne";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:'
               "mailto:jdupont@mairie-exemple.fr",
               "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:pm@mairie-exemple.fr",
               "ATTENDEE;CUTYPE=ROOM;CN=Salle:mailto:salle@mairie-exemple.fr",
               "CLASS:CONFIDENTIAL", "PRIORITY:1", "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
               "ATTACH;FMTTYPE=text/plain:https://example.invalid/a.txt", "GEO:48.85;2.35",
               "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT30M", "END:VALARM")
    invited = event_json(data, invite=True)
    body = invited.json
    assert invited.uid == "conseil-42@mairie-exemple.fr"
    assert body["subject"] == "Conseil, séance publique"
    assert body["body"] == {"contentType": "html", "content": "<p>Ordre du jour</p>"}
    assert body["start"] == {"dateTime": "2026-06-15T18:00:00", "timeZone": "Europe/Paris"}
    assert body["end"] == {"dateTime": "2026-06-15T20:00:00", "timeZone": "Europe/Paris"}
    assert body["isAllDay"] is False
    assert body["location"] == {"displayName": "Salle du conseil; mairie"}
    assert body["categories"] == ["Élus", "Public"]
    assert [(a["type"], a["status"]["response"], a["emailAddress"]["address"],
             a["emailAddress"]["name"]) for a in body["attendees"]] == [
        ("required", "accepted", "jdupont@mairie-exemple.fr", "Dupont, Jeanne"),
        ("optional", "tentativelyAccepted", "pm@mairie-exemple.fr", "pm@mairie-exemple.fr"),
        ("resource", "none", "salle@mairie-exemple.fr", "Salle")]
    assert (body["sensitivity"], body["importance"], body["showAs"]) == \
        ("confidential", "high", "oof")
    assert (body["isReminderOn"], body["reminderMinutesBeforeStart"]) == (True, 30)
    assert "organizer" not in body  # read-only at Graph: reported instead
    lost = " | ".join(invited.lost)
    assert "organizer" in lost and "1 attachment(s)" in lost and "properties GEO" in lost
    json.dumps(body)  # what is POSTed

    kept_out = event_json(data)  # the default: nobody is invited again
    assert "attendees" not in kept_out.json
    assert any("3 attendee(s) not set" in line for line in kept_out.lost)


def test_all_day_utc_floating_and_duration_times():
    all_day = event_json(ics("UID:a", "DTSTART;VALUE=DATE:20260714", "SUMMARY:Fête")).json
    assert all_day["isAllDay"] is True
    assert all_day["start"] == {"dateTime": "2026-07-14T00:00:00", "timeZone": "UTC"}
    assert all_day["end"] == {"dateTime": "2026-07-15T00:00:00", "timeZone": "UTC"}
    assert all_day["isReminderOn"] is False  # no VALARM: no reminder (not Graph's default)
    utc = event_json(ics("UID:b", "DTSTART:20260301T080000Z", "DURATION:PT1H30M")).json
    assert utc["start"] == {"dateTime": "2026-03-01T08:00:00", "timeZone": "UTC"}
    assert utc["end"] == {"dateTime": "2026-03-01T09:30:00", "timeZone": "UTC"}
    floating = event_json(ics("UID:c", "DTSTART:20260301T080000", "DTEND:20260301T090000"))
    assert floating.json["start"]["timeZone"] == "UTC"
    assert any("floating" in line for line in floating.lost)


CUSTOM_ZONE = ("BEGIN:VTIMEZONE\r\nTZID:(UTC+01:00) Bruxelles\\, Paris\r\n"
               "BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\n"
               "TZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n"
               "BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\n"
               "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n"
               "END:VTIMEZONE\r\n")


def test_windows_and_custom_time_zones():
    windows = event_json(ics("UID:w", "DTSTART;TZID=Romance Standard Time:20260105T090000",
                             "DTEND;TZID=Romance Standard Time:20260105T100000")).json
    assert windows["start"] == {"dateTime": "2026-01-05T09:00:00", "timeZone": "Europe/Paris"}
    tzid = '"(UTC+01:00) Bruxelles, Paris"'
    summer = event_json(ics("UID:s", f"DTSTART;TZID={tzid}:20260615T090000",
                            f"DTEND;TZID={tzid}:20260615T100000", zones=CUSTOM_ZONE))
    winter = event_json(ics("UID:h", f"DTSTART;TZID={tzid}:20260105T090000",
                            f"DTEND;TZID={tzid}:20260105T100000", zones=CUSTOM_ZONE))
    assert summer.json["start"] == {"dateTime": "2026-06-15T07:00:00", "timeZone": "UTC"}
    assert winter.json["start"] == {"dateTime": "2026-01-05T08:00:00", "timeZone": "UTC"}
    assert any("not a known name" in line for line in summer.lost)
    with pytest.raises(BadInputError, match="Mars/Olympus"):
        event_json(ics("UID:x", "DTSTART;TZID=Mars/Olympus:20260105T090000"))


@pytest.mark.parametrize(("rule", "pattern", "span"), [
    ("FREQ=DAILY;INTERVAL=2;COUNT=5", {"type": "daily", "interval": 2},
     {"type": "numbered", "numberOfOccurrences": 5}),
    ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", {"type": "weekly", "interval": 1, "daysOfWeek": [
        "monday", "tuesday", "wednesday", "thursday", "friday"]}, {"type": "noEnd"}),
    ("FREQ=WEEKLY;BYDAY=MO,TH;WKST=SU;UNTIL=20261231T235959Z",
     {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "thursday"],
      "firstDayOfWeek": "sunday"}, {"type": "endDate", "endDate": "2026-12-31"}),
    ("FREQ=WEEKLY", {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"],
                     "firstDayOfWeek": "monday"}, {"type": "noEnd"}),
    ("FREQ=MONTHLY;BYMONTHDAY=15", {"type": "absoluteMonthly", "interval": 1,
                                    "dayOfMonth": 15}, {"type": "noEnd"}),
    ("FREQ=MONTHLY;BYDAY=-1FR", {"type": "relativeMonthly", "interval": 1,
                                 "daysOfWeek": ["friday"], "index": "last"}, {"type": "noEnd"}),
    ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1",
     {"type": "relativeMonthly", "interval": 1, "index": "first", "daysOfWeek": [
         "monday", "tuesday", "wednesday", "thursday", "friday"]}, {"type": "noEnd"}),
    ("FREQ=YEARLY;BYMONTH=7;BYMONTHDAY=14;COUNT=3",
     {"type": "absoluteYearly", "interval": 1, "month": 7, "dayOfMonth": 14},
     {"type": "numbered", "numberOfOccurrences": 3}),
    ("FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", {"type": "relativeYearly", "interval": 1,
                                          "month": 11, "daysOfWeek": ["thursday"],
                                          "index": "fourth"}, {"type": "noEnd"}),
])
def test_recurrences_graph_has(rule, pattern, span):
    made = event_json(ics("UID:r", "DTSTART;TZID=Europe/Paris:20260105T090000",
                          "DTEND;TZID=Europe/Paris:20260105T100000", f"RRULE:{rule}"))
    recurrence = made.json["recurrence"]
    assert recurrence["pattern"] == pattern
    assert recurrence["range"] == {"startDate": "2026-01-05",
                                   "recurrenceTimeZone": "Europe/Paris", **span}
    assert not made.lost


@pytest.mark.parametrize("rule", ["FREQ=HOURLY;INTERVAL=4", "FREQ=MONTHLY;BYMONTHDAY=1,15",
                                  "FREQ=WEEKLY;BYDAY=1MO", "FREQ=YEARLY;BYWEEKNO=20",
                                  "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=2,4"])
def test_other_recurrences_keep_the_first_occurrence_and_say_so(rule):
    made = event_json(ics("UID:r", "DTSTART:20260105T090000Z", "DTEND:20260105T100000Z",
                          f"RRULE:{rule}", "EXDATE:20260112T090000Z"))
    assert "recurrence" not in made.json
    assert made.json["start"]["dateTime"] == "2026-01-05T09:00:00"
    assert any(rule in line and "first occurrence" in line for line in made.lost)
    assert any(line.startswith("EXDATE") for line in made.lost)


def test_a_vcard_with_several_emails_phones_and_addresses():
    card = contact_json((
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:c-1\r\nFN:Amélie Lefèvre\r\n"
        "N:Lefèvre;Amélie;Marie;Dr;\r\nNICKNAME:Amé\r\n"
        "EMAIL;TYPE=home:amelie@example.fr\r\nEMAIL;PREF=1;TYPE=work:a.lefevre@mairie.fr\r\n"
        "EMAIL:third@example.fr\r\nEMAIL:fourth@example.fr\r\n"
        "TEL;TYPE=work,voice;VALUE=uri:tel:+33-1-23-45-67-89\r\nTEL;TYPE=home:+33 2 00 00 00 00\r\n"
        "TEL;TYPE=cell:+33 6 12 34 56 78\r\nTEL;TYPE=fax:+33 1 99 99 99 99\r\n"
        "TEL:+33 3 33 33 33 33\r\n"
        "ADR;TYPE=work:;Bureau 2;1 place de la Mairie;Exemple;;12345;France\r\n"
        "ADR;TYPE=home:;;3 rue des Lilas;Ailleurs;Bretagne;29000;France\r\n"
        "ADR:;;9 chemin Vert;Là-bas;;33000;France\r\n"
        "ORG:Mairie d'Exemple;État civil\r\nTITLE:Officière d'état civil\r\n"
        "BDAY:1980-05-17\r\nNOTE:Ligne 1\\nLigne 2\\, suite\r\nCATEGORIES:Agents,Élus\r\n"
        "URL:https://mairie-exemple.fr\r\nPHOTO:data:image/png;base64,AAAA\r\n"
        "END:VCARD\r\n").encode())
    body = card.json
    assert card.uid == "urn:uuid:c-1"
    assert (body["displayName"], body["givenName"], body["middleName"], body["surname"],
            body["title"], body["nickName"]) == ("Amélie Lefèvre", "Amélie", "Marie",
                                                  "Lefèvre", "Dr", "Amé")
    assert [e["address"] for e in body["emailAddresses"]] == [
        "a.lefevre@mairie.fr", "amelie@example.fr", "third@example.fr"]  # PREF=1 first
    assert body["businessPhones"] == ["+33-1-23-45-67-89", "+33 3 33 33 33 33"]
    assert body["homePhones"] == ["+33 2 00 00 00 00"]
    assert body["mobilePhone"] == "+33 6 12 34 56 78"
    assert body["businessAddress"] == {"street": "Bureau 2\n1 place de la Mairie",
                                       "city": "Exemple", "postalCode": "12345",
                                       "countryOrRegion": "France"}
    assert body["homeAddress"]["state"] == "Bretagne"
    assert body["otherAddress"]["street"] == "9 chemin Vert"  # untyped: the free place
    assert (body["companyName"], body["department"], body["jobTitle"]) == \
        ("Mairie d'Exemple", "État civil", "Officière d'état civil")
    assert body["birthday"] == "1980-05-17T12:00:00Z"
    assert body["personalNotes"] == "Ligne 1\nLigne 2, suite"
    assert body["categories"] == ["Agents", "Élus"]
    assert body["businessHomePage"] == "https://mairie-exemple.fr"
    lost = " | ".join(card.lost)
    assert "1 e-mail address(es) beyond" in lost and "1 fax" in lost
    assert "properties PHOTO" in lost


@pytest.mark.parametrize(("data", "message"), [
    (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "no VEVENT"),
    (ics("UID:x", "SUMMARY:sans date"), "no DTSTART"),
    (ics("UID:x", "DTSTART:2026-13-45"), "not an iCalendar date"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101T000000Z\r\n", "never closed"),
    (b"\x00\x01 not a calendar", "no BEGIN line"),
    (VCARD3, "a VCALENDAR was expected"),
])
def test_a_bad_event_gives_a_clear_error(data, message):
    with pytest.raises(BadInputError, match=message):
        event_json(data)


def test_a_bad_vcard_gives_a_clear_error():
    with pytest.raises(BadInputError, match="neither a name"):
        contact_json(b"BEGIN:VCARD\r\nVERSION:4.0\r\nNOTE:rien\r\nEND:VCARD\r\n")
    with pytest.raises(BadInputError, match="a VCARD was expected"):
        contact_json(EVENT)


# --- writing to Microsoft 365 ----------------------------------------------------------------

SERIES = ics("UID:permanence@mairie-exemple.fr", "SUMMARY:Permanence des élus",
             "DTSTART;TZID=Europe/Paris:20260105T090000",
             "DTEND;TZID=Europe/Paris:20260105T120000", "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10")
HOLIDAY = ics("UID:fete-2026@mairie-exemple.fr", "SUMMARY:Fête nationale",
              "DTSTART;VALUE=DATE:20260714", "DTEND;VALUE=DATE:20260715", "TRANSP:TRANSPARENT")
MEETING = ics("UID:commission@mairie-exemple.fr", "SUMMARY:Commission travaux",
              "DTSTART:20261005T140000Z", "DTEND:20261005T160000Z",
              "ATTENDEE;CN=Jeanne Dupont:mailto:jdupont@mairie-exemple.fr")
ELU = (b"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:elu-1\r\nFN:Paul Martin\r\nN:Martin;Paul;;;\r\n"
       b"EMAIL:pmartin@mairie-exemple.fr\r\nTEL;TYPE=cell:+33 6 00 00 00 01\r\n"
       b"END:VCARD\r\n")
AGENDA = Collection(CAL, ("Calendrier",), "cal-1")
REUNIONS = Collection(CAL, ("Réunions",), "cal-2")
CARNET = Collection(CONTACTS, ("Contacts",), "ab-1")
ELUS = Collection(CONTACTS, ("Contacts", "Élus"), "ab-2")
UIDS = {"conseil-2026-12@mairie-exemple.fr", "permanence@mairie-exemple.fr",
        "fete-2026@mairie-exemple.fr", "commission@mairie-exemple.fr", "c1-amelie",
        "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1", "elu-1"}


def pim_data(extra: int = 0, bad: bool = False) -> dict:
    agenda = [CalendarEvent("e-1", EVENT), CalendarEvent("e-2", SERIES),
              CalendarEvent("e-3", HOLIDAY)]
    agenda += [CalendarEvent(f"x-{n}", ics(f"UID:extra-{n}", f"SUMMARY:Réunion {n}",
                                           f"DTSTART:2026{1 + n % 12:02d}02T090000Z"))
               for n in range(extra)]
    if bad:
        agenda.append(CalendarEvent("e-bad", ics("UID:sans-date", "SUMMARY:Sans date")))
    return {AGENDA: agenda, REUNIONS: [CalendarEvent("e-4", MEETING)],
            CARNET: [Contact("c-1", VCARD3), Contact("c-2", VCARD4)],
            ELUS: [Contact("c-3", ELU)]}


@pytest.fixture
def mairie():
    """A Microsoft 365 mailbox holding only its (French) default calendar."""
    box = FakeMailbox(USER)
    box.calendars["AAMkCalendrier"] = ("Calendrier", [])
    fake = FakeGraph(box, tokens={TOKEN}).start()
    yield fake
    fake.stop()


@pytest.fixture
def config(tmp_path, mairie) -> str:
    """A config naming the Microsoft 365 mailbox ``cible``."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    path = tmp_path / "migrate.toml"
    path.write_text(f'[endpoints.cible]\nurl = "graph://{TENANT}/{USER}"\n'
                    f'graph_url = "{mairie.url}"\ntoken_file = "{token_file}"\n'
                    'page_size = "10"\n')
    return str(path)


def make_archive(tmp_path, name: str = "A", **options):
    path = tmp_path / name
    data = pim_data(**options)
    result = engine_copy(FixtureConnector(data), path, tmp_path / f"{name}.db")
    assert result.copied == sum(len(entries) for entries in data.values())
    return path


def box(server: FakeGraph) -> FakeMailbox:
    return server.mailboxes[USER]


def written(server: FakeGraph) -> dict[tuple[str, str], list[dict]]:
    """What the mailbox holds: (kind, calendar or folder name) → items."""
    mailbox = box(server)
    held = {("calendar", name): items for name, items in mailbox.calendars.values()}
    held["contacts", "Contacts"] = mailbox.contacts
    held |= {("contacts", name): items for name, items in mailbox.contact_folders.values()}
    return held


def test_archive_to_m365_writes_each_entry_once_where_it_belongs(mairie, config, tmp_path):
    archive = make_archive(tmp_path)
    state = tmp_path / "state.db"
    args = ("copy", f"archive:{archive}", "cible", "--state", str(state), "--quiet")
    done = cli(config, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    held = written(mairie)
    assert {key: len(items) for key, items in held.items()} == {
        ("calendar", "Calendrier"): 3, ("calendar", "Réunions"): 1,  # the default, one made
        ("contacts", "Contacts"): 2, ("contacts", "Élus"): 1}
    assert (mairie.requests["createCalendar"], mairie.requests["createContactFolder"]) == (1, 1)
    assert (mairie.requests["createEvent"], mairie.requests["createContact"]) == (4, 3)
    kept = properties(box(mairie))
    items = [item for entries in held.values() for item in entries]
    assert all(len(kept[i["id"]][SHA256_PROPERTY]) == 64 for i in items)
    assert {kept[i["id"]][UID_PROPERTY] for i in items} == UIDS
    events = {i["subject"]: i for i in held["calendar", "Calendrier"]}
    conseil = events["Conseil municipal — séance publique, salle des fêtes"]
    assert conseil["start"]["dateTime"].startswith("2026-12-01T17:00:00")  # 18:00 Paris
    assert conseil["originalStartTimeZone"] == "Europe/Paris"
    assert conseil["reminderMinutesBeforeStart"] == 15
    assert events["Permanence des élus"]["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    assert events["Fête nationale"]["isAllDay"] is True
    (meeting,) = held["calendar", "Réunions"]
    assert meeting["attendees"] == []  # nobody invited again (attendees=invite to do so)

    again = cli(config, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    state.unlink()
    lost = cli(config, *args)
    assert lost.returncode == 0, lost.stdout + lost.stderr
    assert (mairie.requests["createEvent"], mairie.requests["createContact"]) == (4, 3)
    assert mairie.requests["pim:expand"] >= 4  # recognised by the sha256 property
    assert {key: len(items) for key, items in written(mairie).items()} == {
        ("calendar", "Calendrier"): 3, ("calendar", "Réunions"): 1,
        ("contacts", "Contacts"): 2, ("contacts", "Élus"): 1}


def test_a_bad_entry_fails_alone_with_a_clear_message(mairie, config, tmp_path):
    archive = make_archive(tmp_path, bad=True)
    done = cli(config, "copy", f"archive:{archive}", "cible", "--state",
               str(tmp_path / "state.db"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no DTSTART" in done.stdout + done.stderr
    assert mairie.requests["createEvent"] == 4 and mairie.requests["createContact"] == 3


def test_an_entry_whose_answer_is_lost_is_not_written_twice(mairie, config):
    mairie.drop_answers = 1  # stored, then the link drops before the answer
    writer = open_target(config)
    try:
        writer.prepare_collection(AGENDA)
        key = writer.put_entry(AGENDA, CalendarEvent("e-2", SERIES))
        again = writer.find_entry(AGENDA, CalendarEvent("e-2", SERIES))
    finally:
        writer.close()
    (stored,) = written(mairie)["calendar", "Calendrier"]
    assert key == stored["id"] and again is None  # claimed once, by the write itself
    assert mairie.requests["createEvent"] == 1 and mairie.requests["pim:filter"] == 1


def test_plan_says_what_m365_cannot_keep_of_events_and_contacts(mairie, config, tmp_path):
    archive = make_archive(tmp_path)
    planned = cli(config, "plan", f"archive:{archive}", "cible")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "attendees=invite" in planned.stdout and "photo" in planned.stdout
    assert "Réunions" in planned.stdout
    assert mairie.requests["createCalendar"] == mairie.requests["createEvent"] == 0


def test_a_killed_copy_then_a_rerun_writes_nothing_twice(mairie, config, tmp_path):
    archive = make_archive(tmp_path, extra=30)
    mairie.delay = 0.05  # each request is slow: the kill lands in one
    args = ["--config", config, "copy", f"archive:{archive}", "cible", "--state",
            str(tmp_path / "state.db"), "--quiet"]
    process = subprocess.Popen([sys.executable, "-m", "migrate", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while mairie.requests["createEvent"] < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert 0 < mairie.requests["createEvent"] < 34
    time.sleep(0.3)  # let the server finish what the dead client had sent
    mairie.delay = 0.0
    again = cli(config, *args[2:])
    assert again.returncode == 0, again.stdout + again.stderr
    counts = {key: len(items) for key, items in written(mairie).items()}
    assert counts == {("calendar", "Calendrier"): 33, ("calendar", "Réunions"): 1,
                      ("contacts", "Contacts"): 2, ("contacts", "Élus"): 1}
    assert mairie.requests["createEvent"] == 34 and mairie.requests["createContact"] == 3


def test_what_was_written_reads_back_and_verifies_as_translated(mairie, config, tmp_path):
    """archive → Microsoft 365 → archive: each entry comes back as the same event or
    contact in Graph's words; verify pairs them by what they are (the start as a UTC
    instant and the title, or the name) and says what did not come back."""
    archive = make_archive(tmp_path)
    cli(config, "copy", f"archive:{archive}", "cible", "--state", str(tmp_path / "in.db"),
        "--quiet", check=True)
    back = tmp_path / "B"
    cli(config, "copy", "cible", f"archive:{back}", "--state", str(tmp_path / "out.db"),
        "--quiet", check=True)
    returned = read_all(back)
    assert {key: len(entries) for key, entries in returned.items()} == {
        ("calendar", ("Calendrier",)): 3, ("calendar", ("Réunions",)): 1,
        ("contacts", ("Contacts",)): 2, ("contacts", ("Contacts", "Élus")): 1}
    series = next(e.decode() for e in returned["calendar", ("Calendrier",)]
                  if "Permanence" in e.decode())
    assert "DTSTART:20260105T080000Z" in series  # 09:00 Paris, in UTC
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=MO;COUNT=10" in series

    checked = cli(config, "verify", f"archive:{archive}", "cible", "--report-json",
                  str(tmp_path / "verify.json"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "7 events or contacts were rewritten by the target" in checked.stdout
    report = json.loads((tmp_path / "verify.json").read_text())
    assert report["pim_totals"]["calendar"]["transformed"] == 4
    assert report["pim_totals"]["contacts"]["transformed"] == 3
    conseil = next(line for line in checked.stdout.splitlines() if "Conseil" in line)
    assert "−VALARM" in conseil  # the reminder: the Graph source does not read it back
    assert "+ORGANIZER" in conseil  # the mailbox owner became the organizer
    commission = next(line for line in checked.stdout.splitlines() if "Commission" in line)
    assert "−ATTENDEE" in commission  # kept out: nobody invited again

    plain = cli(config, "verify", f"archive:{archive}", f"archive:{back}")
    assert plain.returncode == 1  # two archives: nothing says one was translated


def test_roundtrip_through_m365_certifies_translated_entries(mairie, config, tmp_path):
    archive = make_archive(tmp_path)
    done = cli(config, "roundtrip", str(archive), "--via", "cible", "--out",
               str(tmp_path / "back"), "--certificate", str(tmp_path / "cert"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 came back translated" in done.stdout


def test_attendees_are_set_only_when_the_endpoint_says_invite(mairie, config):
    writer = open_target(config, attendees="invite")
    try:
        writer.put_entry(REUNIONS, CalendarEvent("e-4", MEETING))
    finally:
        writer.close()
    (meeting,) = written(mairie)["calendar", "Réunions"]
    assert [a["emailAddress"]["address"] for a in meeting["attendees"]] == \
        ["jdupont@mairie-exemple.fr"]
    with pytest.raises(ConfigError, match="attendees must be keep-out"):
        open_target(config, attendees="yes")


def test_m365_declares_what_it_cannot_keep_of_events_and_contacts():
    from migrate.connector import Feature, Kind
    from migrate.registry import connector_class

    caps = connector_class("graph").capabilities
    assert {Kind.CALENDAR, Kind.CONTACTS} <= caps.writes
    for feature in (Feature.EVENT_DETAILS, Feature.CONTACT_DETAILS):
        assert set(caps.limits[feature]) == {"en", "fr"}
    archive = connector_class("archive").capabilities
    assert {f for f, _ in archive.lost_between(caps)} >= {Feature.EVENT_DETAILS,
                                                         Feature.CONTACT_DETAILS}
    assert not {f for f, _ in caps.lost_between(archive)} & {Feature.EVENT_DETAILS,
                                                            Feature.CONTACT_DETAILS}


def test_entry_shapes_for_comparing_translations():
    assert start_instant("20261201T180000 (TZID=Europe/Paris)") == "20261201T170000Z"
    assert start_instant("20260714 (VALUE=DATE)") == "20260714"
    assert start_instant("20260301T080000") == "20260301T080000Z"  # floating: as UTC
    assert start_instant("20260301T080000 (TZID=Mars/Olympus)") == \
        "20260301T080000 (TZID=Mars/Olympus)"  # unknown: as written, never guessed
    assert entry_names(EVENT) == {"DTSTART", "DTEND", "SUMMARY", "LOCATION", "VALARM"}
    assert entry_names(VCARD3) == {"N", "FN", "ORG", "EMAIL", "TEL"}


def test_collections_go_to_the_default_or_a_calendar_found_or_made_by_name(mairie, config):
    box(mairie).calendars["AAMkSalles"] = ("salles", [])  # another case: found, not made
    box(mairie).contact_folders["AAMkElus"] = ("Élus", [])
    writer = open_target(config)
    try:
        for path in (("Calendar",), ("Calendrier", "Projets été"), ("Salles",),
                     ("Agenda partagé", "Voirie")):
            writer.prepare_collection(Collection(CAL, path))
        for path in (("Carnet d'adresses",), ("Contacts", "élus"), ("Fournisseurs",)):
            writer.prepare_collection(Collection(CONTACTS, path))
    finally:
        writer.close()
    assert sorted(name for name, _ in box(mairie).calendars.values()) == \
        ["Agenda partagé/Voirie", "Calendrier", "Projets été", "salles"]
    assert sorted(name for name, _ in box(mairie).contact_folders.values()) == \
        ["Fournisseurs", "Élus"]
    assert (mairie.requests["createCalendar"], mairie.requests["createContactFolder"]) == (2, 1)


def test_what_a_translation_leaves_out_is_listed_per_entry_in_the_copy_reports(
        mairie, config, tmp_path):
    archive = make_archive(tmp_path)
    reports = tmp_path / "r.json", tmp_path / "r.html"
    done = cli(config, "--lang", "fr", "copy", f"archive:{archive}", "cible", "--state",
               str(tmp_path / "s.db"), "--quiet", "--report-json", str(reports[0]),
               "--report-html", str(reports[1]))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(reports[0].read_text())
    losses = {loss["title"]: loss for loss in report["losses"]}
    meeting = losses["Commission travaux"]
    assert meeting["folder"] == ["calendar", "Réunions"] and meeting["key"]  # the archive's
    assert any("attendee" in lost for lost in meeting["lost"])
    assert "Fête nationale" not in losses  # carried whole
    lossy = len([loss for loss in losses.values() if loss["folder"][0] == "calendar"])
    assert f"{lossy} de ces événements ont été écrits sans des détails" in done.stdout
    page = reports[1].read_text()
    assert "Écrits sans certains détails" in page and "Commission travaux" in page
