"""The identity map of an archive's chat: ``data/index/people.jsonl``, one person a line.

Everyone seen in the conversations (authors, mentioned, reacting, members) with the
source's directory details (UPN, mail). An import reads it to map source people to target
accounts (``migrate archive people A --csv FILE`` writes the sheet to fill in).

People are few (thousands at most), so the file is rewritten whole and atomically at each
commit, sorted by source id, merging what earlier runs found: a run killed at any point
leaves the previous file or the new one, never half of one, and a rerun gives the same file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ..errors import ArchiveError
from ..model import Person
from .jsonl import Line, dumps_line, iter_lines, parse_object, write_atomic
from .layout import BAGIT_TXT, PEOPLE_INDEX

#: Columns of the mapping sheet an import fills in (``target_account`` is left empty).
CSV_COLUMNS = ("source_id", "upn", "display_name", "email", "target_account")


def person_to_dict(person: Person) -> dict:
    return {"source_id": person.source_id, "display_name": person.display_name,
            "upn": person.upn, "email": person.email, "in_directory": person.in_directory}


def person_from_dict(data: dict) -> Person:
    """A person line as a Person; ValueError with the reason when it is malformed."""
    source_id = data.get("source_id")
    if not isinstance(source_id, str) or not source_id:
        raise ValueError("'source_id' is missing")
    texts = {}
    for key in ("display_name", "upn", "email"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'{key}' must be text or null")
        texts[key] = value
    found = data.get("in_directory")
    if found is not None and not isinstance(found, bool):
        raise ValueError("'in_directory' must be true, false or null")
    return Person(source_id, texts["display_name"], texts["upn"], texts["email"], found)


def parse_person_line(line: Line, file: str = PEOPLE_INDEX) -> Person:
    """One line of the people index; ArchiveError naming the line when it is broken."""
    try:
        return person_from_dict(parse_object(line, file))
    except ValueError as exc:
        raise ArchiveError(f"{file} line {line.number}: {exc}") from None


def read_people(root: Path) -> Iterator[Person]:
    """The people of the archive at ``root`` (none when it has no people index)."""
    for line in iter_lines(root / PEOPLE_INDEX):
        if line.unfinished:
            continue
        yield parse_person_line(line)


def merge(old: Person, new: Person) -> Person:
    """What two sightings of one person say together: the newer value where it has one."""
    return replace(old, **{key: value for key, value in vars(new).items()
                           if value is not None and key != "source_id"})


class PeopleIndex:
    """The people index of an archive open for writing (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.path = root / PEOPLE_INDEX
        self._people = {p.source_id: p for p in read_people(root)}
        self._changed = False

    def add(self, people: Iterable[Person]) -> None:
        for person in people:
            known = self._people.get(person.source_id)
            merged = person if known is None else merge(known, person)
            if merged != known:
                self._people[person.source_id] = merged
                self._changed = True

    def commit(self) -> None:
        """Rewrite the file, atomically and durably, if anyone was added or learnt more."""
        if not self._changed:
            return
        data = b"".join(dumps_line(person_to_dict(self._people[key]))
                        for key in sorted(self._people))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, data)
        self._changed = False


def write_mapping_csv(people: Iterable[Person], out: TextIO) -> int:
    """The mapping sheet: one row per person, ``target_account`` empty; returns the rows."""
    writer = csv.writer(out)  # RFC 4180: CRLF line ends, quotes where needed
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for person in people:
        writer.writerow((person.source_id, person.upn or "", person.display_name or "",
                         person.email or "", ""))
        rows += 1
    return rows


def people_sheet(root: Path, out: Path) -> tuple[int, int] | None:
    """Write the archive's mapping sheet to ``out``; (people, found in the directory), or
    None when the archive has no people index. ArchiveError when it is not an archive."""
    if not (root / BAGIT_TXT).is_file():
        raise ArchiveError(f"{root}: not an archive (no {BAGIT_TXT})")
    if not (root / PEOPLE_INDEX).is_file():
        return None
    people = list(read_people(root))
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(out, "w", encoding="utf-8", newline="") as stream:
            write_mapping_csv(people, stream)
    except OSError as exc:
        raise ArchiveError(f"cannot write {out}: {exc.strerror or exc}") from None
    return len(people), sum(1 for p in people if p.in_directory)
