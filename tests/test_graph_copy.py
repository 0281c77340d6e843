"""Acceptance: ``migrate copy graph://… archive:A`` (and to Dovecot) against the fake Graph
server (tests/fake_graph.py), driven by the real, unmodified msgraph-sdk whose request
adapter's base URL points at the fake.

The mailbox has French display names: roles must come from the well-known folder names.
Messages arrive byte-identical with read state, flag, categories and received time; a
second run asks only for deltas and copies only what changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import CORPUS, run_cli, synthetic_message
from fake_graph import FakeGraph, FakeMailbox, FakeMessage

from migrate.endpoint import parse_endpoint
from migrate.model import Role
from migrate.registry import connector_for

USER = "agent@mairie-exemple.fr"
TENANT = "mairie-exemple.onmicrosoft.com"
TOKEN = "eyFakeAppOnlyToken.for-tests"


def _message(n: int, data: bytes) -> FakeMessage:
    return FakeMessage(data, received=datetime(2023, 5, 1, 8, tzinfo=UTC) + timedelta(hours=n),
                       is_read=n % 2 == 0, flagged=n % 3 == 0,
                       categories=(("Projet Alpha", "Rouge"), ("Catégorie bleue",), ())[n % 3])


@pytest.fixture
def mailbox() -> FakeMailbox:
    """A French mailbox: well-known folders under localized names, a subfolder, a hidden one."""
    box = FakeMailbox(USER)
    inbox = box.add_folder("Boîte de réception", well_known="inbox")
    sent = box.add_folder("Éléments envoyés", well_known="sentitems")
    box.add_folder("Brouillons", well_known="drafts")
    trash = box.add_folder("Éléments supprimés", well_known="deleteditems")
    box.add_folder("Courrier indésirable", well_known="junkemail")
    box.add_folder("Boîte d'envoi", well_known="outbox")
    box.add_folder("Conversation History", hidden=True)
    projects = box.add_folder("Projets", parent=inbox)
    corpus = [path.read_bytes() for path in sorted(CORPUS.glob("msg_*.txt"))[:30]]
    box.add(inbox, *[_message(n, data) for n, data in enumerate(corpus)])
    box.add(sent, *[_message(n, synthetic_message(n)) for n in range(100, 112)])
    box.add(projects, *[_message(n, synthetic_message(n).replace(b"\r\n", b"\n"))
                        for n in range(200, 205)])
    box.add(trash, _message(300, synthetic_message(300)))
    return box


@pytest.fixture
def server(mailbox):
    fake = FakeGraph(mailbox, tokens={TOKEN}).start()
    yield fake
    fake.stop()


def graph_config(tmp_path, server: FakeGraph, extra: str = "", token: str = TOKEN) -> str:
    """A config file naming the mailbox ``mairie``, its token in a file beside."""
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    config = tmp_path / "migrate.toml"
    config.write_text(f'[endpoints.mairie]\nurl = "graph://{TENANT}/{USER}"\n'
                      f'graph_url = "{server.url}"\ntoken_file = "{token_file}"\n'
                      f'page_size = "10"\n{extra}')
    return str(config)


def open_reader(config: str):
    from migrate.endpoint import Config

    return connector_for(Config.load(config).endpoint("mairie")).open_source()


def expected(mailbox: FakeMailbox) -> dict[tuple[str, ...], set[tuple]]:
    """Folder path → (bytes, flags, received) of what the fake server holds (not hidden)."""
    out: dict[tuple[str, ...], set[tuple]] = {}
    for folder in mailbox.folders.values():
        if folder.hidden or not folder.messages:
            continue
        path: list[str] = []
        at = folder
        while at.id != mailbox.root.id:
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


def copy(config: str, target: str, state: str, *more: str):
    done = run_cli("--config", config, "copy", "mairie", target, "--state", state, "--quiet",
                   *more)
    assert TOKEN not in done.stdout + done.stderr
    return done


def test_folders_get_roles_from_well_known_names_not_display_names(server, tmp_path):
    reader = open_reader(graph_config(tmp_path, server))
    try:
        folders = {f.path: f.role for f in reader.folders()}
    finally:
        reader.close()
    assert folders == {
        ("Boîte de réception",): Role.INBOX, ("Boîte de réception", "Projets"): None,
        ("Éléments envoyés",): Role.SENT, ("Brouillons",): Role.DRAFTS,
        ("Éléments supprimés",): Role.TRASH, ("Courrier indésirable",): Role.JUNK,
        ("Boîte d'envoi",): Role.OUTBOX}  # no hidden folder unless asked
    assert server.requests["wellKnown"] >= 7  # asked by name, one by one
    reader = open_reader(graph_config(tmp_path, server, 'hidden = "on"\n'))
    try:
        assert ("Conversation History",) in {f.path for f in reader.folders()}
    finally:
        reader.close()


def test_copy_to_archive_is_byte_identical_then_a_rerun_asks_only_for_deltas(
        server, mailbox, tmp_path):
    config, archive, state = graph_config(tmp_path, server), tmp_path / "A", str(tmp_path / "s.db")
    done = copy(config, f"archive:{archive}", state)
    assert done.returncode == 0, done.stdout + done.stderr
    assert archived(archive) == expected(mailbox)
    total = sum(len(m) for m in expected(mailbox).values())
    assert server.requests["$value"] == total  # each message fetched once
    assert server.requests["$value:immutable"] == total  # by its immutable id
    folders = 7  # every folder but the hidden one, listed once …
    assert server.requests["delta:initial"] == folders
    assert server.requests["delta:select"] == folders  # … with $select, not whole messages

    before = server.requests.copy()
    again = copy(config, f"archive:{archive}", state)
    assert again.returncode == 0, again.stdout + again.stderr
    asked = server.requests - before
    assert asked["delta:initial"] == 0 and asked["$value"] == 0  # nothing listed or fetched
    assert asked["delta:token"] == folders  # one delta link per folder
    assert "Copied 0 messages" in again.stdout

    inbox = mailbox.by_well_known("inbox")
    mailbox.add(inbox, _message(400, synthetic_message(400)))
    mailbox.change(inbox.messages[1], is_read=True, flagged=True)
    gone = inbox.messages[2]
    mailbox.delete(inbox, gone)
    before = server.requests.copy()
    third = copy(config, f"archive:{archive}", state)
    assert third.returncode == 0, third.stdout + third.stderr
    assert (server.requests - before)["$value"] == 1  # only the new message
    assert "Copied 1 messages" in third.stdout
    assert "1 message(s) deleted at the source" in third.stdout
    held = archived(archive)[("Boîte de réception",)]
    assert (synthetic_message(400), frozenset({"\\Seen", "Catégorie bleue"}),
            datetime(2023, 5, 1, 8, tzinfo=UTC) + timedelta(hours=400)) in held
    assert gone.mime in {data for data, _, _ in held}  # the archive keeps what it holds


def test_copy_to_imap_carries_flag_changes_and_verify_matches(server, mailbox, dovecot,
                                                               tmp_path):
    config, state = graph_config(tmp_path, server), str(tmp_path / "s.db")
    user = dovecot.add_user("graph-target")
    done = copy(config, dovecot.url(user), state)
    assert done.returncode == 0, done.stdout + done.stderr
    total = sum(len(m) for m in expected(mailbox).values())
    checked = run_cli("--config", config, "verify", "mairie", dovecot.url(user))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"Nothing lost: all {total} messages" in checked.stdout

    sent = mailbox.by_well_known("sentitems")
    changed = sent.messages[0]
    mailbox.change(changed, is_read=False, flagged=True, categories=("Urgent",))
    before = server.requests.copy()
    again = copy(config, dovecot.url(user), state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (server.requests - before)["$value"] == 0
    assert "Flags brought up to date on 1 messages" in again.stdout
    held = dovecot.contents(user)
    sent_folder = next(name for name in held if "envoy" in name.lower()
                       or name.lower() == "sent")
    flags = [set(f) for data, f, _ in held[sent_folder]
             if data.replace(b"\r\n", b"\n") == changed.mime.replace(b"\r\n", b"\n")]
    assert flags and {"\\Flagged", "Urgent"} <= flags[0] and "\\Seen" not in flags[0]

    mailbox.delete(sent, changed)  # @removed in the next delta: carried with --delete
    gone = copy(config, dovecot.url(user), state, "--delete")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "1 copies deleted at the target: deleted at the source" in gone.stdout
    left = {data.replace(b"\r\n", b"\n") for data, _, _ in dovecot.contents(user)[sent_folder]}
    assert changed.mime.replace(b"\r\n", b"\n") not in left and len(left) == len(sent.messages)


def test_a_throttling_storm_slows_the_run_down_never_over_four_requests_in_flight(
        server, mailbox, tmp_path):
    big = mailbox.add_folder("Grand dossier")
    mailbox.add(big, *[_message(n, synthetic_message(n, body_size=80)) for n in range(500, 620)])
    server.delay = 0.02
    server.storm(6, retry_after=0.5)
    server.storm(3, retry_after=0.5, status=503)
    config, archive = graph_config(tmp_path, server), tmp_path / "A"
    done = copy(config, f"archive:{archive}", str(tmp_path / "s.db"), "--connections", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.requests["429"] >= 6 and server.requests["503"] == 3
    assert server.over_limit == 0  # the fake saw at most four requests on the mailbox
    assert 2 <= server.max_in_flight <= 4  # concurrent, within Graph's limit
    assert archived(archive) == expected(mailbox)  # nothing lost, nothing twice


def test_a_long_retry_after_is_honoured_up_to_max_wait_not_refused(server, tmp_path):
    """The SDK's retry handler refuses waits of 180 s or more; ours caps them at max_wait."""
    reader = open_reader(graph_config(tmp_path, server, 'max_wait = "1"\n'))
    try:
        server.storm(2, retry_after=600)
        assert next(f.role for f in reader.folders()) is not None
        assert reader._session.waits == [1.0, 1.0]
        assert server.requests["429"] == 2
    finally:
        reader.close()


def test_throttled_beyond_the_retries_gives_a_retryable_error(server, tmp_path):
    from migrate.errors import RetryableError

    reader = open_reader(graph_config(tmp_path, server, 'throttle_retries = "1"\n'))
    try:
        server.storm(2, retry_after=0.2)
        with pytest.raises(RetryableError, match="HTTP 429"):
            list(reader.folders())
    finally:
        reader.close()


def test_an_expired_token_is_read_again_and_the_run_goes_on(server, mailbox, tmp_path):
    config = graph_config(tmp_path, server)
    reader = open_reader(config)
    try:
        inbox = next(f for f in reader.folders() if f.role is Role.INBOX)
        server.tokens = {"renewed-token"}  # the old one expired
        (tmp_path / "token").write_text("renewed-token\n")  # the operator's job renewed it
        messages = list(reader.messages(inbox))
        assert len(messages) == len(mailbox.by_well_known("inbox").messages)
        assert server.requests["401"] == 1
        assert reader._session.credential.reads == 2
    finally:
        reader.close()


def test_a_refused_token_exits_3_with_a_clear_message_and_no_token(server, tmp_path):
    config = graph_config(tmp_path, server, token="not-a-valid-token")
    done = run_cli("--config", config, "copy", "mairie", f"archive:{tmp_path / 'A'}",
                   "--state", str(tmp_path / "s.db"), "--quiet")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "refused the access token" in done.stderr
    assert "not-a-valid-token" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_mailbox_exits_3(server, tmp_path):
    config = graph_config(tmp_path, server).replace(USER, "nobody@mairie-exemple.fr")
    (tmp_path / "other.toml").write_text(open(config).read().replace(USER, "nobody@x.fr"))
    done = run_cli("--config", str(tmp_path / "other.toml"), "copy", "mairie",
                   f"archive:{tmp_path / 'A'}", "--state", str(tmp_path / "s.db"), "--quiet")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "no mailbox for nobody@x.fr" in done.stderr


def test_an_expired_delta_link_lists_afresh_and_copies_nothing_twice(server, mailbox, tmp_path):
    config, archive, state = graph_config(tmp_path, server), tmp_path / "A", str(tmp_path / "s.db")
    assert copy(config, f"archive:{archive}", state).returncode == 0
    inbox = mailbox.by_well_known("inbox")
    mailbox.add(inbox, _message(401, synthetic_message(401)))
    server.expire_deltas = True
    before = server.requests.copy()
    done = copy(config, f"archive:{archive}", state)
    assert done.returncode == 0, done.stdout + done.stderr
    asked = server.requests - before
    assert asked["410"] >= 1 and asked["delta:initial"] >= 1
    assert asked["$value"] == 1 and "Copied 1 messages" in done.stdout
    assert archived(archive) == expected(mailbox)


def test_a_35_mb_message_is_byte_identical_and_streamed(server, mailbox, tmp_path):
    import tracemalloc

    big = mailbox.add_folder("Pièces jointes")
    attachment = (bytes(range(256)) * 4096).hex().encode()  # 2 MB of hex …
    mime = synthetic_message(7) + attachment * 17 + b"\r\n"  # … 35 MB in all
    mailbox.add(big, _message(7, mime))
    config = graph_config(tmp_path, server)
    reader = open_reader(config)
    try:
        folder = next(f for f in reader.folders() if f.path == ("Pièces jointes",))
        (message,) = list(reader.messages(folder))
        tracemalloc.start()
        message.content.load()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert message.size == len(mime) > 35_000_000
        assert peak < 12 * 1024 * 1024  # spooled to disk, never whole in memory
        assert message.content.path is None and message.content.read() == mime
    finally:
        reader.close()
    done = copy(config, f"archive:{tmp_path / 'A'}", str(tmp_path / "s.db"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert archived(tmp_path / "A") == expected(mailbox)


def test_counting_a_folder_lists_and_fetches_nothing(server, mailbox, tmp_path):
    reader = open_reader(graph_config(tmp_path, server))
    try:
        inbox = next(f for f in reader.folders() if f.role is Role.INBOX)
        before = server.requests.copy()
        stats = reader.stats(inbox)
        held = mailbox.by_well_known("inbox").messages
        assert (stats.messages, stats.bytes) == (len(held), sum(m.size for m in held))
        assert server.requests == before  # from the folder tree: no request at all
    finally:
        reader.close()


def test_a_message_gone_before_its_fetch_fails_alone(server, mailbox, tmp_path):
    from migrate.errors import BadInputError

    reader = open_reader(graph_config(tmp_path, server))
    try:
        sent = next(f for f in reader.folders() if f.role is Role.SENT)
        messages = list(reader.messages(sent))
        gone = mailbox.by_well_known("sentitems").messages.pop(3)  # deleted meanwhile
        reader.prefetch(sent, messages)
        for message in messages:
            if message.source_id == gone.id:
                with pytest.raises(BadInputError, match="gone"):
                    message.content.read()
            else:
                assert message.content.read().startswith(b"From: ")
    finally:
        reader.close()
