"""Calendars and contacts in the neutral archive: written through the real engine from a
calendar source, then used as an operator would (copy, validate, show, plan, verify,
roundtrip) with the real CLI; byte fidelity, reruns, tampering, hostile names, kill -9."""

from __future__ import annotations

import html
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bagit
import pytest
from conftest import run_cli

from connectors.archive import ArchiveConnector
from migrate.archive import ArchiveWriter, open_archive, summary, validate
from migrate.connector import Capabilities, Connector, Feature, Kind, PimSource
from migrate.endpoint import Endpoint, parse_endpoint
from migrate.engine import CopyOptions, copy
from migrate.model import CalendarEvent, Collection, CollectionKind, Contact, Entry
from migrate.observe import Observers
from migrate.state import StateDB

CAL = CollectionKind.CALENDAR
CONTACTS = CollectionKind.CONTACTS

# An event as Exchange or a CalDAV server serves it: CRLF, a VTIMEZONE, a TZID start,
# a folded non-ASCII SUMMARY (the fold splits a two-byte UTF-8 character), an alarm
# whose SUMMARY must not be taken for the event's.
_SUMMARY = "SUMMARY:Conseil municipal — séance publique\\, salle des fêtes".encode()
_CUT = _SUMMARY.index("é".encode()) + 1  # inside the two bytes of "é"
EVENT = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mairie d'Exemple//Agenda//FR\r\n"
    b"BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    b"TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    b"BEGIN:VEVENT\r\nUID:conseil-2026-12@mairie-exemple.fr\r\n"
    b"DTSTART;TZID=Europe/Paris:20261201T180000\r\n"
    b"DTEND;TZID=Europe/Paris:20261201T200000\r\n"
    + _SUMMARY[:_CUT] + b"\r\n " + _SUMMARY[_CUT:] + b"\r\n"
    + "LOCATION:Hôtel de ville\\; salle du conseil\r\n".encode()
    + b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nSUMMARY:rappel\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n")
EVENT_SUMMARY = "Conseil municipal — séance publique, salle des fêtes"

VCARD3 = ("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lefèvre;Amélie;;;\r\nFN:Amélie Lefèvre\r\n"
          "ORG:Mairie d'Exemple;Service état civil\r\nEMAIL;TYPE=INTERNET:a.lefevre@mairie-"
          "exemple.fr\r\nTEL;TYPE=WORK,VOICE:+33 1 23 45 67 89\r\nUID:c1-amelie\r\n"
          "END:VCARD\r\n").encode()
VCARD4 = ("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Jérôme Dupont-Ñúñez\r\nN:Dupont-Ñúñez;Jérôme"
          ";;;\r\nKIND:individual\r\nNOTE:Ligne pliée sur deux lignes pour vérifier que l\r"
          "\n a lecture reste exacte\r\nUID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\n"
          "END:VCARD\r\n").encode()


def event(n: int, title: str | None = None) -> bytes:
    """A small distinct event (LF line ends: bytes are kept whatever they are)."""
    return (f"BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:ev-{n}@test.invalid\n"
            f"DTSTART:2026{1 + n % 12:02d}01T090000Z\nSUMMARY:{title or f'réunion {n}'}\n"
            "END:VEVENT\nEND:VCALENDAR\n").encode()


class FixturePim(PimSource):
    """A calendar source serving fixed bytes, as a server connector would."""

    def __init__(self, data: dict[Collection, list[Entry]]) -> None:
        self.data = data

    def collections(self) -> Iterator[Collection]:
        return iter(self.data)

    def entries(self, collection: Collection) -> Iterator[Entry]:
        return iter(self.data[collection])


class FixtureConnector(Connector):
    scheme = "fixture"
    description = "test calendars and contacts"
    capabilities = Capabilities(reads=frozenset({Kind.CALENDAR, Kind.CONTACTS}),
                                source_keeps=frozenset({Feature.ORIGINAL_BYTES}))

    def __init__(self, data: dict[Collection, list[Entry]]) -> None:
        super().__init__(Endpoint(scheme="fixture", path="pim"))
        self.data = data

    def open_source(self) -> FixturePim:
        return FixturePim(self.data)


AGENDA = Collection(CAL, ("Calendrier",), "cal-1")
PROJETS = Collection(CAL, ("Calendrier", "Projets été"), "cal-2")
CARNET = Collection(CONTACTS, ("Contacts",), "ab-1")


def fixture_data() -> dict[Collection, list[Entry]]:
    return {AGENDA: [CalendarEvent("AAMk-1", EVENT), *(CalendarEvent(f"AAMk-{n}", event(n))
                                                       for n in range(2, 6))],
            PROJETS: [CalendarEvent("AAMk-p1", event(100, "Fête de la musique"))],
            CARNET: [Contact("vc-3", VCARD3), Contact("vc-4", VCARD4)]}


def engine_copy(source: Connector, path: Path, state: Path):
    target = ArchiveConnector(parse_endpoint(f"archive:{path}"))
    return copy(source, target, StateDB.open(state), CopyOptions(), Observers())


def read_all(path: Path) -> dict[tuple[str, tuple[str, ...]], list[bytes]]:
    reader = open_archive(path)
    return {(c.kind.value, c.path): [e.data for e in reader.entries(c)]
            for c in reader.collections()}


@pytest.fixture
def archive_a(tmp_path) -> Path:
    path = tmp_path / "A"
    result = engine_copy(FixtureConnector(fixture_data()), path, tmp_path / "a.db")
    assert result.ok and result.copied == 8
    return path


def test_engine_writes_every_entry_byte_for_byte_with_its_index(archive_a, tmp_path) -> None:
    data = fixture_data()
    assert read_all(archive_a) == {(c.kind.value, c.path): [e.data for e in entries]
                                   for c, entries in data.items()}
    lines = [json.loads(line) for line in
             (archive_a / "data/index/entries.jsonl").read_text("utf-8").splitlines()]
    first = lines[0]
    assert (first["kind"], first["collection"], first["source_id"]) == \
        ("calendar", ["Calendrier"], "AAMk-1")
    assert first["uid"] == "conseil-2026-12@mairie-exemple.fr"
    assert first["summary"] == EVENT_SUMMARY  # the folded line unfolded, not the alarm's
    assert (archive_a / first["path"]).read_bytes() == EVENT
    assert first["path"] == "data/calendars/Calendrier/1.ics"
    contact = next(line for line in lines if line["source_id"] == "vc-4")
    assert contact["summary"] == "Jérôme Dupont-Ñúñez"
    assert contact["path"].startswith("data/contacts/Contacts/")
    assert contact["path"].endswith(".vcf")
    assert [line["id"] for line in lines] == list(range(1, 9))
    collections = (archive_a / "data/index/collections.jsonl").read_text("utf-8")
    assert '"path":["Calendrier","Projets été"]' in collections

    checked = validate(archive_a)
    assert checked.ok and checked.sealed and checked.entries == 8, checked.to_text()
    assert bagit.Bag(str(archive_a)).is_valid()
    info = dict(line.split(": ", 1) for line in
                (archive_a / "bag-info.txt").read_text("utf-8").splitlines())
    assert (info["Sovereign-Migrate-Calendar-Count"], info["Sovereign-Migrate-Event-Count"],
            info["Sovereign-Migrate-Address-Book-Count"],
            info["Sovereign-Migrate-Contact-Count"]) == ("2", "6", "1", "2")

    again = engine_copy(FixtureConnector(fixture_data()), archive_a, tmp_path / "a.db")
    assert again.ok and again.copied == 0 and again.skipped == 8
    fresh = engine_copy(FixtureConnector(fixture_data()), archive_a, tmp_path / "other.db")
    assert fresh.ok and fresh.copied == 8  # no state: the archive itself refuses duplicates
    assert len((archive_a / "data/index/entries.jsonl").read_bytes().splitlines()) == 8


def test_archive_to_archive_with_the_cli(archive_a, tmp_path) -> None:
    b, state = tmp_path / "B", str(tmp_path / "s.db")
    done = run_cli("--lang", "en", "copy", f"archive:{archive_a}", f"archive:{b}",
                   "--state", state, "--quiet", "--report-json", str(tmp_path / "c.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Calendars: 6 events copied in 2 calendars" in done.stdout
    assert "Address books: 2 contacts copied in 1 address books" in done.stdout
    report = json.loads((tmp_path / "c.json").read_text("utf-8"))
    assert report["totals_by_kind"]["calendar"]["copied"] == 6
    assert {"kind": "contacts", "source": ["contacts", "Contacts"]}.items() <= \
        next(f for f in report["folders"] if f["kind"] == "contacts").items()
    assert read_all(b) == read_all(archive_a)
    index = (b / "data/index/entries.jsonl").read_bytes()

    rerun = run_cli("--lang", "fr", "copy", f"archive:{archive_a}", f"archive:{b}",
                    "--state", state, "--quiet")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Agendas : 0 événements copiés dans 2 agendas ; 6 déjà présents" in rerun.stdout
    assert (b / "data/index/entries.jsonl").read_bytes() == index

    valid = run_cli("archive", "validate", str(b))
    assert valid.returncode == 0, valid.stdout
    assert bagit.Bag(str(b)).is_valid()
    shown = run_cli("--lang", "en", "archive", "show", str(b))
    assert shown.returncode == 0, shown.stderr
    assert "Calendrier/Projets été: 1" in shown.stdout
    assert "Contacts: 2" in shown.stdout
    assert "6 events in 2 calendars" in shown.stdout

    verified = run_cli("--lang", "en", "verify", f"archive:{archive_a}", f"archive:{b}")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Calendars: 6 of 6 events match." in verified.stdout
    assert "Address books: 2 of 2 contacts match." in verified.stdout


def test_validate_names_a_tampered_and_a_removed_entry(archive_a) -> None:
    tampered = archive_a / "data/calendars/Calendrier/1.ics"
    tampered.write_bytes(tampered.read_bytes().replace(b"18000", b"19000"))
    removed = archive_a / "data/contacts/Contacts/8.vcf"
    removed.unlink()
    found = validate(archive_a)
    assert not found.ok
    assert set(found.bad_files) >= {"data/calendars/Calendrier/1.ics",
                                    "data/contacts/Contacts/8.vcf"}
    kinds = {(p.kind, p.path) for p in found.problems}
    assert ("checksum", "data/calendars/Calendrier/1.ics") in kinds
    assert ("missing", "data/contacts/Contacts/8.vcf") in kinds
    shown = run_cli("archive", "validate", str(archive_a))
    assert shown.returncode == 1
    assert "data/calendars/Calendrier/1.ics" in shown.stdout
    assert "data/contacts/Contacts/8.vcf" in shown.stdout
    assert not bagit.Bag(str(archive_a)).is_valid()


def test_verify_lists_missing_differing_and_extra_entries(archive_a, tmp_path) -> None:
    data = fixture_data()
    changed = EVENT.replace(b"salle des f", b"SALLE DES F")  # same UID, other bytes
    data[AGENDA] = [CalendarEvent("AAMk-1", changed), *data[AGENDA][1:4]]  # event 5 lost
    data[CARNET] = [*data[CARNET], Contact("vc-new", b"BEGIN:VCARD\r\nVERSION:4.0\r\n"
                                                      b"FN:Nouveau\r\nEND:VCARD\r\n")]
    b = tmp_path / "B"
    assert engine_copy(FixtureConnector(data), b, tmp_path / "b.db").ok
    done = run_cli("--lang", "en", "verify", f"archive:{archive_a}", f"archive:{b}",
                   "--report-json", str(tmp_path / "v.json"),
                   "--report-html", str(tmp_path / "v.html"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "missing in target: calendar/Calendrier | 20260601T090000Z | - | réunion 5" \
        in done.stdout
    assert "differs: calendar/Calendrier" in done.stdout and EVENT_SUMMARY in done.stdout
    assert "Differences found: 1 missing, 1 differ" in done.stdout
    report = json.loads((tmp_path / "v.json").read_text("utf-8"))
    assert report["ok"] is False
    assert report["pim_totals"]["calendar"] == {"entries": 6, "match": 4, "differ": 1,
                                                "transformed": 0, "missing": 1, "extra": 0}
    assert report["pim_totals"]["contacts"]["extra"] == 1
    items = {(i["outcome"], i["subject"]) for i in report["items"] if i["kind"] != "mail"}
    assert items == {("missing", "réunion 5"), ("differ", EVENT_SUMMARY),
                     ("extra", "Nouveau")}
    missing = next(i for i in report["items"] if i["outcome"] == "missing")
    assert missing["detail"] == "id 5" and missing["message_id"] == "ev-5@test.invalid"
    html = (tmp_path / "v.html").read_text("utf-8")
    assert "Calendars and address books" in html and "réunion 5" in html
    french = run_cli("--lang", "fr", "verify", f"archive:{archive_a}", f"archive:{b}")
    assert "absent de la cible : calendar/Calendrier" in french.stdout
    assert "Agendas : 4 événements sur 6 identiques." in french.stdout


def test_plan_lists_collections_and_says_what_is_not_copied(archive_a, tmp_path) -> None:
    french = run_cli("--lang", "fr", "plan", f"archive:{archive_a}",
                     f"archive:{tmp_path / 'B'}", "--state", str(tmp_path / "s.db"))
    assert french.returncode == 0, french.stderr
    assert "[agenda] Calendrier/Projets été" in french.stdout
    assert "[carnet d'adresses] Contacts" in french.stdout
    assert "Agendas : 2 (6 événements) ; carnets d'adresses : 1 (2 contacts)" in french.stdout
    assert "Non copiés" not in french.stdout
    assert not (tmp_path / "B").exists()

    english = run_cli("--lang", "en", "copy", "--dry-run", f"archive:{archive_a}",
                      f"maildir:{tmp_path / 'M'}")
    assert english.returncode == 0, english.stderr
    assert "Not copied: chat, calendars, contacts: the target cannot hold them " \
           "(it holds mail only)." in english.stdout
    assert "[calendar]" not in english.stdout
    french = run_cli("--lang", "fr", "plan", f"archive:{archive_a}", f"maildir:{tmp_path / 'M'}")
    assert "Non copiés : discussions, agendas, contacts : la cible ne peut pas les contenir " \
           "(elle ne contient que : courriels)." in french.stdout
    assert not (tmp_path / "M").exists()

    mail_only = tmp_path / "M2"
    for part in ("cur", "new", "tmp"):
        (mail_only / part).mkdir(parents=True)
    verified = run_cli("--lang", "en", "verify", f"archive:{archive_a}", f"maildir:{mail_only}")
    assert "Not compared (the target does not hold them): chat, calendars, contacts" \
        in verified.stdout


HOSTILE = ["..", ".", "a/b", "x\0y", "CON", "1.ics", "notes.VCF", "é" * 300,
           "back\\slash", " lead", "Projets", "projets"]


def test_hostile_collection_names_stay_inside_the_archive(tmp_path) -> None:
    data: dict[Collection, list[Entry]] = {}
    for n, name in enumerate(HOSTILE):
        kind = CAL if n % 2 == 0 else CONTACTS
        cls = CalendarEvent if kind is CAL else Contact
        data[Collection(kind, (name, name))] = [cls(f"id-{n}", event(n))]
    path = tmp_path / "A"
    assert engine_copy(FixtureConnector(data), path, tmp_path / "s.db").ok
    root = path.resolve()
    files = [p for p in root.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(root) for p in files)
    entries = [p for p in files if p.suffix in (".ics", ".vcf")]
    assert len(entries) == len(HOSTILE)
    for entry in entries:  # each entry file sits at the depth of a two-name collection
        relative = entry.relative_to(root / "data")
        assert len(relative.parts) == 4, relative
        assert all(len(part.encode()) <= 255 and part not in (".", "..")
                   for part in relative.parts)
    assert read_all(path) == {(c.kind.value, c.path): [e.data for e in entries]
                              for c, entries in data.items()}
    assert validate(path).ok
    assert bagit.Bag(str(path)).is_valid()


def test_hostile_index_lines_fail_alone_and_are_named(archive_a, tmp_path) -> None:
    index = archive_a / "data/index/entries.jsonl"
    lines = index.read_bytes().splitlines(keepends=True)
    escaping = json.loads(lines[1])
    escaping["path"] = "data/calendars/../../../etc/passwd"
    lines[1] = (json.dumps(escaping) + "\n").encode()
    lines[2] = b'{"id": 3, "kind": "calendar", broken\n'
    lines[3] = b"x" * (2 * 1024 * 1024) + b"\n"
    index.write_bytes(b"".join(lines))

    found = validate(archive_a)
    problems = {(p.kind, p.path, p.line) for p in found.problems}
    assert ("unsafe", "data/index/entries.jsonl", 2) in problems
    assert ("index", "data/index/entries.jsonl", 3) in problems
    assert ("index", "data/index/entries.jsonl", 4) in problems

    b = tmp_path / "B"
    done = run_cli("copy", f"archive:{archive_a}", f"archive:{b}",
                   "--state", str(tmp_path / "s.db"), "--quiet")
    assert done.returncode == 1  # the broken collection is recorded as failed ...
    assert "collection not copied to the end" in done.stdout
    assert "line 2" in done.stdout and "line 4" in done.stdout
    copied = read_all(b)  # ... and every good entry is copied
    assert copied[("calendar", ("Calendrier",))] == [EVENT, event(5)]
    assert copied[("contacts", ("Contacts",))] == [VCARD3, VCARD4]
    assert not (tmp_path / "etc").exists()


def test_a_collection_the_target_cannot_create_fails_alone(archive_a, tmp_path) -> None:
    b = tmp_path / "B"
    with ArchiveWriter.open(b):
        pass
    (b / "data/calendars").mkdir(parents=True, exist_ok=True)
    (b / "data/calendars/Calendrier").write_bytes(b"a file where a directory must go")
    done = run_cli("copy", f"archive:{archive_a}", f"archive:{b}",
                   "--state", str(tmp_path / "s.db"), "--quiet")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("collection not copied to the end") == 2  # and its child
    assert "cannot create the directory data/calendars/Calendrier of calendar Calendrier" \
        in done.stdout
    assert read_all(b) == {("contacts", ("Contacts",)): [VCARD3, VCARD4]}


def test_an_archive_without_calendars_reads_as_before(tmp_path) -> None:
    with ArchiveWriter.open(tmp_path / "A"):
        pass
    assert not (tmp_path / "A/data/index/entries.jsonl").exists()
    assert list(open_archive(tmp_path / "A").collections()) == []
    assert summary(tmp_path / "A").collections == []
    assert validate(tmp_path / "A").ok


def test_roundtrip_certifies_calendars_and_contacts(archive_a, tmp_path) -> None:
    prefix = str(tmp_path / "cert")
    done = run_cli("--lang", "en", "roundtrip", str(archive_a), "--via",
                   f"archive:{tmp_path / 'via'}", "--certificate", prefix)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Calendars and contacts: 8 of 8 entries came back byte-identical." in done.stdout
    cert = json.loads(Path(prefix + ".json").read_text("utf-8"))
    assert cert["calendars_contacts"] == {"entries": 8, "returned": 8,
                                          "carried": ["calendar", "contacts"], "lost": 0,
                                          "translated": 0}
    assert cert["archive"]["entries_sha256"] == cert["returned"]["entries_sha256"]
    page = html.unescape(Path(prefix + ".fr.html").read_text("utf-8"))
    assert "Événements d'agenda et contacts revenus" in page
    assert "Agendas et carnets d'adresses" in page

    lossy = run_cli("--lang", "en", "roundtrip", str(archive_a), "--via",
                    f"maildir:{tmp_path / 'md'}", "--certificate", prefix)
    assert lossy.returncode == 1  # a maildir cannot hold calendars: they do not come back
    cert = json.loads(Path(prefix + ".json").read_text("utf-8"))
    assert cert["calendars_contacts"]["lost"] == 8 and cert["ok"] is False


# --- kill -9 during a large copy -----------------------------------------------------------

LARGE = 3000


@pytest.fixture(scope="module")
def large_archive(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("large") / "A"
    with ArchiveWriter.open(path, source="test:large") as writer:
        for n in range(LARGE):
            collection = AGENDA if n % 3 else CARNET
            cls = CalendarEvent if n % 3 else Contact
            writer.put_entry(collection, cls(f"e{n}", event(n)))
            if n % 500 == 0:
                writer.commit()
    return path


@pytest.mark.slow
def test_sigkill_during_a_large_copy_then_rerun(large_archive, tmp_path) -> None:
    target, state = tmp_path / "B", tmp_path / "s.db"
    rng = random.Random(7)
    command = [sys.executable, "-m", "migrate", "copy", f"archive:{large_archive}",
               f"archive:{target}", "--state", str(state), "--quiet"]
    killed = 0
    for _ in range(4):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.4, 1.5))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed += 1
        process.wait()
    assert killed >= 1, "no copy was killed mid-run: the kill window is too late"
    final = run_cli("copy", f"archive:{large_archive}", f"archive:{target}",
                    "--state", str(state), "--quiet")
    assert final.returncode == 0, final.stdout + final.stderr
    lines = [json.loads(line) for line in
             (target / "data/index/entries.jsonl").read_text("utf-8").splitlines()]
    assert len(lines) == LARGE  # nothing twice ...
    assert sorted(int(line["source_id"]) for line in lines) == list(range(1, LARGE + 1))
    assert read_all(target) == read_all(large_archive)  # ... nothing lost, byte for byte
    assert validate(target).ok


# --- a killed writer: what was committed stays, what was not is checked -----------------

CHILD = r"""
import os, signal, sys
from migrate.archive import ArchiveWriter
from migrate.model import CalendarEvent, Collection, CollectionKind

path, lose = sys.argv[1], int(sys.argv[2])
agenda = Collection(CollectionKind.CALENDAR, ("Agenda",))
writer = ArchiveWriter.open(path)
for i in range(1, 7):
    writer.put_entry(agenda, CalendarEvent(f"e{i}", f"BEGIN:VCALENDAR\nUID:{i}\n".encode()))
    if i == 3:
        writer.commit()
os.unlink(os.path.join(path, "data/calendars/Agenda", f"{lose}.ics"))  # never reached disk
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_writer_keeps_committed_entries_and_drops_from_the_first_lost_one(
        tmp_path) -> None:
    path = tmp_path / "A"
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), "5"],
                          capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    agenda = Collection(CAL, ("Agenda",))
    with ArchiveWriter.open(path) as writer:  # 4 is whole and kept; 5 is lost, 5 and 6 cut
        assert writer.find_entry(agenda, CalendarEvent("e4", b"BEGIN:VCALENDAR\nUID:4\n")) == "4"
        assert writer.find_entry(agenda, CalendarEvent("e6", b"BEGIN:VCALENDAR\nUID:6\n")) is None
        for i in (5, 6):
            data = f"BEGIN:VCALENDAR\nUID:{i}\n".encode()
            assert writer.put_entry(agenda, CalendarEvent(f"e{i}", data)) == str(i)
    assert [e.source_id for e in open_archive(path).entries(agenda)] == [str(i)
                                                                         for i in range(1, 7)]
    checked = validate(path)
    assert checked.ok and checked.entries == 6, checked.to_text()
