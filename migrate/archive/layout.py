"""Where things live in an archive (format v1), and how names become safe paths.

Folder names and conversation ids become directory names through ``encode_name``: a
reversible escape (``=HH`` per UTF-8 byte, like quoted-printable) of every character that
is unsafe or unportable in a path component, plus a hash suffix for over-long names. The
exact Unicode path is always kept in the index, so the directory name is for people and
mail clients; nothing is restored from it.

``safe_path`` is the single gate every path read *from* an archive goes through.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from ..errors import UnsafePathError

FORMAT_VERSION = 1
VERSION_TAG = "Sovereign-Migrate-Archive-Version"
TOOL_VERSION_TAG = "Sovereign-Migrate-Version"

DATA = "data"
EML_DIR = "data/eml"
CHAT_DIR = "data/chat"
BLOB_DIR = "data/blobs/sha256"
INDEX_DIR = "data/index"
MESSAGES_INDEX = "data/index/messages.jsonl"
FOLDERS_INDEX = "data/index/folders.jsonl"
CONVERSATIONS_INDEX = "data/index/conversations.jsonl"
CALENDAR_DIR = "data/calendars"
CONTACTS_DIR = "data/contacts"
ENTRIES_INDEX = "data/index/entries.jsonl"
COLLECTIONS_INDEX = "data/index/collections.jsonl"
#: Everyone seen in chat, with directory details (the identity map), and the source's
#: description of each file blob (a driveItem).
PEOPLE_INDEX = "data/index/people.jsonl"
FILES_INDEX = "data/index/files.jsonl"
#: Where each kind of collection lives, and the file suffix of its entries.
PIM_DIRS = {"calendar": CALENDAR_DIR, "contacts": CONTACTS_DIR}
PIM_SUFFIXES = {"calendar": ".ics", "contacts": ".vcf"}
CONVERSATION_FILE = "conversation.json"
CHAT_MESSAGES_FILE = "messages.jsonl"
TRANSCRIPT_FILE = "transcript.html"

BAGIT_TXT = "bagit.txt"
BAG_INFO = "bag-info.txt"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
MAILBAG_CSV = "mailbag.csv"
IN_PROGRESS = "in-progress.json"

#: Longest directory name the writer produces, in UTF-8 bytes (file systems allow 255).
MAX_COMPONENT_BYTES = 120
#: Longest component and whole relative path a reader accepts.
MAX_READ_COMPONENT_BYTES = 255
MAX_READ_PATH_BYTES = 4096

ESCAPE = "="
TRUNCATED = "=~"   # followed by 16 hex digits: the name was too long and is cut
DISAMBIGUATED = "=+"  # followed by 8 hex digits: a sibling differs only in letter case

_ALWAYS_ESCAPE = frozenset('=%/\\<>:"|?*')
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789¹²³"}
)
_MESSAGE_FILE = re.compile(r"^([1-9][0-9]{0,17})\.eml$")
_ENTRY_FILE = re.compile(r"^([1-9][0-9]{0,17})\.(ics|vcf)$")
#: Suffixes of item files: a directory name never ends with one (it would look like an item).
_ITEM_SUFFIXES = (".eml", ".ics", ".vcf")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _escape_char(char: str) -> str:
    return "".join(f"={byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def _needs_escape(char: str, first: bool, last: bool, ascii_only: bool) -> bool:
    if char in _ALWAYS_ESCAPE or unicodedata.category(char) in _UNSAFE_CATEGORIES:
        return True
    if ascii_only and ord(char) > 0x7E:
        return True
    if (first or last) and char.isspace():  # bagit strips, Windows drops trailing spaces
        return True
    return (first or last) and char == "."  # hidden files, ".", "..", Windows trailing dot


def _escape(name: str, ascii_only: bool) -> str:
    last = len(name) - 1
    text = "".join(_escape_char(c) if _needs_escape(c, i == 0, i == last, ascii_only) else c
                   for i, c in enumerate(name))
    stem = text.split(".", 1)[0].rstrip(" ").upper()
    if stem in _DEVICES:  # CON, nul.txt, COM1 ... are devices on Windows
        text = _escape_char(text[0]) + text[1:]
    if text.lower().endswith(_ITEM_SUFFIXES):  # never looks like an item file beside items
        text = text[:-4] + _escape_char(".") + text[-3:]
    return text


def _tokens(text: str) -> list[str]:
    """Split escaped text into escape triples and single characters."""
    out, i = [], 0
    while i < len(text):
        step = 3 if text[i] == ESCAPE else 1
        out.append(text[i:i + step])
        i += step
    return out


def _truncate(text: str, name: str) -> str:
    budget = MAX_COMPONENT_BYTES - len(TRUNCATED) - 16
    kept, used = [], 0
    for token in _tokens(text):
        size = len(token.encode("utf-8"))
        if used + size > budget:
            break
        kept.append(token)
        used += size
    return "".join(kept) + TRUNCATED + name_hash(name, 16)


def name_hash(name: str, digits: int) -> str:
    """Hex digits of the sha256 of ``name`` (lone surrogates included)."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:digits]


def encode_name(name: str) -> str:
    """A safe, portable, single path component for ``name``; reversible unless cut.

    Escapes ``/``, ``\\``, NUL and other control or invisible characters, Windows-reserved
    characters and device names, leading/trailing dots and spaces, ``=`` and ``%``; names
    that are not in Unicode NFC are escaped to ASCII (so file systems that normalise cannot
    merge two folders); names longer than ``MAX_COMPONENT_BYTES`` are cut and get ``=~`` and
    a hash of the full name.
    """
    if not name:
        raise ValueError("an empty name has no encoding")
    for ascii_only in (False, True):
        text = _escape(name, ascii_only)
        if len(text.encode("utf-8")) > MAX_COMPONENT_BYTES:
            text = _truncate(text, name)
        if unicodedata.normalize("NFC", text) == text:
            return text
    raise AssertionError("unreachable: an ASCII text is always NFC")


def decode_name(component: str) -> str | None:
    """The name ``encode_name`` encoded into ``component``; None when it was cut (too long)."""
    if TRUNCATED in component:
        return None
    if DISAMBIGUATED in component:
        component = component[: component.index(DISAMBIGUATED)]
    raw = bytearray()
    for token in _tokens(component):
        if token.startswith(ESCAPE):
            if len(token) != 3 or not all(c in "0123456789ABCDEF" for c in token[1:]):
                raise ValueError(f"invalid escape {token!r} in {component!r}")
            raw.append(int(token[1:], 16))
        else:
            raw += token.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "surrogatepass")


def disambiguate(component: str, name: str, attempt: int = 0) -> str:
    """``component`` with a suffix telling it from a sibling that differs only in case."""
    salt = name if attempt == 0 else f"{name}\0{attempt}"
    return component + DISAMBIGUATED + name_hash(salt, 8)


def is_safe_component(component: str) -> bool:
    """Whether ``component`` can be used as one path component without leaving its parent."""
    if component in ("", ".", "..") or "/" in component or "\\" in component:
        return False
    if any(unicodedata.category(c) == "Cc" for c in component):
        return False
    try:
        size = len(component.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates cannot name a file portably
        return False
    return size <= MAX_READ_COMPONENT_BYTES


def safe_path(root: Path, relative: object, under: str) -> Path:
    """Resolve ``relative`` (read from an archive) inside ``root``, or raise UnsafePathError.

    Rejects non-strings, absolute paths, drive letters, backslashes, NUL and control
    characters, ``.`` and ``..`` components, over-long names, paths outside ``under`` (any
    place in the archive if ``under`` is empty) and symbolic links that lead out of it.
    """
    if not isinstance(relative, str) or not relative:
        raise UnsafePathError(f"path {relative!r} is not a non-empty string")
    if relative.startswith("/") or re.match(r"^[A-Za-z]:", relative):
        raise UnsafePathError(f"absolute path {relative!r}")
    if "\0" in relative or "\\" in relative:
        raise UnsafePathError(f"path {relative!r} contains NUL or a backslash")
    try:
        if len(relative.encode("utf-8")) > MAX_READ_PATH_BYTES:
            raise UnsafePathError(f"path of {len(relative)} characters is too long")
    except UnicodeEncodeError:
        raise UnsafePathError(f"path {relative!r} is not valid Unicode") from None
    parts = relative.split("/")
    for part in parts:
        if part == "..":
            raise UnsafePathError(f"path {relative!r} climbs out with '..'")
        if not is_safe_component(part):
            raise UnsafePathError(f"path {relative!r} has an unsafe or over-long component")
    if under and not relative.startswith(under.rstrip("/") + "/"):
        raise UnsafePathError(f"path {relative!r} is not under {under}/")
    target = root.joinpath(*parts)
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(target)]) != real_root:
        raise UnsafePathError(f"path {relative!r} leads outside the archive (symbolic link)")
    return target


def message_file(number: int) -> str:
    """File name of message ``number`` (the Mailbag-Message-ID)."""
    return f"{number}.eml"


def message_number(filename: str) -> int | None:
    """The message number a file name ``<n>.eml`` stands for, else None."""
    match = _MESSAGE_FILE.match(filename)
    return int(match.group(1)) if match else None


def entry_file(number: int, kind: str) -> str:
    """File name of calendar or contacts entry ``number`` (``<n>.ics`` or ``<n>.vcf``)."""
    return f"{number}{PIM_SUFFIXES[kind]}"


def entry_number(filename: str) -> int | None:
    """The entry number a file name ``<n>.ics`` or ``<n>.vcf`` stands for, else None."""
    match = _ENTRY_FILE.match(filename)
    return int(match.group(1)) if match else None


def is_sha256(text: object) -> bool:
    return isinstance(text, str) and bool(_HEX64.match(text))


def blob_path(sha256: str) -> str:
    """Relative path of the blob with this (lower-case hex) sha256."""
    if not is_sha256(sha256):
        raise UnsafePathError(f"blob name {sha256!r} is not a sha256 in lower-case hex")
    return f"{BLOB_DIR}/{sha256[:2]}/{sha256}"


def hash64(data: bytes) -> int:
    """A 64-bit digest: small keys for look-ups that must not hold full records in memory."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class DirNames:
    """Allocates directory names that stay distinct among siblings even on file systems
    that ignore case or Unicode normalisation (macOS, Windows)."""

    def __init__(self) -> None:
        self._taken: dict[str, set[str]] = {}

    @staticmethod
    def _key(component: str) -> str:
        return unicodedata.normalize("NFKC", component.casefold())

    def reserve(self, parent: str, component: str) -> None:
        self._taken.setdefault(parent, set()).add(self._key(component))

    def allocate(self, parent: str, name: str) -> str:
        """A new component for ``name`` under ``parent``, suffixed if a sibling is too alike."""
        taken = self._taken.setdefault(parent, set())
        base = candidate = encode_name(name)
        attempt = 0
        while self._key(candidate) in taken:
            candidate = disambiguate(base, name, attempt)
            attempt += 1
        taken.add(self._key(candidate))
        return candidate
