"""Acceptance: ``migrate copy ews://… archive:A`` against the fake EWS server (tests/fake_ews.py),
driven by the real, unmodified exchangelib over plain HTTP with Basic authentication.

The mailbox has French display names; roles must come from the well-known folder ids,
messages arrive byte-identical (CRLF and bare LF alike) with read state, flag, categories
and received time; a calendar folder is not mail and is left out.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CORPUS, run_cli, synthetic_message
from fake_ews import FakeEws, FakeMailbox, FakeMessage

from migrate.endpoint import parse_endpoint
from migrate.model import Role
from migrate.registry import connector_for

pytest.importorskip("exchangelib")

USER = "agent@mairie-exemple.fr"
PASSWORD = "s3cret-Ews!"


def _message(n: int, data: bytes) -> FakeMessage:
    return FakeMessage(data, received=datetime(2023, 5, 1, 8, tzinfo=UTC) + timedelta(hours=n),
                       is_read=n % 2 == 0, flagged=n % 3 == 0,
                       categories=(("Projet Alpha", "Rouge"), ("Catégorie bleue",), ())[n % 3])


@pytest.fixture
def mailbox() -> FakeMailbox:
    """A French mailbox: well-known folders under localized names, a subfolder, a calendar."""
    box = FakeMailbox(USER)
    inbox = box.add_folder("Boîte de réception", well_known="inbox")
    sent = box.add_folder("Éléments envoyés", well_known="sentitems")
    box.add_folder("Brouillons", well_known="drafts")
    trash = box.add_folder("Éléments supprimés", well_known="deleteditems")
    box.add_folder("Courrier indésirable", well_known="junkemail")
    box.add_folder("Boîte d'envoi", well_known="outbox")
    box.add_folder("Calendrier", well_known="calendar", folder_class="IPF.Appointment")
    projects = box.add_folder("Projets", parent=inbox)
    corpus = [path.read_bytes() for path in sorted(CORPUS.glob("msg_*.txt"))[:30]]
    inbox.messages += [_message(n, data) for n, data in enumerate(corpus)]
    sent.messages += [_message(n, synthetic_message(n)) for n in range(100, 112)]
    projects.messages += [_message(n, synthetic_message(n).replace(b"\r\n", b"\n"))
                          for n in range(200, 205)]
    trash.messages.append(_message(300, synthetic_message(300)))
    return box


@pytest.fixture
def server(mailbox):
    fake = FakeEws(mailbox, USER, PASSWORD).start()
    yield fake
    fake.stop()


def ews_url(server: FakeEws, password: str | None = PASSWORD) -> str:
    secret = f":{password}" if password is not None else ""
    return f"ews://agent%40mairie-exemple.fr{secret}@{server.host}?tls=off&auth=basic"


def expected(mailbox: FakeMailbox) -> dict[tuple[str, ...], set[tuple]]:
    """Folder path → (bytes, flags, received) of what the fake server holds."""
    out: dict[tuple[str, ...], set[tuple]] = {}
    for folder in mailbox.folders.values():
        if folder.folder_class != "IPF.Note" or not folder.messages:
            continue
        path = []
        at = folder
        while at.parent != mailbox.root.id and at.id != mailbox.msg_root.id:
            path.insert(0, at.name)
            at = mailbox.folders[at.parent]
        out[tuple(path)] = {
            (m.mime, frozenset(({"\\Seen"} if m.is_read else set())
                               | ({"\\Flagged"} if m.flagged else set()) | set(m.categories)),
             m.received) for m in folder.messages}
    return out


def archived(path) -> dict[tuple[str, ...], set[tuple]]:
    """Folder path → (bytes, flags, internal date) of the messages in an archive."""
    reader = connector_for(parse_endpoint(f"archive:{path}")).open_source()
    try:
        return {folder.path: {(m.content.read(), m.flags, m.internal_date)
                              for m in reader.messages(folder)}
                for folder in reader.folders()
                if any(True for _ in reader.messages(folder))}
    finally:
        reader.close()


def test_folders_get_roles_from_well_known_ids_not_names(server):
    reader = connector_for(parse_endpoint(ews_url(server))).open_source()
    try:
        folders = {f.path: f.role for f in reader.folders()}
    finally:
        reader.close()
    assert folders == {
        ("Boîte de réception",): Role.INBOX, ("Boîte de réception", "Projets"): None,
        ("Éléments envoyés",): Role.SENT, ("Brouillons",): Role.DRAFTS,
        ("Éléments supprimés",): Role.TRASH, ("Courrier indésirable",): Role.JUNK,
        ("Boîte d'envoi",): Role.OUTBOX}  # no calendar: it holds no mail


def test_copy_to_archive_is_byte_identical_then_a_rerun_copies_nothing(
        server, mailbox, tmp_path):
    archive, state = tmp_path / "A", str(tmp_path / "state.db")
    config = tmp_path / "migrate.toml"
    config.write_text(f'[endpoints.mairie]\nurl = "{ews_url(server, None)}"\n'
                      f'password_env = "EWS_TEST_PASSWORD"\n')
    args = ("--config", str(config), "copy", "mairie", f"archive:{archive}", "--state", state,
            "--quiet")
    env = {"EWS_TEST_PASSWORD": PASSWORD}
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert archived(archive) == expected(mailbox)
    assert server.requests["GetItem:MimeContent"] >= 1
    assert server.requests["ConvertId"] == 1  # exchangelib asked the server's version once

    fetched = server.requests["GetItem:MimeContent"]
    again = run_cli(*args, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert server.requests["GetItem:MimeContent"] == fetched  # nothing fetched, nothing copied
    assert archived(archive) == expected(mailbox)


def test_password_in_the_url_works_too(server, mailbox, tmp_path):
    done = run_cli("copy", ews_url(server), f"archive:{tmp_path / 'A'}",
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert archived(tmp_path / "A") == expected(mailbox)


def test_wrong_password_exits_3_with_a_clear_message(server, tmp_path):
    done = run_cli("copy", ews_url(server, "wrong-password"), f"archive:{tmp_path / 'A'}",
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "login refused" in done.stderr
    assert "wrong-password" not in done.stdout + done.stderr
    assert server.requests["401"] >= 1


def test_server_busy_is_waited_for_then_retryable_once_retries_are_spent(server):
    from migrate.errors import RetryableError

    reader = connector_for(parse_endpoint(ews_url(server))).open_source()
    try:
        server.busy, server.busy_ms = 2, 300
        started = time.monotonic()
        assert next(f.role for f in reader.folders()) is not None
        assert time.monotonic() - started >= 0.6  # waited as told, twice
        assert server.requests["busy"] == 2
    finally:
        reader.close()
    reader = connector_for(parse_endpoint(ews_url(server) + "&busy_retries=0")).open_source()
    try:
        server.busy, server.busy_ms = 1, 1500
        with pytest.raises(RetryableError) as caught:
            list(reader.folders())
        assert caught.value.retry_after == pytest.approx(1.5)
    finally:
        reader.close()


def test_paged_listing_and_busy_server_mid_run_complete(server, mailbox, tmp_path):
    big = mailbox.add_folder("Grand dossier")
    big.messages += [_message(n, synthetic_message(n, body_size=80)) for n in range(1000, 1250)]
    server.busy, server.busy_on, server.busy_ms = 3, "GetItem", 200
    done = run_cli("copy", ews_url(server), f"archive:{tmp_path / 'A'}",
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.requests["busy"] == 3
    # each mail folder and the calendar listed in one page; folders are counted from the
    # folder listing, so nothing is listed by FindItem
    assert server.requests["SyncFolderItems"] == 9
    assert server.requests["FindItem"] == 0
    assert archived(tmp_path / "A") == expected(mailbox)


def test_unreachable_server_exits_3(tmp_path):
    done = run_cli("copy", "ews://agent%40mairie-exemple.fr:pw@127.0.0.1:1?tls=off&auth=basic",
                   f"archive:{tmp_path / 'A'}", "--state", str(tmp_path / "state.db"),
                   "--quiet")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot reach the EWS endpoint" in done.stderr


def test_verify_after_copy_reports_everything_matched(server, mailbox, tmp_path):
    big = mailbox.add_folder("Pièces jointes")
    attachment = bytes(range(256)) * (6 * 1024 * 1024 // 256)  # spooled to disk (> 4 MB)
    big.messages.append(_message(7, synthetic_message(7) + attachment.hex().encode()[:6_000_000]))
    archive, state = f"archive:{tmp_path / 'A'}", str(tmp_path / "state.db")
    done = run_cli("copy", ews_url(server), archive, "--state", state, "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert archived(tmp_path / "A") == expected(mailbox)
    checked = run_cli("verify", ews_url(server), archive)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    total = sum(len(messages) for messages in expected(mailbox).values())
    assert f"all {total} messages are at the target" in checked.stdout


def test_a_message_gone_before_its_fetch_fails_alone(server, mailbox):
    from migrate.errors import BadInputError

    reader = connector_for(parse_endpoint(ews_url(server))).open_source()
    try:
        sent = next(f for f in reader.folders() if f.role is Role.SENT)
        messages = list(reader.messages(sent))
        gone = mailbox.by_well_known("sentitems").messages.pop(3)
        reader.prefetch(sent, messages)
        for message in messages:
            if message.source_id == gone.id:
                with pytest.raises(BadInputError, match="gone"):
                    message.content.read()
            else:
                assert message.content.read().startswith(b"From: ")
    finally:
        reader.close()


def test_a_service_account_reads_a_mailbox_by_impersonation(mailbox, tmp_path):
    fake = FakeEws(mailbox, "svc-migration", PASSWORD).start()
    try:
        url = (f"ews://svc-migration:{PASSWORD}@{fake.host}?tls=off&auth=basic"
               f"&impersonate={USER}")
        done = run_cli("copy", url, f"archive:{tmp_path / 'A'}",
                       "--state", str(tmp_path / "state.db"), "--quiet")
        assert done.returncode == 0, done.stdout + done.stderr
        assert fake.impersonated == {USER}  # ExchangeImpersonation named the mailbox
        assert archived(tmp_path / "A") == expected(mailbox)
    finally:
        fake.stop()


def test_copy_to_imap_keeps_categories_with_spaces_and_accents_and_verify_matches(
        server, mailbox, dovecot, tmp_path):
    """Exchange categories may hold spaces and accents ("Projet Alpha", "Catégorie
    bleue"), which IMAP keywords cannot: the IMAP target writes them as atoms in modified
    UTF-7 (connectors/imap/keywords.py), reading decodes them, and verify matches all."""
    user = dovecot.add_user("ews-target")
    done = run_cli("copy", ews_url(server), dovecot.url(user),
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    held = dovecot.contents(user)
    inbox = {m.mime.replace(b"\r\n", b"\n") for m in mailbox.by_well_known("inbox").messages}
    assert {data.replace(b"\r\n", b"\n") for data, _, _ in held["INBOX"]} == inbox
    total = sum(len(messages) for messages in expected(mailbox).values())
    assert sum(len(messages) for messages in held.values()) == total
    stored = {flag for _, flags, _ in held["INBOX"] for flag in flags}
    assert {"Projet&ACA-Alpha", "Cat&AOk-gorie&ACA-bleue", "Rouge"} <= stored
    checked = run_cli("verify", ews_url(server), dovecot.url(user))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"Nothing lost: all {total} messages" in checked.stdout
    assert "differs:" not in checked.stdout


def test_counting_folders_lists_no_item_and_fetches_no_mime(server, mailbox):
    """Counts come from the folder listing (TotalCount) and sizes from one GetFolder of
    every folder's PR_MESSAGE_SIZE_EXTENDED: a plan or a rerun lists no item to count."""
    reader = connector_for(parse_endpoint(ews_url(server))).open_source()
    try:
        folders = {f.role: f for f in reader.folders()}
        before = server.requests.copy()
        for role, fake in ((Role.INBOX, "inbox"), (Role.SENT, "sentitems")):
            stats = reader.stats(folders[role])
            held = mailbox.by_well_known(fake).messages
            assert (stats.messages, stats.bytes) == (len(held), sum(m.size for m in held))
        assert server.requests - before == {"GetFolder": 1}  # both folders' sizes at once
    finally:
        reader.close()


def test_a_server_that_does_not_say_folder_sizes_gets_them_counted(server, mailbox):
    server.folder_sizes = False
    reader = connector_for(parse_endpoint(ews_url(server))).open_source()
    try:
        inbox = next(f for f in reader.folders() if f.role is Role.INBOX)
        before = server.requests.copy()
        stats = reader.stats(inbox)
        held = mailbox.by_well_known("inbox").messages
        assert (stats.messages, stats.bytes) == (len(held), sum(m.size for m in held))
        assert server.requests - before == {"GetFolder": 1, "FindItem": 1}  # no MIME
    finally:
        reader.close()


def test_replied_and_forwarded_messages_come_out_answered_and_forwarded(
        server, mailbox, tmp_path):
    """PidTagLastVerbExecuted (102/103 replied, 104 forwarded; what Outlook shows as an
    icon) becomes ``\\Answered`` / ``$Forwarded``, as the EWS target writes it back."""
    verb = (("PropertyTag", "0x1081"), ("PropertyType", "Integer"))
    inbox = mailbox.by_well_known("inbox").messages
    inbox[0].extended[verb], inbox[1].extended[verb], inbox[2].extended[verb] = \
        "102", "103", "104"
    done = run_cli("copy", ews_url(server), f"archive:{tmp_path / 'A'}",
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    flags = {data: flags for data, flags, _ in archived(tmp_path / "A")[("Boîte de réception",)]}
    assert "\\Answered" in flags[inbox[0].mime] and "\\Answered" in flags[inbox[1].mime]
    assert "$Forwarded" in flags[inbox[2].mime] and "\\Answered" not in flags[inbox[2].mime]
    assert not {"\\Answered", "$Forwarded"} & flags[inbox[3].mime]
