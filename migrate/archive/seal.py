"""Sealing: transcripts, mailbag.csv, manifests and bag-info.txt, so the archive becomes a
valid BagIt bag (RFC 8493) that any BagIt tool can check.

Streaming throughout: each index is read once (its sha256 values are reused for the .eml,
.ics and .vcf files, blob names are their sha256), the payload is walked once and only
files without a known checksum are hashed. Memory: 8 bytes per message or entry (a digest
of its path) plus one byte (was it found on disk). The last step removes the in-progress marker.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from array import array
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .. import __version__
from ..errors import ArchiveError
from .bag import read_tags, write_tags
from .jsonl import fsync_path, iter_lines
from .layout import (
    BAG_INFO,
    BAGIT_TXT,
    BLOB_DIR,
    CALENDAR_DIR,
    CHAT_DIR,
    CHAT_MESSAGES_FILE,
    COLLECTIONS_INDEX,
    CONTACTS_DIR,
    CONVERSATION_FILE,
    CONVERSATIONS_INDEX,
    DATA,
    EML_DIR,
    ENTRIES_INDEX,
    FOLDERS_INDEX,
    FORMAT_VERSION,
    IN_PROGRESS,
    MAILBAG_CSV,
    MANIFEST,
    MESSAGES_INDEX,
    TAGMANIFEST,
    TOOL_VERSION_TAG,
    TRANSCRIPT_FILE,
    VERSION_TAG,
    entry_number,
    hash64,
    is_sha256,
    message_number,
)
from .pimrecords import parse_collection_record, parse_entry_record
from .records import MailRecord, parse_conversation_record, parse_mail_record
from .transcript import write_transcript

log = logging.getLogger(__name__)

MAILBAG_COLUMNS = ("Mailbag-Message-ID", "Message-ID", "Original-File", "Message-Path",
                   "Derivatives-Path", "Attachments", "Date", "From", "To", "Cc", "Bcc",
                   "Subject", "Content_Type", "Error")
COUNT_TAGS = {"folders": "Sovereign-Migrate-Folder-Count",
              "conversations": "Sovereign-Migrate-Conversation-Count",
              "chat_messages": "Sovereign-Migrate-Chat-Message-Count",
              "blobs": "Sovereign-Migrate-Blob-Count",
              "calendars": "Sovereign-Migrate-Calendar-Count",
              "events": "Sovereign-Migrate-Event-Count",
              "address_books": "Sovereign-Migrate-Address-Book-Count",
              "contacts": "Sovereign-Migrate-Contact-Count"}
#: Which counts a collection and an entry of each kind add to.
_PIM_COUNTS = {"calendar": ("calendars", "events"), "contacts": ("address_books", "contacts")}
_MANAGED = {"Bag-Software-Agent", "Bagging-Date", "Payload-Oxum", "Bag-Size", "Bag-Type",
            "Mailbag-Source", "Mailbag-Agent", "Mailbag-Agent-Version", "Original-Included",
            "EML-Agent", "Mailbag-Message-Count", "External-Description", VERSION_TAG,
            TOOL_VERSION_TAG, *COUNT_TAGS.values()}


@dataclass
class SealReport:
    """What a seal did: totals, and the files it had to drop or could not find."""

    messages: int = 0
    payload_files: int = 0
    payload_bytes: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_TAGS, 0))
    sources: set[str] = field(default_factory=set)
    orphans_removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # message numbers without a file
    missing_entries: list[str] = field(default_factory=list)  # entry numbers without a file


def initial_tags() -> list[tuple[str, str]]:
    """bag-info.txt of an unsealed archive: enough for a reader to know the format."""
    return [("Bag-Software-Agent", f"sovereign-migrate {__version__}"),
            (VERSION_TAG, str(FORMAT_VERSION)), (TOOL_VERSION_TAG, __version__)]


def _path_key(relative: str) -> int:
    return hash64(relative.encode("utf-8", "surrogateescape"))


def _manifest_name(relative: str) -> str:
    return relative.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _hash_file(path: Path) -> tuple[str, int, int]:
    """sha256, size and number of newlines of a file."""
    digest, size, lines = hashlib.sha256(), 0, 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
    return digest.hexdigest(), size, lines


def refresh_transcripts(root: Path) -> None:
    """Write the transcript of every conversation whose messages changed since the last."""
    for line in iter_lines(root / CONVERSATIONS_INDEX):
        record = parse_conversation_record(line, root, CONVERSATIONS_INDEX)
        directory = root / record.dir
        try:
            made = (directory / TRANSCRIPT_FILE).stat().st_mtime_ns
        except FileNotFoundError:
            made = -1
        newest = max((p.stat().st_mtime_ns for p in (directory / CHAT_MESSAGES_FILE,
                     directory / CONVERSATION_FILE) if p.exists()), default=0)
        if made <= newest:
            write_transcript(directory)


def _mail_pass(root: Path, manifest, report: SealReport) -> array:
    """Manifest lines and mailbag.csv rows for every message; returns their path digests."""
    keys = array("Q")
    temp = root / f".{MAILBAG_CSV}.tmp"
    with open(temp, "w", encoding="utf-8", errors="replace", newline="") as stream:
        rows = csv.writer(stream)
        rows.writerow(MAILBAG_COLUMNS)
        for line in iter_lines(root / MESSAGES_INDEX):
            record = parse_mail_record(line, root, MESSAGES_INDEX)
            manifest.write(f"{record.sha256}  {_manifest_name(record.path)}\n")
            keys.append(_path_key(record.path))
            report.payload_bytes += record.size
            report.payload_files += 1
            if record.source:
                report.sources.add(record.source.split(":", 1)[0])
            rows.writerow(_mailbag_row(record))
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temp, root / MAILBAG_CSV)
    report.messages = len(keys)
    return keys


def _mailbag_row(record: MailRecord) -> list[str]:
    derivatives = record.path[len(EML_DIR) + 1:].rsplit("/", 1)[0]
    return [str(record.id), record.message_id or "", record.source_id,
            "/".join(record.folder), derivatives, "", record.date or "", record.sender or "",
            record.to or "", record.cc or "", record.bcc or "", record.subject or "",
            record.content_type or "", ""]


def _pim_pass(root: Path, manifest, report: SealReport) -> array:
    """Manifest lines for every calendar and contacts entry (sha256 from the index) and
    their counts; returns their path digests."""
    for line in iter_lines(root / COLLECTIONS_INDEX):
        record = parse_collection_record(line, root, COLLECTIONS_INDEX)
        report.counts[_PIM_COUNTS[record.kind.value][0]] += 1
    keys = array("Q")
    for line in iter_lines(root / ENTRIES_INDEX):
        entry = parse_entry_record(line, root, ENTRIES_INDEX)
        manifest.write(f"{entry.sha256}  {_manifest_name(entry.path)}\n")
        keys.append(_path_key(entry.path))
        report.counts[_PIM_COUNTS[entry.kind.value][1]] += 1
        report.payload_bytes += entry.size
        report.payload_files += 1
    return keys


def _is_entry_file(relative: str) -> bool:
    return relative.startswith((CALENDAR_DIR + "/", CONTACTS_DIR + "/"))


def _payload_pass(root: Path, manifest, keys: array, entry_keys: array,
                  report: SealReport) -> None:
    """Walk data/: drop temp files and orphan messages or entries, list every other file."""
    found = bytearray(len(keys))
    entries_found = bytearray(len(entry_keys))
    for directory, dirs, files in os.walk(root / DATA):
        dirs.sort()
        here = Path(directory)
        relative_dir = here.relative_to(root).as_posix()
        for name in sorted(files):
            path, relative = here / name, f"{relative_dir}/{name}"
            if name.startswith(".") and name.endswith(".tmp"):
                path.unlink()
                continue
            if path.is_symlink():
                raise ArchiveError(f"cannot seal: {relative} is a symbolic link")
            if relative.startswith(EML_DIR + "/") and (number := message_number(name)):
                if number <= len(keys) and keys[number - 1] == _path_key(relative):
                    found[number - 1] = 1
                else:
                    path.unlink()
                    report.orphans_removed.append(relative)
                    log.info("removed %s: written by an interrupted run, not in the index",
                             relative)
                continue
            if _is_entry_file(relative) and (number := entry_number(name)):
                if number <= len(entry_keys) and entry_keys[number - 1] == _path_key(relative):
                    entries_found[number - 1] = 1
                else:
                    path.unlink()
                    report.orphans_removed.append(relative)
                    log.info("removed %s: written by an interrupted run, not in the index",
                             relative)
                continue
            _list_other(path, relative, manifest, report)
    report.missing_entries = [str(n) for n, here in enumerate(entries_found, 1) if not here]
    if report.missing_entries:
        log.warning("calendar/contacts file(s) listed in the index are missing (numbers "
                    "%s); the archive will not validate", ", ".join(report.missing_entries[:20]))
    for number, present in enumerate(found, 1):
        if not present:
            report.missing.append(str(number))
    if report.missing:
        log.warning("message file(s) listed in the index are missing (numbers %s); the "
                    "archive will not validate", ", ".join(report.missing[:20]))


def _list_other(path: Path, relative: str, manifest, report: SealReport) -> None:
    if relative.startswith(BLOB_DIR + "/") and is_sha256(path.name) \
            and path.parent.name == path.name[:2]:
        sha256, size = path.name, path.stat().st_size  # verified when it was written
        report.counts["blobs"] += 1
    else:
        sha256, size, lines = _hash_file(path)
        if relative == FOLDERS_INDEX:
            report.counts["folders"] = lines
        elif relative == CONVERSATIONS_INDEX:
            report.counts["conversations"] = lines
        elif relative.startswith(CHAT_DIR + "/") and path.name == CHAT_MESSAGES_FILE:
            report.counts["chat_messages"] += lines
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raise ArchiveError(f"cannot seal: file name {relative!r} is not UTF-8") from None
    manifest.write(f"{sha256}  {_manifest_name(relative)}\n")
    report.payload_files += 1
    report.payload_bytes += size


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _bag_info(root: Path, report: SealReport) -> None:
    agent = f"sovereign-migrate {__version__}"
    tags = [("Bag-Software-Agent", agent), ("Bagging-Date", date.today().isoformat()),
            ("Payload-Oxum", f"{report.payload_bytes}.{report.payload_files}"),
            ("Bag-Size", _human(report.payload_bytes)), ("Bag-Type", "Mailbag")]
    tags += [("Mailbag-Source", source) for source in sorted(report.sources) or ["unknown"]]
    tags += [("Mailbag-Agent", "sovereign-migrate"), ("Mailbag-Agent-Version", __version__),
             ("Original-Included", "True"),
             ("EML-Agent", f"{agent} (the source's original bytes, never rewritten)"),
             ("Mailbag-Message-Count", str(report.messages)),
             ("External-Description", "Mail, chat, calendars and contacts exported by "
              "sovereign-migrate; "
              f"layout: neutral archive format v{FORMAT_VERSION} (docs/archive-format.md)"),
             (VERSION_TAG, str(FORMAT_VERSION)), (TOOL_VERSION_TAG, __version__)]
    tags += [(COUNT_TAGS[key], str(value)) for key, value in report.counts.items()]
    tags += [(k, v) for k, v in read_tags(root / BAG_INFO) if k not in _MANAGED]
    write_tags(root / BAG_INFO, tags)


def _tag_files(root: Path) -> list[str]:
    names = []
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        if here == root:
            dirs[:] = sorted(d for d in dirs if d != DATA)
        for name in sorted(files):
            relative = (here / name).relative_to(root).as_posix()
            skip = name.startswith("tagmanifest-") or relative == IN_PROGRESS \
                or (name.startswith(".") and name.endswith(".tmp"))
            if not skip:
                names.append(relative)
    return names


def seal(root: Path) -> SealReport:
    """Make the archive a complete, valid bag and mark it sealed (the writer holds it)."""
    for leftover in root.glob(".*.tmp"):  # from a seal or commit that was interrupted
        leftover.unlink()
    refresh_transcripts(root)
    report = SealReport()
    temp = root / f".{MANIFEST}.tmp"
    with open(temp, "w", encoding="utf-8", newline="\n") as manifest:
        keys = _mail_pass(root, manifest, report)
        entry_keys = _pim_pass(root, manifest, report)
        _payload_pass(root, manifest, keys, entry_keys, report)
        manifest.flush()
        os.fsync(manifest.fileno())
    os.replace(temp, root / MANIFEST)
    _bag_info(root, report)
    temp = root / f".{TAGMANIFEST}.tmp"
    with open(temp, "w", encoding="utf-8", newline="\n") as tagmanifest:
        for name in _tag_files(root):
            tagmanifest.write(f"{_hash_file(root / name)[0]}  {_manifest_name(name)}\n")
        tagmanifest.flush()
        os.fsync(tagmanifest.fileno())
    os.replace(temp, root / TAGMANIFEST)
    fsync_path(root)
    (root / IN_PROGRESS).unlink(missing_ok=True)
    fsync_path(root)
    assert (root / BAGIT_TXT).is_file()
    return report
