"""Incremental passes for calendars and contacts: a second run asks the source only what
changed (Graph delta queries, against the fake Graph server driven by the real
msgraph-sdk), carries changed events and contacts, and records deletions."""

from __future__ import annotations

import sqlite3

import pytest
from fake_graph import FakeGraph, FakeMailbox
from fake_graph_pim import DEFAULT_CONTACTS_ID, change_entry, delete_entry
from test_graph_copy import TOKEN, USER, copy, graph_config
from test_graph_pim import CONTACT, HOLIDAY, MEETING, unfold

from migrate.connector import PimSource
from migrate.endpoint import parse_endpoint
from migrate.model import CollectionKind
from migrate.registry import connector_for

MAYOR = {"id": "AAMkContact0002", "displayName": "Maire"}
DEPUTY = {"id": "AAMkContact0009", "displayName": "Adjointe", "givenName": "Claire"}
CALENDAR, ELECTED = "AAMkCalendar1", "AAMkContacts2"
#: As Graph serves every event: with its last change (DTSTAMP comes from it; without it,
#: the translation stamps the time of the listing and each listing gives other bytes).
DATED_HOLIDAY = {**HOLIDAY, "lastModifiedDateTime": "2024-06-01T08:00:00Z"}


@pytest.fixture
def mailbox() -> FakeMailbox:
    box = FakeMailbox(USER)
    box.calendars[CALENDAR] = ("Calendrier", [dict(MEETING), dict(DATED_HOLIDAY)])
    box.contacts.extend([dict(CONTACT), dict(DEPUTY)])
    box.contact_folders[ELECTED] = ("Élus", [dict(MAYOR)])
    return box


@pytest.fixture
def server(mailbox):
    fake = FakeGraph(mailbox, tokens={TOKEN}).start()
    yield fake
    fake.stop()


def archived(path) -> dict[tuple, list[tuple[str, bytes]]]:
    """(kind, path) → [(archive key, bytes)] of every entry the archive holds."""
    reader = connector_for(parse_endpoint(f"archive:{path}")).open_source()
    try:
        assert isinstance(reader, PimSource)
        return {(c.kind, c.path): [(e.source_id, e.data) for e in reader.entries(c)]
                for c in reader.collections()}
    finally:
        reader.close()


def statuses(state: str) -> dict[str, str]:
    """Source key → status of every item the state holds."""
    with sqlite3.connect(state) as db:
        return dict(db.execute("SELECT source_key, status FROM items"))


def test_a_second_run_asks_only_deltas_and_a_third_carries_changes_and_deletions(
        server, mailbox, tmp_path):
    config, archive, state = graph_config(tmp_path, server), tmp_path / "A", str(tmp_path / "s.db")
    first = copy(config, f"archive:{archive}", state)
    assert first.returncode == 0, first.stdout + first.stderr
    held = archived(archive)
    assert {key: len(entries) for key, entries in held.items()} == {
        (CollectionKind.CALENDAR, ("Calendrier",)): 2,
        (CollectionKind.CONTACTS, ("Contacts",)): 2,
        (CollectionKind.CONTACTS, ("Contacts", "Élus")): 1}
    assert server.requests["event:delta:initial"] == 1  # a round opened on the view …
    assert server.requests["events"] == 1  # … and the calendar listed whole (series too)
    assert server.requests["contact:delta:initial"] == 2  # address books listed by delta

    before = server.requests.copy()
    again = copy(config, f"archive:{archive}", state)
    assert again.returncode == 0, again.stdout + again.stderr
    asked = server.requests - before
    assert asked["event:delta:token"] == 1 and asked["contact:delta:token"] == 2
    for listing in ("event:delta:initial", "contact:delta:initial", "events", "contacts",
                    "event"):
        assert asked[listing] == 0, listing  # nothing listed in full, nothing fetched
    assert archived(archive) == held  # nothing written

    moved = {**DATED_HOLIDAY, "subject": "Fête nationale (reportée)",
             "lastModifiedDateTime": "2024-07-01T08:00:00Z"}
    change_entry(mailbox, mailbox.calendars[CALENDAR][1], moved)
    change_entry(mailbox, mailbox.calendars[CALENDAR][1], {**MEETING, "subject": "Conseil"})
    delete_entry(mailbox, DEFAULT_CONTACTS_ID, mailbox.contacts, DEPUTY["id"])
    change_entry(mailbox, mailbox.contact_folders[ELECTED][1],
                 {"id": "AAMkContact0010", "displayName": "Conseiller"})
    before = server.requests.copy()
    third = copy(config, f"archive:{archive}", state)
    assert third.returncode == 0, third.stdout + third.stderr
    asked = server.requests - before
    assert asked["events"] == 0 and asked["event:delta:initial"] == 0
    assert asked["event"] == 2  # the changed event, and the series of a changed occurrence
    now = archived(archive)
    calendar = now[(CollectionKind.CALENDAR, ("Calendrier",))]
    assert len(calendar) == 4  # an archive keeps the version it held beside the new one
    summaries = [line for _, data in calendar for line in unfold(data)
                 if line.startswith("SUMMARY:")]
    assert "SUMMARY:Fête nationale (reportée)" in summaries
    assert "SUMMARY:Conseil" in summaries and "SUMMARY:Fête nationale" in summaries
    assert now[(CollectionKind.CONTACTS, ("Contacts",))] == \
        held[(CollectionKind.CONTACTS, ("Contacts",))]  # the deleted contact's copy kept
    elected = now[(CollectionKind.CONTACTS, ("Contacts", "Élus"))]
    assert len(elected) == 2 and "FN:Conseiller" in unfold(elected[1][1])  # the new one
    assert statuses(state)[DEPUTY["id"]] == "removed"
    assert "2 changed at the source" in third.stdout
    assert "1 deleted at the source" in third.stdout
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM audit WHERE event = 'source-deleted'"
                          ).fetchone() == (1,)

    before = server.requests.copy()
    fourth = copy(config, f"archive:{archive}", state)
    assert fourth.returncode == 0, fourth.stdout + fourth.stderr
    assert (server.requests - before)["event"] == 0  # the changes were carried once
    assert archived(archive) == now


def test_an_expired_delta_link_lists_afresh_and_writes_nothing_twice(server, tmp_path):
    config, archive, state = graph_config(tmp_path, server), tmp_path / "A", str(tmp_path / "s.db")
    assert copy(config, f"archive:{archive}", state).returncode == 0
    held = archived(archive)
    server.expire_deltas = True
    before = server.requests.copy()
    again = copy(config, f"archive:{archive}", state)
    assert again.returncode == 0, again.stdout + again.stderr
    asked = server.requests - before
    assert asked["410"] == 3  # one calendar, two address books
    assert asked["event:delta:initial"] == 1 and asked["events"] == 1
    assert asked["contact:delta:initial"] == 2
    assert archived(archive) == held  # listed again, written once
    assert statuses(state) and set(statuses(state).values()) == {"done"}
