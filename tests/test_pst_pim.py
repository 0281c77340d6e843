"""An Outlook.com OST (pst-extractor's test file): its roles, its mail as libpff counts it,
its calendars as iCalendar (recurrences included) into an archive; contacts as vCard from
hand-built properties."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from conftest import run_cli

from connectors.pst.pim import Attendee, contact_vcf, event_ics, recurrence_rule
from connectors.pst.props import PSETID_ADDRESS, PSETID_APPOINTMENT, Properties
from migrate.endpoint import parse_endpoint
from migrate.model import CollectionKind, Role
from migrate.pimtext import entry_label
from migrate.registry import connector_for

pypff = pytest.importorskip("pypff", reason="the pst extra (libpff-python) is not installed")


def libpff_counts(path) -> dict[str, int]:
    """Items per top folder of the OST's IPM_SUBTREE, as libpff walks it."""
    pst = pypff.file()
    pst.open(str(path))
    try:
        mailbox = next(f for f in pst.root_folder.sub_folders if f.name == "Root - Mailbox")
        subtree = next(f for f in mailbox.sub_folders if f.name == "IPM_SUBTREE")
        counts = {}
        for folder in subtree.sub_folders:
            counts[folder.name] = folder.number_of_sub_messages
            for child in folder.sub_folders:
                counts[f"{folder.name}/{child.name}"] = child.number_of_sub_messages
        return counts
    finally:
        pst.close()


def test_an_ost_gives_its_roles_mail_and_calendars(outlook_ost):
    counts = libpff_counts(outlook_ost)
    source = connector_for(parse_endpoint(f"pst:{outlook_ost}")).open_source()
    try:
        folders = {f.path: f for f in source.folders()}
        roles = {f.role: f.path for f in folders.values() if f.role}
        assert roles == {Role.INBOX: ("Inbox",), Role.SENT: ("Sent Items",),
                         Role.TRASH: ("Deleted Items",), Role.DRAFTS: ("Drafts",),
                         Role.JUNK: ("Junk Email",), Role.OUTBOX: ("Outbox",),
                         Role.ARCHIVE: ("Archive",)}
        for path, folder in folders.items():
            messages = list(source.messages(folder))
            assert len(messages) == counts["/".join(path)]
            for message in messages:  # headers built here too: no defect, even in headers
                parsed = message_from_bytes(message.content.read(), policy=policy.default)
                assert not [d for part in parsed.walk() for d in part.defects]
                assert not [d for part in parsed.walk() for _, value in part.items()
                            for d in getattr(value, "defects", ())], message.source_id
        assert ("Calendar",) not in folders and ("Tasks",) not in folders
        calendars = {c.path: c for c in source.collections()
                     if c.kind is CollectionKind.CALENDAR}
        assert set(calendars) == {("Calendar",), ("Calendar", "United States holidays"),
                                  ("Calendar", "Birthdays")}
        events = {path: list(source.entries(c)) for path, c in calendars.items()}
    finally:
        source.close()
    assert len(events[("Calendar",)]) == counts["Calendar"] == 9
    assert len(events[("Calendar", "United States holidays")]) == 160
    weekly = next(e for e in events[("Calendar",)]
                  if entry_label(e.data).summary == "repeats every monday for 10 weeks")
    text = weekly.data.decode()
    assert "DTSTART:20210809T170000Z\r\n" in text
    assert "RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=10\r\n" in text
    holiday = next(e for e in events[("Calendar", "United States holidays")]
                   if entry_label(e.data).summary == "Day After Thanksgiving Day"
                   and "2026" in (entry_label(e.data).start or ""))
    assert "DTSTART;VALUE=DATE:20261127\r\n" in holiday.data.decode()
    for entry in events[("Calendar",)] + events[("Calendar", "United States holidays")]:
        lines = entry.data.split(b"\r\n")
        assert lines[0] == b"BEGIN:VCALENDAR" and lines[-2] == b"END:VCALENDAR"
        assert all(len(line) <= 75 for line in lines)
        assert entry_label(entry.data).uid and entry_label(entry.data).start


def test_an_ost_copied_to_an_archive_twice_holds_everything_once(outlook_ost, tmp_path):
    archive, state = tmp_path / "A", str(tmp_path / "s.db")
    first = run_cli("copy", f"pst:{outlook_ost}", f"archive:{archive}", "--state", state)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Copied 14 messages" in first.stdout
    assert "169 events copied" in first.stdout
    assert run_cli("archive", "validate", str(archive)).returncode == 0
    again = run_cli("copy", f"pst:{outlook_ost}", f"archive:{archive}", "--state", state)
    assert again.returncode == 0 and "Copied 0 messages" in again.stdout
    assert "0 events copied" in again.stdout
    records = (archive / "data/index/messages.jsonl").read_text().splitlines()
    assert len(records) == 14
    assert all(json.loads(r)["derived_from"]["file"] == outlook_ost.name for r in records)
    checked = run_cli("verify", f"pst:{outlook_ost}", f"archive:{archive}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "169 of 169 events match" in checked.stdout


@dataclass
class Value:
    """A property as ``Properties`` reads it from libpff: tag, MAPI type and raw bytes."""

    entry_type: int
    value_type: int
    data: bytes

    @property
    def data_as_string(self) -> str:
        return self.data.decode("utf-16-le").rstrip("\0")


class Names:
    """Named properties placed at fixed tags, as a file's name map would."""

    def __init__(self, table: dict[tuple[bytes, int | str], int]) -> None:
        self.table = table

    def tag(self, guid: bytes, name: int | str) -> int | None:
        return self.table.get((guid, name))


def text(tag: int, value: str) -> Value:
    return Value(tag, 0x001F, value.encode("utf-16-le"))


def filetime(tag: int, when: datetime) -> Value:
    ticks = int((when - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000)
    return Value(tag, 0x0040, struct.pack("<Q", ticks))


def properties(values: list[Value], names: dict) -> Properties:
    return Properties({v.entry_type: v for v in values}, Names(names))  # type: ignore[arg-type]


def test_a_contact_as_vcard():
    names = {(PSETID_ADDRESS, 0x8083): 0x8001, (PSETID_ADDRESS, 0x8046): 0x8002}
    card = contact_vcf(properties([
        text(0x3001, "Élodie Martin"), text(0x3A06, "Élodie"), text(0x3A11, "Martin"),
        text(0x8001, "elodie.martin@mairie-exemple.fr"), text(0x8002, "Lyon"),
        text(0x3A08, "+33 4 00 00 00 00"), text(0x3A16, "Mairie; Lyon"),
        filetime(0x3A42, datetime(1980, 5, 17, 22, 0, tzinfo=UTC)),
        text(0x1000, "ligne 1\r\nligne 2")], names), "4242").decode()
    assert card.startswith("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:pst-4242@")
    for line in ("FN:Élodie Martin", "N:Martin;Élodie;;;", "EMAIL:elodie.martin@mairie-exemple.fr",
                 "TEL;TYPE=work:+33 4 00 00 00 00", "ADR;TYPE=work:;;;Lyon;;;",
                 "ORG:Mairie\\; Lyon;", "BDAY:19800518", "NOTE:ligne 1\\nligne 2"):
        assert f"\r\n{line}\r\n" in card, line
    assert card.endswith("END:VCARD\r\n")


def test_an_event_with_attendees_and_an_all_day_one():
    names = {(PSETID_APPOINTMENT, 0x820D): 0x8001, (PSETID_APPOINTMENT, 0x820E): 0x8002,
             (PSETID_APPOINTMENT, 0x8215): 0x8003, (PSETID_APPOINTMENT, 0x8208): 0x8004}
    meeting = event_ics(properties([
        text(0x0037, "Conseil municipal"), text(0x8004, "Salle du conseil"),
        filetime(0x8001, datetime(2024, 3, 4, 18, 0, tzinfo=UTC)),
        filetime(0x8002, datetime(2024, 3, 4, 20, 0, tzinfo=UTC)),
        text(0x0042, "Maire"), text(0x0065, "maire@mairie-exemple.fr")], names),
        [Attendee("Adjoint", "adjoint@mairie-exemple.fr", 1, 3),
         Attendee("Salle", "salle@mairie-exemple.fr", 3, None)], "77").decode()
    for line in ("DTSTART:20240304T180000Z", "DTEND:20240304T200000Z",
                 "SUMMARY:Conseil municipal", "LOCATION:Salle du conseil",
                 "ORGANIZER;CN=Maire:mailto:maire@mairie-exemple.fr",
                 "UID:pst-77@sovereign-migrate.invalid"):
        assert f"\r\n{line}\r\n" in meeting, line
    assert "ATTENDEE;CN=Adjoint;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:adjoint@" in meeting
    assert "ROLE=NON-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:salle@" in meeting
    holiday = event_ics(properties([
        text(0x0037, "14 juillet"), Value(0x8003, 0x000B, b"\x01"),
        filetime(0x8001, datetime(2024, 7, 13, 22, 0, tzinfo=UTC)),  # midnight in Paris
        filetime(0x8002, datetime(2024, 7, 14, 22, 0, tzinfo=UTC))], names), [], "78").decode()
    assert "DTSTART;VALUE=DATE:20240714\r\n" in holiday
    assert "DTEND;VALUE=DATE:20240715\r\n" in holiday
    assert event_ics(properties([text(0x0037, "x")], names), [], "79") == \
        event_ics(properties([text(0x0037, "x")], names), [], "79")


def pattern(frequency: int, kind: int, period: int, specific: bytes, end_type: int,
            count: int, end_minutes: int = 0) -> bytes:
    """A RecurrencePattern (MS-OXOCAL 2.2.1.44.1) without exceptions."""
    return (struct.pack("<HHHHHIII", 0x3004, 0x3004, frequency, kind, 0, 0, period, 0)
            + specific + struct.pack("<IIIII", end_type, count, 1, 0, 0)
            + struct.pack("<II", 0, end_minutes))


def test_recurrence_patterns_become_rrules():
    start = datetime(2024, 1, 8, 23, 30, tzinfo=UTC)  # Tuesday 00:30 in Paris
    weekly = pattern(0x200B, 1, 2, struct.pack("<I", 0b0000100), 0x2022, 5)
    assert recurrence_rule(weekly, start, -start.utcoffset()) == \
        "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;COUNT=5"
    from datetime import timedelta
    paris = timedelta(hours=1)
    assert recurrence_rule(weekly, start, paris) == \
        "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;COUNT=5"  # Tuesday in Paris is Monday in UTC
    second_monday = pattern(0x200C, 3, 1, struct.pack("<II", 0b10, 2), 0x2023, 0)
    assert recurrence_rule(second_monday, start, paris) == \
        "RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=MO;BYSETPOS=2"
    minutes = int((datetime(2024, 12, 31, tzinfo=UTC)
                   - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() // 60)
    daily = pattern(0x200A, 0, 3 * 1440, b"", 0x2021, 0, minutes)
    assert recurrence_rule(daily, start, paris) == \
        "RRULE:FREQ=DAILY;INTERVAL=3;UNTIL=20241231T235959Z"
    assert recurrence_rule(b"\x04\x30", start, paris) is None  # too short: no rule
