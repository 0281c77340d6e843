"""EWS faults through the CLI against the fake server (tests/fake_ews.py ``Fault``): a busy
server mid-run, too many connections, HTTP 503 under exchangelib's FaultTolerance, a
mailbox that disappears mid-run, corrupt or oversized items, and a 30 MB message.

Each copy runs ``migrate copy ews://… archive:…`` as a real process; the archive is read
back and compared with what the fake serves, byte for byte.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections import Counter
from xml.etree import ElementTree as ET

import pytest
from conftest import peak_rss_kib, run_cli, synthetic_message
from fake_ews import FakeEws, FakeMailbox, FakeMessage, Fault

pytest.importorskip("exchangelib")

USER = "agent@mairie-exemple.fr"
PASSWORD = "s3cret-Ews!"


@pytest.fixture
def mailbox() -> FakeMailbox:
    box = FakeMailbox(USER)
    inbox = box.add_folder("Boîte de réception", well_known="inbox")
    sent = box.add_folder("Éléments envoyés", well_known="sentitems")
    inbox.messages += [FakeMessage(synthetic_message(n, body_size=300)) for n in range(450)]
    sent.messages += [FakeMessage(synthetic_message(n)) for n in range(1000, 1020)]
    return box


@pytest.fixture
def server(mailbox):
    fake = FakeEws(mailbox, USER, PASSWORD).start()
    yield fake
    fake.stop()


def url(server: FakeEws, extra: str = "") -> str:
    return f"ews://agent%40mairie-exemple.fr:{PASSWORD}@{server.host}?tls=off&auth=basic{extra}"


def copy(server: FakeEws, tmp_path, extra: str = "") -> subprocess.CompletedProcess:
    return run_cli("copy", url(server, extra), f"archive:{tmp_path / 'A'}",
                   "--state", str(tmp_path / "state.db"), "--quiet")


def archived(tmp_path) -> Counter:
    """How many times each message's bytes are in the archive."""
    return Counter(path.read_bytes() for path in (tmp_path / "A").rglob("*.eml"))


def served(mailbox: FakeMailbox) -> Counter:
    return Counter(m.mime for m in mailbox.items().values())


def wants_mime(request: ET.Element) -> bool:
    """A GetItem asking for MimeContent (a fetch of message bodies, not a listing)."""
    return any(uri.get("FieldURI") == "item:MimeContent" for uri in request.iter()
               if uri.tag.endswith("}FieldURI"))


def state_rows(tmp_path, sql: str) -> list[tuple]:
    with sqlite3.connect(tmp_path / "state.db") as db:
        return db.execute(sql).fetchall()


def test_server_busy_mid_run_is_waited_for_as_told_and_the_run_completes(
        server, mailbox, tmp_path):
    """Acceptance: throttled by ErrorServerBusy mid-run, the run waits as told, completes."""
    fetches: list[float] = []  # when each MIME fetch came, once messages were in the archive

    def watch(request: ET.Element) -> bool:
        if wants_mime(request) and any((tmp_path / "A").rglob("*.eml")):
            fetches.append(time.monotonic())
            return True
        return False

    inbox = mailbox.by_well_known("inbox")  # more batches, so that fetches go on after writes
    inbox.messages += [FakeMessage(synthetic_message(n, body_size=300)) for n in range(450, 900)]
    server.faults.append(Fault("soap", "ErrorServerBusy", operation="GetItem", when=watch,
                               times=2, back_off_ms=1500))
    done = copy(server, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.requests["fault:ErrorServerBusy"] == 2  # both after messages were copied
    waits = [fetches[1] - fetches[0], fetches[2] - fetches[1]]
    assert all(1.5 <= wait < 3.5 for wait in waits), waits  # BackOffMilliseconds, honoured
    assert archived(tmp_path) == served(mailbox)
    assert state_rows(tmp_path, "select status from jobs") == [("done",)]


def test_exceeded_connection_count_is_waited_for_and_retried(server, mailbox, tmp_path):
    server.faults.append(Fault("message", "ErrorExceededConnectionCount", operation="GetItem",
                               when=wants_mime, after=1, times=1))
    done = copy(server, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.requests["fault:ErrorExceededConnectionCount"] == 1
    assert archived(tmp_path) == served(mailbox)


def test_http_503_is_retried_by_fault_tolerance_within_max_wait(server, mailbox, tmp_path):
    """With max_wait, exchangelib's FaultTolerance retries a 503 after its Retry-After; our
    own busy retries are off (busy_retries=0): a 503 reaching the session would fail."""
    server.faults.append(Fault("http", "503", operation="GetItem", when=wants_mime, after=1,
                               times=3, retry_after=1))
    started = time.monotonic()
    done = copy(server, tmp_path, "&max_wait=60&busy_retries=0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.requests["fault:503"] == 3
    assert time.monotonic() - started >= 3  # Retry-After: 1, three times
    assert archived(tmp_path) == served(mailbox)
    assert state_rows(tmp_path, "select count(*) from items where status = 'failed'") == [(0,)]


def test_dropped_connections_are_made_again_once_per_request(server, mailbox, tmp_path):
    """exchangelib does not retry a dropped connection while it holds a single one (even
    under FaultTolerance); the session connects again once, and the run completes. Two
    drops in a row on the same request stop the job (exit 3), and a rerun finishes."""
    server.faults.append(Fault("drop", "drop", operation="GetItem", when=wants_mime,
                               after=1, times=1))
    server.faults.append(Fault("drop", "drop", operation="SyncFolderItems", after=1, times=1))
    done = copy(server, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.requests["fault:drop"] == 2
    assert "connecting again" in done.stderr
    assert archived(tmp_path) == served(mailbox)

    again = tmp_path / "again"
    again.mkdir()
    server.faults[:] = [Fault("drop", "drop", operation="GetItem", when=wants_mime,
                              after=1, times=2)]
    stopped = copy(server, again)
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert "cannot reach the EWS endpoint" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    rerun = copy(server, again)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert archived(again) == served(mailbox)


@pytest.mark.parametrize("kind, code, words", [
    ("soap", "ErrorNonExistentMailbox", "does not exist on the server"),
    ("message", "ErrorMailboxMoveInProgress", "is being moved to another database"),
    ("message", "ErrorMailboxStoreUnavailable", "is on a database that is not available"),
])
def test_a_mailbox_gone_mid_run_stops_the_job_and_a_rerun_completes_without_duplicates(
        server, mailbox, tmp_path, kind, code, words):
    started = lambda request: any((tmp_path / "A").rglob("*.eml"))  # noqa: E731
    server.faults.append(Fault(kind, code, when=started, times=None))  # mid-copy, for good
    done = copy(server, tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"the mailbox {USER} {words}" in done.stderr and code in done.stderr
    assert "Traceback" not in done.stderr
    assert state_rows(tmp_path, "select status from jobs") == [("aborted",)]
    copied_before = state_rows(tmp_path, "select count(*) from items where status = 'done'")
    assert copied_before[0][0] > 0  # it broke off mid-run, not at the start

    server.faults.clear()  # the mailbox is back
    again = copy(server, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert archived(tmp_path) == served(mailbox)  # each message once
    assert state_rows(tmp_path, "select status from jobs") == [("done",)]


def test_corrupt_and_oversized_items_fail_alone_and_a_rerun_copies_them(
        server, mailbox, tmp_path):
    inbox = mailbox.by_well_known("inbox").messages
    bad = {inbox[3].id: "ErrorItemCorrupt", inbox[170].id: "ErrorCorruptData",
           inbox[300].id: "ErrorMessageSizeExceeded"}
    for message in inbox:
        message.error = bad.get(message.id)
    done = copy(server, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "the item is corrupt in the mailbox (ErrorItemCorrupt" in output
    assert "(ErrorCorruptData" in output
    assert "larger than the server lets EWS send (ErrorMessageSizeExceeded" in output
    failed = state_rows(tmp_path, "select source_key, error from items where status = 'failed'")
    assert {key for key, _ in failed} == set(bad)
    assert all(bad[key] in error for key, error in failed)
    expected = served(mailbox) - Counter(m.mime for m in inbox if m.id in bad)
    assert archived(tmp_path) == expected  # every other message, once

    for message in inbox:
        message.error = None  # repaired (or the limit raised)
    again = copy(server, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert archived(tmp_path) == served(mailbox)


def test_a_30_mb_message_is_copied_byte_identical_with_bounded_memory(
        server, mailbox, tmp_path):
    small, baseline = peak_rss_kib("copy", url(server), f"archive:{tmp_path / 'small'}",
                                    "--state", str(tmp_path / "small.db"), "--quiet")
    assert small.returncode == 0, small.stdout + small.stderr

    big = mailbox.add_folder("Pièces jointes")
    size = 30 * 1024 * 1024
    line = bytes(range(48, 48 + 75)) + b"\r\n"  # a base64-looking attachment body
    mime = synthetic_message(7) + line * (size // len(line))
    big.messages.append(FakeMessage(mime))
    done, peak = peak_rss_kib("copy", url(server), f"archive:{tmp_path / 'A'}", "--state",
                               str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert archived(tmp_path)[mime] == 1
    growth = (peak - baseline) * 1024
    print(f"30 MB message: peak RSS {peak // 1024} MiB, {growth / len(mime):.1f} x the "
          f"message above a small copy's {baseline // 1024} MiB")
    assert growth < 6 * len(mime)
