"""Leaving a homeserver: rooms people wrote through the plain client API (as Element or
Tchap do), in a space, exported with ``migrate copy matrix://…?space=… archive:A`` by an
ordinary account that joined them: every message with its author, time, thread, reply, edit
history, reactions, deletion, mentions and files; the archive validates; a rerun copies
nothing; ``verify`` matches; an encrypted room fails by its name, the others are copied."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime

import pytest
from conftest import run_cli

from migrate.archive import validate
from migrate.endpoint import parse_endpoint
from migrate.model import ChatMessage, Conversation
from migrate.registry import connector_for

PASSWORD = "mot-de-passe"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
PDF = b"%PDF-1.4\n" + b"compte rendu du conseil municipal\n" * 300


def _time(event: dict) -> datetime:
    return datetime.fromtimestamp(event["origin_server_ts"] / 1000, UTC)


class Community:
    """What the people wrote (event ids and the events as Synapse serves them)."""

    def __init__(self, synapse) -> None:
        self.synapse = synapse
        self.tokens: dict[str, str] = {}
        for localpart, name in (("alice", "Alice Martin"), ("bob", "Bob Durand"),
                                ("exporter", "Export")):
            synapse.register_user(localpart, PASSWORD)
            token = synapse.login(localpart, PASSWORD)
            user = f"@{localpart}:localhost"
            synapse.request("PUT", f"/_matrix/client/v3/profile/{urllib.parse.quote(user)}"
                                   "/displayname", {"displayname": name}, token=token)
            self.tokens[localpart] = token
        self.ids: dict[str, str] = {}

    def room(self, alias: str, name: str, **extra) -> str:
        room = self.synapse.request("POST", "/_matrix/client/v3/createRoom", {
            "name": name, "room_alias_name": alias, "preset": "public_chat", **extra},
            token=self.tokens["alice"])["room_id"]
        for who in ("bob", "exporter"):
            self.synapse.request("POST", f"/_matrix/client/v3/join/{urllib.parse.quote(room)}",
                                 {}, token=self.tokens[who])
        return room

    def send(self, who: str, room: str, content: dict, kind: str = "m.room.message") -> str:
        return self.synapse.send(room, kind, content, self.tokens[who])


@pytest.fixture(scope="module")
def community(synapse) -> Community:
    c = Community(synapse)
    space = c.room("mairie", "Mairie", creation_content={"type": "m.space"})
    general = c.room("general", "Général", topic="Tout le monde")
    projects = c.room("projets", "Projets")
    secret = c.room("confidentiel", "Confidentiel", initial_state=[{
        "type": "m.room.encryption", "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    for child in (general, projects, secret):
        c.synapse.request("PUT", f"/_matrix/client/v3/rooms/{urllib.parse.quote(space)}/state"
                                 f"/m.space.child/{urllib.parse.quote(child)}",
                          {"via": ["localhost"]}, token=c.tokens["alice"])
    c.ids.update(space=space, general=general, projects=projects, secret=secret)
    ids = c.ids
    ids["hello"] = c.send("alice", general, {
        "msgtype": "m.text", "body": "Bonjour Bob Durand", "format": "org.matrix.custom.html",
        "formatted_body": 'Bonjour <a href="https://matrix.to/#/@bob:localhost">Bob</a>',
        "m.mentions": {"user_ids": ["@bob:localhost"]}})
    ids["reply"] = c.send("bob", general, {
        "msgtype": "m.text", "body": "Salut !",
        "m.relates_to": {"m.in_reply_to": {"event_id": ids["hello"]}}})
    ids["thread"] = c.send("alice", general, {
        "msgtype": "m.text", "body": "Dans le fil",
        "m.relates_to": {"rel_type": "m.thread", "event_id": ids["hello"],
                         "is_falling_back": True,
                         "m.in_reply_to": {"event_id": ids["hello"]}}})
    ids["agenda"] = c.send("alice", general, {"msgtype": "m.text", "body": "Ordre du jour v1"})
    for version in ("v2", "v3"):
        ids[f"edit-{version}"] = c.send("alice", general, {
            "msgtype": "m.text", "body": f"* Ordre du jour {version}",
            "m.new_content": {"msgtype": "m.text", "body": f"Ordre du jour {version}"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": ids["agenda"]}})
    for who, key in (("bob", "👍"), ("alice", "🎉"), ("bob", "❤️")):
        ids[f"reaction-{key}"] = c.send(who, general, {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": ids["hello"], "key": key}}, "m.reaction")
    c.synapse.redact(general, ids["reaction-❤️"], c.tokens["bob"])
    ids["oops"] = c.send("bob", general, {"msgtype": "m.text", "body": "oups, pas ici"})
    c.synapse.redact(general, ids["oops"], c.tokens["bob"])
    png = c.synapse.upload(PNG, "image/png", "plan.png", c.tokens["alice"])
    ids["image"] = c.send("alice", general, {
        "msgtype": "m.image", "body": "plan.png", "url": png,
        "info": {"mimetype": "image/png", "size": len(PNG)}})
    pdf = c.synapse.upload(PDF, "application/pdf", "cr.pdf", c.tokens["bob"])
    ids["file"] = c.send("bob", general, {
        "msgtype": "m.file", "body": "Le compte rendu", "filename": "cr.pdf", "url": pdf,
        "info": {"mimetype": "application/pdf", "size": len(PDF)}})
    ids["notice"] = c.send("bob", projects, {"msgtype": "m.notice", "body": "Rappel : réunion"})
    return c


@pytest.fixture(scope="module")
def config(synapse, community, tmp_path_factory):
    directory = tmp_path_factory.mktemp("native")
    url = (f"matrix://exporter@127.0.0.1:{synapse.port}?tls=off&server_name=localhost"
           "&space=%23mairie:localhost")
    path = directory / "migrate.toml"
    rooms = url.replace("space=%23mairie:localhost",
                        "rooms=%23general:localhost,%23projets:localhost")
    path.write_text(f'[endpoints.mairie]\nurl = "{url}"\npassword_env = "MATRIX_PASSWORD"\n'
                    f'[endpoints.readable]\nurl = "{rooms}"\npassword_env = "MATRIX_PASSWORD"\n',
                    encoding="utf-8")
    return path


ENV = {"MATRIX_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def exported(config):
    archive = config.with_name("archive")
    state = config.with_name("state.db")
    done = run_cli("--config", str(config), "copy", "mairie", f"archive:{archive}",
                   "--state", str(state), env=ENV)
    return archive, state, done


def read_archive(archive) -> dict[str, tuple[Conversation, dict[str, ChatMessage]]]:
    """Conversation name → (conversation, event id → message), through the connector."""
    reader = connector_for(parse_endpoint(f"archive:{archive}")).open_source()
    try:
        return {c.name: (c, {m.source_id: m for m in reader.chat_messages(c)})
                for c in reader.conversations()}
    finally:
        reader.close()


def test_the_encrypted_room_fails_by_name_the_others_are_copied(exported) -> None:
    archive, _state, done = exported
    assert done.returncode == 1, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "Confidentiel" in output and "end-to-end encrypted" in output
    rooms = read_archive(archive)
    assert set(rooms) == {"Général", "Projets", "Confidentiel"}  # its state is known
    assert rooms["Confidentiel"][1] == {} and len(rooms["Général"][1]) == 7


def test_every_message_with_its_author_and_time(synapse, community, exported) -> None:
    conversation, messages = read_archive(exported[0])["Général"]
    ids, token = community.ids, community.tokens["exporter"]
    assert conversation.source_id == ids["general"]
    assert conversation.topic == "Tout le monde"
    assert conversation.created is not None and conversation.created <= messages[
        ids["hello"]].created
    assert conversation.workspace is not None and conversation.workspace.name == "Mairie"
    assert {m.source_id for m in conversation.members} >= {"@alice:localhost",
                                                           "@bob:localhost"}
    wanted = ["hello", "reply", "thread", "agenda", "oops", "image", "file"]
    assert list(messages) == [ids[name] for name in wanted]  # edits are no messages
    for name in wanted:
        event = synapse.event(ids["general"], ids[name], token)
        message = messages[ids[name]]
        assert message.author is not None and message.author.source_id == event["sender"]
        assert message.created == _time(event)
        assert message.raw is not None and ids[name] in message.raw
    hello = messages[ids["hello"]]
    assert hello.author.display_name == "Alice Martin"
    assert hello.body_text == "Bonjour Bob Durand" and "matrix.to" in hello.body_html
    assert [m.source_id for m in hello.mentions] == ["@bob:localhost"]


def test_threads_replies_edits_reactions_deletions(synapse, community, exported) -> None:
    _conversation, messages = read_archive(exported[0])["Général"]
    ids, token = community.ids, community.tokens["exporter"]
    assert messages[ids["reply"]].reply_to_id == ids["hello"]
    thread = messages[ids["thread"]]
    assert thread.thread_root_id == ids["hello"] and thread.reply_to_id is None
    agenda = messages[ids["agenda"]]
    assert agenda.body_text == "Ordre du jour v3"
    assert [e.body_text for e in agenda.edits] == ["Ordre du jour v1", "Ordre du jour v2"]
    v2, v3 = (synapse.event(ids["general"], ids[f"edit-{v}"], token) for v in ("v2", "v3"))
    assert [e.edited for e in agenda.edits] == [agenda.created, _time(v2)]
    assert agenda.edited == _time(v3)
    reactions = {(r.author.source_id, r.key) for r in messages[ids["hello"]].reactions}
    assert reactions == {("@bob:localhost", "👍"), ("@alice:localhost", "🎉")}
    oops = messages[ids["oops"]]
    redaction = synapse.event(ids["general"], ids["oops"], token)["unsigned"]
    assert oops.deleted == _time(redaction["redacted_because"])
    assert oops.body_text is None and oops.body_html is None


def test_files_are_archived_with_their_sha256(exported) -> None:
    archive = exported[0]
    _conversation, messages = read_archive(archive)["Général"]
    image = next(m for m in messages.values() if m.attachments
                 and m.attachments[0].media_type == "image/png")
    (ref,) = image.attachments
    assert (ref.sha256, ref.size, ref.name) == (hashlib.sha256(PNG).hexdigest(), len(PNG),
                                                "plan.png")
    pdf = next(m for m in messages.values() if m.attachments and m is not image)
    assert pdf.body_text == "Le compte rendu"
    assert pdf.attachments[0].name == "cr.pdf"
    for data in (PNG, PDF):
        sha = hashlib.sha256(data).hexdigest()
        assert (archive / "data" / "blobs" / "sha256" / sha[:2] / sha).read_bytes() == data


def test_the_notice_room_and_the_archive_validates(community, exported) -> None:
    archive = exported[0]
    _conversation, messages = read_archive(archive)["Projets"]
    (notice,) = messages.values()
    assert notice.body_text == "Rappel : réunion"
    assert notice.author.display_name == "Bob Durand"
    assert validate(archive).ok
    done = run_cli("archive", "validate", str(archive))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_rerun_copies_nothing_and_verify_matches(config, exported) -> None:
    archive, state, _done = exported
    lines = sorted((p, p.read_bytes()) for p in (archive / "data").rglob("*.jsonl"))
    again = run_cli("--config", str(config), "copy", "mairie", f"archive:{archive}",
                    "--state", str(state), env=ENV)
    assert again.returncode == 1  # the encrypted room still fails
    assert sorted((p, p.read_bytes()) for p in (archive / "data").rglob("*.jsonl")) == lines
    done = run_cli("--config", str(config), "verify", "readable", f"archive:{archive}",
                   env=ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Chat: 8 of 8 messages match." in done.stdout, done.stdout + done.stderr


def test_verify_of_the_space_names_the_encrypted_room(config, exported) -> None:
    done = run_cli("--config", str(config), "verify", "mairie", f"archive:{exported[0]}",
                   env=ENV)
    # the encrypted room is named with why it cannot be compared; the others are compared
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if "Confidentiel" in x)
    assert "cannot be read" in line and "end-to-end encrypted" in line
    assert "Chat: 8 of 8 messages match." in done.stdout


def test_the_appservice_bot_reads_a_room_it_joined(synapse, community, exported,
                                                   tmp_path) -> None:
    """Appservice mode (a self-hosted Synapse): the bot joins the room (invited by its
    creator) and the same messages come out, with the same authors, times and files."""
    bot = f"@{synapse.registration.sender_localpart}:localhost"
    general = community.ids["general"]
    synapse.request("POST", f"/_matrix/client/v3/join/{urllib.parse.quote(general)}"
                            f"?user_id={urllib.parse.quote(bot)}", {},
                    token=synapse.registration.as_token)
    query = urllib.parse.urlencode({"tls": "off", "server_name": "localhost",
                                    "registration": str(synapse.registration_path),
                                    "rooms": "#general:localhost"})
    archive = tmp_path / "appservice"
    done = run_cli("copy", f"matrix://127.0.0.1:{synapse.port}?{query}", f"archive:{archive}",
                   "--state", str(tmp_path / "state.db"), "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    (_conversation, messages), = read_archive(archive).values()
    _conversation, by_bot = read_archive(exported[0])["Général"]
    assert messages == by_bot


def test_rooms_joined_reads_every_room_of_the_account_but_spaces(synapse, community,
                                                                 exported, config) -> None:
    path = config.with_name("joined.toml")
    path.write_text(f'[endpoints.all]\nurl = "matrix://exporter@127.0.0.1:{synapse.port}'
                    '?tls=off&server_name=localhost&rooms=joined"\n'
                    'password_env = "MATRIX_PASSWORD"\n', encoding="utf-8")
    archive = config.with_name("joined")
    run_cli("--config", str(path), "copy", "all", f"archive:{archive}",
            "--state", str(config.with_name("joined.db")), env=ENV)
    rooms = read_archive(archive)
    assert {"Général", "Projets", "Confidentiel"} <= set(rooms)
    assert "Mairie" not in rooms  # a space holds no messages: its rooms are read
    assert rooms["Général"][1] == read_archive(exported[0])["Général"][1]


def test_reading_people_s_rooms_keeps_authors_times_and_the_event_as_record() -> None:
    """A bot account writes everything itself, but the rooms people wrote hold their own
    authors, times and reactions, and each Matrix event is the message's record."""
    from migrate.connector import Feature

    def keeps(url: str) -> frozenset:
        return connector_for(parse_endpoint(url)).capabilities.source_keeps

    native = keeps("matrix://exporter@example.org?space=%23mairie:example.org")
    assert {Feature.AUTHORS, Feature.TIMESTAMPS, Feature.REACTIONS, Feature.THREADS,
            Feature.EDITS, Feature.ATTACHMENTS, Feature.SOURCE_RECORD} <= native
    assert Feature.AUTHORS not in keeps("matrix://exporter@example.org")
    assert Feature.SOURCE_RECORD not in keeps("matrix://example.org?registration=r.yaml")


def test_an_unknown_alias_is_a_clear_error(synapse, config) -> None:
    path = config.with_name("unknown.toml")
    path.write_text(f'[endpoints.x]\nurl = "matrix://exporter@127.0.0.1:{synapse.port}'
                    '?tls=off&server_name=localhost&rooms=%23nulle-part:localhost"\n'
                    'password_env = "MATRIX_PASSWORD"\n', encoding="utf-8")
    done = run_cli("--config", str(path), "copy", "x", f"archive:{config.with_name('none')}",
                   "--state", str(config.with_name("none.db")), env=ENV)
    assert done.returncode != 0
    assert "no room is known by the alias #nulle-part:localhost" in done.stderr


def test_a_room_selection_that_is_no_room_is_refused() -> None:
    from connectors.matrix.settings import MatrixSettings
    from migrate.errors import ConfigError

    with pytest.raises(ConfigError, match="neither a room id"):
        MatrixSettings.from_endpoint(parse_endpoint("matrix://a@example.org?rooms=general"))


def test_a_file_the_media_repository_lacks_fails_its_message_alone(synapse, community,
                                                                   config) -> None:
    """One bad file never stops the room: its message is reported failed (with the file's
    mxc URI), the messages around it are copied."""
    room = community.room("casse", "Cassé")
    community.send("alice", room, {"msgtype": "m.text", "body": "avant"})
    lost = community.send("alice", room, {
        "msgtype": "m.file", "body": "perdu.pdf", "url": "mxc://localhost/absent0000",
        "info": {"mimetype": "application/pdf", "size": 10}})
    community.send("alice", room, {"msgtype": "m.text", "body": "après"})
    url = (f"matrix://exporter@127.0.0.1:{synapse.port}?tls=off&server_name=localhost"
           "&rooms=%23casse:localhost")
    archive = config.with_name("broken")
    broken = config.with_name("broken.toml")
    broken.write_text(f'[endpoints.casse]\nurl = "{url}"\npassword_env = "MATRIX_PASSWORD"\n',
                      encoding="utf-8")
    done = run_cli("--config", str(broken), "copy", "casse", f"archive:{archive}",
                   "--state", str(config.with_name("broken.db")), env=ENV)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "mxc://localhost/absent0000" in done.stdout + done.stderr
    (_conversation, messages), = read_archive(archive).values()
    assert [m.body_text for m in messages.values()] == ["avant", "après"]
    assert lost not in messages


COUNT = 120


@pytest.mark.slow
def test_sigkill_mid_export_then_rerun(synapse, community, config) -> None:
    """An export killed with SIGKILL in the middle, then run again: every message of the
    room once in the archive, each with its file."""
    room = community.room("gros", "Gros salon")
    sent = []
    for number in range(COUNT):
        data = f"pièce {number}\n".encode() * 2000
        mxc = synapse.upload(data, "text/plain", f"p{number}.txt", community.tokens["bob"])
        sent.append(community.send("bob", room, {
            "msgtype": "m.file", "body": f"p{number}.txt", "url": mxc,
            "info": {"mimetype": "text/plain", "size": len(data)}}))
    path = config.with_name("big.toml")
    path.write_text(f'[endpoints.gros]\nurl = "matrix://exporter@127.0.0.1:{synapse.port}'
                    '?tls=off&server_name=localhost&rooms=%23gros:localhost"\n'
                    'password_env = "MATRIX_PASSWORD"\n', encoding="utf-8")
    archive, state = config.with_name("big"), config.with_name("big.db")
    command = [sys.executable, "-m", "migrate", "--config", str(path), "copy", "gros",
               f"archive:{archive}", "--state", str(state), "-q"]
    environment = {**os.environ, "LANG": "C.UTF-8", **ENV}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment)

    def lines() -> int:
        return sum(len(p.read_bytes().splitlines())
                   for p in (archive / "data").rglob("messages.jsonl")) \
            if (archive / "data").exists() else 0

    deadline = time.monotonic() + 120
    while lines() < COUNT // 3:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the export did not progress"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert lines() < COUNT, "killed too late: the export was already done"
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [json.loads(line)["source_id"] for p in (archive / "data").rglob("messages.jsonl")
           for line in p.read_bytes().splitlines()]
    assert sorted(ids) == sorted(sent)  # each once, none missing
    (_conversation, messages), = read_archive(archive).values()
    for number, event_id in enumerate(sent):
        (ref,) = messages[event_id].attachments
        data = f"pièce {number}\n".encode() * 2000
        assert ref.sha256 == hashlib.sha256(data).hexdigest()
        blob = archive / "data" / "blobs" / "sha256" / ref.sha256[:2] / ref.sha256
        assert blob.read_bytes() == data
    assert validate(archive).ok
