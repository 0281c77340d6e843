"""The appservice registration: the first ``copy … matrix://…`` writes it for the admin and
stops; a newly mapped account updates it (same tokens); once installed, the copy goes on."""

from __future__ import annotations

import json
import stat
import urllib.parse
from datetime import UTC, datetime

import pytest
from conftest import run_cli

from connectors.matrix.people import escape_localpart, puppet_id, read_mapping, source_of_puppet
from connectors.matrix.registration import read_registration
from migrate.archive import ArchiveWriter
from migrate.errors import ConfigError
from migrate.model import ChatMessage, Conversation, ConversationKind, Identity

ALICE = Identity("aad:a1111111-0000-4000-8000-000000000001", "Alice Martin")
CHAT = Conversation("19:a_b@unq.gbl.spaces", ConversationKind.DIRECT_CHAT, None, None, (ALICE,))


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "archive"
    with ArchiveWriter.open(path) as writer:
        writer.prepare_conversation(CHAT)
        writer.post(CHAT, ChatMessage("1", CHAT.source_id, ALICE,
                                      datetime(2024, 1, 2, tzinfo=UTC), None, "bonjour"))
        writer.commit()
    return path


def mapping(path, rows: dict[str, str]):
    path.write_text("source_id,upn,display_name,email,target_account\n" + "".join(
        f"{source},,,,{account}\n" for source, account in rows.items()), encoding="utf-8")
    return path


def copy(archive, registration, people) -> object:
    query = urllib.parse.urlencode({"tls": "off", "server_name": "mairie.example",
                                    "registration": str(registration),
                                    "people": str(people)})
    return run_cli("copy", f"archive:{archive}", f"matrix://127.0.0.1:1?{query}",
                   "--state", str(archive.parent / "state.db"), "-q")


def test_first_run_writes_the_registration_and_stops(archive, tmp_path) -> None:
    registration = tmp_path / "appservice.yaml"
    people = mapping(tmp_path / "people.csv", {ALICE.source_id: "@alice:mairie.example"})
    done = copy(archive, registration, people)
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(registration) in done.stdout + done.stderr
    assert stat.S_IMODE(registration.stat().st_mode) == 0o600  # it holds tokens
    document = json.loads(registration.read_text())
    assert document["url"] is None and document["rate_limited"] is False
    users = {entry["regex"]: entry["exclusive"] for entry in document["namespaces"]["users"]}
    assert users == {r"@migrate_.*:mairie\.example": True, r"@alice:mairie\.example": False}
    first = read_registration(registration)

    people = mapping(people, {ALICE.source_id: "@alice:mairie.example",
                              "aad:b2": "@bob:mairie.example"})
    done = copy(archive, registration, people)
    assert done.returncode == 2, done.stdout + done.stderr
    second = read_registration(registration)
    assert second.as_token == first.as_token and second.hs_token == first.hs_token
    assert second.accounts == {"@alice:mairie.example", "@bob:mairie.example"}

    done = copy(archive, registration, people)  # installed: goes on to the homeserver
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot reach the homeserver" in done.stdout + done.stderr
    assert first.as_token not in done.stdout + done.stderr


def test_mapping_sheet_is_checked(tmp_path) -> None:
    bad = mapping(tmp_path / "people.csv", {ALICE.source_id: "alice@mairie.example"})
    with pytest.raises(ConfigError, match=r"row 2: target_account 'alice@mairie\.example'"):
        read_mapping(bad)
    (tmp_path / "other.csv").write_text("id,name\n1,x\n")
    with pytest.raises(ConfigError, match="lacks the column"):
        read_mapping(tmp_path / "other.csv")


def test_puppet_ids_are_valid_and_reversible() -> None:
    for source in (ALICE.source_id, "8:orgid:Élu@Mairie", "a b/c=d"):
        user_id = puppet_id(source, "migrate", "mairie.example")
        localpart = user_id[1:].split(":", 1)[0]
        assert set(localpart) <= set("abcdefghijklmnopqrstuvwxyz0123456789._=-/")
        assert source_of_puppet(user_id, "migrate") == source
    assert escape_localpart("aad:A") == "aad=3a=41"


def test_times_without_offset_are_utc() -> None:
    from connectors.matrix.content import signed
    from connectors.matrix.target import millis

    naive, aware = datetime(2024, 3, 1, 10, 0), datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert millis(naive) == millis(aware) == 1709287200000
    content = signed({"body": "x"}, "Bob", naive)
    assert content["body"] == "Bob · 2024-03-01 10:00 UTC\nx"
