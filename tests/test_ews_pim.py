"""Calendars and contacts from Exchange (EWS), against the fake server and the real exchangelib.

Calendar folders and contacts folders are collections named by their display names;
their entries are the items' MimeContent (iCalendar for events, vCard for contacts), byte
for byte as the server served them, fetched in batches.
"""

from __future__ import annotations

import pytest
from conftest import run_cli
from fake_ews import FakeEws, FakeMailbox, FakeMessage

from migrate.connector import Kind, PimSource
from migrate.endpoint import parse_endpoint
from migrate.model import CalendarEvent, CollectionKind, Contact
from migrate.registry import connector_for

pytest.importorskip("exchangelib")

USER = "agent@mairie-exemple.fr"
PASSWORD = "s3cret-Ews!"


def event(n: int, summary: str = "Conseil municipal") -> FakeMessage:
    data = ("BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\nPRODID:Microsoft Exchange Server 2010\r\n"
            "VERSION:2.0\r\nBEGIN:VEVENT\r\nORGANIZER;CN=Mairie:mailto:agent@mairie-exemple.fr"
            f"\r\nSUMMARY;LANGUAGE=fr-FR:{summary} n°{n}\r\n"
            f"DTSTART;TZID=Romance Standard Time:2024{n % 12 + 1:02d}10T180000\r\n"
            f"DTEND;TZID=Romance Standard Time:2024{n % 12 + 1:02d}10T200000\r\n"
            f"UID:040000008200E00074C5B7101A82E00800000000{n:08d}\r\n"
            + "RRULE:FREQ=MONTHLY;BYMONTHDAY=10\r\n" * (n % 2)  # a recurring series' master
            + "LOCATION:Salle du conseil\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()
    return FakeMessage(data, item_class="IPM.Appointment")


def contact(n: int) -> FakeMessage:
    data = (f"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Dupont{n};Hélène;;;\r\nFN:Hélène Dupont{n}\r\n"
            f"EMAIL;TYPE=INTERNET:h.dupont{n}@example.org\r\nTEL;TYPE=WORK:+33 1 23 45 {n:02d}\r\n"
            "END:VCARD\r\n").encode()
    return FakeMessage(data, item_class="IPM.Contact")


@pytest.fixture
def mailbox() -> FakeMailbox:
    box = FakeMailbox(USER)
    box.add_folder("Boîte de réception", well_known="inbox").messages.append(
        FakeMessage(b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"))
    calendar = box.add_folder("Calendrier", well_known="calendar",
                              folder_class="IPF.Appointment")
    calendar.messages += [event(n) for n in range(5)]
    rooms = box.add_folder("Salles", parent=calendar, folder_class="IPF.Appointment")
    rooms.messages += [event(n, "Réservation") for n in range(10, 12)]
    box.add_folder("Anniversaires", folder_class="IPF.Appointment.Birthday").messages.append(
        event(99, "Anniversaire"))
    people = box.add_folder("Contacts", well_known="contacts", folder_class="IPF.Contact")
    people.messages += [contact(n) for n in range(120)]
    box.add_folder("Tâches", well_known="tasks", folder_class="IPF.Task")
    return box


@pytest.fixture
def server(mailbox):
    fake = FakeEws(mailbox, USER, PASSWORD).start()
    yield fake
    fake.stop()


def ews_url(server: FakeEws) -> str:
    return f"ews://agent%40mairie-exemple.fr:{PASSWORD}@{server.host}?tls=off&auth=basic"


def served(mailbox: FakeMailbox, name: str) -> dict[str, bytes]:
    folder = next(f for f in mailbox.folders.values() if f.name == name)
    return {m.id: m.mime for m in folder.messages}


def test_calendars_and_contacts_are_read_byte_identical_in_batches(server, mailbox):
    reader = connector_for(parse_endpoint(ews_url(server))).open_source()
    assert isinstance(reader, PimSource)
    try:
        collections = {c.path: c for c in reader.collections()}
        assert {(path, c.kind) for path, c in collections.items()} == {
            (("Calendrier",), CollectionKind.CALENDAR),
            (("Calendrier", "Salles"), CollectionKind.CALENDAR),
            (("Contacts",), CollectionKind.CONTACTS)}  # no birthdays (generated), no tasks
        before = server.requests.copy()
        events = list(reader.entries(collections[("Calendrier",)]))
        assert all(isinstance(e, CalendarEvent) for e in events)
        assert {e.source_id: e.data for e in events} == served(mailbox, "Calendrier")
        rooms = {e.source_id: e.data for e in reader.entries(collections[("Calendrier", "Salles")])}
        assert rooms == served(mailbox, "Salles")
        people = list(reader.entries(collections[("Contacts",)]))
        assert all(isinstance(c, Contact) for c in people)
        assert {c.source_id: c.data for c in people} == served(mailbox, "Contacts")
        sent = server.requests - before
        assert sent["GetItem:MimeContent"] == 1 + 1 + 3  # 120 contacts: 50 at a time
        assert set(server.mime_fetched.values()) == {1}
        assert sorted(reader.collections(), key=lambda c: c.path)  # listed once, still there
        assert (server.requests - before)["FindFolder"] == 0
    finally:
        reader.close()


def test_the_connector_says_it_reads_calendars_and_contacts():
    caps = connector_for(parse_endpoint("ews://agent@mail.example.org")).capabilities
    assert {Kind.CALENDAR, Kind.CONTACTS} <= caps.reads


def _archived_entries(path) -> dict[tuple[str, tuple[str, ...]], set[bytes]]:
    reader = connector_for(parse_endpoint(f"archive:{path}")).open_source()
    try:
        assert isinstance(reader, PimSource), "the archive holds no calendars or contacts"
        return {(c.kind.value, c.path): {e.data for e in reader.entries(c)}
                for c in reader.collections()}
    finally:
        reader.close()


def test_copy_to_archive_carries_calendars_and_contacts(server, mailbox, tmp_path):
    done = run_cli("copy", ews_url(server), f"archive:{tmp_path / 'A'}",
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _archived_entries(tmp_path / "A") == {
        ("calendar", ("Calendrier",)): set(served(mailbox, "Calendrier").values()),
        ("calendar", ("Calendrier", "Salles")): set(served(mailbox, "Salles").values()),
        ("contacts", ("Contacts",)): set(served(mailbox, "Contacts").values())}


def test_calendars_and_contacts_go_back_to_exchange_once(server, mailbox, tmp_path):
    """Reversibility: Exchange → archive → another Exchange mailbox; each event and contact
    is uploaded once into the matching calendar or contacts folder, a rerun uploads
    nothing, and verify finds every entry at the target."""
    archive = f"archive:{tmp_path / 'A'}"
    exported = run_cli("copy", ews_url(server), archive,
                       "--state", str(tmp_path / "export.db"), "--quiet")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    box = FakeMailbox(USER)
    box.add_folder("Boîte de réception", well_known="inbox")
    calendar = box.add_folder("Calendrier", well_known="calendar", folder_class="IPF.Appointment")
    contacts = box.add_folder("Contacts", well_known="contacts", folder_class="IPF.Contact")
    other = FakeEws(box, USER, PASSWORD).start()
    try:
        args = ("copy", archive, ews_url(other), "--state", str(tmp_path / "import.db"),
                "--quiet")
        done = run_cli(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        rooms = next(f for f in box.folders.values() if f.name == "Salles")
        assert rooms.parent == calendar.id
        assert sorted(m.mime for m in calendar.messages) == \
            sorted(served(mailbox, "Calendrier").values())
        assert sorted(m.mime for m in rooms.messages) == sorted(served(mailbox, "Salles").values())
        assert sorted(m.mime for m in contacts.messages) == \
            sorted(served(mailbox, "Contacts").values())
        uploaded = other.requests["created"]
        assert run_cli(*args).returncode == 0
        assert other.requests["created"] == uploaded  # a rerun uploads nothing

        checked = run_cli("verify", archive, ews_url(other))
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        other.stop()


def test_the_plan_counts_calendars_and_contacts_without_fetching_them(server, mailbox, tmp_path):
    planned = run_cli("plan", ews_url(server), f"archive:{tmp_path / 'A'}")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    lines = planned.stdout.splitlines()
    assert any("Calendrier" in line and " 5 " in f"{line} " for line in lines), planned.stdout
    assert any("Contacts" in line and "120" in line for line in lines), planned.stdout
    assert server.requests["GetItem:MimeContent"] == 0 and server.requests["FindItem"] == 0
