"""Keywords that are not IMAP atoms are written reversibly (connectors/imap/keywords.py)."""

from __future__ import annotations

import pytest

from connectors.imap.keywords import decode, encode
from connectors.imap.wire import is_atom

pytest.importorskip("imapclient")


@pytest.mark.parametrize("keyword", [
    "Catégorie bleue", "Projet Alpha", "日本語", "a&b", "&", "x(y)*%\"]\\", "fin ",
    "Été 2024 — réunions", "😀 urgent"])
def test_a_category_that_is_not_an_atom_becomes_one_and_comes_back(keyword):
    atom = encode(keyword)
    assert is_atom(atom), atom
    assert decode(atom) == keyword


@pytest.mark.parametrize("atom", ["$Forwarded", "NonJunk", "Rouge", "$label1", "[x"])
def test_an_atom_without_ampersand_is_written_as_it_is(atom):
    assert encode(atom) == atom and decode(atom) == atom


def test_the_encoding_is_the_imap_mailbox_one_extended_to_atom_specials():
    assert encode("Catégorie bleue") == "Cat&AOk-gorie&ACA-bleue"
    assert encode("a&b") == "a&-b"


@pytest.mark.parametrize("stray", ["&foo", "A&B", "&AOk", "x&-y&"])
def test_a_stray_ampersand_from_another_program_is_read_as_it_is(stray):
    assert decode(stray) == stray
