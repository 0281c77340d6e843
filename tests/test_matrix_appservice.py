"""Acceptance: ``migrate copy archive:A matrix://…`` (application-service mode) into a real
Synapse (tests/synapse.py), through the real CLI.

The archive holds a Teams-shaped team: two channels, a thread with replies, reactions, a
mention, an edited message with its former version, a deleted message, a system event, an
inline image and a file, three authors (one mapped to their own Matrix account, two
puppets). Every message arrives as its author at its original time, in its thread, with its
reactions, files and edits; the deletion is a redaction; a rerun sends nothing.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import run_cli

from connectors.matrix.content import SOURCE_KEY
from connectors.matrix.people import puppet_id
from connectors.matrix.target import alias_localpart
from migrate.archive import ArchiveWriter
from migrate.model import (
    Blob,
    ChatMessage,
    ChatMessageType,
    Content,
    Conversation,
    ConversationKind,
    Edit,
    Identity,
    Person,
    Reaction,
    Workspace,
)

ALICE = Identity("aad:a1111111-0000-4000-8000-000000000001", "Alice Martin",
                 "alice@mairie-exemple.fr")
BOB = Identity("aad:b2222222-0000-4000-8000-000000000002", "Bob Durand",
               "bob@mairie-exemple.fr")
CHLOE = Identity("aad:c3333333-0000-4000-8000-000000000003", "Chloé (Prestataire)")
ALICE_ACCOUNT = "@alice.martin:localhost"
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
TEAM = Workspace("team-mairie", "Mairie", "L'équipe municipale")
GENERAL = Conversation("19:general@thread.tacv2", ConversationKind.CHANNEL, "Général",
                       "Tout & rien", (ALICE, BOB), TEAM, T0 - timedelta(days=30))
PROJECTS = Conversation("19:projets@thread.tacv2", ConversationKind.CHANNEL, "Projets", None,
                        (ALICE, BOB, CHLOE), TEAM, T0 - timedelta(days=20))
PNG = Blob(Content.from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8), "image.png",
           "image/png")
PDF = Blob(Content.from_bytes(b"%PDF-1.4 budget \x00\xff" * 50), "budget 2024.pdf",
           "application/pdf")


def general_messages() -> list[ChatMessage]:
    at = '<at id="0">Bob Durand</at>'
    return [
        ChatMessage("1001", GENERAL.source_id, ALICE, T0,
                    f"<p>Bonjour {at}, voici <b>l'ordre</b> du jour</p>", subject="Ordre",
                    mentions=(BOB,), reactions=(Reaction(BOB, "like", T0 + timedelta(minutes=1)),
                                                Reaction(CHLOE, "heart",
                                                         T0 + timedelta(minutes=2))),
                    attachments=(PDF.ref,)),
        ChatMessage("1101", GENERAL.source_id, BOB, T0 + timedelta(minutes=5),
                    "<p>Merci, version corrigée</p>", thread_root_id="1001",
                    reply_to_id="1001", edited=T0 + timedelta(minutes=7),
                    edits=(Edit(T0 + timedelta(minutes=7), "<p>Merci, version</p>", None),)),
        ChatMessage("1102", GENERAL.source_id, CHLOE, T0 + timedelta(minutes=6),
                    '<p>La photo</p><img src="https://graph.microsoft.com/v1.0/x/$value">',
                    thread_root_id="1001", reply_to_id="1001", attachments=(PNG.ref,)),
        ChatMessage("1103", GENERAL.source_id, BOB, T0 + timedelta(minutes=8), "",
                    thread_root_id="1001", reply_to_id="1001",
                    deleted=T0 + timedelta(minutes=9)),
        ChatMessage("1003", GENERAL.source_id, ALICE, T0 + timedelta(hours=2), "",
                    deleted=T0 + timedelta(hours=2, minutes=30)),
        ChatMessage("1004", GENERAL.source_id, None, T0 + timedelta(hours=3),
                    message_type=ChatMessageType.SYSTEM, body_text="Bob a rejoint l'équipe"),
    ]


def project_messages() -> list[ChatMessage]:
    return [ChatMessage(str(2000 + n), PROJECTS.source_id, (ALICE, BOB, CHLOE)[n % 3],
                        T0 + timedelta(days=1, hours=n), f"<div>point {n} &amp; suite</div>")
            for n in range(6)]


@pytest.fixture(scope="module")
def synapse_accounts() -> list[str]:
    return [ALICE_ACCOUNT]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("matrix") / "archive"
    with ArchiveWriter.open(path, source="teams://mairie-exemple/team-mairie") as writer:
        writer.put_blob(PNG)
        writer.put_blob(PDF)
        for conversation, messages in ((GENERAL, general_messages()),
                                       (PROJECTS, project_messages())):
            writer.prepare_conversation(conversation)
            for message in messages:
                writer.post(conversation, message)
        writer.put_people([Person(ALICE.source_id, ALICE.display_name, "alice.martin@x.fr"),
                           Person(BOB.source_id, BOB.display_name),
                           Person(CHLOE.source_id, CHLOE.display_name, None, None, False)])
        writer.commit()
    return path


@pytest.fixture(scope="module")
def people_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mapping") / "people.csv"
    path.write_text("# filled in by the operator\n"
                    "source_id,upn,display_name,email,target_account\r\n"
                    f"{ALICE.source_id},alice.martin@x.fr,Alice Martin,,{ALICE_ACCOUNT}\r\n"
                    f"{BOB.source_id},,Bob Durand,,\r\n", encoding="utf-8")
    return path


def endpoint(synapse, people_csv: Path) -> str:
    query = urllib.parse.urlencode({"tls": "off", "server_name": "localhost",
                                    "registration": str(synapse.registration_path),
                                    "people": str(people_csv)})
    return f"matrix://127.0.0.1:{synapse.port}?{query}"


def as_bot(synapse, path: str, **query: str) -> dict:
    """A client-server GET as the appservice's bot (in every room the tool made)."""
    bot = f"@{synapse.registration.sender_localpart}:localhost"
    query = urllib.parse.urlencode({"user_id": bot, **query})
    return synapse.request("GET", f"{path}?{query}", token=synapse.registration.as_token)


def room_events(synapse, conversation: Conversation) -> list[dict]:
    alias = f"#{alias_localpart('migrate', 'room', conversation.source_id)}:localhost"
    room_id = as_bot(synapse, f"/_matrix/client/v3/directory/room/"
                              f"{urllib.parse.quote(alias)}")["room_id"]
    page = as_bot(synapse, f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/messages",
                  dir="f", limit="1000")
    return page["chunk"]


def by_part(events: list[dict]) -> dict[tuple[str, str], dict]:
    out = {}
    for event in events:
        marker = event.get("content", {}).get(SOURCE_KEY)
        if marker:
            out[(marker["id"], marker["part"])] = event
    return out


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def copied(synapse, archive, people_csv, tmp_path_factory):
    synapse.register_user("alice.martin", "mot-de-passe")
    state = tmp_path_factory.mktemp("state") / "state.db"
    done = run_cli("copy", f"archive:{archive}", endpoint(synapse, people_csv),
                   "--state", str(state), "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    return state


def test_every_message_as_its_author_at_its_time(synapse, copied) -> None:
    events = by_part(room_events(synapse, GENERAL))
    bob, chloe = (puppet_id(p.source_id, "migrate", "localhost") for p in (BOB, CHLOE))
    expected = {"1001": ALICE_ACCOUNT, "1101": bob, "1102": chloe}
    for message in general_messages():
        if message.source_id in expected:
            event = events[(message.source_id, "message")]
            assert event["sender"] == expected[message.source_id]
            assert event["origin_server_ts"] == millis(message.created)
    first = events[("1001", "message")]["content"]
    assert first["m.mentions"] == {"user_ids": [bob]}
    assert f'<a href="https://matrix.to/#/{bob}">Bob Durand</a>' in first["formatted_body"]
    system = events[("1004", "message")]
    assert system["content"]["msgtype"] == "m.notice"
    assert system["sender"] == "@migratebot:localhost"
    projects = by_part(room_events(synapse, PROJECTS))
    assert [projects[(m.source_id, "message")]["origin_server_ts"]
            for m in project_messages()] == [millis(m.created) for m in project_messages()]


def test_threads_reactions_edits_and_deletions(synapse, copied) -> None:
    events = by_part(room_events(synapse, GENERAL))
    root = events[("1001", "message")]["event_id"]
    for reply in ("1101", "1102"):
        relation = events[(reply, "message")]["content"]["m.relates_to"]
        assert relation["rel_type"] == "m.thread" and relation["event_id"] == root
    reactions = Counter((e["sender"], e["content"]["m.relates_to"]["key"],
                         e["content"]["m.relates_to"]["event_id"])
                        for e in events.values() if e["type"] == "m.reaction")
    bob, chloe = (puppet_id(p.source_id, "migrate", "localhost") for p in (BOB, CHLOE))
    assert reactions == Counter({(bob, "👍", root): 1, (chloe, "❤️", root): 1})
    edited = events[("1101", "message")]
    assert edited["content"]["body"] == "Merci, version"  # posted as first written
    edits = [e for e in events.values()
             if e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"]
    assert len(edits) == 1
    assert edits[0]["content"]["m.new_content"]["body"] == "Merci, version corrigée"
    assert edits[0]["origin_server_ts"] == millis(T0 + timedelta(minutes=7))
    deleted = events[("1003", "redaction")]
    assert deleted["type"] == "m.room.redaction"
    assert deleted["origin_server_ts"] == millis(T0 + timedelta(hours=2, minutes=30))
    gone = [e for e in room_events(synapse, GENERAL)
            if e["event_id"] == deleted["content"]["redacts"]]
    assert gone[0]["content"] == {}  # redacted: Matrix shows "message deleted" there
    assert gone[0]["origin_server_ts"] == millis(T0 + timedelta(hours=2))


def test_files_and_images_in_the_media_repository(synapse, copied) -> None:
    events = by_part(room_events(synapse, GENERAL))
    image = events[("1102", "attachment:0")]["content"]
    document = events[("1001", "attachment:0")]["content"]
    assert image["msgtype"] == "m.image" and document["msgtype"] == "m.file"
    assert document["body"] == "budget 2024.pdf"
    assert image["m.relates_to"]["rel_type"] == "m.thread"  # in the thread, like its text
    assert "<img" not in events[("1102", "message")]["content"].get("formatted_body", "")
    for content, blob in ((image, PNG), (document, PDF)):
        server, media = content["url"].removeprefix("mxc://").split("/")
        request = urllib.request.Request(
            f"{synapse.url}/_matrix/client/v1/media/download/{server}/{media}",
            headers={"Authorization": f"Bearer {synapse.registration.as_token}"})
        with urllib.request.urlopen(request) as response:
            assert hashlib.sha256(response.read()).hexdigest() == blob.content.sha256


def test_space_room_names_and_memberships_dated(synapse, copied) -> None:
    state = {(e["type"], e.get("state_key")): e for e in room_events(synapse, GENERAL)
             if "state_key" in e}
    assert state[("m.room.name", "")]["content"]["name"] == "Général"
    assert state[("m.room.topic", "")]["content"]["topic"] == "Tout & rien"
    joined = state[("m.room.member", ALICE_ACCOUNT)]
    assert joined["content"]["membership"] == "join"
    assert joined["origin_server_ts"] == millis(GENERAL.created)
    parent = [key for (kind, key) in state if kind == "m.space.parent"]
    assert len(parent) == 1
    children = as_bot(synapse, f"/_matrix/client/v1/rooms/{urllib.parse.quote(parent[0])}"
                               "/hierarchy")["rooms"]
    assert {room.get("name") for room in children} == {"Mairie", "Général", "Projets"}


def test_a_rerun_sends_nothing(synapse, archive, people_csv, copied) -> None:
    before = [len(room_events(synapse, c)) for c in (GENERAL, PROJECTS)]
    done = run_cli("copy", f"archive:{archive}", endpoint(synapse, people_csv),
                   "--state", str(copied), "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [len(room_events(synapse, c)) for c in (GENERAL, PROJECTS)] == before
    fresh = copied.with_name("fresh-state.db")  # no state at all: found in the rooms
    done = run_cli("copy", f"archive:{archive}", endpoint(synapse, people_csv),
                   "--state", str(fresh), "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [len(room_events(synapse, c)) for c in (GENERAL, PROJECTS)] == before


def test_verify_reads_the_rooms_back(synapse, archive, people_csv, copied) -> None:
    done = run_cli("verify", f"archive:{archive}", endpoint(synapse, people_csv))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Chat: 12 of 12 messages match." in done.stdout


def test_roundtrip_through_matrix(synapse, archive, people_csv, copied, tmp_path) -> None:
    """Through the rooms already there (--force): nothing is sent twice, and the archive
    made from Matrix holds the same chat."""
    before = [len(room_events(synapse, c)) for c in (GENERAL, PROJECTS)]
    done = run_cli("roundtrip", str(archive), "--via", endpoint(synapse, people_csv),
                   "--force", "--out", str(tmp_path / "back"), "--certificate",
                   str(tmp_path / "certificate"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Chat: 12 of 12 messages match." in done.stdout
    assert [len(room_events(synapse, c)) for c in (GENERAL, PROJECTS)] == before
    certificate = json.loads((tmp_path / "certificate.json").read_text("utf-8"))
    assert certificate["ok"] is True
    not_held = {entry["feature"] for entry in certificate["not_held"]}
    assert not_held == {"source-record"}  # an appservice keeps authors, times, reactions
    blobs = {p.name for p in (tmp_path / "back" / "data" / "blobs").rglob("*") if p.is_file()}
    assert blobs == {PNG.content.sha256, PDF.content.sha256}  # downloaded, checked


def test_verify_names_a_message_lost_in_matrix(synapse, archive, people_csv, copied) -> None:
    """Someone deletes a message in Matrix (a plain redaction): verify says it is missing."""
    event = by_part(room_events(synapse, PROJECTS))[("2003", "message")]
    bot = f"@{synapse.registration.sender_localpart}:localhost"
    synapse.request("PUT", f"/_matrix/client/v3/rooms/{urllib.parse.quote(event['room_id'])}"
                           f"/redact/{urllib.parse.quote(event['event_id'])}/lost1"
                           f"?user_id={urllib.parse.quote(bot)}", {},
                    token=synapse.registration.as_token)
    done = run_cli("verify", f"archive:{archive}", endpoint(synapse, people_csv))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Chat: 11 of 12 messages match." in done.stdout
    assert "point 3" in done.stdout  # the missing message is named
