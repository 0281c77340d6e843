"""CPython's odd test messages through mbox → mbox → Maildir → Maildir → eml → eml.

Every message must come out byte-identical, except the one the mbox format cannot carry
as is (``msg_47.txt`` has no final newline: it gains exactly one, a documented limit).
Flags and dates are checked wherever the format in between can hold them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from migrate.connector import MailSource, MailTarget
from migrate.endpoint import parse_endpoint
from migrate.model import (
    ANSWERED,
    DRAFT,
    FLAGGED,
    FORWARDED,
    SEEN,
    Content,
    Folder,
    MailMessage,
)
from migrate.registry import connector_for

CORPUS = Path(__file__).resolve().parent / "data" / "email_corpus"
FOLDER = Folder(("Archive", "odd: a.b/c 100% ..", "Öffentlich"))
FLAG_SETS = [frozenset(), frozenset({SEEN}), frozenset({SEEN, ANSWERED, "Work"}),
             frozenset({FLAGGED, DRAFT, FORWARDED, "$Label1"})]


def open_source(url: str) -> MailSource:
    reader = connector_for(parse_endpoint(url)).open_source()
    assert isinstance(reader, MailSource)
    return reader


def open_target(url: str) -> MailTarget:
    writer = connector_for(parse_endpoint(url)).open_target()
    assert isinstance(writer, MailTarget)
    return writer


def copy(messages: list[MailMessage], url: str) -> list[MailMessage]:
    """Write ``messages`` to ``url`` (twice: the second pass must add nothing), read back."""
    writer = open_target(url)
    writer.prepare_folder(FOLDER)
    for message in messages + messages:
        writer.append(FOLDER, message)
    writer.commit()
    writer.close()
    reader = open_source(url)
    assert FOLDER.path in [f.path for f in reader.folders()]
    stats = reader.stats(FOLDER)
    copied = list(reader.messages(FOLDER))
    assert (stats.messages, stats.bytes) == (len(copied), sum(m.size for m in copied))
    return copied


@pytest.fixture
def originals() -> dict[str, bytes]:
    files = sorted(CORPUS.glob("msg_*.txt"))
    assert len(files) > 40, f"the test corpus is missing in {CORPUS}"
    return {path.name: path.read_bytes() for path in files}


def test_corpus_survives_mbox_maildir_and_eml(tmp_path, originals):
    names = list(originals)
    start = datetime(2001, 5, 4, 18, 5, 44, 678000, tzinfo=UTC)
    dates = {name: start + timedelta(days=n, seconds=n) for n, name in enumerate(names)}
    flags = {name: FLAG_SETS[n % len(FLAG_SETS)] for n, name in enumerate(names)}
    expected = {name: data if data.endswith(b"\n") else data + b"\n"
                for name, data in originals.items()}
    assert [n for n in names if expected[n] != originals[n]] == ["msg_47.txt"]

    first = [MailMessage(Content.from_bytes(originals[name]), name, flags[name], dates[name])
             for name in names]
    from_mbox = copy(first, f"mbox:{tmp_path / 'mbox'}")
    assert [m.content.read() for m in from_mbox] == [expected[n] for n in names]
    assert [m.internal_date for m in from_mbox] == [dates[n].replace(microsecond=0)
                                                    for n in names]
    # an mbox keeps no flags of its own: only a Status header inside the bytes says one
    assert {n for n, m in zip(names, from_mbox, strict=True) if m.flags} == {"msg_26.txt"}

    with_flags = [MailMessage(m.content, m.source_id, flags[n] | m.flags, m.internal_date)
                  for n, m in zip(names, from_mbox, strict=True)]
    from_maildir = copy(with_flags, f"maildir:{tmp_path / 'maildir'}")
    assert [m.content.read() for m in from_maildir] == [expected[n] for n in names]
    assert [m.flags for m in from_maildir] == [m.flags for m in with_flags]
    assert [m.internal_date for m in from_maildir] == [m.internal_date for m in from_mbox]

    from_eml = copy(from_maildir, f"eml:{tmp_path / 'eml'}")
    assert [m.content.read() for m in from_eml] == [expected[n] for n in names]
    assert [m.internal_date for m in from_eml] == [m.internal_date for m in from_mbox]
    assert all(m.flags == frozenset() for m in from_eml)
    assert from_eml[names.index("msg_47.txt")].content.read() == originals["msg_47.txt"] + b"\n"


def test_corpus_round_trips_maildir_and_eml_without_any_change(tmp_path, originals):
    """Without mbox in the way, every message is kept exactly, final newline or not."""
    messages = [MailMessage(Content.from_bytes(data), name, frozenset({SEEN}),
                            datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=n))
                for n, (name, data) in enumerate(originals.items())]
    from_maildir = copy(messages, f"maildir:{tmp_path / 'maildir'}")
    from_eml = copy(from_maildir, f"eml:{tmp_path / 'eml'}")
    assert [m.content.read() for m in from_eml] == list(originals.values())
    assert [m.sha256 for m in from_maildir] == [m.sha256 for m in messages]
