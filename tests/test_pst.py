"""Outlook data files as a source, on a real PST (enron.pst from pst-extractor): every
message of every folder, as libpff itself counts them, rebuilt into valid MIME with its
attachments whole; the archive validates and marks them derived; through an archive into
Dovecot, verify matches; damaged and truncated copies fail clearly, item by item."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from conftest import read_endpoint, run_cli

from migrate.endpoint import parse_endpoint
from migrate.errors import BadInputError
from migrate.model import SEEN, Role
from migrate.registry import connector_for

pypff = pytest.importorskip("pypff", reason="the pst extra (libpff-python) is not installed")

ENRON_FOLDERS = 7
ENRON_MESSAGES = 71


def libpff_inventory(path: Path) -> dict[tuple[str, ...], dict[int, list[int]]]:
    """What libpff itself finds under the top of personal folders: folder path →
    {message identifier: its attachments' sizes}."""
    pst = pypff.file()
    pst.open(str(path))
    try:
        top = next(folder for folder in pst.root_folder.sub_folders
                   if folder.name == "Top of Personal Folders")
        found: dict[tuple[str, ...], dict[int, list[int]]] = {}

        def walk(folder, path: tuple[str, ...]) -> None:
            for child in folder.sub_folders:
                here = (*path, child.name)
                found[here] = {m.identifier: [a.size for a in m.attachments]
                               for m in child.sub_messages}
                walk(child, here)

        walk(top, ())
        return found
    finally:
        pst.close()


def read_source(url: str):
    return connector_for(parse_endpoint(url)).open_source()


def attachment_sizes(data: bytes) -> list[int]:
    message = message_from_bytes(data, policy=policy.default)
    return [len(part.get_content()) for part in message.iter_attachments()]


def test_every_folder_and_message_as_libpff_counts_them(enron_pst):
    expected = libpff_inventory(enron_pst)
    assert sum(len(messages) for messages in expected.values()) == ENRON_MESSAGES
    source = read_source(f"pst:{enron_pst}")
    try:
        folders = list(source.folders())
        assert [f.path for f in folders] == list(expected)  # parents first, as in the file
        for folder in folders:
            messages = list(source.messages(folder))
            assert {int(m.source_id) for m in messages} == set(expected[folder.path])
            assert source.stats(folder).messages == len(expected[folder.path])
            for message in messages:
                data = message.content.read()
                parsed = message_from_bytes(data, policy=policy.default)
                assert not [d for part in parsed.walk() for d in part.defects], message.source_id
                assert parsed["Message-ID"] and parsed.get_body() is not None
                assert attachment_sizes(data) == expected[folder.path][int(message.source_id)]
                assert message.provenance is not None
                assert message.provenance.item_id == message.source_id
                assert message.provenance.file_name == "enron.pst"
    finally:
        source.close()


def test_roles_come_from_the_stores_entry_ids(enron_pst):
    source = read_source(f"pst:{enron_pst}")
    try:
        roles = {f.path: f.role for f in source.folders()}
    finally:
        source.close()
    # The wastebasket entry id names "Deleted Items"; "Sent Items" below lokay-m is an
    # ordinary folder of an exported mailbox (no entry id points at it): no role by name.
    assert roles[("Deleted Items",)] is Role.TRASH
    assert roles[("lokay-m", "MLOKAY (Non-Privileged)", "Sent Items")] is None
    assert [role for role in roles.values() if role] == [Role.TRASH]


def test_flags_dates_and_headers_of_a_known_message(enron_pst):
    source = read_source(f"pst:{enron_pst}")
    try:
        folder = next(f for f in source.folders() if f.name == "Personal")
        scans = next(m for m in source.messages(folder) if m.summary.subject == "scans")
        again = next(m for m in source.messages(folder) if m.source_id == scans.source_id)
        assert again.sha256 == scans.sha256  # rebuilt the same, byte for byte
        data = scans.content.read()
    finally:
        source.close()
    assert scans.flags == frozenset({SEEN})  # PidTagMessageFlags: read
    assert scans.internal_date == datetime(2001, 4, 10, 14, 55, 1, tzinfo=UTC)
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    # the transport headers, verbatim and in order; their Content-Type described the old
    # body and is replaced by the rebuilt one's
    assert "Message-ID: <NEIOIHO5BHGRMPSCPE13IPHGF0INDPQEB@zlsvr22>\r\n" in head
    assert "X-ZL-to: Lokay, Michelle </O=ENRON/OU=NA/CN=RECIPIENTS/CN=MLOKAY>" in head
    assert "----=_Part_10794_11084931" not in head
    assert head.count("Content-Type:") == 1 and head.count("MIME-Version:") == 1
    parsed = message_from_bytes(data, policy=policy.default)
    names = [part.get_filename() for part in parsed.iter_attachments()]
    assert names == ["Color 72dpi.jpg", "B&W 72dpi.jpg", "Color 300dpi.jpg", "B&W 300dpi.jpg"]
    assert all(p.get_content_type() == "image/jpeg" for p in parsed.iter_attachments())


def test_copy_to_an_archive_validates_marks_derived_and_reruns_copy_nothing(
        enron_pst, tmp_path):
    archive, state = tmp_path / "A", str(tmp_path / "s.db")
    first = run_cli("copy", f"pst:{enron_pst}", f"archive:{archive}", "--state", state)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"Copied {ENRON_MESSAGES} messages" in first.stdout
    assert run_cli("archive", "validate", str(archive)).returncode == 0

    records = [json.loads(line) for line in
               (archive / "data/index/messages.jsonl").read_text().splitlines()]
    expected = libpff_inventory(enron_pst)
    per_folder: dict[tuple[str, ...], int] = {}
    for record in records:
        per_folder[tuple(record["folder"])] = per_folder.get(tuple(record["folder"]), 0) + 1
        derived = record["derived_from"]
        assert derived["kind"] == "derived" and derived["file"] == "enron.pst"
        assert derived["file_size"] == enron_pst.stat().st_size
        assert derived["item_id"] == record["source_id"]
        data = (archive / record["path"]).read_bytes()
        assert attachment_sizes(data) == expected[tuple(record["folder"])][
            int(record["source_id"])]
    assert per_folder == {path: len(m) for path, m in expected.items() if m}
    assert {r["derived_from"]["file_sha256"] for r in records} == {
        hashlib.sha256(enron_pst.read_bytes()).hexdigest()}

    shown = run_cli("archive", "show", str(archive))
    digest = hashlib.sha256(enron_pst.read_bytes()).hexdigest()
    assert f"rebuilt from enron.pst (sha256 {digest[:16]}…): {ENRON_MESSAGES} messages, " \
        "marked as derived" in shown.stdout, shown.stdout

    rerun = run_cli("copy", f"pst:{enron_pst}", f"archive:{archive}", "--state", state)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Copied 0 messages" in rerun.stdout
    assert f"{ENRON_MESSAGES} already there" in rerun.stdout
    assert len((archive / "data/index/messages.jsonl").read_text().splitlines()) == \
        ENRON_MESSAGES


def test_archive_to_dovecot_then_verify_matches_byte_for_byte(enron_pst, dovecot, tmp_path):
    archive = tmp_path / "A"
    run_cli("copy", f"pst:{enron_pst}", f"archive:{archive}", "--state",
            str(tmp_path / "a.db"), "--quiet", check=True)
    user = dovecot.add_user("pst-import")
    target = dovecot.url(user)
    run_cli("copy", f"archive:{archive}", target, "--state", str(tmp_path / "b.db"),
            "--quiet", check=True)
    checked = run_cli("verify", f"archive:{archive}", target, "--report-json",
                      str(tmp_path / "v.json"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["totals"]["match"] == ENRON_MESSAGES
    assert report["totals"]["unverifiable"] == 0 and report["items"] == []
    imported = read_endpoint(target)
    assert sum(sum(c.values()) for c in imported.values()) == ENRON_MESSAGES

    # The rebuild is deterministic: the PST itself verifies against both copies.
    for copy in (f"archive:{archive}", target):
        again = run_cli("verify", f"pst:{enron_pst}", copy, "--report-json",
                        str(tmp_path / "p.json"))
        assert again.returncode == 0, again.stdout + again.stderr
        report = json.loads((tmp_path / "p.json").read_text())
        assert report["totals"]["match"] == ENRON_MESSAGES, copy


def test_a_damaged_copy_copies_the_readable_messages_and_lists_the_rest(enron_pst, tmp_path):
    data = bytearray(enron_pst.read_bytes())
    start, end = int(len(data) * 0.4), int(len(data) * 0.6)
    data[start:end] = b"\xff" * (end - start)  # a stretch of the file overwritten
    damaged = tmp_path / "damaged.pst"
    damaged.write_bytes(bytes(data))
    archive = tmp_path / "A"
    done = run_cli("copy", f"pst:{damaged}", f"archive:{archive}", "--state",
                   str(tmp_path / "s.db"), "--report-json", str(tmp_path / "r.json"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    failures = report["failures"] if "failures" in report else report["items"]
    assert failures, report
    for failure in failures:
        assert "damaged.pst" in failure["error"] and "cannot be read" in failure["error"]
    copied = len((archive / "data/index/messages.jsonl").read_text().splitlines())
    assert copied + len(failures) == ENRON_MESSAGES
    assert copied > ENRON_MESSAGES // 2
    assert run_cli("archive", "validate", str(archive)).returncode == 0


def full_file_messages(path: Path) -> dict[str, tuple[str | None, list[int]]]:
    """Message-ID → (subject, attachment sizes) as the normal (libpff) reader gives them."""
    source = read_source(f"pst:{path}")
    try:
        found = {}
        for folder in source.folders():
            for message in source.messages(folder):
                parsed = message_from_bytes(message.content.read(), policy=policy.default)
                found[parsed["Message-ID"]] = (parsed["Subject"],
                                               attachment_sizes(message.content.read()))
        return found
    finally:
        source.close()


def test_a_truncated_copy_copies_what_its_intact_blocks_hold_and_names_the_rest(
        enron_pst, tmp_path):
    """libpff cannot open a PST cut at 60 % (its B-tree roots are at the end): the
    messages whose blocks are intact are read from them, rebuilt, marked derived, once."""
    truncated = tmp_path / "cut.pst"
    truncated.write_bytes(enron_pst.read_bytes()[: int(enron_pst.stat().st_size * 0.6)])
    archive, state = tmp_path / "A", str(tmp_path / "s.db")
    done = run_cli("copy", f"pst:{truncated}", f"archive:{archive}", "--state", state,
                   "--report-json", str(tmp_path / "r.json"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "cut.pst" in done.stdout and "truncated" in done.stdout
    assert f"of the {enron_pst.stat().st_size} its header announces" in done.stdout
    assert "51 messages were read from its intact blocks" in done.stdout
    assert 'go to the folder "Recovered (truncated file)"' in done.stderr  # logged, en+fr
    assert "vont dans le dossier « Recovered (truncated file) »" in done.stderr
    assert run_cli("archive", "validate", str(archive)).returncode == 0

    full = full_file_messages(enron_pst)
    records = [json.loads(line) for line in
               (archive / "data/index/messages.jsonl").read_text().splitlines()]
    assert len(records) == 51  # of 71: a good share; the rest was past the cut
    for record in records:
        assert record["folder"] == ["Recovered (truncated file)"]
        assert record["source_id"].startswith("recovered:")
        derived = record["derived_from"]
        assert derived["kind"] == "derived" and derived["file"] == "cut.pst"
        assert derived["item_id"] == record["source_id"]
        data = (archive / record["path"]).read_bytes()
        parsed = message_from_bytes(data, policy=policy.default)
        assert not [d for part in parsed.walk() for d in part.defects], record["source_id"]
        assert parsed.get_body() is not None
        # the same message as the whole file's, attachments whole
        assert full[parsed["Message-ID"]] == (parsed["Subject"], attachment_sizes(data))
    assert len({r["source_id"] for r in records}) == 51

    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["error"] for f in report["failures"]] == [
        f"{truncated}: this Outlook data file cannot be opened: it is "
        f"truncated ({truncated.stat().st_size} bytes of the {enron_pst.stat().st_size} "
        "its header announces) (libpff: pypff_file_open: unable to open file) (51 messages "
        "were read from its intact blocks; what its missing "
        f"{enron_pst.stat().st_size - truncated.stat().st_size} bytes held cannot be listed)"]

    rerun = run_cli("copy", f"pst:{truncated}", f"archive:{archive}", "--state", state)
    assert rerun.returncode == 1 and "Copied 0 messages" in rerun.stdout
    assert "51 already there" in rerun.stdout
    assert len((archive / "data/index/messages.jsonl").read_text().splitlines()) == 51

    # The rebuild from blocks is deterministic: the cut file verifies against the archive;
    # what it lost is unverifiable, never a pass.
    checked = run_cli("verify", f"pst:{truncated}", f"archive:{archive}", "--report-json",
                      str(tmp_path / "v.json"))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    totals = json.loads((tmp_path / "v.json").read_text())["totals"]
    assert totals["match"] == 51 and totals["unverifiable"] == 1
    assert totals["missing"] == totals["differ"] == 0


def test_messages_seen_in_a_truncated_file_but_unreadable_are_failures_with_why(
        enron_pst, tmp_path):
    """Cut at 90 %: the index pages naming three messages' subnodes are gone, so their
    transport headers cannot be found: each is one failure, saying why."""
    truncated = tmp_path / "cut90.pst"
    truncated.write_bytes(enron_pst.read_bytes()[: int(enron_pst.stat().st_size * 0.9)])
    source = read_source(f"pst:{truncated}")
    try:
        [folder] = list(source.folders())
        assert folder.path == ("Recovered (truncated file)",)
        assert source.stats(folder).messages == 61
        read, failed = [], []
        for message in source.messages(folder):
            try:
                read.append(message.content.read())
            except BadInputError as exc:
                failed.append(str(exc))
    finally:
        source.close()
    assert len(read) == 58 and len(failed) == 3 + 1
    assert "cut90.pst" in failed[-1] and "truncated" in failed[-1]  # the file's own
    for reason in failed[:-1]:
        assert reason.startswith("cut90.pst: a message cannot be read (damaged): recovered:")
        assert "is in a subnode, and the index page naming the message's subnodes is past " \
            "the end of the file or damaged" in reason
    full = full_file_messages(enron_pst)
    noted = []
    for data in read:
        parsed = message_from_bytes(data, policy=policy.default)
        names = [part.get_filename() for part in parsed.iter_attachments()]
        if names == ["attachment (not kept).txt"]:  # said in the message itself, en + fr
            noted.append(parsed["Subject"])
            note = next(parsed.iter_attachments()).get_content()
            assert "index page naming the message's attachments is past the end" in note
            assert "manquante ou abîmée" in note
            assert full[parsed["Message-ID"]][0] == parsed["Subject"]
            continue
        assert full[parsed["Message-ID"]] == (parsed["Subject"], attachment_sizes(data))
    assert noted == ["Rose Rec"]


def test_a_truncated_outlook_2013_ost_is_read_from_its_compressed_blocks(outlook_ost,
                                                                          tmp_path):
    """An .ost of 4 KB pages and zlib-compressed blocks, cut before its B-tree roots:
    libpff cannot open it; the messages its intact blocks hold come out as the whole file
    gives them, the others are named, and a rerun copies nothing twice."""
    truncated = tmp_path / "cut.ost"
    truncated.write_bytes(outlook_ost.read_bytes()[:2_500_000])  # of 16 MB, mostly empty
    archive, state = tmp_path / "A", str(tmp_path / "s.db")
    done = run_cli("copy", f"pst:{truncated}", f"archive:{archive}", "--state", state)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "6 messages were read from its intact blocks" in done.stdout
    assert done.stdout.count("cut.ost: a message cannot be read (damaged)") == 3
    assert run_cli("archive", "validate", str(archive)).returncode == 0
    full = full_file_messages(outlook_ost)
    records = [json.loads(line) for line in
               (archive / "data/index/messages.jsonl").read_text().splitlines()]
    assert len(records) == 6
    for record in records:
        data = (archive / record["path"]).read_bytes()
        parsed = message_from_bytes(data, policy=policy.default)
        assert not [d for part in parsed.walk() for d in part.defects], record["source_id"]
        assert full[parsed["Message-ID"]] == (parsed["Subject"], attachment_sizes(data))
    rerun = run_cli("copy", f"pst:{truncated}", f"archive:{archive}", "--state", state)
    assert "Copied 0 messages" in rerun.stdout and "6 already there" in rerun.stdout


def test_a_pst_whose_own_properties_are_damaged_is_copied_whole_by_folder_names(
        enron_pst, tmp_path):
    """The message store's property context (node 0x21: which folder is the top, which
    are special) broken: libpff cannot read it. The folders are then found by the names
    Outlook gives them, and every message is copied where it was, with a warning."""
    from connectors.pst.ndb import BlockFile, IndexedFile

    index = IndexedFile(enron_pst)
    store = index.node(0x21)
    index.close()
    blocks = BlockFile(enron_pst)
    offset = blocks.blocks[store.bid_data].offset
    blocks.close()
    data = bytearray(enron_pst.read_bytes())
    data[offset:offset + 16] = bytes(b ^ 0xFF for b in data[offset:offset + 16])
    damaged = tmp_path / "store-damaged.pst"
    damaged.write_bytes(bytes(data))
    archive = tmp_path / "A"
    done = run_cli("copy", f"pst:{damaged}", f"archive:{archive}",
                   "--state", str(tmp_path / "s.db"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "the file's own properties (which name its special folders) cannot be read" \
        in done.stderr
    assert f"Copied {ENRON_MESSAGES} messages" in done.stdout
    records = [json.loads(line) for line in
               (archive / "data/index/messages.jsonl").read_text().splitlines()]
    expected = {path for path, messages in libpff_inventory(enron_pst).items() if messages}
    assert {tuple(record["folder"]) for record in records} == expected


def test_a_directory_is_a_batch_one_top_folder_per_file(enron_pst, tmp_path):
    batch = tmp_path / "partage"
    batch.mkdir()
    (batch / "b-agent.pst").write_bytes(enron_pst.read_bytes())
    (batch / "a-agent.PST").write_bytes(enron_pst.read_bytes())
    (batch / "c-cut.pst").write_bytes(enron_pst.read_bytes()[:100_000])
    (batch / "notes.txt").write_text("not a PST")
    source = read_source(f"pst:{batch}")
    try:
        folders = list(source.folders())
        tops = [f.path for f in folders if len(f.path) == 1]
        assert tops == [("a-agent.PST",), ("b-agent.pst",), ("c-cut.pst",)]
        assert ("b-agent.pst", "lokay-m", "MLOKAY (Non-Privileged)", "Personal") in \
            [f.path for f in folders]
        assert all(f.role is None for f in folders)  # two files cannot both hold the Inbox
        assert folders[-1].path == ("c-cut.pst", "Recovered (truncated file)")
        *_, rest = source.messages(folders[-1])  # read from blocks, then the file's failure
        with pytest.raises(BadInputError, match=r"c-cut\.pst.*truncated"):
            rest.content.read()
    finally:
        source.close()
    done = run_cli("copy", f"pst:{batch}", f"archive:{tmp_path / 'A'}", "--state",
                   str(tmp_path / "s.db"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"Copied {2 * ENRON_MESSAGES} messages" in done.stdout
    assert "c-cut.pst" in done.stdout


@pytest.mark.slow
def test_sigkill_during_a_batch_then_rerun_ends_with_every_message_once(enron_pst, tmp_path):
    """Real copy processes killed with SIGKILL while writing, at several points: the
    rerun ends with every message of every file in the archive, each once."""
    batch = tmp_path / "partage"
    batch.mkdir()
    files = 5
    for number in range(files):
        (batch / f"agent-{number}.pst").write_bytes(enron_pst.read_bytes())
    archive, state = tmp_path / "A", tmp_path / "s.db"
    index = archive / "data/index/messages.jsonl"
    killed = 0
    for at_least in (20, 120, 250):
        process = subprocess.Popen(
            [sys.executable, "-m", "migrate", "copy", f"pst:{batch}", f"archive:{archive}",
             "--state", str(state), "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if index.exists() and index.read_bytes().count(b"\n") >= at_least:
                os.kill(process.pid, signal.SIGKILL)
                killed += 1
                break
            time.sleep(0.005)
        process.wait()
    assert killed >= 1, "no copy was killed mid-run"

    final = run_cli("copy", f"pst:{batch}", f"archive:{archive}", "--state", str(state))
    assert final.returncode == 0, final.stdout + final.stderr
    records = [json.loads(line) for line in index.read_text().splitlines()]
    keys = [(tuple(r["folder"]), r["source_id"]) for r in records]
    assert len(keys) == len(set(keys)) == files * ENRON_MESSAGES
    assert run_cli("archive", "validate", str(archive)).returncode == 0
    again = run_cli("copy", f"pst:{batch}", f"archive:{archive}", "--state", str(state))
    assert "Copied 0 messages" in again.stdout


@pytest.mark.slow
def test_sigkill_while_copying_truncated_files_then_rerun_ends_with_each_once(
        enron_pst, tmp_path):
    """Real copy processes of a batch of truncated files, killed with SIGKILL while they
    write the messages recovered from blocks: the rerun ends with each exactly once."""
    batch = tmp_path / "partage"
    batch.mkdir()
    files, recovered = 4, 51
    cut = enron_pst.read_bytes()[: int(enron_pst.stat().st_size * 0.6)]
    for number in range(files):
        (batch / f"agent-{number}.pst").write_bytes(cut)
    archive, state = tmp_path / "A", tmp_path / "s.db"
    index = archive / "data/index/messages.jsonl"
    killed = 0
    for at_least in (10, 70, 150):
        process = subprocess.Popen(
            [sys.executable, "-m", "migrate", "copy", f"pst:{batch}", f"archive:{archive}",
             "--state", str(state), "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if index.exists() and index.read_bytes().count(b"\n") >= at_least:
                os.kill(process.pid, signal.SIGKILL)
                killed += 1
                break
            time.sleep(0.005)
        process.wait()
    assert killed >= 1, "no copy was killed mid-run"

    final = run_cli("copy", f"pst:{batch}", f"archive:{archive}", "--state", str(state))
    assert final.returncode == 1, final.stdout + final.stderr  # the files' lost parts
    records = [json.loads(line) for line in index.read_text().splitlines()]
    keys = [(tuple(r["folder"]), r["source_id"]) for r in records]
    assert len(keys) == len(set(keys)) == files * recovered
    assert run_cli("archive", "validate", str(archive)).returncode == 0
    again = run_cli("copy", f"pst:{batch}", f"archive:{archive}", "--state", str(state))
    assert "Copied 0 messages" in again.stdout
    assert f"{files * recovered} already there" in again.stdout


def test_random_damage_is_always_a_clear_error_never_a_crash(enron_pst, tmp_path):
    """Seeded random bytes written over enron.pst, 20 times: every message and entry of
    each damaged copy is read or fails with the tool's own error (recorded, reported),
    never another exception (libpff's OSError or MemoryError, struct, None …)."""
    import random

    from migrate.errors import MigrateError

    original = enron_pst.read_bytes()
    rng = random.Random(20261129)
    outcomes = {"read": 0, "failed": 0}
    for _ in range(20):
        data = bytearray(original)
        for _ in range(rng.randint(1, 60)):
            data[rng.randrange(0x4400, len(data))] = rng.randrange(256)
        damaged = tmp_path / "damaged.pst"
        damaged.write_bytes(bytes(data))
        try:
            source = read_source(f"pst:{damaged}")
        except MigrateError:
            outcomes["failed"] += 1
            continue
        try:
            for folder in source.folders():
                for message in source.messages(folder):
                    try:
                        message.content.read()
                        outcomes["read"] += 1
                    except MigrateError:
                        outcomes["failed"] += 1
        except MigrateError:
            outcomes["failed"] += 1
        finally:
            source.close()
    assert outcomes["read"] > 20 * ENRON_MESSAGES // 2, outcomes  # most damage is local
