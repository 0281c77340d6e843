"""``migrate archive validate``: is this archive whole, sealed, and what it claims to be?

Checks the BagIt structure, every checksum of both manifests, files missing from or
unexpected in the manifest, the Payload-Oxum, and the index against the files: every
line readable and safe, its .eml present with the recorded size and sha256, no message
twice, no .eml without a line; the same for calendar (.ics) and contacts (.vcf) entries;
then the chat directories and blobs. Every problem names
the file (and index line) concerned. Each file is hashed once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ArchiveError
from .bag import is_sealed, read_tags, tag_value
from .chatjson import chat_message_from_dict, conversation_from_dict, version_of
from .chatversions import message_key
from .errors import IndexLineError, UnsafeIndexPathError
from .fileindex import parse_file_record
from .jsonl import MAX_CHAT_LINE, MAX_INDEX_LINE, iter_lines, parse_object, read_capped
from .layout import (
    BAG_INFO,
    BAGIT_TXT,
    BLOB_DIR,
    CALENDAR_DIR,
    CHAT_MESSAGES_FILE,
    COLLECTIONS_INDEX,
    CONTACTS_DIR,
    CONVERSATION_FILE,
    CONVERSATIONS_INDEX,
    DATA,
    EML_DIR,
    ENTRIES_INDEX,
    FILES_INDEX,
    FOLDERS_INDEX,
    IN_PROGRESS,
    MANIFEST,
    MESSAGES_INDEX,
    PEOPLE_INDEX,
    TAGMANIFEST,
    TRANSCRIPT_FILE,
    hash64,
    is_sha256,
    safe_path,
)
from .people import parse_person_line
from .pimrecords import EntryRecord, parse_collection_record, parse_entry_record
from .reader import known_versions, open_archive
from .records import MailRecord, parse_conversation_record, parse_folder_record


@dataclass(frozen=True)
class Problem:
    """One finding; ``path`` is relative to the archive root, ``line`` 1-based."""

    kind: str  # unsealed structure checksum missing unexpected oxum index unsafe orphan ...
    message: str
    path: str | None = None
    line: int | None = None
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.path}" + (f" line {self.line}" if self.line else "") if self.path else ""
        return f"{self.severity}: {where + ': ' if where else ''}{self.message}"


@dataclass
class ValidationResult:
    """The outcome of ``validate``: ok when there is no error (warnings allowed)."""

    root: Path
    version: int | None = None
    sealed: bool = False
    problems: list[Problem] = field(default_factory=list)
    files_checked: int = 0
    messages: int = 0
    entries: int = 0  # calendar events and contacts

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def bad_files(self) -> list[str]:
        """The files named by errors, each once."""
        return sorted({p.path for p in self.problems if p.path and p.severity == "error"})

    def add(self, kind: str, message: str, path: str | None = None, line: int | None = None,
            severity: str = "error") -> None:
        self.problems.append(Problem(kind, message, path, line, severity))

    def to_text(self) -> str:
        state = "sealed" if self.sealed else "NOT SEALED"
        head = (f"{self.root}: format v{self.version or '?'}, {state}, {self.messages} "
                f"messages, {self.entries} calendar/contacts entries, {self.files_checked} "
                "files checked: "
                f"{'valid' if self.ok else 'INVALID'}")
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


MAX_MANIFEST_LINE = 16 * 1024


def _key(relative: str) -> int:
    return hash64(relative.encode("utf-8", "surrogateescape"))


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class _Validator:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.result = ValidationResult(root)
        self.hashed: dict[int, tuple[str, int]] = {}  # path digest -> (sha256, size)
        self.listed: set[int] = set()
        self.indexed: set[int] = set()

    def file_hash(self, relative: str) -> tuple[str, int] | None:
        key = _key(relative)
        if key not in self.hashed:
            path = self.root / relative
            if path.is_symlink() or not path.is_file():
                return None
            self.hashed[key] = _sha256(path)
            self.result.files_checked += 1
        return self.hashed[key]

    def structure(self) -> bool:
        result, root = self.result, self.root
        tags = read_tags(root / BAGIT_TXT)
        if not (root / BAGIT_TXT).is_file() or tag_value(tags, "BagIt-Version") is None:
            result.add("structure", "no valid bagit.txt: not a BagIt bag", BAGIT_TXT)
            return False
        if (root / BAGIT_TXT).read_bytes().startswith(b"\xef\xbb\xbf"):
            result.add("structure", "bagit.txt starts with a byte-order mark", BAGIT_TXT)
        if (tag_value(tags, "Tag-File-Character-Encoding") or "").upper() != "UTF-8":
            result.add("structure", "tag files are not declared UTF-8", BAGIT_TXT)
        if not (root / DATA).is_dir():
            result.add("structure", "no data/ directory", DATA)
            return False
        try:
            result.version = open_archive(root).version
        except ArchiveError as exc:
            result.add("structure", f"{exc} (readable versions: {sorted(known_versions())})",
                       BAG_INFO)
            return False
        result.sealed = is_sealed(root)
        if not result.sealed:
            marker = IN_PROGRESS if (root / IN_PROGRESS).exists() else None
            result.add("unsealed", "the archive is not sealed: a run is writing it or did "
                       "not finish (its manifests are missing or incomplete)", marker)
        return True

    def manifest(self, name: str, payload: bool) -> None:
        for number, line in _manifest_lines(self.root / name):
            if not line or line.startswith("#"):
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2 or not is_sha256(parts[0].lower()):
                self.result.add("structure", "not '<sha256>  <path>'", name, number)
                continue
            expected, relative = parts[0].lower(), _decode(parts[1].lstrip("*"))
            try:
                safe_path(self.root, relative, DATA if payload else "")
                if not payload and relative.startswith(DATA + "/"):
                    raise ArchiveError(f"tag file {relative!r} is not outside data/")
            except ArchiveError as exc:
                self.result.add("unsafe", str(exc), name, number)
                continue
            self.listed.add(_key(relative))
            found = self.file_hash(relative)
            if found is None:
                self.result.add("missing", f"listed in {name} but missing", relative)
            elif found[0] != expected:
                self.result.add("checksum", f"sha256 differs from {name}: the file changed",
                                relative)

    def index(self) -> None:
        reader = open_archive(self.root)
        identities: set[int] = set()
        for item in reader.records():
            if isinstance(item, IndexLineError):
                self.bad_line(item, MESSAGES_INDEX, item.line)
                continue
            assert isinstance(item, MailRecord)
            self.result.messages += 1
            self.check_record(item, identities)
        for line in iter_lines(self.root / FOLDERS_INDEX, MAX_INDEX_LINE):
            try:
                parse_folder_record(line, self.root, FOLDERS_INDEX)
            except IndexLineError as exc:
                self.result.add("index", exc.reason, FOLDERS_INDEX, line.number)

    def pim_index(self) -> None:
        """Every calendar and contacts entry: readable, safe, its file whole, once."""
        identities: set[int] = set()
        for line in iter_lines(self.root / ENTRIES_INDEX, MAX_INDEX_LINE):
            try:
                record = parse_entry_record(line, self.root, ENTRIES_INDEX)
            except IndexLineError as exc:
                self.bad_line(exc, ENTRIES_INDEX, line.number)
                continue
            self.result.entries += 1
            self.check_record(record, identities, ENTRIES_INDEX, "entry")
        for line in iter_lines(self.root / COLLECTIONS_INDEX, MAX_INDEX_LINE):
            try:
                parse_collection_record(line, self.root, COLLECTIONS_INDEX)
            except IndexLineError as exc:
                self.bad_line(exc, COLLECTIONS_INDEX, line.number)

    def bad_line(self, error: IndexLineError, index: str, line: int) -> None:
        """An index line that cannot be read ("index") or names an unsafe path ("unsafe")."""
        kind = "unsafe" if isinstance(error, UnsafeIndexPathError) else "index"
        self.result.add(kind, error.reason, index, line)

    def check_record(self, record: MailRecord | EntryRecord, identities: set[int],
                     index: str = MESSAGES_INDEX, what: str = "message") -> None:
        """One index line's item: listed once (by file and by identity), its file whole."""
        key, identity = _key(record.path), hash64(record.identity())
        if key in self.indexed or identity in identities:
            self.result.add("duplicate", f"this {what} or file is already in the index",
                            index, record.id)
        self.indexed.add(key)
        identities.add(identity)
        found = self.file_hash(record.path)
        if found is None:
            self.result.add("missing", f"listed in {index} line {record.id} but missing",
                            record.path)
        elif found != (record.sha256, record.size):
            self.result.add("checksum", f"size or sha256 differs from {index} line "
                            f"{record.id}: the file changed", record.path)

    def walk(self) -> None:
        result, sealed = self.result, self.result.sealed
        files = size = 0
        for directory, dirs, names in os.walk(self.root / DATA):
            dirs.sort()
            base = Path(directory).relative_to(self.root).as_posix()
            for name in sorted(names) + [d for d in dirs if os.path.islink(Path(directory, d))]:
                relative, path = f"{base}/{name}", Path(directory, name)
                if path.is_symlink():
                    result.add("unsafe", "symbolic link inside the archive", relative)
                    continue
                if name in dirs:
                    continue
                files += 1
                size += path.stat().st_size
                key = _key(relative)
                if sealed and key not in self.listed:
                    result.add("unexpected", f"not listed in {MANIFEST}", relative)
                if relative.startswith(EML_DIR + "/") and key not in self.indexed:
                    result.add("orphan", f"not in {MESSAGES_INDEX}", relative,
                               severity="error" if sealed else "warning")
                if relative.startswith((CALENDAR_DIR + "/", CONTACTS_DIR + "/")) \
                        and key not in self.indexed:
                    result.add("orphan", f"not in {ENTRIES_INDEX}", relative,
                               severity="error" if sealed else "warning")
                if relative.startswith(BLOB_DIR + "/"):
                    found = self.file_hash(relative)
                    if found and found[0] != name:
                        result.add("checksum", "blob bytes do not match its sha256 name",
                                   relative)
        oxum = tag_value(read_tags(self.root / BAG_INFO), "Payload-Oxum")
        if sealed and oxum != f"{size}.{files}":
            result.add("oxum", f"Payload-Oxum is {oxum}, the payload has {size} bytes in "
                       f"{files} files", BAG_INFO)

    def chat(self) -> None:
        for line in iter_lines(self.root / CONVERSATIONS_INDEX, MAX_INDEX_LINE):
            try:
                record = parse_conversation_record(line, self.root, CONVERSATIONS_INDEX)
            except IndexLineError as exc:
                self.bad_line(exc, CONVERSATIONS_INDEX, line.number)
                continue
            self.conversation(record.dir)

    def conversation(self, directory: str) -> None:
        meta = f"{directory}/{CONVERSATION_FILE}"
        try:
            conversation_from_dict(json.loads(read_capped(self.root / meta, MAX_CHAT_LINE)))
        except (OSError, ValueError) as exc:
            self.result.add("chat", f"unreadable: {exc}", meta)
        relative = f"{directory}/{CHAT_MESSAGES_FILE}"
        versions: dict[int, int] = {}  # message key → versions seen so far
        for line in iter_lines(self.root / relative, MAX_CHAT_LINE):
            try:
                data = parse_object(line, relative)
                message = chat_message_from_dict(data)
                version = version_of(data)
            except ValueError as exc:
                self.result.add("chat", str(exc), relative, line.number)
                continue
            key = message_key(message.source_id)
            if version != versions.get(key, 0) + 1:
                self.result.add("chat", f"message {message.source_id!r} is version {version} "
                                f"but follows {versions.get(key, 0)} version(s) of it",
                                relative, line.number)
            versions[key] = versions.get(key, 0) + 1
            for ref in message.attachments:
                if self.file_hash(f"{BLOB_DIR}/{ref.sha256[:2]}/{ref.sha256}") is None:
                    self.result.add("missing", f"attachment blob {ref.sha256} is missing",
                                    relative, line.number)
        if self.result.sealed and not (self.root / directory / TRANSCRIPT_FILE).is_file():
            self.result.add("chat", "no transcript", f"{directory}/{TRANSCRIPT_FILE}",
                            severity="warning")

    def people_and_files(self) -> None:
        """The identity map and the files index: every line readable, no person twice,
        every described file's blob present."""
        seen: set[str] = set()
        for line in iter_lines(self.root / PEOPLE_INDEX, MAX_INDEX_LINE):
            try:
                person = parse_person_line(line)
            except ArchiveError as exc:
                self.result.add("index", str(exc), PEOPLE_INDEX, line.number)
                continue
            if person.source_id in seen:
                self.result.add("index", f"{person.source_id} is listed twice", PEOPLE_INDEX,
                                line.number)
            seen.add(person.source_id)
        for line in iter_lines(self.root / FILES_INDEX, MAX_INDEX_LINE):
            try:
                record = parse_file_record(line)
            except ArchiveError as exc:
                self.result.add("index", str(exc), FILES_INDEX, line.number)
                continue
            if self.file_hash(f"{BLOB_DIR}/{record.sha256[:2]}/{record.sha256}") is None:
                self.result.add("missing", f"file blob {record.sha256} ({record.name}) is "
                                "missing", FILES_INDEX, line.number)


def _manifest_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered, stripped lines of a manifest, streamed; too long or not UTF-8 are errors."""
    for line in iter_lines(path, MAX_MANIFEST_LINE):
        if line.error and not line.unfinished:
            raise ArchiveError(f"{path.name} line {line.number}: {line.error}")
        data = line.data if not line.unfinished else b""
        try:
            yield line.number, data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ArchiveError(f"{path.name} line {line.number}: not UTF-8") from None


def _decode(name: str) -> str:
    return name.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def validate(path: str | os.PathLike) -> ValidationResult:
    """Check the archive at ``path`` completely; never raises for what it finds."""
    checker = _Validator(Path(path).expanduser().absolute())
    if not checker.root.is_dir():
        checker.result.add("structure", "no archive here (not a directory)")
        return checker.result
    try:
        if not checker.structure():
            return checker.result
        if checker.result.sealed:
            checker.manifest(MANIFEST, payload=True)
            checker.manifest(TAGMANIFEST, payload=False)
        checker.index()
        checker.pim_index()
        checker.walk()
        checker.chat()
        checker.people_and_files()
    except (ArchiveError, OSError) as exc:  # something unreadable: report it, stop there
        checker.result.add("structure", f"validation stopped: {exc}")
    return checker.result
