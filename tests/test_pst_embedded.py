"""Messages attached to messages in a PST (libpff gives the attachment, not the message in
it: it is read from the file's own B-trees) and a password-protected PST, both written by
a real PST writer (``aspose_pst.py``): each attached message comes out whole, as
``message/rfc822`` with its own recipients, bodies and attachments, at any depth."""

from __future__ import annotations

import hashlib
import json
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import peak_rss_kib, run_cli

from migrate.endpoint import parse_endpoint
from migrate.registry import connector_for

pytest.importorskip("pypff", reason="the pst extra (libpff-python) is not installed")

#: What aspose_pst.py puts in the attachments (kept in step with it).
REPORT = b"%PDF-1.4 report of the council " * 64
NOTES = bytes(range(256)) * 40
SCANS_MB = 40


@pytest.fixture(scope="module")
def embedded_pst() -> Path:
    from pst_data import written_pst

    return written_pst("embedded.pst")


@pytest.fixture(scope="module")
def big_embedded_pst() -> Path:
    from pst_data import written_pst

    return written_pst("big-embedded.pst")


@pytest.fixture(scope="module")
def password_pst() -> Path:
    from pst_data import written_pst

    return written_pst("password.pst")


def only_message(url: str) -> bytes:
    """The bytes of the one message of a one-message file, through the connector."""
    source = connector_for(parse_endpoint(url)).open_source()
    try:
        found = [m for folder in source.folders() for m in source.messages(folder)]
        assert len(found) == 1, [m.source_id for m in found]
        return found[0].content.read()
    finally:
        source.close()


def attached(message: EmailMessage) -> list[EmailMessage]:
    """The attachments of ``message``, as parsed parts."""
    return list(message.iter_attachments())


def test_attached_messages_two_levels_deep_come_out_whole(embedded_pst):
    data = only_message(f"pst:{embedded_pst}")
    outer = message_from_bytes(data, policy=policy.default)
    assert not [defect for part in outer.walk() for defect in part.defects]
    assert outer["Subject"].startswith("Outer")
    assert [a.addr_spec for a in outer["To"].addresses] == ["me@example.org"]
    assert "<b>HTML</b>" in outer.get_body(("html",)).get_content()
    report, middle_part = attached(outer)
    assert report.get_filename() == "report.pdf" and report.get_content() == REPORT
    assert middle_part.get_content_type() == "message/rfc822"
    assert middle_part.get_filename().startswith("Middle")

    middle = middle_part.get_content()
    assert middle["Subject"].startswith("Middle")
    assert middle["From"].addresses[0].addr_spec == "b@example.org"
    assert [a.addr_spec for a in middle["To"].addresses] == ["a@example.org"]  # its table
    assert [(a.display_name, a.addr_spec) for a in middle["Cc"].addresses] == [
        ("Carbon Copy", "cc@example.org")]  # of address type UNKNOWN, shaped as one
    assert "Middle body" in middle.get_body(("plain",)).get_content()
    notes, deepest_part = attached(middle)
    assert notes.get_filename() == "notes.bin" and notes.get_content() == NOTES
    deepest = deepest_part.get_content()
    assert deepest["Subject"].startswith("Deepest")
    assert "Deepest body" in deepest.get_body(("plain",)).get_content()
    assert b"not kept" not in data


def test_copied_to_an_archive_it_validates_verifies_and_reruns_copy_nothing(
        embedded_pst, tmp_path):
    archive, state = tmp_path / "A", str(tmp_path / "s.db")
    first = run_cli("copy", f"pst:{embedded_pst}", f"archive:{archive}", "--state", state)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Copied 1 messages" in first.stdout, first.stdout
    assert run_cli("archive", "validate", str(archive)).returncode == 0
    record, = [json.loads(line) for line in
               (archive / "data/index/messages.jsonl").read_text().splitlines()]
    assert record["derived_from"]["file"] == "embedded.pst"
    kept = message_from_bytes((archive / record["path"]).read_bytes(), policy=policy.default)
    middle = attached(kept)[1].get_content()
    assert attached(middle)[0].get_content() == NOTES
    checked = run_cli("verify", f"pst:{embedded_pst}", f"archive:{archive}")
    assert checked.returncode == 0 and "Nothing lost" in checked.stdout, checked.stdout
    rerun = run_cli("copy", f"pst:{embedded_pst}", f"archive:{archive}", "--state", state)
    assert rerun.returncode == 0 and "Copied 0 messages" in rerun.stdout, rerun.stdout


def test_a_password_protected_pst_is_read_all_the_same_and_says_so(password_pst, tmp_path):
    archive = tmp_path / "A"
    done = run_cli("copy", f"pst:{password_pst}", f"archive:{archive}",
                   "--state", str(tmp_path / "s.db"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Copied 1 messages" in done.stdout
    assert "password-protected" in done.stdout + done.stderr
    assert "s3cret" not in done.stdout + done.stderr
    kept = message_from_bytes(next((archive / "data").rglob("*.eml")).read_bytes(),
                              policy=policy.default)
    assert kept["Subject"].startswith("Locked")
    assert "Locked body" in kept.get_body(("plain",)).get_content()


def test_an_attached_message_in_damaged_blocks_is_a_note_saying_why_the_rest_is_kept(
        embedded_pst, tmp_path):
    from connectors.pst.ndb import DECODE_PERMUTE

    raw = bytearray(embedded_pst.read_bytes())
    # Middle's body, in one of its own blocks (the file's blocks are permute-encoded)
    at = bytes(raw).translate(DECODE_PERMUTE).index("Middle body".encode("utf-16-le"))
    raw[at] ^= 0xFF  # that block's CRC no longer matches
    damaged = tmp_path / "damaged.pst"
    damaged.write_bytes(bytes(raw))
    outer = message_from_bytes(only_message(f"pst:{damaged}"), policy=policy.default)
    report, note = attached(outer)
    assert report.get_content() == REPORT  # the rest of the message is whole
    assert note.get_filename().startswith("middle") and "(not kept)" in note.get_filename()
    text = note.get_content()
    assert "attached message" in text and "damaged" in text and "abîmée" in text, text


@pytest.mark.parametrize(("fixture", "count"), [("enron_pst", 71), ("outlook_ost", 183)])
def test_the_files_own_index_reads_every_item_as_libpff_does(fixture, count, request):
    """The reader of attached messages on files Outlook wrote: a PST (B-trees of several
    levels) and an Outlook 2013+ OST (4 KB pages, compressed blocks). Every item's
    properties and recipient table, found through the node and block B-trees, are what
    libpff reads."""
    import pypff

    from connectors.pst import props as P
    from connectors.pst.ltp import node_blocks, property_context, subnodes, table_rows
    from connectors.pst.ndb import IndexedFile
    from connectors.pst.props import Properties

    path = request.getfixturevalue(fixture)
    index, pst = IndexedFile(path), pypff.file()
    pst.open(str(path))
    compared = 0

    def walk(folder) -> None:
        nonlocal compared
        for message in folder.sub_messages:
            node = index.node(message.identifier)
            assert node is not None, message.identifier
            ours = Properties(property_context(index, node_blocks(index, node.bid_data, "m"),
                                               node.bid_sub or None, "m"))
            theirs = Properties.of(message)
            for tag in (P.SUBJECT, P.BODY, P.TRANSPORT_HEADERS, P.SENDER_NAME):
                assert ours.text(tag) == theirs.text(tag), (message.identifier, hex(tag))
            assert ours.binary(P.HTML) == theirs.binary(P.HTML), message.identifier
            table = subnodes(index, node.bid_sub, "m").get(0x692) if node.bid_sub else None
            names = [Properties.of(message.recipients, record_set=n).text(P.DISPLAY_NAME)
                     for n in range(message.recipients.number_of_record_sets)] \
                if message.recipients else []
            rows = table_rows(index, table.bid_data, table.bid_sub or None, "recipients") \
                if table else []
            assert [Properties(row).text(P.DISPLAY_NAME) for row in rows] == names
            compared += 1
        for child in folder.sub_folders:
            walk(child)

    try:
        walk(pst.root_folder)
    finally:
        pst.close()
        index.close()
    assert compared == count


def test_a_40_mb_attachment_of_an_attached_message_is_streamed_with_flat_memory(
        embedded_pst, big_embedded_pst, tmp_path):
    small, baseline = peak_rss_kib("copy", f"pst:{embedded_pst}", f"archive:{tmp_path / 'S'}",
                                   "--state", str(tmp_path / "s.db"), "--quiet")
    assert small.returncode == 0, small.stdout + small.stderr
    done, peak = peak_rss_kib("copy", f"pst:{big_embedded_pst}", f"archive:{tmp_path / 'A'}",
                              "--state", str(tmp_path / "a.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    eml = next((tmp_path / "A" / "data").rglob("*.eml"))
    outer = message_from_bytes(eml.read_bytes(), policy=policy.default)
    scans = attached(attached(outer)[0].get_content())[0]
    assert scans.get_filename() == "scans.bin"
    expected = hashlib.sha256(b"".join(hashlib.sha256(n.to_bytes(4, "little")).digest()
                                       for n in range(SCANS_MB * 1024 * 1024 // 32)))
    assert hashlib.sha256(scans.get_content()).hexdigest() == expected.hexdigest()
    growth = (peak - baseline) * 1024
    print(f"40 MB attachment of an attached message: peak RSS {peak // 1024} MiB, "
          f"{growth / 2**20:.0f} MiB above a small copy's {baseline // 1024} MiB")
    assert growth < SCANS_MB * 2**20 // 2  # read whole, it took about 8 times the file
