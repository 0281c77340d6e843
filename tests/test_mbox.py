"""The mbox connector on real files: mboxrd reading, writing, odd messages, resumability."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from hashlib import sha256
from pathlib import Path

import pytest

from connectors.mbox import INDEX_SUFFIX, MboxConnector
from migrate.connector import Feature, MailSource, MailTarget
from migrate.endpoint import parse_endpoint
from migrate.errors import BadInputError, CapabilityError, ConnectError
from migrate.model import (
    ANSWERED,
    DELETED,
    DRAFT,
    FLAGGED,
    FORWARDED,
    SEEN,
    Content,
    Folder,
    MailMessage,
    Role,
)
from migrate.registry import connector_class, connector_for

INBOX = Folder(("Inbox",), Role.INBOX)
WHEN = datetime(2024, 3, 5, 7, 8, 9, tzinfo=UTC)


def source(path: Path) -> MailSource:
    reader = connector_for(parse_endpoint(f"mbox:{path}")).open_source()
    assert isinstance(reader, MailSource)
    return reader


def target(path: Path) -> MailTarget:
    writer = connector_for(parse_endpoint(f"mbox:{path}")).open_target()
    assert isinstance(writer, MailTarget)
    return writer


def message(data: bytes, source_id: str = "1", when: datetime | None = WHEN,
            flags: frozenset[str] = frozenset()) -> MailMessage:
    return MailMessage(Content.from_bytes(data), source_id, flags, when)


def read_all(path: Path) -> list[MailMessage]:
    reader = source(path)
    return [m for folder in reader.folders() for m in reader.messages(folder)]


def write_all(path: Path, datas: list[bytes], folder: Folder = INBOX) -> None:
    writer = target(path)
    writer.prepare_folder(folder)
    for number, data in enumerate(datas):
        writer.append(folder, message(data, str(number)))
    writer.commit()
    writer.close()


# --- reading ----------------------------------------------------------------------------

MBOXRD = (
    b"From alice@example.org Mon Jan  1 10:00:00 2024\n"
    b"Status: RO\n"
    b"X-Status: AFT\n"
    b"Subject: one\n"
    b"\n"
    b"body one\n"
    b"From this line is no separator: it follows no empty line\n"
    b"\n"
    b"From bob Tue Jan  2 11:30:15 2024\n"
    b"Subject: two\n"
    b"\n"
    b"From here to there is prose after an empty line, not a separator.\n"
    b">From quoted once\n"
    b">>From quoted twice\n"
    b"\n"
)


def test_reads_messages_flags_dates_and_offsets(tmp_path):
    path = tmp_path / "Inbox.mbox"
    path.write_bytes(MBOXRD)
    reader = source(path)
    assert list(reader.folders()) == [Folder(("Inbox",), Role.INBOX, "Inbox.mbox")]
    first, second = reader.messages(INBOX)
    assert first.content.read() == (b"Status: RO\nX-Status: AFT\nSubject: one\n\nbody one\n"
                                    b"From this line is no separator: it follows no empty line\n")
    assert first.flags == {SEEN, ANSWERED, FLAGGED, DRAFT}
    assert first.internal_date == datetime(2024, 1, 1, 10, 0, 0, tzinfo=UTC)
    assert first.source_id == sha256(first.content.read()).hexdigest()[:32]
    assert second.content.read() == (
        b"Subject: two\n\nFrom here to there is prose after an empty line, not a separator.\n"
        b"From quoted once\n>From quoted twice\n")
    assert second.flags == frozenset()
    assert second.source_id == sha256(second.content.read()).hexdigest()[:32]
    assert reader.stats(INBOX).messages == 2
    assert reader.stats(INBOX).bytes == first.size + second.size


def test_reads_a_crlf_mbox(tmp_path):
    path = tmp_path / "Inbox.mbox"
    path.write_bytes(MBOXRD.replace(b"\n", b"\r\n"))
    first, second = read_all(path)
    assert first.content.read().endswith(b"body one\r\nFrom this line is no separator: "
                                         b"it follows no empty line\r\n")
    assert second.content.read().endswith(b"From quoted once\r\n>From quoted twice\r\n")
    assert first.internal_date == datetime(2024, 1, 1, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("line", [
    b"From - Sat Jan 01 00:00:00 2000",  # Thunderbird
    b"From 1789@xxx Mon Dec 17 12:41:00 +0000 2007",  # Google Takeout
    b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011",
    b"From user@example.org Fri Jul  8 12:08 2011 remote from host",
])
def test_separator_variants(tmp_path, line):
    path = tmp_path / "x.mbox"
    path.write_bytes(b"From a Mon Jan  1 00:00:00 2024\nA: 1\n\n" + line + b"\nB: 2\n\n")
    assert [m.content.read() for m in read_all(path)] == [b"A: 1\n", b"B: 2\n"]


def test_numeric_zone_in_from_line_is_honoured(tmp_path):
    path = tmp_path / "x.mbox"
    path.write_bytes(b"From a Mon Jan  1 10:00:00 2024 +0200\nA: 1\n\n")
    assert read_all(path)[0].internal_date == datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


def test_thunderbird_status_flags(tmp_path):
    path = tmp_path / "x.mbox"
    path.write_bytes(b"From - Mon Jan  1 00:00:00 2024\nX-Mozilla-Status: 100b\n"
                     b"Subject: s\n\nbody\n\n")
    assert read_all(path)[0].flags == {SEEN, ANSWERED, DELETED, FORWARDED}


def test_text_before_the_first_from_line_is_kept_blank_lines_are_not(tmp_path):
    path = tmp_path / "x.mbox"
    path.write_bytes(b"\n\nFrom a Mon Jan  1 00:00:00 2024\nA: 1\n\n")
    assert [m.content.read() for m in read_all(path)] == [b"A: 1\n"]
    path.write_bytes(b"Subject: no From_ line\n\nbody\n\nFrom a Mon Jan  1 00:00:00 2024\nA: 1\n")
    first, second = read_all(path)
    assert first.content.read() == b"Subject: no From_ line\n\nbody\n"
    assert first.internal_date is None
    assert second.content.read() == b"A: 1\n"


def test_a_message_that_cannot_be_read_fails_alone_naming_the_file(tmp_path):
    path = tmp_path / "Inbox.mbox"
    path.write_bytes(MBOXRD)
    first, second = read_all(path)  # the second one is unquoted on the fly
    assert second.size == len(second.content.read())
    path.unlink()
    for each in (first, second):
        with pytest.raises(BadInputError, match=r"Inbox\.mbox"):
            each.content.read()


def test_keys_follow_the_bytes_not_the_offsets(tmp_path):
    """A compacted or re-exported mbox keeps its keys: a delta pass copies only what is new;
    identical copies in one folder get distinct keys, so none is lost."""
    path = tmp_path / "Inbox.mbox"
    one, two, three = (f"From a Mon Jan  1 00:00:0{n} 2024\nSubject: {n}\n\nbody\n\n".encode()
                       for n in range(3))
    path.write_bytes(one + two + two + three)
    before = [m.source_id for m in read_all(path)]
    assert len(set(before)) == 4 and before[2] == before[1] + ".1"
    path.write_bytes(two + two + three + one)  # compacted and reordered
    assert sorted(m.source_id for m in read_all(path)) == sorted(before)


def test_missing_source_is_a_connect_error(tmp_path):
    with pytest.raises(ConnectError, match="no such mbox"):
        source(tmp_path / "nothing.mbox")


def test_directory_tree_with_thunderbird_sbd_and_plain_directories(tmp_path):
    (tmp_path / "Archive.sbd" / "2024.sbd").mkdir(parents=True)
    (tmp_path / "Archive.mbox").write_bytes(b"From a Mon Jan  1 00:00:00 2024\nA: 1\n\n")
    (tmp_path / "Archive.sbd" / "2024.sbd" / "Q1.mbox").write_bytes(
        b"From a Mon Jan  1 00:00:00 2024\nA: 2\n\n")
    (tmp_path / "Local").mkdir()
    (tmp_path / "Local" / "Sent").write_bytes(b"From a Mon Jan  1 00:00:00 2024\nA: 3\n\n")
    (tmp_path / "Local" / "Sent.msf").write_bytes(b"// <!-- <mdb:mork:z v=\"1.4\"/> -->")
    (tmp_path / "notes.txt").write_bytes(b"not mail")
    reader = source(tmp_path)
    folders = list(reader.folders())
    assert [f.path for f in folders] == [("Archive",), ("Archive", "2024"),
                                         ("Archive", "2024", "Q1"), ("Local",),
                                         ("Local", "Sent")]
    assert folders[0].role is Role.ARCHIVE
    contents = {f.path: [m.content.read() for m in reader.messages(f)] for f in folders}
    assert contents[("Archive", "2024", "Q1")] == [b"A: 2\n"]
    assert contents[("Local", "Sent")] == [b"A: 3\n"]
    assert contents[("Archive", "2024")] == []


# --- writing ----------------------------------------------------------------------------

ODD = {
    "nul bytes": b"Subject: nul\n\nbefore\x00after\x00\n",
    "long line": b"Subject: long\n\n" + b"x" * 100_000 + b"\n",
    "empty": b"",
    "only a newline": b"\n",
    "no message-id or date": b"From: a@example.org\n\nno ids\n",
    "8-bit headers": "Subject: d\u00e9j\u00e0 vu \u2014 \u00e7a\nFrom: J\u00fcrgen <j@x>\n\n"
                     "caf\u00e9\n".encode() + b"\xff\xfe latin-1 \xe9\n",
    "crlf": b"Subject: crlf\r\n\r\nline\r\n\r\n",
    "starts with From": b"From someone Mon Jan  1 00:00:00 2024\nSubject: s\n\nx\n",
    "ends with empty lines": b"Subject: e\n\nbody\n\n\n",
    "broken mime": b"Content-Type: multipart/mixed; boundary=\"zz\"\n\n--zz\nno end\n",
    "quoted lines": b"Subject: q\n\nFrom a Mon Jan  1 00:00:00 2024\n>From b\n>>From c\n"
                    b"\n>>>From d\n From not at line start\n",
}


def test_odd_messages_round_trip_byte_exact(tmp_path):
    path = tmp_path / "Inbox.mbox"
    write_all(path, list(ODD.values()))
    assert [m.content.read() for m in read_all(path)] == list(ODD.values())


def test_from_lines_are_quoted_mboxrd_style_in_the_file(tmp_path):
    path = tmp_path / "Inbox.mbox"
    write_all(path, [ODD["quoted lines"]])
    raw = path.read_bytes()
    assert b"\n>From a Mon Jan" in raw and b"\n>>From b\n" in raw and b"\n>>>From c\n" in raw
    assert b"\n>>>>From d\n" in raw and b"\n From not at line start\n" in raw
    assert raw.startswith(b"From MAILER-DAEMON Tue Mar  5 07:08:09 2024\n")
    assert raw.endswith(b">>>>From d\n From not at line start\n\n")


def test_a_message_without_final_newline_gains_exactly_one(tmp_path):
    path = tmp_path / "Inbox.mbox"
    write_all(path, [b"Subject: x\n\nno newline", b"Subject: y\r\n\r\nno newline\r"])
    assert [m.content.read() for m in read_all(path)] == [b"Subject: x\n\nno newline\n",
                                                          b"Subject: y\r\n\r\nno newline\r\n"]
    limits = MboxConnector.capabilities.limits
    assert "newline" in limits[Feature.ORIGINAL_BYTES]["en"]


def test_internal_date_is_written_in_utc_to_the_second(tmp_path):
    path = tmp_path / "Inbox.mbox"
    paris = timezone(timedelta(hours=2))
    writer = target(path)
    writer.append(INBOX, message(b"A: 1\n", "1", datetime(2024, 6, 1, 12, 0, 30, 999, paris)))
    writer.append(INBOX, message(b"A: 2\n", "2", None))
    writer.close()
    first, second = read_all(path)
    assert path.read_bytes().startswith(b"From MAILER-DAEMON Sat Jun  1 10:00:30 2024\n")
    assert first.internal_date == datetime(2024, 6, 1, 10, 0, 30, tzinfo=UTC)
    assert abs(second.internal_date - datetime.now(UTC)) < timedelta(minutes=5)


def test_flags_are_not_written(tmp_path):
    path = tmp_path / "Inbox.mbox"
    writer = target(path)
    writer.append(INBOX, message(b"A: 1\n", flags=frozenset({SEEN, FLAGGED})))
    writer.close()
    assert read_all(path)[0].flags == frozenset()
    assert Feature.FLAGS not in MboxConnector.capabilities.target_keeps
    assert "Status" in MboxConnector.capabilities.limits[Feature.FLAGS]["en"]


def test_directory_target_writes_one_file_per_folder(tmp_path):
    root = tmp_path / "out"
    writer = target(root)
    for folder in (Folder(("INBOX",)), Folder(("Archive", "2024")), Folder(("a/b", ".."))):
        writer.prepare_folder(folder)
        writer.append(folder, message(b"A: " + "/".join(folder.path).encode() + b"\n"))
    writer.close()
    assert (root / "INBOX.mbox").is_file() and (root / "Archive.sbd" / "2024.mbox").is_file()
    assert (root / "a%2Fb.sbd" / "%2E%2E.mbox").is_file()
    reader = source(root)
    got = {f.path: [m.content.read() for m in reader.messages(f)] for f in reader.folders()}
    assert got == {("Archive",): [], ("Archive", "2024"): [b"A: Archive/2024\n"],
                   ("INBOX",): [b"A: INBOX\n"], ("a/b",): [], ("a/b", ".."): [b"A: a/b/..\n"]}


def test_a_single_file_target_holds_one_folder(tmp_path):
    writer = target(tmp_path / "one.mbox")
    writer.prepare_folder(INBOX)
    with pytest.raises(CapabilityError, match="one folder"):
        writer.prepare_folder(Folder(("Sent",)))
    writer.close()


def test_appending_to_a_foreign_mbox_without_final_empty_line(tmp_path):
    path = tmp_path / "Inbox.mbox"
    path.write_bytes(b"From a Mon Jan  1 00:00:00 2024\nA: 1\n\nbody")
    writer = target(path)
    writer.append(INBOX, message(b"B: 2\n"))
    writer.close()
    assert [m.content.read() for m in read_all(path)] == [b"A: 1\n\nbody\n", b"B: 2\n"]


# --- idempotency and resumability -----------------------------------------------------------


def test_appending_the_same_message_twice_writes_it_once(tmp_path):
    path = tmp_path / "Inbox.mbox"
    writer = target(path)
    first = message(b"Subject: once\n\nbody\n", "42")
    key = writer.append(INBOX, first)
    assert writer.append(INBOX, first) == key
    assert writer.find(INBOX, first) == key
    writer.commit()
    writer.close()

    again = target(path)
    assert again.find(INBOX, message(b"Subject: once\n\nbody\n", "42")) == key
    assert again.find(INBOX, message(b"Subject: once\n\nbody\n", "43")) is None
    assert again.append(INBOX, first) == key
    again.close()
    assert len(read_all(path)) == 1
    assert (tmp_path / ("Inbox.mbox" + INDEX_SUFFIX)).is_file()


KILLER = textwrap.dedent("""
    import os, signal, sys
    from datetime import UTC, datetime
    from migrate.endpoint import parse_endpoint
    from migrate.model import Content, Folder, MailMessage
    from migrate.registry import connector_for

    class Killing(Content):
        '''Bytes that kill the process half-way through being written.'''
        __slots__ = ()
        sha256 = "0" * 64
        size = 400_000
        def iter_chunks(self, size=0):
            yield b"Subject: cut\\n\\n" + (b"y" * 999 + b"\\n") * 200
            os.kill(os.getpid(), signal.SIGKILL)

    folder = Folder(("Inbox",))
    writer = connector_for(parse_endpoint("mbox:" + sys.argv[1])).open_target()
    when = datetime(2024, 1, 1, tzinfo=UTC)
    for n in (1, 2):
        writer.append(folder, MailMessage(Content.from_bytes(b"N: %d\\n" % n), str(n),
                      internal_date=when))
    writer.commit()
    writer.append(folder, MailMessage(Content.from_bytes(b"N: 3\\n"), "3", internal_date=when))
    writer.append(folder, MailMessage(Killing(), "4", internal_date=when))
""")


def test_a_write_killed_midway_is_cut_off_and_nothing_is_duplicated(tmp_path):
    path = tmp_path / "Inbox.mbox"
    done = subprocess.run([sys.executable, "-c", KILLER, str(path)], capture_output=True)
    assert done.returncode == -9, done.stderr
    assert b"y" * 999 in path.read_bytes()  # the half-written message is there
    assert len(read_all(path)) == 4  # three whole messages and the cut one

    writer = target(path)
    numbers = [message(b"N: %d\n" % n, str(n), datetime(2024, 1, 1, tzinfo=UTC))
               for n in (1, 2, 3, 4)]
    assert writer.find(INBOX, numbers[0]) is not None  # committed
    assert writer.find(INBOX, numbers[2]) is None  # written, never committed: cut off
    assert b"y" * 999 not in path.read_bytes() and b"N: 3" not in path.read_bytes()
    for each in numbers:
        writer.append(INBOX, each)
    writer.close()
    assert [m.content.read() for m in read_all(path)] == [b"N: 1\n", b"N: 2\n", b"N: 3\n",
                                                          b"N: 4\n"]


def test_a_torn_index_line_is_ignored(tmp_path):
    path = tmp_path / "Inbox.mbox"
    write_all(path, [b"A: 1\n", b"A: 2\n"])
    index = tmp_path / ("Inbox.mbox" + INDEX_SUFFIX)
    size = path.stat().st_size
    index.write_bytes(index.read_bytes() + b"L 1")  # a torn "L <length>" line
    writer = target(path)
    writer.close()
    assert path.stat().st_size == size


def test_an_mbox_changed_by_another_program_is_not_cut(tmp_path):
    path = tmp_path / "Inbox.mbox"
    write_all(path, [b"A: 1\n"])
    with path.open("ab") as out:
        out.write(b"From someone Mon Jan  1 00:00:00 2024\nB: 2\n\n")
    writer = target(path)
    writer.append(INBOX, message(b"C: 3\n", "3"))
    writer.close()
    assert [m.content.read() for m in read_all(path)] == [b"A: 1\n", b"B: 2\n", b"C: 3\n"]


# --- scale --------------------------------------------------------------------------------


def big_mbox(path: Path, megabytes: int) -> Path:
    """One message of a single line of ``megabytes`` MB, then one of quoted lines as big."""
    with path.open("wb") as out:
        out.write(b"From a Mon Jan  1 00:00:00 2024\nSubject: one long line\n\n")
        for _ in range(megabytes):
            out.write(b"z" * (1024 * 1024))
        out.write(b"\n\nFrom a Mon Jan  1 00:00:00 2024\nSubject: quoted\n\n")
        out.write(b">From a quoted line of 64 bytes, repeated to make megabytes.\n" * 16384
                  * megabytes)
        out.write(b"\n")
    return path


def peak_memory(path: Path) -> int:
    """Peak Python allocations while counting, listing and hashing every message."""
    reader = source(path)
    folder = Folder((path.stem,))
    tracemalloc.start()
    try:
        stats = reader.stats(folder)
        sizes = [(m.size, m.sha256) for m in reader.messages(folder)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stats.messages == 2 and stats.bytes == sum(size for size, _ in sizes)
    return peak


def test_memory_stays_flat_for_a_large_mbox(tmp_path):
    small = peak_memory(big_mbox(tmp_path / "small.mbox", 5))
    large = peak_memory(big_mbox(tmp_path / "large.mbox", 15))
    assert large < small * 1.3 + 1024 * 1024, f"peak {small / 1e6:.1f} → {large / 1e6:.1f} MB"
    assert large < 24 * 1024 * 1024


# --- declarations -------------------------------------------------------------------------


def test_registered_under_its_scheme_with_capabilities():
    assert connector_class("mbox") is MboxConnector
    caps = MboxConnector.capabilities
    assert Feature.FLAGS in caps.source_keeps and Feature.INTERNAL_DATE in caps.target_keeps
    assert caps.limits[Feature.DATE_OFFSET]["en"] == "the From_ line holds a UTC date"
    assert MboxConnector.example.startswith("mbox:")
