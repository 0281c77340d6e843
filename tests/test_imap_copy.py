"""Acceptance: ``migrate copy`` between IMAP accounts of a real Dovecot, as a new user would.

The source account holds CPython's odd-message corpus and synthetic messages with flags,
keywords and dates, in folders with non-ASCII names, a '.' in a name, and subfolders.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import CORPUS, run_cli, synthetic_message

#: Source folder → where the mapping puts it (localized special names → the roles' folders).
FOLDERS = {"INBOX": "INBOX", "Éléments envoyés": "Sent",
           "Boîte de réception/Projets": "INBOX/Projets", "Notes v1.2": "Notes v1.2"}
OFFSET = timezone(timedelta(hours=-5))


def flagged(n: int) -> dict:
    """A synthetic message with flags, keywords and a date that has an offset."""
    flags = [["\\Seen"], ["\\Answered", "\\Flagged"], ["$Forwarded", "Projet-Alpha"],
             ["\\Draft", "\\Deleted"], []][n % 5]
    date = datetime(2022, 3, 1, 9, 0, tzinfo=OFFSET) + timedelta(hours=n)
    return {"msg": synthetic_message(n, body_size=300), "flags": flags, "date": date}


@pytest.fixture(scope="module")
def alice(dovecot):
    """The source account, filled once for the module."""
    user = dovecot.add_user("alice")
    corpus = [path.read_bytes() for path in sorted(CORPUS.glob("msg_*.txt"))]
    assert len(corpus) > 40
    dovecot.seed(user, "INBOX", corpus)
    dovecot.seed(user, "Éléments envoyés", [flagged(n) for n in range(20)])
    dovecot.seed(user, "Boîte de réception/Projets", [flagged(n) for n in range(20, 45)])
    dovecot.seed(user, "Notes v1.2", [flagged(n) for n in range(45, 50)])
    return user


def normalized(contents: dict[str, list[tuple]], mapping: dict[str, str] | None = None
               ) -> dict[str, Counter]:
    """Folder → Counter of (bytes, flags, UTC second) for the folders that hold mail."""
    out = {}
    for name, messages in contents.items():
        if messages:
            key = mapping.get(name, name) if mapping else name
            out[key] = Counter((data, flags, int(date.timestamp()))
                               for data, flags, date in messages)
    return out


def test_imap_to_imap_copy_is_byte_identical_then_idempotent(dovecot, alice, tmp_path):
    bob = dovecot.add_user("bob")
    before = dovecot.contents(alice)
    source, target = dovecot.url(alice), dovecot.url(bob)
    state = str(tmp_path / "state.db")
    done = run_cli("copy", source, target, "--state", state, "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "secret" not in done.stdout + done.stderr  # the password given in the URL

    checked = run_cli("verify", source, target)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Nothing lost" in checked.stdout

    assert normalized(dovecot.contents(bob)) == normalized(before, FOLDERS)
    assert dovecot.contents(alice) == before  # reading marked nothing \Seen

    started = time.monotonic()
    again = run_cli("copy", source, target, "--state", state, "--quiet")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Copied 0 messages" in again.stdout
    assert time.monotonic() - started < 5

    # The state database is lost: the rerun finds every message already there.
    Path(state).unlink()
    lost = run_cli("copy", source, target, "--state", state, "--quiet")
    assert lost.returncode == 0, lost.stdout + lost.stderr
    assert normalized(dovecot.contents(bob)) == normalized(before, FOLDERS)


def test_archive_then_back_to_imap_gives_the_same_mailbox(dovecot, alice, tmp_path):
    carol = dovecot.add_user("carol")
    archive = f"archive:{tmp_path / 'A'}"
    state = str(tmp_path / "state.db")
    out = run_cli("copy", dovecot.url(alice), archive, "--state", state, "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    assert run_cli("verify", dovecot.url(alice), archive).returncode == 0
    back = run_cli("copy", archive, dovecot.url(carol), "--state", state, "--quiet")
    assert back.returncode == 0, back.stdout + back.stderr
    assert normalized(dovecot.contents(carol)) == \
        normalized(dovecot.contents(alice), FOLDERS)


def test_uidvalidity_change_at_the_source_copies_nothing_twice(dovecot, tmp_path):
    src, dst = dovecot.add_user("uv-src"), dovecot.add_user("uv-dst")
    messages = [flagged(n) for n in range(12)]
    dovecot.seed(src, "Dossier", messages)
    state = str(tmp_path / "state.db")
    first = run_cli("copy", dovecot.url(src), dovecot.url(dst), "--state", state, "--quiet")
    assert first.returncode == 0, first.stdout + first.stderr
    with dovecot.client(src) as client:  # recreated: same messages, new UIDVALIDITY
        client.delete_folder("Dossier")
    dovecot.seed(src, "Dossier", [*messages, flagged(12)])
    second = run_cli("copy", dovecot.url(src), dovecot.url(dst), "--state", state, "--quiet")
    assert second.returncode == 0, second.stdout + second.stderr
    copied = dovecot.contents(dst)["Dossier"]
    assert len(copied) == 13
    assert len({data for data, _, _ in copied}) == 13


def test_over_quota_fails_per_item_and_a_rerun_finishes(dovecot, tmp_path):
    src, dst = dovecot.add_user("q-src"), dovecot.add_user("q-dst", quota="20K")
    dovecot.seed(src, "INBOX", [synthetic_message(n, body_size=2000) for n in range(20)])
    state = str(tmp_path / "state.db")
    args = ("copy", dovecot.url(src), dovecot.url(dst), "--state", state, "--quiet")
    full = run_cli(*args)
    assert full.returncode == 1, full.stdout + full.stderr
    assert "OVERQUOTA" in full.stdout or "uota" in full.stdout
    copied = len(dovecot.contents(dst)["INBOX"])
    assert 0 < copied < 20

    dovecot.add_user("q-dst", quota="10M")
    rest = run_cli(*args)
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert f"Copied {20 - copied} messages" in rest.stdout
    assert len(dovecot.contents(dst)["INBOX"]) == 20


def test_too_large_message_fails_alone(dovecot, tmp_path):
    src, dst = dovecot.add_user("big-src"), dovecot.add_user("big-dst", max_mail_size="8K")
    dovecot.seed(src, "INBOX", [synthetic_message(1), synthetic_message(2, body_size=20000),
                                synthetic_message(3)])
    out = run_cli("copy", dovecot.url(src), dovecot.url(dst),
                  "--state", str(tmp_path / "state.db"), "--quiet")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "message 2" in out.stdout  # the failure names the message (its subject)
    assert "size" in out.stdout.lower()
    assert sorted(d for d, _, _ in dovecot.contents(dst)["INBOX"]) == \
        sorted([synthetic_message(1).replace(b"\n", b"\r\n").replace(b"\r\r", b"\r"),
                synthetic_message(3).replace(b"\n", b"\r\n").replace(b"\r\r", b"\r")])


def test_wrong_password_exits_3_without_showing_it(own_dovecot, tmp_path):
    dovecot = own_dovecot.start()
    user = dovecot.add_user("pw", "the-right-one")
    out = run_cli("copy", dovecot.url(user, "S3cret-Wrong"), f"maildir:{tmp_path / 'm'}",
                  "--state", str(tmp_path / "state.db"), "--quiet")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "login refused" in out.stderr
    assert "S3cret-Wrong" not in out.stdout + out.stderr


def test_server_gone_mid_run_exits_3_and_a_rerun_finishes(dovecot, own_dovecot, tmp_path):
    src = dovecot.add_user("gone-src")
    count = 4000
    dovecot.seed(src, "INBOX", [synthetic_message(n, body_size=200) for n in range(count)])
    target = own_dovecot.start()
    dst = target.add_user("gone-dst")
    state = str(tmp_path / "state.db")
    args = ["copy", dovecot.url(src), target.url(dst), "--state", state, "--quiet"]
    process = _popen_cli(args)
    inbox = target.maildir(dst)
    while process.poll() is None and _files(inbox) < 300:
        time.sleep(0.01)
    target.kill()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 3, err
    assert "127.0.0.1" in err and ("refused" in err or "lost" in err), err

    target.start()
    rest = run_cli(*args)
    assert rest.returncode == 0, rest.stdout + rest.stderr
    copied = target.contents(dst)["INBOX"]
    assert len(copied) == count
    assert len({data for data, _, _ in copied}) == count


def _popen_cli(args: list[str]):
    import os
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "migrate", *args], text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "LANG": "C.UTF-8"})


def _files(maildir: Path) -> int:
    total = 0
    for sub in ("new", "cur"):
        with contextlib.suppress(OSError):
            total += sum(1 for _ in (maildir / sub).iterdir())
    return total

