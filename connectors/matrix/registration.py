"""The application-service registration: the file a Synapse admin installs so that this
tool may act as the migrated people (``app_service_config_files`` in homeserver.yaml).

It is written by ``write_registration`` and read back by the connector for its tokens.
The file is JSON, which every YAML reader (Synapse's included) reads as YAML. It holds the
two tokens of the appservice: keep it as private as a password (it is written mode 0600).

Namespaces: the puppets (``@<prefix>_…``) and the rooms' aliases (``#<prefix>_…``) are the
tool's alone (exclusive); the accounts named in the people mapping's ``target_account``
column are added one by one, not exclusive, so that their messages come from the person's
real account while the person keeps using it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from migrate.errors import ConfigError

DEFAULT_PREFIX = "migrate"


@dataclass(frozen=True)
class Registration:
    """What the connector needs of the registration file."""

    id: str
    as_token: str
    hs_token: str
    sender_localpart: str
    prefix: str  # puppets are @<prefix>_…, rooms' aliases #<prefix>_…
    accounts: frozenset[str] = frozenset()  # mapped accounts the tool may act as

    def __repr__(self) -> str:  # the tokens are secrets
        return f"Registration(id={self.id!r}, prefix={self.prefix!r})"


def _namespaces(server_name: str, prefix: str, accounts: Iterable[str]) -> dict:
    domain = re.escape(server_name)
    users = [{"exclusive": True, "regex": f"@{re.escape(prefix)}_.*:{domain}"}]
    users += [{"exclusive": False, "regex": re.escape(account)}
              for account in sorted(set(accounts))]
    return {"users": users,
            "aliases": [{"exclusive": True, "regex": f"#{re.escape(prefix)}_.*:{domain}"}],
            "rooms": []}


def write_registration(path: Path, server_name: str, accounts: Iterable[str] = (),
                       prefix: str = DEFAULT_PREFIX) -> Registration:
    """Write (or rewrite, keeping its tokens) the registration file at ``path`` for the
    homeserver ``server_name``; ``accounts`` are the mapped Matrix accounts to act as."""
    if not re.fullmatch(r"[a-z0-9._=-]+", prefix):
        raise ConfigError(f"appservice prefix {prefix!r}: use lower-case letters, digits, "
                          "'.', '_', '=' or '-'")
    known = read_registration(path) if path.exists() else None
    accounts = frozenset(accounts)
    registration = replace(known, accounts=accounts) if known else Registration(
        id=f"sovereign-migrate-{prefix}", as_token=secrets.token_urlsafe(32),
        hs_token=secrets.token_urlsafe(32), sender_localpart=f"{prefix}bot", prefix=prefix,
        accounts=accounts)
    document = {
        "id": registration.id,
        "url": None,  # the tool only sends; the homeserver never has to call it
        "as_token": registration.as_token,
        "hs_token": registration.hs_token,
        "sender_localpart": registration.sender_localpart,
        "rate_limited": False,
        "namespaces": _namespaces(server_name, registration.prefix, accounts),
        "de.sovereign-migrate.prefix": registration.prefix,
        "de.sovereign-migrate.accounts": sorted(set(accounts)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
    os.replace(temporary, path)
    return registration


def read_registration(path: Path) -> Registration:
    """The registration file this tool wrote; ConfigError saying what is wrong otherwise."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the appservice registration {path}: "
                          f"{exc.strerror or exc}") from None
    except ValueError:
        raise ConfigError(f"{path}: not an appservice registration written by this tool "
                          "(write one with write_registration)") from None
    try:
        return Registration(document["id"], document["as_token"], document["hs_token"],
                            document["sender_localpart"],
                            document.get("de.sovereign-migrate.prefix", DEFAULT_PREFIX),
                            frozenset(document.get("de.sovereign-migrate.accounts") or ()))
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: the appservice registration lacks {exc}") from None


def ensure_registration(path: Path, server_name: str, accounts: Iterable[str]) -> Registration:
    """The registration at ``path`` if it covers every mapped account; otherwise write it
    (new, or with the accounts added, same tokens) and stop with ConfigError telling the
    operator to install it: the homeserver only honours it once it is installed."""
    accounts = frozenset(accounts)
    known = read_registration(path) if path.exists() else None
    if known is not None and accounts <= known.accounts:
        return known
    write_registration(path, server_name, accounts | (known.accounts if known else set()),
                       known.prefix if known else DEFAULT_PREFIX)
    what = "written" if known is None else "updated with the newly mapped accounts"
    raise ConfigError(f"appservice registration {what}: {path}. Install it on the "
                      "homeserver (app_service_config_files in homeserver.yaml), restart "
                      "Synapse, then run this command again. Keep the file private: it "
                      "holds the appservice's tokens.")
