"""Exchange as a copy target (reversibility): ``migrate copy archive:A ews://…`` against the
fake EWS server (tests/fake_ews.py, tests/fake_ews_write.py), driven by the real exchangelib.

The archive is made first from an English mailbox on one fake server (read state, flags,
categories, received times); it is then uploaded into a French mailbox on another, where
the roles must land in the well-known folders whatever their names. Every message must
arrive once, byte-identical, not as a draft; reruns (with or without the state database,
after a kill -9) must upload nothing twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CORPUS, run_cli, synthetic_message
from fake_ews import FakeEws, FakeFolder, FakeMailbox, FakeMessage
from fake_ews_write import write_limits

from migrate.endpoint import parse_endpoint
from migrate.model import (
    CalendarEvent,
    Collection,
    CollectionKind,
    Contact,
    Content,
    Folder,
    MailMessage,
    Role,
)
from migrate.registry import connector_for

pytest.importorskip("exchangelib")

USER = "agent@mairie-exemple.fr"
PASSWORD = "s3cret-Ews!"


def _message(n: int, data: bytes) -> FakeMessage:
    return FakeMessage(data, received=datetime(2023, 5, 1, 8, tzinfo=UTC) + timedelta(hours=n),
                       is_read=n % 2 == 0, flagged=n % 3 == 0,
                       categories=(("Projet Alpha", "Rouge"), ("Catégorie bleue",), ())[n % 3])


def english_mailbox() -> FakeMailbox:
    """The mailbox the archive is made from: English names, a subfolder, bare-LF messages."""
    box = FakeMailbox(USER)
    inbox = box.add_folder("Inbox", well_known="inbox")
    sent = box.add_folder("Sent Items", well_known="sentitems")
    trash = box.add_folder("Deleted Items", well_known="deleteditems")
    box.add_folder("Drafts", well_known="drafts")
    projects = box.add_folder("Projets", parent=inbox)
    corpus = [path.read_bytes() for path in sorted(CORPUS.glob("msg_*.txt"))[:20]]
    inbox.messages += [_message(n, data) for n, data in enumerate(corpus)]
    sent.messages += [_message(n, synthetic_message(n)) for n in range(100, 108)]
    projects.messages += [_message(n, synthetic_message(n).replace(b"\r\n", b"\n"))
                          for n in range(200, 204)]
    trash.messages.append(_message(300, synthetic_message(300)))
    return box


def french_mailbox() -> FakeMailbox:
    """An empty French mailbox: the well-known folders under their localized names."""
    box = FakeMailbox(USER)
    box.add_folder("Boîte de réception", well_known="inbox")
    box.add_folder("Éléments envoyés", well_known="sentitems")
    box.add_folder("Brouillons", well_known="drafts")
    box.add_folder("Éléments supprimés", well_known="deleteditems")
    box.add_folder("Courrier indésirable", well_known="junkemail")
    box.add_folder("Boîte d'envoi", well_known="outbox")
    box.add_folder("Calendrier", well_known="calendar", folder_class="IPF.Appointment")
    box.add_folder("Contacts", well_known="contacts", folder_class="IPF.Contact")
    return box


#: Where each folder of the English mailbox must land in the French one (others: as is).
LANDS = {("Inbox",): ("Boîte de réception",), ("Sent Items",): ("Éléments envoyés",),
         ("Deleted Items",): ("Éléments supprimés",),
         ("Inbox", "Projets"): ("Boîte de réception", "Projets")}


def ews_url(server: FakeEws) -> str:
    return f"ews://agent%40mairie-exemple.fr:{PASSWORD}@{server.host}?tls=off&auth=basic"


def path_of(box: FakeMailbox, folder: FakeFolder) -> tuple[str, ...]:
    path: list[str] = []
    while folder.id != box.msg_root.id and folder.parent is not None:
        path.insert(0, folder.name)
        folder = box.folders[folder.parent]
    return tuple(path)


def held(box: FakeMailbox) -> dict[tuple[str, ...], Counter]:
    """Folder path → Counter of (bytes, read, flagged, categories, received, draft)."""
    return {path_of(box, f): Counter((m.mime, m.is_read, m.flagged, frozenset(m.categories),
                                      m.received, m.draft) for m in f.messages)
            for f in box.folders.values() if f.messages}


def expected(source: FakeMailbox) -> dict[tuple[str, ...], Counter]:
    """What the French mailbox must hold once the English one went through the archive."""
    return {LANDS.get(path, path): Counter((mime, read, flagged, cats, received, False)
                                 for (mime, read, flagged, cats, received, _), n
                                 in messages.items() for _ in range(n))
            for path, messages in held(source).items()}


@pytest.fixture
def source():
    fake = FakeEws(english_mailbox(), USER, PASSWORD).start()
    yield fake
    fake.stop()


@pytest.fixture
def target():
    fake = FakeEws(french_mailbox(), USER, PASSWORD).start()
    yield fake
    fake.stop()


@pytest.fixture
def archive(source, tmp_path):
    """archive:A made from the English mailbox (read state, flags, categories, dates)."""
    path = tmp_path / "A"
    done = run_cli("copy", ews_url(source), f"archive:{path}",
                   "--state", str(tmp_path / "export.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def total(box: FakeMailbox) -> int:
    return sum(len(f.messages) for f in box.folders.values())


def test_archive_to_exchange_uploads_everything_once_into_the_well_known_folders(
        source, target, archive, tmp_path):
    state = str(tmp_path / "state.db")
    args = ("copy", f"archive:{archive}", ews_url(target), "--state", state, "--quiet")
    done = run_cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert held(target.mailbox) == expected(source.mailbox)  # bytes, flags, dates; no draft
    count = total(source.mailbox)
    assert target.requests["created"] == count  # one upload per message
    assert target.requests["CreateItem"] == len(LANDS)  # one request per folder's batch
    assert target.requests["folders created"] == 1  # only Projets: roles found by id
    created = target.mailbox.descendants(target.mailbox.msg_root, True)
    assert [f.folder_class for f in created if f.name == "Projets"] == ["IPF.Note"]

    again = run_cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert target.requests["created"] == count  # the rerun uploads nothing

    os.remove(state)
    lost = run_cli(*args)
    assert lost.returncode == 0, lost.stdout + lost.stderr
    assert target.requests["created"] == count  # recognised by their sha256 property
    assert held(target.mailbox) == expected(source.mailbox)


def test_exchange_to_exchange_over_several_connections_uploads_everything_once(
        source, target, tmp_path):
    done = run_cli("copy", ews_url(source), ews_url(target), "--connections", "3",
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert held(target.mailbox) == expected(source.mailbox)
    assert target.requests["created"] == total(source.mailbox)
    assert target.requests["FindFolder"] >= 4  # a tree read by the role lookup and 3 writers


def test_verify_finds_everything_at_the_target(target, archive, tmp_path):
    done = run_cli("copy", f"archive:{archive}", ews_url(target),
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    checked = run_cli("verify", f"archive:{archive}", ews_url(target))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"all {total(target.mailbox)} messages are at the target" in checked.stdout


def test_a_round_trip_through_exchange_is_certified(target, archive, tmp_path):
    cert = tmp_path / "cert"
    done = run_cli("roundtrip", str(archive), "--via", ews_url(target),
                   "--out", str(tmp_path / "back"), "--certificate", str(cert))
    assert done.returncode == 0, done.stdout + done.stderr
    assert cert.with_suffix(".json").exists()
    count = total(target.mailbox)
    assert count and target.requests["created"] == count
    assert hashes(tmp_path / "back") == hashes(archive)  # every message came back as it was


def hashes(path) -> Counter:
    """sha256 of every message in an archive, counted."""
    reader = connector_for(parse_endpoint(f"archive:{path}")).open_source()
    try:
        return Counter(m.sha256 for f in reader.folders() for m in reader.messages(f))
    finally:
        reader.close()


def test_plan_says_exchange_rebuilds_the_mime(target, archive):
    planned = run_cli("plan", f"archive:{archive}", ews_url(target))
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "rebuilt" in planned.stdout  # ORIGINAL_BYTES is not kept by a real Exchange
    assert "Boîte de réception" in planned.stdout  # where the inbox goes, without creating
    assert target.requests["CreateFolder"] == target.requests["CreateItem"] == 0


def test_a_message_too_large_fails_alone_with_a_clear_message(source, target, tmp_path):
    inbox = source.mailbox.by_well_known("inbox")
    big = synthetic_message(999, body_size=300_000)
    inbox.messages.append(_message(999, big))
    archive, state = tmp_path / "A", str(tmp_path / "state.db")
    run_cli("copy", ews_url(source), f"archive:{archive}", "--state",
            str(tmp_path / "export.db"), "--quiet", check=True)
    write_limits(target).max_item_size = 200_000
    args = ("copy", f"archive:{archive}", ews_url(target), "--state", state, "--quiet")
    done = run_cli(*args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the server refuses an item this large" in done.stdout + done.stderr
    assert "message 999" in done.stdout + done.stderr  # the subject names it
    count = total(source.mailbox)
    assert target.requests["created"] == count - 1  # the others went through
    assert big not in {m.mime for m in target.mailbox.by_well_known("inbox").messages}

    write_limits(target).max_item_size = None  # the administrator raised the limit
    again = run_cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert target.requests["created"] == count
    assert held(target.mailbox) == expected(source.mailbox)


def test_max_size_refuses_a_message_before_sending_it(target):
    from migrate.errors import ConfigError, TooLargeError

    small, big = synthetic_message(1), synthetic_message(2, body_size=300_000)
    writer = connector_for(parse_endpoint(ews_url(target) + "&max_size=200000")).open_target()
    try:
        folder = Folder(("Boîte de réception",), Role.INBOX)
        outcomes = writer.append_batch(folder, [
            MailMessage(Content.from_chunks([data]), str(n)) for n, data in enumerate((big,
                                                                                       small))])
    finally:
        writer.close()
    assert isinstance(outcomes[0], TooLargeError) and "max_size" in str(outcomes[0])
    assert isinstance(outcomes[1], str)
    assert [m.mime for m in target.mailbox.by_well_known("inbox").messages] == [small]
    assert target.requests["CreateItem"] == 1  # the big one never went on the wire
    with pytest.raises(ConfigError, match="max_size"):
        connector_for(parse_endpoint(ews_url(target) + "&max_size=big")).open_target()


def test_a_full_mailbox_fails_the_items_with_a_quota_message(source, target, archive,
                                                             tmp_path):
    inbox = source.mailbox.by_well_known("inbox")
    room = sum(len(m.mime) for m in inbox.messages[:5])
    write_limits(target).quota = room  # five inbox messages fit, then the quota is reached
    args = ("copy", f"archive:{archive}", ews_url(target), "--state",
            str(tmp_path / "state.db"), "--quiet")
    done = run_cli(*args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "quota" in done.stdout + done.stderr
    stored = target.requests["created"]
    assert 0 < stored < total(source.mailbox)

    write_limits(target).quota = None
    again = run_cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert held(target.mailbox) == expected(source.mailbox)  # nothing lost, nothing twice


def test_a_killed_copy_then_a_rerun_leaves_nothing_missing_and_nothing_twice(
        source, target, tmp_path):
    for n in range(4):  # more folders, so that the kill lands between two requests
        extra = source.mailbox.add_folder(f"Dossier {n}")
        extra.messages += [_message(k, synthetic_message(k)) for k in range(1000 * (n + 1),
                                                                              1000 * (n + 1) + 15)]
    archive = tmp_path / "A"
    run_cli("copy", ews_url(source), f"archive:{archive}", "--state",
            str(tmp_path / "export.db"), "--quiet", check=True)
    write_limits(target).delay = 0.4  # each CreateItem is slow: the kill lands in one
    state = str(tmp_path / "state.db")
    args = ["copy", f"archive:{archive}", ews_url(target), "--state", state, "--quiet"]
    process = subprocess.Popen([sys.executable, "-m", "migrate", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while target.requests["created"] < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # into the next CreateItem, which the server finishes on its own
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert 0 < target.requests["created"] < total(source.mailbox)
    time.sleep(0.5)  # let the server store what the dead client had sent
    write_limits(target).delay = 0.0
    again = run_cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert held(target.mailbox) == expected(source.mailbox)
    assert target.requests["created"] == total(source.mailbox)  # none stored twice



def test_roles_go_to_well_known_folders_but_never_the_outbox(target):
    from migrate.errors import ItemError

    connector = connector_for(parse_endpoint(ews_url(target)))
    assert connector.role_folder(Role.SENT) == ("Éléments envoyés",)
    assert connector.role_folder(Role.TRASH) == ("Éléments supprimés",)
    assert connector.role_folder(Role.OUTBOX) is None  # a client could send what lies there
    assert target.requests["CreateFolder"] == 0  # asking created nothing
    writer = connector.open_target()
    try:
        with pytest.raises(ItemError, match=r"holds IPF\.Appointment items"):
            writer.prepare_folder(Folder(("Calendrier",)))  # a mail folder named so
    finally:
        writer.close()


def test_a_folder_named_in_another_case_is_found_not_duplicated(target):
    existing = target.mailbox.add_folder("Archives 2023")
    writer = connector_for(parse_endpoint(ews_url(target))).open_target()
    try:
        folder = Folder(("ARCHIVES 2023",))
        [key] = writer.append_batch(folder, [MailMessage(
            Content.from_chunks([synthetic_message(5)]), "5")])
    finally:
        writer.close()
    assert [m.id for m in existing.messages] == [key]
    assert target.requests["folders created"] == 0 and target.requests["CreateFolder"] == 1


# --- flags and deletions carried by later passes ------------------------------------------

#: PidTagLastVerbExecuted as the fake stores it.
LAST_VERB = (("PropertyTag", "0x1081"), ("PropertyType", "Integer"))


def test_set_flags_and_remove_update_the_uploaded_message(target, archive, tmp_path):
    run_cli("copy", f"archive:{archive}", ews_url(target), "--state",
            str(tmp_path / "state.db"), "--quiet", check=True)
    inbox = target.mailbox.by_well_known("inbox")
    first, second = inbox.messages[0], inbox.messages[1]
    writer = connector_for(parse_endpoint(ews_url(target))).open_target()
    try:
        folder = Folder(("Boîte de réception",), Role.INBOX)
        writer.set_flags(folder, first.id,
                         frozenset({"\\Seen", "\\Flagged", "\\Answered", "Urgent"}))
        assert (first.is_read, first.flagged, first.categories) == (True, True, ("Urgent",))
        assert first.extended[LAST_VERB] == "102"  # replied, as Outlook shows it
        writer.set_flags(folder, first.id, frozenset())
        assert (first.is_read, first.flagged, first.categories) == (False, False, ())
        assert LAST_VERB not in first.extended and not first.draft
        forwarded = MailMessage(Content.from_chunks([synthetic_message(77)]), "77",
                                frozenset({"$Forwarded"}))
        [key] = writer.append_batch(folder, [forwarded])
        stored = next(m for m in inbox.messages if m.id == key)
        assert stored.extended[LAST_VERB] == "104" and stored.categories == ("$Forwarded",)
        assert stored.mime == synthetic_message(77) and not stored.draft
        writer.remove(folder, second.id)
        assert second not in inbox.messages
        assert second in target.mailbox.by_well_known("deleteditems").messages
        writer.remove(folder, second.id)  # gone already: nothing to do, no error
    finally:
        writer.close()


# --- calendars and contacts ---------------------------------------------------------------

EVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mairie//FR\r\nBEGIN:VEVENT\r\n"
         b"UID:conseil-%d@mairie-exemple.fr\r\nDTSTAMP:20240101T080000Z\r\n"
         b"DTSTART:20240115T180000Z\r\nDTEND:20240115T200000Z\r\n"
         b"SUMMARY:Conseil municipal %d\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
CARD = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:agent-%d\r\nFN:Agent %d\r\n"
        b"EMAIL:agent%d@mairie-exemple.fr\r\nEND:VCARD\r\n")


def test_events_and_contacts_are_uploaded_once_into_the_right_folders(target):
    main = Collection(CollectionKind.CALENDAR, ("Calendar",))
    meetings = Collection(CollectionKind.CALENDAR, ("Réunions",))
    team = Collection(CollectionKind.CALENDAR, ("calendrier", "Équipe"))
    people = Collection(CollectionKind.CONTACTS, ("contacts",))
    events = [CalendarEvent(f"e{n}", EVENT % (n, n)) for n in range(4)]
    cards = [Contact(f"c{n}", CARD % (n, n, n)) for n in range(2)]
    writer = connector_for(parse_endpoint(ews_url(target))).open_target()
    try:
        for collection, entries in ((main, events[:2]), (meetings, events[2:3]),
                                    (team, events[3:]), (people, cards)):
            writer.prepare_collection(collection)
            keys = [writer.put_entry(collection, entry) for entry in entries]
            assert len(set(keys)) == len(entries)
    finally:
        writer.close()
    box = target.mailbox
    calendar, contacts = box.by_well_known("calendar"), box.by_well_known("contacts")
    assert [(m.mime, m.item_class) for m in calendar.messages] == \
        [(e.data, "IPM.Appointment") for e in events[:2]]
    assert [(m.mime, m.item_class) for m in contacts.messages] == \
        [(c.data, "IPM.Contact") for c in cards]
    made = next(f for f in box.folders.values() if f.name == "Réunions")
    assert (made.folder_class, made.parent) == ("IPF.Appointment", box.msg_root.id)
    assert [m.mime for m in made.messages] == [events[2].data]
    inside = next(f for f in box.folders.values() if f.name == "Équipe")
    assert (inside.folder_class, inside.parent) == ("IPF.Appointment", calendar.id)
    assert [m.mime for m in inside.messages] == [events[3].data]
    assert target.requests["created"] == 6

    again = connector_for(parse_endpoint(ews_url(target))).open_target()
    try:  # a rerun (state lost, or entries left pending by a killed run)
        assert again.find_entry(main, events[0]) == calendar.messages[0].id
        assert again.find_entry(main, events[0]) is None  # each copy is claimed once
        assert again.put_entry(main, events[1]) == calendar.messages[1].id
        assert again.put_entry(people, cards[0]) == contacts.messages[0].id
        assert again.find_entry(meetings, Contact("x", b"BEGIN:VCARD\r\nEND:VCARD\r\n")) \
            is None
    finally:
        again.close()
    assert target.requests["created"] == 6  # nothing uploaded twice


def test_exchange_declares_what_it_writes_and_keeps():
    from migrate.connector import Feature, Kind
    from migrate.registry import connector_class

    caps = connector_class("ews").capabilities
    assert caps.writes == {Kind.MAIL, Kind.CALENDAR, Kind.CONTACTS}
    assert Feature.ORIGINAL_BYTES not in caps.target_keeps
    assert {Feature.FLAGS, Feature.KEYWORDS, Feature.INTERNAL_DATE} <= caps.target_keeps
    for feature in (Feature.ORIGINAL_BYTES, Feature.DATE_OFFSET):
        assert set(caps.limits[feature]) == {"en", "fr"}
