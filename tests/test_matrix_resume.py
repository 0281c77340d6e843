"""A ``migrate copy archive:A matrix://…`` killed with SIGKILL in the middle, then run
again: every message, attachment and reaction is in the room exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from test_matrix_appservice import as_bot, endpoint

from connectors.matrix.content import SOURCE_KEY
from connectors.matrix.target import alias_localpart
from migrate.archive import ArchiveWriter
from migrate.model import (
    Blob,
    ChatMessage,
    Content,
    Conversation,
    ConversationKind,
    Identity,
    Reaction,
    Workspace,
)

PEOPLE = [Identity(f"aad:{n:08d}-0000-4000-8000-000000000000", f"Agent {n}") for n in range(4)]
T0 = datetime(2023, 6, 1, 8, 0, tzinfo=UTC)
CHANNEL = Conversation("19:long@thread.tacv2", ConversationKind.CHANNEL, "Historique", None,
                       tuple(PEOPLE), Workspace("team-long", "Archives"), T0)
COUNT = 120
PDF = Blob(Content.from_bytes(b"%PDF-1.4 " + bytes(range(256)) * 4), "note.pdf",
           "application/pdf")


def messages() -> list[ChatMessage]:
    out = []
    for n in range(COUNT):
        root = None if n % 4 == 0 else str(n - n % 4)
        out.append(ChatMessage(
            str(n), CHANNEL.source_id, PEOPLE[n % 4], T0 + timedelta(minutes=n),
            f"<p>message {n}</p>", thread_root_id=root, reply_to_id=root,
            reactions=(Reaction(PEOPLE[(n + 1) % 4], "like", T0 + timedelta(minutes=n, seconds=5)),)
            if n % 3 == 0 else (),
            attachments=(PDF.ref,) if n % 10 == 0 else ()))
    return out


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "archive"
    with ArchiveWriter.open(path, source="teams://mairie/team-long") as writer:
        writer.put_blob(PDF)
        writer.prepare_conversation(CHANNEL)
        for message in messages():
            writer.post(CHANNEL, message)
        writer.commit()
    return path


@pytest.fixture
def people_csv(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("source_id,upn,display_name,email,target_account\n", encoding="utf-8")
    return path


def parts(synapse) -> Counter:
    """(source id, part) → how many events of the room carry it."""
    alias = f"#{alias_localpart('migrate', 'room', CHANNEL.source_id)}:localhost"
    try:
        room = as_bot(synapse, "/_matrix/client/v3/directory/room/"
                               f"{urllib.parse.quote(alias)}")["room_id"]
    except OSError:  # not created yet
        return Counter()
    found: Counter = Counter()
    token = None
    while True:
        query = {"dir": "f", "limit": "500", **({"from": token} if token else {})}
        try:
            page = as_bot(synapse, "/_matrix/client/v3/rooms/"
                                   f"{urllib.parse.quote(room)}/messages", **query)
        except OSError:  # the room is being created
            return Counter()
        for event in page["chunk"]:
            marker = event.get("content", {}).get(SOURCE_KEY)
            if marker:
                found[(marker["id"], marker["part"])] += 1
            if event.get("type") == "m.room.redaction":
                found[("redaction", event["event_id"])] += 1
        token = page.get("end")
        if not token or not page["chunk"]:
            return found


@pytest.mark.slow
def test_sigkill_mid_import_then_rerun(synapse, archive, people_csv, tmp_path) -> None:
    state = tmp_path / "state.db"
    command = [sys.executable, "-m", "migrate", "copy", f"archive:{archive}",
               endpoint(synapse, people_csv), "--state", str(state), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "LANG": "C.UTF-8"})
    deadline = time.monotonic() + 120
    while sum(1 for (_, part) in parts(synapse) if part == "message") < COUNT // 3:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the import did not progress"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = sum(1 for (_, part) in parts(synapse) if part == "message")
    assert written < COUNT, "killed too late: the import was already done"

    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "LANG": "C.UTF-8"})
    assert done.returncode == 0, done.stdout + done.stderr
    found = parts(synapse)
    expected = Counter()
    for message in messages():
        expected[(message.source_id, "message")] = 1
        for number in range(len(message.attachments)):
            expected[(message.source_id, f"attachment:{number}")] = 1
    assert {key: n for key, n in found.items() if not key[1].startswith("reaction:")} \
        == expected
    reactions = [key for key in found if key[1].startswith("reaction:")]
    assert len(reactions) == sum(1 for m in messages() if m.reactions)
    assert all(n == 1 for n in found.values())
