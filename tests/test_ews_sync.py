"""Delta passes from Exchange with SyncFolderItems, against the fake EWS server (real exchangelib).

A rerun asks each folder what changed since the sync state the last pass ended with: with
nothing changed it lists no item and fetches no MIME; after new messages, read and flag
changes and deletions it fetches exactly the new messages, carries the flags to the target
and records the deletions (the copies are kept unless ``--delete``). A sync state the
server no longer knows makes a full pass that copies nothing twice.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from conftest import run_cli, synthetic_message
from fake_ews import FakeEws, FakeMailbox, FakeMessage

from migrate.endpoint import parse_endpoint
from migrate.registry import connector_for

pytest.importorskip("exchangelib")

USER = "agent@mairie-exemple.fr"
PASSWORD = "s3cret-Ews!"


def _message(n: int) -> FakeMessage:
    return FakeMessage(synthetic_message(n), received=datetime(2024, 2, 1, 8, tzinfo=UTC)
                       + timedelta(minutes=n), is_read=n % 2 == 0, flagged=n % 5 == 0,
                       categories=("Urgent",) if n % 4 == 0 else ())


@pytest.fixture
def mailbox() -> FakeMailbox:
    box = FakeMailbox(USER)
    inbox = box.add_folder("Boîte de réception", well_known="inbox")
    sent = box.add_folder("Éléments envoyés", well_known="sentitems")
    projects = box.add_folder("Projets", parent=inbox)
    inbox.messages += [_message(n) for n in range(20)]
    sent.messages += [_message(n) for n in range(100, 108)]
    projects.messages += [_message(n) for n in range(200, 204)]
    return box


@pytest.fixture
def server(mailbox):
    fake = FakeEws(mailbox, USER, PASSWORD).start()
    yield fake
    fake.stop()


def ews_url(server: FakeEws) -> str:
    return f"ews://agent%40mairie-exemple.fr:{PASSWORD}@{server.host}?tls=off&auth=basic"


def statuses(state: str) -> dict[str, str]:
    """Source key → status of every item in the state database."""
    with sqlite3.connect(state) as db:
        return dict(db.execute("select source_key, status from items"))


def flags_in(imap: dict[str, list[tuple]]) -> dict[bytes, frozenset[str]]:
    """Message bytes (LF line ends) → flags, over every folder of an IMAP account."""
    return {data.replace(b"\r\n", b"\n"): flags for held in imap.values()
            for data, flags, _ in held}


def fake_flags(message: FakeMessage) -> frozenset[str]:
    return frozenset(({"\\Seen"} if message.is_read else set())
                     | ({"\\Flagged"} if message.flagged else set()) | set(message.categories))


def test_rerun_lists_only_changes_fetches_only_new_and_carries_flags_and_deletions(
        server, mailbox, dovecot, tmp_path):
    user = dovecot.add_user("ews-delta")
    state = str(tmp_path / "state.db")
    args = ("copy", ews_url(server), dovecot.url(user), "--state", state, "--quiet")
    done = run_cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.requests["SyncFolderItems"] == 3  # one page per folder
    assert set(server.mime_fetched.values()) == {1}  # every message fetched once
    assert len(server.mime_fetched) == 32

    before = server.requests.copy()
    again = run_cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    sent = server.requests - before
    assert sent["SyncFolderItems"] == 3 and sent["SyncFolderItems:changes"] == 0
    assert sent["GetItem"] == 0  # no MIME, no properties
    assert sent["FindItem"] == 0  # counts and sizes come with the folders

    inbox, projects = mailbox.by_well_known("inbox"), mailbox.folders[
        next(f.id for f in mailbox.folders.values() if f.name == "Projets")]
    new = [mailbox.add_message(inbox, _message(n)) for n in (50, 51)]
    new.append(mailbox.add_message(projects, _message(250)))
    read = [m for m in inbox.messages[:6] if not m.is_read][:2]
    for message in read:
        mailbox.mark_read(message.id)
    flagged = next(m for m in inbox.messages if not m.flagged and m not in read)
    mailbox.set_flagged(flagged.id)
    deleted = [inbox.messages[10], mailbox.by_well_known("sentitems").messages[0]]
    for message in deleted:
        mailbox.delete_message(message.id)
    server.mime_fetched.clear()

    third = run_cli(*args)
    assert third.returncode == 0, third.stdout + third.stderr
    assert dict(server.mime_fetched) == {m.id: 1 for m in new}  # exactly the 3 new ones
    held = flags_in(dovecot.contents(user))
    for message in [*new, *read, flagged]:
        assert held[message.mime.replace(b"\r\n", b"\n")] == fake_flags(message)
    assert fake_flags(read[0]) >= {"\\Seen"} and "\\Flagged" in fake_flags(flagged)
    recorded = statuses(state)
    assert [recorded[m.id] for m in deleted] == ["removed", "removed"]
    assert all(m.mime.replace(b"\r\n", b"\n") in held for m in deleted)  # copies kept
    assert "2 message(s) deleted at the source" in third.stdout
    assert "Flags brought up to date on 3 messages" in third.stdout  # 2 read, 1 flagged
    assert len(held) == 32 + 3


def test_copy_delete_removes_the_copies_of_messages_deleted_at_the_source(
        server, mailbox, dovecot, tmp_path):
    user = dovecot.add_user("ews-delete")
    state = str(tmp_path / "state.db")
    args = ("copy", ews_url(server), dovecot.url(user), "--state", state, "--quiet")
    assert run_cli(*args).returncode == 0
    gone = mailbox.by_well_known("inbox").messages[3]
    mailbox.delete_message(gone.id)
    done = run_cli(*args, "--delete")
    assert done.returncode == 0, done.stdout + done.stderr
    assert statuses(state)[gone.id] == "deleted"
    assert "1 copies deleted at the target" in done.stdout
    held = flags_in(dovecot.contents(user))
    assert gone.mime.replace(b"\r\n", b"\n") not in held
    assert len(held) == 31


def test_an_invalid_sync_state_makes_a_full_pass_that_copies_nothing_twice(
        server, mailbox, tmp_path):
    target, state = tmp_path / "Maildir", str(tmp_path / "state.db")
    args = ("copy", ews_url(server), f"maildir:{target}", "--state", state, "--quiet")
    assert run_cli(*args).returncode == 0
    inbox = mailbox.by_well_known("inbox")
    arrived = mailbox.add_message(inbox, _message(60))
    mailbox.sync_epoch += 1  # e.g. the mailbox moved: every sync state is forgotten
    server.mime_fetched.clear()
    before = server.requests.copy()
    done = run_cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert dict(server.mime_fetched) == {arrived.id: 1}  # only the new one fetched
    assert (server.requests - before)["SyncFolderItems"] == 6  # refused, then from the start
    copies = list(target.rglob("cur/*")) + list(target.rglob("new/*"))
    assert len(copies) == 33  # nothing twice
    assert sorted(p.read_bytes() for p in copies) == sorted(
        m.mime for f in mailbox.folders.values() for m in f.messages)


def test_sync_pages_of_512_changes_stream_a_large_folder(server, mailbox, tmp_path):
    big = mailbox.add_folder("Grand dossier")
    big.messages += [_message(n) for n in range(1000, 1600)]
    reader = connector_for(parse_endpoint(ews_url(server))).open_source()
    try:
        folder = next(f for f in reader.folders() if f.path == ("Grand dossier",))
        server.busy, server.busy_on, server.busy_ms = 1, "SyncFolderItems", 50
        keys = [m.source_id for m in reader.messages(folder)]
        assert keys == [m.id for m in big.messages]  # each once, in order
        assert server.requests["busy"] == 1  # the busy page was asked again
        assert server.requests["SyncFolderItems"] == 2  # 512, then 88
        cursor = reader.cursor(folder)
        assert cursor and PASSWORD not in cursor
        mailbox.add_message(big, _message(1700))
        assert [m.summary.subject for m in reader.messages(folder, cursor)] == ["message 1700"]
        assert list(reader.removed(folder)) == []
    finally:
        reader.close()


def _archive_and_public(mailbox: FakeMailbox) -> dict[str, object]:
    """An archive mailbox (Inbox and a 2019 subfolder) and public folders (two levels)."""
    top = mailbox.add_folder("Haut de la banque d'informations", parent=mailbox.root,
                             well_known="archivemsgfolderroot", folder_class=None)
    old_inbox = mailbox.add_folder("Boîte de réception", parent=top)
    year = mailbox.add_folder("2019", parent=old_inbox)
    old_inbox.messages += [_message(n) for n in range(300, 303)]
    year.messages += [_message(n) for n in range(400, 402)]
    public = mailbox.add_folder("Dossiers publics", parent=mailbox.root,
                                well_known="publicfoldersroot", folder_class=None)
    town = mailbox.add_folder("Mairie", parent=public)
    council = mailbox.add_folder("Conseil municipal", parent=town)
    council.messages += [_message(n) for n in range(500, 504)]
    return {"old_inbox": old_inbox, "year": year, "council": council}


def test_archive_mailbox_and_public_folders_are_read_only_when_asked(
        server, mailbox, tmp_path):
    added = _archive_and_public(mailbox)
    reader = connector_for(parse_endpoint(ews_url(server))).open_source()
    try:
        assert {f.path[0] for f in reader.folders()} == {"Boîte de réception",
                                                         "Éléments envoyés"}
    finally:
        reader.close()

    url = ews_url(server) + "&archive=yes&public=yes"
    reader = connector_for(parse_endpoint(url)).open_source()
    try:
        roles = {f.path: f.role for f in reader.folders()}
    finally:
        reader.close()
    assert {path: role for path, role in roles.items() if path[0] != "Boîte de réception"
            and path[0] != "Éléments envoyés"} == {
        ("Online Archive", "Boîte de réception"): None,  # not the inbox: no role
        ("Online Archive", "Boîte de réception", "2019"): None,
        ("Public Folders", "Mairie"): None,
        ("Public Folders", "Mairie", "Conseil municipal"): None}

    target, state = tmp_path / "Maildir", str(tmp_path / "state.db")
    args = ("copy", url, f"maildir:{target}", "--state", state, "--quiet")
    done = run_cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    copies = sorted(p.read_bytes() for p in target.rglob("cur/*"))
    assert copies == sorted(m.mime for f in mailbox.folders.values() for m in f.messages)
    archived = {m.id for f in ("old_inbox", "year") for m in added[f].messages}
    assert archived <= set(server.mime_fetched)

    server.mime_fetched.clear()
    before = server.requests.copy()
    again = run_cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    sent = server.requests - before
    assert not server.mime_fetched and sent["GetItem"] == 1  # the public folder's listing
    assert sent["SyncFolderItems"] == 5  # public folders cannot be synced: listed instead
    assert sent["SyncFolderItems:changes"] == 0


def test_archive_yes_without_an_archive_mailbox_is_a_clear_error(server, tmp_path):
    done = run_cli("copy", ews_url(server) + "&archive=yes", f"maildir:{tmp_path / 'M'}",
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "this mailbox has no archive mailbox (archive=yes)" in done.stderr
    public = run_cli("copy", ews_url(server) + "&public=yes", f"maildir:{tmp_path / 'M'}",
                     "--state", str(tmp_path / "state.db"), "--quiet")
    assert public.returncode == 2, public.stdout + public.stderr
    assert "this mailbox has no public folders (public=yes)" in public.stderr
    wrong = run_cli("copy", ews_url(server) + "&public=oui", f"maildir:{tmp_path / 'M'}",
                    "--state", str(tmp_path / "state.db"), "--quiet")
    assert wrong.returncode == 2 and "public must be yes or no" in wrong.stderr
