"""Keywords that are not IMAP atoms (Exchange categories such as "Catégorie bleue"), kept.

An IMAP keyword is an atom: printable ASCII without spaces or specials. Categories from
Exchange or Microsoft 365 routinely hold spaces and accents, so they are written in the
way IMAP already writes mailbox names (modified UTF-7, RFC 3501 5.1.3), extended to the
characters an atom cannot hold: every run of them becomes ``&`` + modified base64 of its
UTF-16 + ``-``, and ``&`` itself ``&-``. "Catégorie bleue" is stored as
``Cat&AOk-gorie&ACA-bleue``; reading a keyword back decodes it, so the category returns
unchanged (and ``verify`` compares the names the source had). A keyword that is already
an atom without ``&`` is written as it is.
"""

from __future__ import annotations

import base64
import re

#: Characters an atom may hold (RFC 3501 ATOM-CHAR), except ``&``, the escape.
_PLAIN = re.compile(r"[!#$'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]")
_ENCODED = re.compile(r"&([A-Za-z0-9+,]*)-")


def encode(keyword: str) -> str:
    """``keyword`` as an IMAP atom (see the module docstring); atoms pass unchanged."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            raw = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            run.clear()

    for char in keyword:
        if char == "&":
            flush()
            out.append("&-")
        elif _PLAIN.fullmatch(char):
            flush()
            out.append(char)
        else:
            run.append(char)
    flush()
    return "".join(out)


def decode(atom: str) -> str:
    """The keyword an encoded atom stands for; an atom that is not such an encoding (a
    stray ``&`` from another program) is returned as it is."""
    if "&" not in atom:
        return atom

    def one(found: re.Match[str]) -> str:
        text = found.group(1)
        if not text:
            return "&"
        padded = text.replace(",", "/") + "=" * (-len(text) % 4)
        return base64.b64decode(padded, validate=True).decode("utf-16-be")

    try:
        decoded = _ENCODED.sub(one, atom)
    except (ValueError, UnicodeDecodeError):
        return atom
    return decoded if encode(decoded) == atom else atom
