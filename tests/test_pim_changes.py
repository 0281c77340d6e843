"""The copier's contract for changed entries, with sources and targets that know nothing
of cursors (local files, an archive, a connector written before): a source listing in
full each run still gets a changed entry carried, and a target that cannot update keeps
its copy and the change is audited."""

from __future__ import annotations

import sqlite3

from test_archive_pim import AGENDA, FixtureConnector, engine_copy, event, read_all

from migrate.archive import summary, validate
from migrate.connector import Capabilities, Connector, Kind, PimTarget
from migrate.endpoint import Endpoint
from migrate.engine import CopyOptions, copy
from migrate.model import CalendarEvent, Collection, Entry
from migrate.observe import Observers
from migrate.state import StateDB


class Shelf(PimTarget):
    """A target that writes entries and can neither update nor delete them (the
    interface's defaults), as a connector written before these methods existed."""

    def __init__(self, held: dict[str, bytes]) -> None:
        self.held = held

    def prepare_collection(self, collection: Collection) -> None:
        pass

    def put_entry(self, collection: Collection, entry: Entry) -> str:
        self.held[entry.source_id] = entry.data
        return entry.source_id

    def find_entry(self, collection: Collection, entry: Entry) -> str | None:
        return entry.source_id if self.held.get(entry.source_id) == entry.data else None


class ShelfConnector(Connector):
    scheme = "shelf"
    description = "test target without updates"
    capabilities = Capabilities(writes=frozenset({Kind.CALENDAR}))

    def __init__(self, held: dict[str, bytes]) -> None:
        super().__init__(Endpoint(scheme="shelf", path="held"))
        self.held = held

    def open_target(self) -> Shelf:
        return Shelf(self.held)


def agenda(*titles: str) -> dict[Collection, list[Entry]]:
    return {AGENDA: [CalendarEvent(f"ev-{n}", event(n, title))
                     for n, title in enumerate(titles)]}


def test_a_full_listing_source_gets_a_changed_entry_into_an_archive_as_a_new_version(
        tmp_path):
    archive, state = tmp_path / "A", tmp_path / "s.db"
    assert engine_copy(FixtureConnector(agenda("Conseil", "Bureau")), archive, state).ok
    again = engine_copy(FixtureConnector(agenda("Conseil", "Bureau")), archive, state)
    assert again.copied == 0 and again.updated == 0 and again.skipped == 2
    changed = engine_copy(FixtureConnector(agenda("Conseil (reporté)", "Bureau")), archive,
                          state)
    assert changed.ok and changed.updated == 1 and changed.copied == 0
    assert read_all(archive)[("calendar", ("Calendrier",))] == [
        event(1, "Bureau"), event(0, "Conseil (reporté)")]  # read as a source: as now
    assert validate(archive).ok  # the earlier version is still in it, and is no duplicate
    assert summary(archive).entries("calendar") == 2  # show counts the entries as now
    last = engine_copy(FixtureConnector(agenda("Conseil (reporté)", "Bureau")), archive,
                       state)
    assert last.updated == 0 and last.skipped == 2  # carried once


def test_a_target_that_cannot_update_keeps_its_copy_and_the_change_is_audited(tmp_path):
    held: dict[str, bytes] = {}
    state = tmp_path / "s.db"

    def run(*titles: str):
        return copy(FixtureConnector(agenda(*titles)), ShelfConnector(held),
                    StateDB.open(state), CopyOptions(), Observers())

    assert run("Conseil").copied == 1
    result = run("Conseil (reporté)")
    assert result.ok and result.updated == 0 and result.skipped == 1
    assert held == {"ev-0": event(0, "Conseil")}  # kept as it was
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM audit WHERE event = "
                          "'source-changed-copy-kept'").fetchone() == (1,)
