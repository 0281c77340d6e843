"""Incremental passes for calendars and contacts: a second run asks the source only what
changed (Graph delta queries, against the fake Graph server driven by the real
msgraph-sdk), carries changed events and contacts, and records deletions."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest
from conftest import run_cli
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


def index_lines(archive, calendar: str) -> list[dict]:
    """The archive's index lines (every version) of the entries of one calendar."""
    with open(archive / "data" / "index" / "entries.jsonl", encoding="utf-8") as index:
        return [line for line in map(json.loads, index) if line["collection"] == [calendar]]


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
    assert server.requests["event:delta:window:1830"] == 1  # five years each way
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
    summaries = sorted(line for _, data in calendar for line in unfold(data)
                       if line.startswith("SUMMARY:"))
    assert summaries == ["SUMMARY:Conseil", "SUMMARY:Fête nationale (reportée)"]  # as now
    versions = Counter(line["source_id"] for line in index_lines(archive, "Calendrier"))
    assert versions == {MEETING["id"]: 2, HOLIDAY["id"]: 2}  # the earlier ones kept too
    assert now[(CollectionKind.CONTACTS, ("Contacts",))] == \
        held[(CollectionKind.CONTACTS, ("Contacts",))]  # the deleted contact's copy kept
    elected = now[(CollectionKind.CONTACTS, ("Contacts", "Élus"))]
    assert len(elected) == 2 and "FN:Conseiller" in unfold(elected[1][1])  # the new one
    assert statuses(state)[DEPUTY["id"]] == "removed"
    checked = run_cli("archive", "validate", str(archive))  # two versions are no duplicate
    assert checked.returncode == 0, checked.stdout + checked.stderr
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
    config = graph_config(tmp_path, server, 'calendar_window = "30"\n')
    archive, state = tmp_path / "A", str(tmp_path / "s.db")
    assert copy(config, f"archive:{archive}", state).returncode == 0
    held = archived(archive)
    server.expire_deltas = True
    before = server.requests.copy()
    again = copy(config, f"archive:{archive}", state)
    assert again.returncode == 0, again.stdout + again.stderr
    asked = server.requests - before
    assert asked["410"] == 3  # one calendar, two address books
    assert asked["event:delta:initial"] == 1 and asked["events"] == 1
    assert asked["event:delta:window:30"] == 1  # the window the endpoint asks for
    assert asked["contact:delta:initial"] == 2
    assert archived(archive) == held  # listed again, written once
    assert statuses(state) and set(statuses(state).values()) == {"done"}


def test_changes_carried_by_runs_killed_with_sigkill_end_written_once(server, mailbox, tmp_path):
    """Nothing lost, nothing twice, with real processes: the run that carries 150 edited
    events is killed at random moments, then run to the end; the archive holds every old
    version and every new one exactly once, and a further run has nothing to carry."""
    rooms = [{**DATED_HOLIDAY, "id": f"AAkALgRoom{n:03d}", "subject": f"Réservation {n}"}
             for n in range(150)]
    mailbox.calendars["AAMkCalendar2"] = ("Salles", rooms)
    config, archive, state = graph_config(tmp_path, server), tmp_path / "A", str(tmp_path / "s.db")
    assert copy(config, f"archive:{archive}", state).returncode == 0
    old = archived(archive)[(CollectionKind.CALENDAR, ("Salles",))]
    for room in list(rooms):
        change_entry(mailbox, rooms, {**room, "subject": f"{room['subject']} (déplacée)",
                                      "lastModifiedDateTime": "2024-09-01T08:00:00Z"})
    server.delay = 0.03  # each request a little while in flight: a window to kill in
    rng, killed = random.Random(6), 0
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-m", "migrate", "--config", config, "copy", "mairie",
             f"archive:{archive}", "--state", state, "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 5.0))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed += 1
        process.wait()
    assert killed >= 1, "no run was killed mid-way: the kill window is too late"
    server.delay = 0
    final = copy(config, f"archive:{archive}", state)
    assert final.returncode == 0, final.stdout + final.stderr
    lines = index_lines(archive, "Salles")
    assert len(lines) == 300 and len({line["sha256"] for line in lines}) == 300  # each once
    assert Counter(line["source_id"] for line in lines) == {room["id"]: 2 for room in rooms}
    held = [data for _, data in archived(archive)[(CollectionKind.CALENDAR, ("Salles",))]]
    assert len(held) == 150 and all("(déplacée)" in data.decode() for data in held)
    assert not {data for _, data in old} & set(held)  # read as a source: the latest only
    before = server.requests.copy()
    assert copy(config, f"archive:{archive}", state).returncode == 0
    assert (server.requests - before)["event"] == 0  # every change carried already
