"""Archive paths: the folder-name encoding and the gate for paths read from an archive."""

from __future__ import annotations

import os
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.archive.layout import (
    MAX_COMPONENT_BYTES,
    DirNames,
    decode_name,
    encode_name,
    is_safe_component,
    safe_path,
)
from migrate.errors import UnsafePathError

# Every code point, lone surrogates included (folder names decoded with surrogateescape).
names = st.text(st.characters(exclude_categories=()), min_size=1, max_size=300)

WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(10)} \
    | {f"LPT{i}" for i in range(10)}


def assert_portable_component(component: str) -> None:
    assert is_safe_component(component)
    assert component not in (".", "..")
    assert len(component.encode("utf-8")) <= MAX_COMPONENT_BYTES  # strict UTF-8, too
    assert unicodedata.normalize("NFC", component) == component
    assert not any(c in component for c in '/\\\0<>:"|?*%')
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in component)
    assert component == component.strip() and not component.startswith(".")
    assert not component.endswith(".")
    assert component.split(".", 1)[0].upper() not in WINDOWS_DEVICES
    assert not component.lower().endswith(".eml")


@given(names)
@settings(max_examples=500)
def test_encoding_is_a_safe_single_component_and_round_trips(name: str) -> None:
    component = encode_name(name)
    assert_portable_component(component)
    decoded = decode_name(component)
    if decoded is None:  # cut because too long: marked, and the index has the exact name
        assert "=~" in component
    else:
        assert decoded == name


@given(names, names)
def test_different_names_never_share_a_directory(a: str, b: str) -> None:
    if a != b:
        assert encode_name(a) != encode_name(b)


@pytest.mark.parametrize("name, expected", [
    ("INBOX", "INBOX"),
    ("Boîte de réception", "Boîte de réception"),
    ("Sent/2024", "Sent=2F2024"),
    ("..", "=2E=2E"),
    (".", "=2E"),
    (".hidden", "=2Ehidden"),
    ("trailing. ", "trailing.=20"),
    ("CON", "=43ON"),
    ("nul.txt", "=6Eul.txt"),
    ("a:b*c?", "a=3Ab=2Ac=3F"),
    ("1.eml", "1=2Eeml"),
    ("tab\there", "tab=09here"),
    ("100%", "100=25"),
    ("x=y", "x=3Dy"),
    ("日本語", "日本語"),
])
def test_encoding_examples(name: str, expected: str) -> None:
    assert encode_name(name) == expected
    assert decode_name(expected) == name


def test_non_nfc_names_get_their_own_directory() -> None:
    composed, decomposed = "\u00e9t\u00e9", "e\u0301te\u0301"
    assert encode_name(composed) == composed
    assert encode_name(decomposed).isascii()
    assert decode_name(encode_name(decomposed)) == decomposed


def test_over_long_names_are_cut_with_a_hash() -> None:
    first, second = "x" * 500 + "1", "x" * 500 + "2"
    assert encode_name(first) != encode_name(second)
    assert decode_name(encode_name(first)) is None
    assert len(encode_name("é" * 400).encode()) <= MAX_COMPONENT_BYTES


def test_empty_name_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_name("")


def test_siblings_differing_only_in_case_get_distinct_directories() -> None:
    dirs = DirNames()
    first = dirs.allocate("data/eml", "Inbox")
    second = dirs.allocate("data/eml", "INBOX")
    third = dirs.allocate("data/eml/Inbox", "INBOX")  # another parent: no clash
    assert first == "Inbox" and third == "INBOX"
    assert second.casefold() != first.casefold()
    assert decode_name(second) == "INBOX"


@pytest.mark.parametrize("path, reason", [
    ("data/eml/../../etc/passwd", "'..'"),
    ("/etc/passwd", "absolute"),
    ("C:/Windows/win.ini", "absolute"),
    ("data/eml/a\0b.eml", "NUL"),
    ("data/eml\\a.eml", "backslash"),
    ("data/eml/" + "a" * 300 + ".eml", "over-long"),
    ("data/eml/" + "a/" * 3000 + "b.eml", "too long"),
    ("data/index/messages.jsonl", "not under"),
    ("data/eml//x.eml", "unsafe"),
    ("", "non-empty"),
])
def test_safe_path_rejects_paths_that_could_escape(tmp_path, path: str, reason: str) -> None:
    with pytest.raises(UnsafePathError, match=reason):
        safe_path(tmp_path, path, "data/eml")


def test_safe_path_rejects_symlinks_that_lead_outside(tmp_path) -> None:
    root = tmp_path / "archive"
    (root / "data/eml").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    os.symlink(secret, root / "data/eml/1.eml")
    os.symlink(tmp_path, root / "data/eml/dir")
    with pytest.raises(UnsafePathError, match="outside"):
        safe_path(root, "data/eml/1.eml", "data/eml")
    with pytest.raises(UnsafePathError, match="outside"):
        safe_path(root, "data/eml/dir/secret.txt", "data/eml")
    (root / "data/eml/2.eml").write_bytes(b"x")
    assert safe_path(root, "data/eml/2.eml", "data/eml") == root / "data/eml/2.eml"
