"""Changes carried to Matrix: the archive gets a new version of messages already imported
(edited, a reaction withdrawn and another given, deleted); the next ``copy`` sends an
``m.replace``, redacts the withdrawn reaction, adds the new one, redacts the deleted
message, each once; ``verify`` then matches the current versions."""

from __future__ import annotations

import urllib.parse
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from conftest import run_cli
from test_matrix_appservice import as_bot, by_part

from connectors.matrix.people import puppet_id
from connectors.matrix.target import alias_localpart
from migrate.archive import ArchiveWriter
from migrate.model import ChatMessage, Conversation, ConversationKind, Identity, Reaction

ALICE = Identity("aad:a1", "Alice Martin")
BOB = Identity("aad:b2", "Bob Durand")
CHLOE = Identity("aad:c3", "Chloé")
T0 = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
CHAT = Conversation("19:elus@thread.v2", ConversationKind.GROUP_CHAT, "Élus", None,
                    (ALICE, BOB, CHLOE))
FIRST = ChatMessage("1", CHAT.source_id, ALICE, T0, "<p>Conseil à 18 h</p>",
                    reactions=(Reaction(BOB, "like", T0 + timedelta(minutes=1)),))
SECOND = ChatMessage("2", CHAT.source_id, BOB, T0 + timedelta(minutes=2), "<p>Noté</p>")
EDITED = replace(FIRST, body_html="<p>Conseil à 19 h</p>", edited=T0 + timedelta(hours=1),
                 reactions=(Reaction(CHLOE, "heart", T0 + timedelta(hours=2)),))
DELETED = replace(SECOND, body_html="", deleted=T0 + timedelta(hours=3))


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "archive"
    with ArchiveWriter.open(path) as writer:
        writer.prepare_conversation(CHAT)
        writer.post(CHAT, FIRST)
        writer.post(CHAT, SECOND)
        writer.commit()
    return path


def endpoint(synapse) -> str:
    query = urllib.parse.urlencode({"tls": "off", "server_name": "localhost",
                                    "registration": str(synapse.registration_path)})
    return f"matrix://127.0.0.1:{synapse.port}?{query}"


def events(synapse) -> list[dict]:
    alias = f"#{alias_localpart('migrate', 'room', CHAT.source_id)}:localhost"
    room = as_bot(synapse, f"/_matrix/client/v3/directory/room/{urllib.parse.quote(alias)}")
    return as_bot(synapse, f"/_matrix/client/v3/rooms/{urllib.parse.quote(room['room_id'])}"
                           "/messages", dir="f", limit="1000")["chunk"]


def test_changes_are_carried_once(synapse, archive, tmp_path) -> None:
    state = tmp_path / "state.db"

    def copy() -> None:
        done = run_cli("copy", f"archive:{archive}", endpoint(synapse), "--state", str(state),
                       "-q")
        assert done.returncode == 0, done.stdout + done.stderr
    copy()
    with ArchiveWriter.open(archive) as writer:  # the archive's next version of both
        writer.prepare_conversation(CHAT)
        writer.update(CHAT, EDITED)
        writer.update(CHAT, DELETED)
        writer.commit()
    copy()
    found = events(synapse)
    parts = by_part(found)
    edit = [e for e in found if e["content"].get("m.relates_to", {}).get("rel_type")
            == "m.replace"]
    assert len(edit) == 1 and edit[0]["content"]["m.new_content"]["body"] == "Conseil à 19 h"
    assert edit[0]["origin_server_ts"] == int(EDITED.edited.timestamp() * 1000)
    live = [e for e in found if e["type"] == "m.reaction" and e["content"]]
    chloe = puppet_id(CHLOE.source_id, "migrate", "localhost")
    assert [(e["sender"], e["content"]["m.relates_to"]["key"]) for e in live] == \
        [(chloe, "❤️")]
    withdrawn = [e for e in found if e["type"] == "m.reaction" and not e["content"]]
    assert len(withdrawn) == 1  # Bob's 👍, redacted
    assert parts[("2", "redaction")]["origin_server_ts"] == \
        int(DELETED.deleted.timestamp() * 1000)

    count = len(found)
    copy()  # nothing changed since: nothing sent
    assert len(events(synapse)) == count
    done = run_cli("verify", f"archive:{archive}", endpoint(synapse))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Chat: 2 of 2 messages match." in done.stdout
