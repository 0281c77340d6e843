"""Incremental passes for calendars and contacts from Exchange (EWS): SyncFolderItems from
the sync state of the last pass, against the fake server and the real exchangelib. A second
run lists only what changed, an edited event is carried, a deleted contact recorded."""

from __future__ import annotations

import sqlite3
from xml.etree import ElementTree as ET

import pytest
from conftest import run_cli
from fake_ews import FakeEws, FakeMailbox, Fault
from fake_ews_sync import edit_item
from test_ews_pim import (  # noqa: F401 (mailbox and server are fixtures)
    PASSWORD,
    USER,
    _archived_entries,
    contact,
    event,
    ews_url,
    mailbox,
    served,
    server,
)

pytest.importorskip("exchangelib")


def copy(fake, archive, state: str, *more: str):
    return run_cli("copy", ews_url(fake), f"archive:{archive}", "--state", state, "--quiet",
                   *more)


def test_a_second_run_syncs_only_changes_and_a_third_carries_an_edit_and_a_deletion(
        server, mailbox, tmp_path):  # noqa: F811
    archive, state = tmp_path / "A", str(tmp_path / "s.db")
    first = copy(server, archive, state)
    assert first.returncode == 0, first.stdout + first.stderr
    held = _archived_entries(archive)
    assert held[("contacts", ("Contacts",))] == set(served(mailbox, "Contacts").values())

    before = server.requests.copy()
    again = copy(server, archive, state)
    assert again.returncode == 0, again.stdout + again.stderr
    asked = server.requests - before
    assert asked["GetItem:MimeContent"] == 0 and asked["FindItem"] == 0  # nothing fetched
    assert asked["SyncFolderItems:changes"] == 0  # every sync state up to date
    assert _archived_entries(archive) == held

    calendar = next(f for f in mailbox.folders.values() if f.name == "Calendrier")
    people = next(f for f in mailbox.folders.values() if f.name == "Contacts")
    old, moved = calendar.messages[1].mime, event(1, "Conseil municipal (reporté)").mime
    edit_item(mailbox, calendar.messages[1].id, moved)
    gone = people.messages[7].id
    mailbox.delete_message(gone)
    mailbox.add_message(people, contact(500))
    before = server.requests.copy()
    third = copy(server, archive, state)
    assert third.returncode == 0, third.stdout + third.stderr
    asked = server.requests - before
    assert asked["SyncFolderItems:changes"] == 3
    assert asked["GetItem:MimeContent"] == 2  # the edited event and the new contact, once
    now = _archived_entries(archive)
    assert now[("calendar", ("Calendrier",))] == \
        held[("calendar", ("Calendrier",))] - {old} | {moved}  # the event as it is now
    assert now[("contacts", ("Contacts",))] == \
        held[("contacts", ("Contacts",))] | {contact(500).mime}  # the deleted one's copy kept
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT status FROM items WHERE source_key = ?",
                          (gone,)).fetchone() == ("removed",)
    assert "1 changed at the source" in third.stdout
    assert "1 deleted at the source" in third.stdout


def test_a_sync_state_the_server_forgot_lists_all_again_and_writes_nothing_twice(
        server, mailbox, tmp_path):  # noqa: F811
    archive, state = tmp_path / "A", str(tmp_path / "s.db")
    assert copy(server, archive, state).returncode == 0
    held = _archived_entries(archive)
    mailbox.sync_epoch += 1  # every sync state handed out so far is now invalid
    again = copy(server, archive, state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _archived_entries(archive) == held
    with sqlite3.connect(state) as db:
        assert {status for (status,) in db.execute("SELECT status FROM items")} == {"done"}


def test_with_delete_an_exchange_target_replaces_an_edited_event_and_deletes_a_contact(
        server, mailbox, tmp_path):  # noqa: F811
    box = FakeMailbox(USER)
    box.add_folder("Boîte de réception", well_known="inbox")
    box.add_folder("Éléments supprimés", well_known="deleteditems")
    calendar = box.add_folder("Calendrier", well_known="calendar", folder_class="IPF.Appointment")
    people = box.add_folder("Contacts", well_known="contacts", folder_class="IPF.Contact")
    other = FakeEws(box, USER, PASSWORD).start()
    try:
        args = ("copy", ews_url(server), ews_url(other), "--state", str(tmp_path / "s.db"),
                "--quiet", "--delete")
        first = run_cli(*args)
        assert first.returncode == 0, first.stdout + first.stderr
        assert sorted(m.mime for m in calendar.messages) == \
            sorted(served(mailbox, "Calendrier").values())

        source_calendar = next(f for f in mailbox.folders.values() if f.name == "Calendrier")
        source_people = next(f for f in mailbox.folders.values() if f.name == "Contacts")
        old, moved = source_calendar.messages[1].mime, event(1, "Conseil (reporté)").mime
        edit_item(mailbox, source_calendar.messages[1].id, moved)
        gone = source_people.messages[7]
        mailbox.delete_message(gone.id)
        third = run_cli(*args)
        assert third.returncode == 0, third.stdout + third.stderr
        assert sorted(m.mime for m in calendar.messages) == \
            sorted(served(mailbox, "Calendrier").values())  # the new version, not the old
        assert old not in {m.mime for m in calendar.messages}
        assert gone.mime not in {m.mime for m in people.messages}
        assert sorted(m.mime for m in people.messages) == \
            sorted(served(mailbox, "Contacts").values())
        with sqlite3.connect(tmp_path / "s.db") as db:
            assert db.execute("SELECT status FROM items WHERE source_key = ?",
                              (gone.id,)).fetchone() == ("deleted",)
        assert "1 changed at the source" in third.stdout and "1 copies deleted" in third.stdout

        again = run_cli(*args)  # nothing changed since: nothing written or deleted
        assert again.returncode == 0, again.stdout + again.stderr
        assert "changed at the source" not in again.stdout
    finally:
        other.stop()


def test_entries_the_server_could_not_serve_are_tried_again_by_the_next_pass(
        server, mailbox, tmp_path):  # noqa: F811
    """A pass that left entries out saves no sync state: the next one lists everything
    again (skipping what is done) rather than never seeing them again."""
    people = next(f for f in mailbox.folders.values() if f.name == "Contacts")
    unlucky = people.messages[110].id  # in the third GetItem of 50
    server.faults.append(Fault("message", "ErrorItemCorrupt", operation="GetItem",
                               when=lambda request: unlucky.encode() in ET.tostring(request)))
    archive, state = tmp_path / "A", str(tmp_path / "s.db")
    first = copy(server, archive, state)
    assert first.returncode == 0, first.stdout + first.stderr
    assert server.requests["fault:ErrorItemCorrupt"] == 1
    assert len(_archived_entries(archive)[("contacts", ("Contacts",))]) == 100
    again = copy(server, archive, state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _archived_entries(archive)[("contacts", ("Contacts",))] == \
        set(served(mailbox, "Contacts").values())
    entries = (archive / "data" / "index" / "entries.jsonl").read_bytes().count(b"\n")
    assert entries == 5 + 2 + 120  # the 20 written now, nothing written twice
