"""The BagIt side of an archive: bagit.txt, bag-info.txt, the in-progress marker, and the
question every reader asks first: which format version is this, and is it sealed?
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArchiveError
from .jsonl import write_atomic
from .layout import (
    BAG_INFO,
    BAGIT_TXT,
    FORMAT_VERSION,
    IN_PROGRESS,
    MANIFEST,
    TAGMANIFEST,
    VERSION_TAG,
)

BAGIT_TEXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
MAX_TAG_FILE = 1024 * 1024


def read_tags(path: Path) -> list[tuple[str, str]]:
    """The ``Name: value`` pairs of a BagIt tag file, in order (folded lines joined)."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_TAG_FILE + 1)
    except FileNotFoundError:
        return []
    if len(raw) > MAX_TAG_FILE:
        raise ArchiveError(f"{path.name} is larger than {MAX_TAG_FILE} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ArchiveError(f"{path.name} is not UTF-8") from None
    tags: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line[0] in " \t" and tags:
            name, value = tags[-1]
            tags[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, value = line.split(":", 1)
            tags.append((name.strip(), value.strip()))
        else:
            raise ArchiveError(f"{path.name} line {number}: not a 'Name: value' tag")
    return tags


def tag_value(tags: list[tuple[str, str]], name: str) -> str | None:
    for key, value in tags:
        if key == name:
            return value
    return None


def write_tags(path: Path, tags: list[tuple[str, str]]) -> None:
    """Write a tag file atomically; values are kept on one line."""
    lines = []
    for name, value in tags:
        value = " ".join(str(value).split())
        lines.append(f"{name}: {value}\n")
    write_atomic(path, "".join(lines).encode("utf-8"))


def format_version(root: Path) -> int:
    """The archive's format version from bag-info.txt; ArchiveError if absent or unreadable."""
    if not (root / BAGIT_TXT).is_file():
        raise ArchiveError(f"{root} is not an archive: it has no {BAGIT_TXT}")
    value = tag_value(read_tags(root / BAG_INFO), VERSION_TAG)
    if value is None:
        raise ArchiveError(f"{root} is a BagIt bag but not a sovereign-migrate archive "
                           f"({BAG_INFO} has no {VERSION_TAG})")
    if not value.isdigit():
        raise ArchiveError(f"{root}: {VERSION_TAG} {value!r} is not a version number")
    return int(value)


def check_version(root: Path, known: set[int]) -> int:
    """The archive's format version, or a clear ArchiveError if this tool cannot read it."""
    version = format_version(root)
    if version not in known:
        newest = max(known)
        hint = ("it was written by a newer sovereign-migrate; upgrade to read it"
                if version > newest else "no reader exists for it")
        raise ArchiveError(f"{root}: archive format version {version} is unknown to this "
                           f"tool (it reads {', '.join(map(str, sorted(known)))}): {hint}")
    return version


def is_sealed(root: Path) -> bool:
    """Sealed: both manifests present and no run in progress."""
    return ((root / MANIFEST).is_file() and (root / TAGMANIFEST).is_file()
            and not (root / IN_PROGRESS).exists())


@dataclass
class Progress:
    """The in-progress marker: how much of the mail index (and of the calendars and
    contacts index) the last commit made durable."""

    committed_lines: int = 0
    committed_bytes: int = 0
    started: str | None = None
    committed_entries: int = 0

    @classmethod
    def load(cls, root: Path) -> Progress | None:
        """The marker, or None if absent; a damaged marker counts as absent."""
        try:
            with open(root / IN_PROGRESS, "rb") as stream:
                data = json.loads(stream.read(65536))
            return cls(int(data["committed_lines"]), int(data["committed_bytes"]),
                       data.get("started"), int(data.get("committed_entries", 0)))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return cls()

    def save(self, root: Path) -> None:
        data = {"format": FORMAT_VERSION, "committed_lines": self.committed_lines,
                "committed_bytes": self.committed_bytes, "started": self.started,
                "committed_entries": self.committed_entries,
                "note": "a run is writing or was interrupted; the archive is not sealed"}
        write_atomic(root / IN_PROGRESS, json.dumps(data, indent=1).encode() + b"\n")


def unseal(root: Path, progress: Progress) -> None:
    """Mark the archive in progress first, then drop the manifests a new seal replaces."""
    progress.save(root)
    for name in (TAGMANIFEST, MANIFEST):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(root / name)
