"""Comparing calendars and contacts (``verify_pim``) and labelling entries for reports
(``pimtext``): pairing by bytes then UID, duplicates, collections on one side only,
unreadable collections, and labels from real-world iCalendar and vCard shapes."""

from __future__ import annotations

from collections.abc import Iterator

from migrate.connector import Kind, PimSource
from migrate.errors import BadInputError
from migrate.model import CalendarEvent, Collection, CollectionKind, Contact, Entry
from migrate.pimtext import entry_label
from migrate.verify import Comparison, Outcome
from migrate.verify_pim import compare_pim

CAL = Collection(CollectionKind.CALENDAR, ("Agenda",))
BOOK = Collection(CollectionKind.CONTACTS, ("Carnet",))
BOTH = frozenset({Kind.CALENDAR, Kind.CONTACTS})


def ev(uid: str, title: str) -> bytes:
    return f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:{title}\r\nEND:VEVENT\r\n" \
           "END:VCALENDAR\r\n".encode()


class Side(PimSource):
    """One side of a comparison; a collection mapped to an exception fails when listed."""

    def __init__(self, data: dict[Collection, list[Entry] | Exception]) -> None:
        self.data = data

    def collections(self) -> Iterator[Collection]:
        return iter(self.data)

    def entries(self, collection: Collection) -> Iterator[Entry]:
        found = self.data[collection]
        if isinstance(found, Exception):
            yield CalendarEvent("first", ev("first", "lue avant l'erreur"))
            raise found
        yield from found


def run(left: dict, right: dict, kinds: frozenset[Kind] = BOTH) -> Comparison:
    result = Comparison("a", "b")
    compare_pim(Side(left), Side(right), kinds, result)
    return result


def test_entries_pair_by_bytes_whatever_their_ids() -> None:
    result = run({CAL: [CalendarEvent("exchange-1", ev("u1", "A")),
                        CalendarEvent("exchange-2", ev("u2", "B"))]},
                 {CAL: [CalendarEvent("9", ev("u2", "B")), CalendarEvent("4", ev("u1", "A"))]})
    assert result.ok and result.pim_total("match") == 2 and result.items == []


def test_duplicates_are_counted_one_for_one() -> None:
    same = ev("u1", "A")
    result = run({CAL: [CalendarEvent("1", same), CalendarEvent("2", same)]},
                 {CAL: [CalendarEvent("7", same)]})
    assert (result.pim_total("match"), result.pim_total("missing")) == (1, 1)
    assert not result.ok


def test_same_uid_other_bytes_differs_and_ambiguous_uids_do_not_pair() -> None:
    result = run({CAL: [CalendarEvent("1", ev("u1", "Avant")),
                        CalendarEvent("2", ev("dup", "X")), CalendarEvent("3", ev("dup", "Y"))]},
                 {CAL: [CalendarEvent("8", ev("u1", "Après")), CalendarEvent("9", ev("dup", "Z"))]})
    assert result.pim_total("differ") == 1
    assert (result.pim_total("missing"), result.pim_total("extra")) == (2, 1)
    differ = next(i for i in result.items if i.outcome is Outcome.DIFFER)
    assert differ.summary.subject == "Avant" and differ.folder == ("calendar", "Agenda")
    assert differ.kind is Kind.CALENDAR and differ.detail == "id 1"


def test_collections_on_one_side_only() -> None:
    result = run({BOOK: [Contact("c1", b"BEGIN:VCARD\r\nFN:Ana\r\nEND:VCARD\r\n")]},
                 {CAL: [CalendarEvent("1", ev("u", "Seulement ici"))]})
    counts = {(c.kind.value, c.name): (c.missing, c.extra) for c in result.collections}
    assert counts == {("contacts", "Carnet"): (1, 0), ("calendar", "Agenda"): (0, 1)}
    assert not result.ok


def test_kinds_not_asked_for_are_left_alone() -> None:
    result = run({BOOK: [Contact("c1", b"BEGIN:VCARD\r\nFN:Ana\r\nEND:VCARD\r\n")]}, {},
                 frozenset({Kind.CALENDAR}))
    assert result.collections == [] and result.ok


def test_a_collection_that_cannot_be_read_is_never_a_pass() -> None:
    first = CalendarEvent("x", ev("first", "lue avant l'erreur"))
    result = run({CAL: BadInputError("entries.jsonl line 3: not valid JSON")}, {CAL: [first]})
    (collection,) = result.collections
    assert collection.match == 1 and collection.error is not None
    assert "line 3" in collection.error and not result.ok


def test_labels_from_real_shapes() -> None:
    folded = (b"BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Europe/Paris\nEND:VTIMEZONE\n"
              b"BEGIN:VEVENT\nDTSTART;TZID=Europe/Paris:20260101T090000\nSUMMARY:R\xc3"
              b"\n\t\xa9union\\nd'\xc3\xa9quipe\\; bilan\nBEGIN:VALARM\nSUMMARY:alarme\n"
              b"END:VALARM\nUID:abc\nEND:VEVENT\nEND:VCALENDAR\n")
    label = entry_label(folded)
    assert (label.uid, label.summary) == ("abc", "Réunion d'équipe; bilan")
    assert label.start == "20260101T090000 (TZID=Europe/Paris)"
    card = entry_label(b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Durand;Zo\xc3\xa9\r\n"
                       b"FN:Zo\xc3\xa9 Durand\r\nEND:VCARD\r\n")
    assert (card.summary, card.uid) == ("Zoé Durand", None)
    assert entry_label(b"\x00\xff garbage without lines") == entry_label(b"")
    assert entry_label(b"BEGIN:VEVENT\r\nSUMMARY:" + b"x" * 5000 + b"\r\nEND:VEVENT").summary \
        == "x" * 300
