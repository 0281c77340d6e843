"""Who each source person becomes on Matrix: their own account (the people mapping's
``target_account``) or a puppet of the appservice (``@<prefix>_<escaped source id>``).

The mapping is the sheet ``migrate archive people A --csv FILE`` writes
(``migrate.archive.people.CSV_COLUMNS``), with ``target_account`` filled in where the person
has a Matrix account; lines starting with ``#`` are comments.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from migrate.archive.people import CSV_COLUMNS
from migrate.errors import ConfigError

_USER_ID = re.compile(r"@[a-z0-9._=/+-]+:[A-Za-z0-9.:\[\]-]+")
_LOCALPART_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-/")


def read_mapping(path: Path) -> dict[str, str]:
    """source id → Matrix user id of the filled rows of the mapping sheet at ``path``."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            lines = [line for line in stream if not line.startswith("#")]
    except OSError as exc:
        raise ConfigError(f"cannot read the people mapping {path}: "
                          f"{exc.strerror or exc}") from None
    rows = csv.DictReader(lines)
    missing = [c for c in ("source_id", "target_account") if c not in (rows.fieldnames or ())]
    if missing:
        raise ConfigError(f"{path}: the people mapping lacks the column(s) "
                          f"{', '.join(missing)} (expected {','.join(CSV_COLUMNS)})")
    mapping: dict[str, str] = {}
    for number, row in enumerate(rows, start=2):
        account = (row.get("target_account") or "").strip()
        if not account:
            continue
        if not _USER_ID.fullmatch(account):
            raise ConfigError(f"{path} row {number}: target_account {account!r} is not a "
                              "Matrix user id (@name:server)")
        mapping[(row.get("source_id") or "").strip()] = account
    return mapping


def escape_localpart(text: str) -> str:
    """``text`` as a Matrix localpart: safe characters kept, any other byte as ``=xx``
    (the escaping the Matrix specification suggests for mapping foreign ids)."""
    out = []
    for char in text:
        if char in _LOCALPART_SAFE:
            out.append(char)
        else:
            out.extend(f"={byte:02x}" for byte in char.encode())
    return "".join(out)


def puppet_id(source_id: str, prefix: str, server_name: str) -> str:
    """The appservice puppet standing for ``source_id``."""
    return f"@{prefix}_{escape_localpart(source_id)}:{server_name}"


def source_of_puppet(user_id: str, prefix: str) -> str | None:
    """The source id a puppet stands for (the inverse of ``puppet_id``), else None."""
    localpart = user_id[1:].split(":", 1)[0]
    if not localpart.startswith(prefix + "_"):
        return None
    escaped = localpart[len(prefix) + 1:]
    return re.sub(rb"=([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  escaped.encode()).decode("utf-8", "replace")
