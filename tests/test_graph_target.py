"""Microsoft 365 as a copy target (reversibility): ``migrate copy archive:A cible`` where
``cible`` is a ``graph://`` mailbox on the fake Graph server (tests/fake_graph.py,
tests/fake_graph_write.py), driven by the real, unmodified msgraph-sdk.

The archive is made first from an English mailbox on one fake server (read state, flags,
categories); it is then uploaded into a French mailbox on another, where the roles must
land in the well-known folders whatever their names. Every message must arrive once,
byte-identical, imported as received mail at its received time (tests/test_graph_import.py
covers the import's own steps; ``import=draft`` keeps MIME drafts, as Graph documents);
reruns (with or without the state database, after a kill -9) must write nothing twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CORPUS, run_cli, synthetic_message
from fake_graph import FakeFolder, FakeGraph, FakeMailbox, FakeMessage

from migrate.endpoint import Config
from migrate.model import Content, Folder, MailMessage, Role
from migrate.registry import connector_for

USER = "agent@mairie-exemple.fr"
TENANT = "mairie-exemple.onmicrosoft.com"
TOKEN = "eyFakeAppOnlyToken.for-target-tests"
SHA256 = "String {8b0c6d3e-5f0a-4c1e-9a7d-2e6f4b1c9d57} Name sovereign-migrate-sha256"


def _message(n: int, data: bytes) -> FakeMessage:
    return FakeMessage(data, received=datetime(2023, 5, 1, 8, tzinfo=UTC) + timedelta(hours=n),
                       is_read=n % 2 == 0, flagged=n % 3 == 0,
                       categories=(("Projet Alpha", "Rouge"), ("Catégorie bleue",), ())[n % 3])


def english_mailbox() -> FakeMailbox:
    """The mailbox the archive is made from: English names, a subfolder, bare-LF messages."""
    box = FakeMailbox(USER)
    inbox = box.add_folder("Inbox", well_known="inbox")
    sent = box.add_folder("Sent Items", well_known="sentitems")
    trash = box.add_folder("Deleted Items", well_known="deleteditems")
    box.add_folder("Drafts", well_known="drafts")
    projects = box.add_folder("Projets", parent=inbox)
    corpus = [path.read_bytes() for path in sorted(CORPUS.glob("msg_*.txt"))[:20]]
    box.add(inbox, *[_message(n, data) for n, data in enumerate(corpus)])
    box.add(sent, *[_message(n, synthetic_message(n)) for n in range(100, 108)])
    box.add(projects, *[_message(n, synthetic_message(n).replace(b"\r\n", b"\n"))
                        for n in range(200, 204)])
    box.add(trash, _message(300, synthetic_message(300)))
    return box


def french_mailbox() -> FakeMailbox:
    """An empty French mailbox: the well-known folders under their localized names."""
    box = FakeMailbox(USER)
    box.add_folder("Boîte de réception", well_known="inbox")
    box.add_folder("Éléments envoyés", well_known="sentitems")
    box.add_folder("Brouillons", well_known="drafts")
    box.add_folder("Éléments supprimés", well_known="deleteditems")
    box.add_folder("Courrier indésirable", well_known="junkemail")
    box.add_folder("Boîte d'envoi", well_known="outbox")
    return box


#: Where each folder of the English mailbox must land in the French one.
LANDS = {("Inbox",): ("Boîte de réception",), ("Sent Items",): ("Éléments envoyés",),
         ("Deleted Items",): ("Éléments supprimés",),
         ("Inbox", "Projets"): ("Boîte de réception", "Projets")}


def path_of(box: FakeMailbox, folder: FakeFolder) -> tuple[str, ...]:
    path: list[str] = []
    while folder.id != box.root.id:
        path.insert(0, folder.name)
        folder = box.folders[folder.parent]
    return tuple(path)


def held(box: FakeMailbox, dates: bool = True) -> dict[tuple[str, ...], Counter]:
    """Folder path → Counter of (bytes, read, flagged, categories, draft, received time) of
    each message (the time left out unless ``dates``)."""
    return {path_of(box, f): Counter((m.mime, m.is_read, m.flagged, frozenset(m.categories),
                                      m.draft, m.received if dates else None)
                                     for m in f.messages)
            for f in box.folders.values() if f.messages}


def expected(source: FakeMailbox, drafts: bool = False) -> dict[tuple[str, ...], Counter]:
    """What the French mailbox must hold once the English one went through the archive:
    received messages at their received time (imported), or with ``drafts`` (import=draft)
    drafts created from MIME, as Graph documents, whose time is the upload's."""
    return {LANDS.get(path, path): Counter({(*key[:4], drafts, None if drafts else key[5]): n
                                            for key, n in found.items()})
            for path, found in held(source).items()}


def box(server: FakeGraph) -> FakeMailbox:
    """The one mailbox a fake server holds."""
    return server.mailboxes[USER]


def total(box: FakeMailbox) -> int:
    return sum(len(f.messages) for f in box.folders.values())


@pytest.fixture
def source():
    fake = FakeGraph(english_mailbox(), tokens={TOKEN}).start()
    yield fake
    fake.stop()


@pytest.fixture
def target():
    fake = FakeGraph(french_mailbox(), tokens={TOKEN}).start()
    yield fake
    fake.stop()


@pytest.fixture
def config(tmp_path, source, target) -> str:
    """A config naming the English mailbox ``source`` and the French one ``cible``."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    path = tmp_path / "migrate.toml"
    text = ""
    for name, server in (("source", source), ("cible", target)):
        text += (f'[endpoints.{name}]\nurl = "graph://{TENANT}/{USER}"\n'
                 f'graph_url = "{server.url}"\ntoken_file = "{token_file}"\n'
                 f'page_size = "10"\n')
    path.write_text(text)
    return str(path)


def cli(config: str, *args: str, check: bool = False):
    done = run_cli("--config", config, *args, check=check)
    assert TOKEN not in done.stdout + done.stderr
    return done


@pytest.fixture
def archive(config, tmp_path):
    """archive:A made from the English mailbox (read state, flags, categories)."""
    path = tmp_path / "A"
    cli(config, "copy", "source", f"archive:{path}", "--state", str(tmp_path / "export.db"),
        "--quiet", check=True)
    return path


def open_target(config: str, **params: str):
    endpoint = Config.load(config).endpoint("cible")
    endpoint.params.update(params)
    return connector_for(endpoint).open_target()


def test_archive_to_m365_uploads_everything_once_into_the_well_known_folders(
        source, target, config, archive, tmp_path):
    state = str(tmp_path / "state.db")
    args = ("copy", f"archive:{archive}", "cible", "--state", state, "--quiet")
    done = cli(config, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert held(box(target)) == expected(box(source))  # bytes, flags, categories
    count = total(box(source))
    assert target.requests["upload"] == count  # one upload per message
    # only Projets and our hidden staging folder: roles found by well-known name
    assert target.requests["createFolder"] == 2
    marked = [m for f in box(target).folders.values() for m in f.messages]
    assert all(len(m.properties.get(SHA256, "")) == 64 for m in marked)

    again = cli(config, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert target.requests["upload"] == count  # the rerun uploads nothing

    os.remove(state)
    lost = cli(config, *args)
    assert lost.returncode == 0, lost.stdout + lost.stderr
    assert target.requests["upload"] == count  # recognised by their sha256 property
    assert held(box(target)) == expected(box(source))


def test_verify_finds_everything_at_the_target(target, config, archive, tmp_path):
    cli(config, "copy", f"archive:{archive}", "cible", "--state", str(tmp_path / "state.db"),
        "--quiet", check=True)
    checked = cli(config, "verify", f"archive:{archive}", "cible")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"all {total(box(target))} messages are at the target" in checked.stdout


def test_plan_says_what_m365_keeps_and_creates_nothing(target, config, archive):
    planned = cli(config, "plan", f"archive:{archive}", "cible")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "draft" in planned.stdout  # the MIME upload's limit is said before copying
    assert "Boîte de réception" in planned.stdout  # where the inbox goes
    assert target.requests["createFolder"] == target.requests["upload"] == 0


def test_a_message_too_large_fails_alone_with_a_clear_message(source, target, config,
                                                              tmp_path):
    inbox = box(source).by_well_known("inbox")
    big = synthetic_message(999, body_size=300_000)
    box(source).add(inbox, _message(999, big))
    archive, state = tmp_path / "A", str(tmp_path / "state.db")
    cli(config, "copy", "source", f"archive:{archive}", "--state",
        str(tmp_path / "export.db"), "--quiet", check=True)
    target.max_request = 200_000  # Graph answers 413 to a larger body
    args = ("copy", f"archive:{archive}", "cible", "--state", state, "--quiet")
    done = cli(config, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "too large" in done.stdout + done.stderr
    assert "message 999" in done.stdout + done.stderr  # the subject names it
    count = total(box(source))
    assert target.requests["upload"] == count - 1  # the others went through
    assert target.requests["413"] == 1
    assert big not in {m.mime for m in box(target).by_well_known("inbox").messages}

    target.max_request = 10_000_000  # a larger limit
    again = cli(config, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert target.requests["upload"] == count
    assert held(box(target)) == expected(box(source))


def test_max_size_refuses_a_message_before_sending_it(target, config):
    from migrate.errors import ConfigError, TooLargeError

    small, big = synthetic_message(1), synthetic_message(2, body_size=300_000)
    writer = open_target(config, max_size="200000")
    try:
        folder = Folder(("Boîte de réception",), Role.INBOX)
        outcomes = writer.append_batch(folder, [
            MailMessage(Content.from_chunks([data]), str(n))
            for n, data in enumerate((big, small))])
    finally:
        writer.close()
    assert isinstance(outcomes[0], TooLargeError) and "max_size" in str(outcomes[0])
    assert isinstance(outcomes[1], str)
    assert [m.mime for m in box(target).by_well_known("inbox").messages] == [small]
    assert target.requests["upload"] == 1 and target.requests["413"] == 0
    with pytest.raises(ConfigError, match="max_size"):
        open_target(config, max_size="big")


def test_a_full_mailbox_fails_the_items_with_a_quota_message(source, target, config,
                                                             archive, tmp_path):
    inbox = box(source).by_well_known("inbox")
    box(target).quota = sum(len(m.mime) for m in inbox.messages[:5])
    args = ("copy", f"archive:{archive}", "cible", "--state", str(tmp_path / "state.db"),
            "--quiet")
    done = cli(config, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "mailbox is full" in done.stdout + done.stderr
    stored = target.requests["upload"]
    assert 0 < stored < total(box(source)) and target.requests["507"] > 0

    box(target).quota = None
    again = cli(config, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert held(box(target)) == expected(box(source))  # nothing lost, nothing twice


def test_an_upload_cut_before_its_properties_is_finished_not_repeated(target, config):
    """import=draft: a kill between the POST and the PATCH leaves an unmarked draft: the
    rerun finds it by its Message-ID and sets what was missing instead of uploading it
    again."""
    data = synthetic_message(42)
    inbox = box(target).by_well_known("inbox")
    half = FakeMessage(data, is_read=True, draft=True)  # what the POST alone leaves
    box(target).add(inbox, half)
    writer = open_target(config, **{"import": "draft"})
    try:
        folder = Folder(("Boîte de réception",), Role.INBOX)
        message = MailMessage(Content.from_chunks([data]), "42", frozenset({"Urgent"}))
        key = writer.append(folder, message)
    finally:
        writer.close()
    assert key == half.id and target.requests["upload"] == 0
    assert (half.is_read, half.categories) == (False, ("Urgent",))
    assert len(half.properties[SHA256]) == 64


def test_a_killed_copy_then_a_rerun_leaves_nothing_missing_and_nothing_twice(
        source, target, config, tmp_path):
    for n in range(3):  # more folders and messages, so that the kill lands mid-copy
        extra = box(source).add_folder(f"Dossier {n}")
        box(source).add(extra, *[_message(k, synthetic_message(k))
                                    for k in range(1000 * (n + 1), 1000 * (n + 1) + 15)])
    archive = tmp_path / "A"
    cli(config, "copy", "source", f"archive:{archive}", "--state",
        str(tmp_path / "export.db"), "--quiet", check=True)
    target.delay = 0.05  # each request is slow: the kill lands in one
    args = ["--config", config, "copy", f"archive:{archive}", "cible", "--state",
            str(tmp_path / "state.db"), "--quiet"]
    process = subprocess.Popen([sys.executable, "-m", "migrate", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while target.requests["upload"] < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert 0 < target.requests["upload"] < total(box(source))
    time.sleep(0.3)  # let the server finish what the dead client had sent
    target.delay = 0.0
    again = cli(config, *args[2:])
    assert again.returncode == 0, again.stdout + again.stderr
    assert held(box(target)) == expected(box(source))  # none missing, none twice
    assert target.requests["import"] == total(box(source))  # each imported once
    # a draft the kill caught before its import is uploaded again, then deleted like the rest
    assert target.requests["upload"] >= total(box(source))


def test_roles_go_to_well_known_folders_but_never_the_outbox(target, config):
    connector = connector_for(Config.load(config).endpoint("cible"))
    assert connector.role_folder(Role.SENT) == ("Éléments envoyés",)
    assert connector.role_folder(Role.TRASH) == ("Éléments supprimés",)
    assert connector.role_folder(Role.OUTBOX) is None  # a client could send what lies there
    assert target.requests["createFolder"] == 0  # asking created nothing
    writer = connector.open_target()
    try:
        writer.append(Folder(("Outbox",), Role.OUTBOX),
                      MailMessage(Content.from_chunks([synthetic_message(3)]), "3"))
    finally:
        writer.close()
    assert not box(target).by_well_known("outbox").messages
    made = next(f for f in box(target).folders.values() if f.name == "Outbox")
    assert [m.mime for m in made.messages] == [synthetic_message(3)]


def test_a_folder_named_in_another_case_is_found_not_duplicated(target, config):
    existing = box(target).add_folder("Archives 2023")
    writer = open_target(config)
    try:
        key = writer.append(Folder(("ARCHIVES 2023",)),
                            MailMessage(Content.from_chunks([synthetic_message(5)]), "5"))
    finally:
        writer.close()
    assert [m.id for m in existing.messages] == [key]
    assert [f.name for f in box(target).folders.values() if f.name.casefold() ==
            "archives 2023"] == ["Archives 2023"]


def test_set_flags_and_remove_update_the_uploaded_message(target, config, archive, tmp_path):
    cli(config, "copy", f"archive:{archive}", "cible", "--state", str(tmp_path / "state.db"),
        "--quiet", check=True)
    inbox = box(target).by_well_known("inbox")
    first, second = inbox.messages[0], inbox.messages[1]
    writer = open_target(config)
    try:
        folder = Folder(("Boîte de réception",), Role.INBOX)
        writer.set_flags(folder, first.id, frozenset({"\\Seen", "\\Flagged", "Urgent"}))
        assert (first.is_read, first.flagged, first.categories) == (True, True, ("Urgent",))
        writer.set_flags(folder, first.id, frozenset())
        assert (first.is_read, first.flagged, first.categories) == (False, False, ())
        writer.remove(folder, second.id)
        assert second not in inbox.messages
        assert second in box(target).by_well_known("deleteditems").messages
        writer.remove(folder, "AAkALgNoSuchMessage=")  # gone already: no error
    finally:
        writer.close()


def test_m365_declares_what_it_writes_and_keeps():
    from migrate.connector import Feature, Kind
    from migrate.registry import connector_class

    caps = connector_class("graph").capabilities
    assert caps.writes == {Kind.MAIL, Kind.CALENDAR, Kind.CONTACTS}
    assert {Feature.KEYWORDS, Feature.SPECIAL_USE, Feature.INTERNAL_DATE} <= caps.target_keeps
    # Exchange Online rebuilds the MIME it serves, as Exchange Server does (see ews); flags
    # are written but Graph does not list \\Answered back, so verify could not confirm them
    assert not {Feature.FLAGS, Feature.ORIGINAL_BYTES} & caps.target_keeps
    for feature in (Feature.FLAGS, Feature.INTERNAL_DATE, Feature.DATE_OFFSET):
        assert set(caps.limits[feature]) == {"en", "fr"}


def test_an_upload_whose_answer_is_lost_is_not_stored_twice(target, config):
    """The link drops after Graph stored the POST: the session's retry finds that draft
    by its Message-ID instead of uploading a second copy; throttling is waited out."""
    target.drop_answers = 2
    writer = open_target(config)
    try:
        folder = Folder(("Boîte de réception",), Role.INBOX)
        keys = [writer.append(folder, MailMessage(Content.from_chunks([synthetic_message(n)]),
                                                  str(n), frozenset({"\\Seen"})))
                for n in range(3)]
        target.storm(2, retry_after=0.1)
        keys.append(writer.append(folder, MailMessage(
            Content.from_chunks([synthetic_message(3)]), "3")))
    finally:
        writer.close()
    inbox = box(target).by_well_known("inbox")
    assert [m.id for m in inbox.messages] == keys  # four messages, each once
    assert [m.mime for m in inbox.messages] == [synthetic_message(n) for n in range(4)]
    assert target.requests["upload"] == 4
    # each retry looked first: two lost answers, and the throttled fourth upload (its first
    # retry's look was throttled too, the second looked and then uploaded)
    assert target.requests["messages:filter"] == 3 and target.requests["429"] == 2
    assert all(len(m.properties[SHA256]) == 64 for m in inbox.messages)


def test_a_round_trip_through_m365_is_certified(target, config, archive, tmp_path):
    cert = tmp_path / "cert"
    done = cli(config, "roundtrip", str(archive), "--via", "cible",
               "--out", str(tmp_path / "back"), "--certificate", str(cert))
    assert done.returncode == 0, done.stdout + done.stderr
    assert cert.with_suffix(".json").exists()
    count = total(box(target))
    assert count and target.requests["upload"] == count
    assert hashes(tmp_path / "back") == hashes(archive)  # every message came back as it was


def hashes(path) -> Counter:
    """sha256 of every message in an archive, counted."""
    from migrate.endpoint import parse_endpoint

    reader = connector_for(parse_endpoint(f"archive:{path}")).open_source()
    try:
        return Counter(m.sha256 for f in reader.folders() for m in reader.messages(f))
    finally:
        reader.close()
