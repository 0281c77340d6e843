"""Bot-account mode: ``migrate copy archive:A matrix://migration@HOST`` with an ordinary
account of a real Synapse (as on Tchap, where no appservice can be installed): every
message is there once, posted by the migration account, its author and original time
written first; threads, files, edits and deletions kept; a rerun sends nothing; ``verify``
matches what this mode keeps and names what it cannot."""

from __future__ import annotations

import urllib.parse
from collections import Counter
from datetime import UTC, datetime

import pytest
from conftest import run_cli
from test_matrix_appservice import (
    ALICE,
    ALICE_ACCOUNT,
    GENERAL,
    PROJECTS,
    archive,  # noqa: F401  (the same Teams-shaped archive)
    by_part,
    general_messages,
    project_messages,
)

from connectors.matrix.session import BOT_PREFIX
from connectors.matrix.target import alias_localpart
from migrate.archive import ArchiveWriter
from migrate.model import ChatMessage, Conversation, ConversationKind

BOT = "@migration:localhost"


@pytest.fixture(scope="module")
def accounts(synapse):
    synapse.register_user("migration", "mot-de-passe-migration")
    synapse.register_user("alice.martin", "mot-de-passe")
    return synapse.login("migration", "mot-de-passe-migration")


@pytest.fixture(scope="module")
def config(synapse, tmp_path_factory):
    directory = tmp_path_factory.mktemp("bot")
    people = directory / "people.csv"
    people.write_text("source_id,upn,display_name,email,target_account\n"
                      f"{ALICE.source_id},,Alice Martin,,{ALICE_ACCOUNT}\n", encoding="utf-8")
    url = (f"matrix://migration@127.0.0.1:{synapse.port}?tls=off&server_name=localhost"
           f"&people={urllib.parse.quote(str(people))}")
    path = directory / "migrate.toml"
    path.write_text(f'[endpoints.tchap]\nurl = "{url}"\npassword_env = "MATRIX_PASSWORD"\n\n'
                    f'[endpoints.tchap-token]\nurl = "{url}"\ntoken_env = "MATRIX_TOKEN"\n',
                    encoding="utf-8")
    return path


def events(synapse, token: str, conversation) -> list[dict]:
    alias = f"#{alias_localpart(BOT_PREFIX, 'room', conversation.source_id)}:localhost"
    room = synapse.request("GET", "/_matrix/client/v3/directory/room/"
                                  f"{urllib.parse.quote(alias)}", token=token)["room_id"]
    return synapse.request("GET", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}"
                                  "/messages?dir=f&limit=1000", token=token)["chunk"]


@pytest.fixture(scope="module")
def copied(synapse, accounts, config, archive):  # noqa: F811
    state = config.with_name("state.db")
    done = run_cli("--config", str(config), "copy", f"archive:{archive}", "tchap",
                   "--state", str(state), "-q", env={"MATRIX_PASSWORD": "mot-de-passe-migration"})
    assert done.returncode == 0, done.stdout + done.stderr
    return state


def test_every_message_posted_once_with_author_and_time_written(synapse, accounts,
                                                                copied) -> None:
    found = by_part(events(synapse, accounts, GENERAL))
    for message in general_messages():
        if message.deleted is not None:
            assert found[(message.source_id, "redaction")]["sender"] == BOT
            continue
        event = found[(message.source_id, "message")]
        assert event["sender"] == BOT
        author = message.author.display_name if message.author else "—"
        stamp = message.created.strftime("%Y-%m-%d %H:%M UTC")
        assert event["content"]["body"].startswith(f"{author} · {stamp}\n")
    root = found[("1001", "message")]["event_id"]
    assert found[("1102", "message")]["content"]["m.relates_to"]["event_id"] == root
    assert found[("1102", "attachment:0")]["content"]["msgtype"] == "m.image"
    reactions = Counter(e["content"]["m.relates_to"]["key"] for e in found.values()
                        if e["type"] == "m.reaction")
    assert reactions == Counter({"👍": 1, "❤️": 1})
    projects = by_part(events(synapse, accounts, PROJECTS))
    assert {key[0] for key in projects if key[1] == "message"} == \
        {m.source_id for m in project_messages()}
    state = {(e["type"], e.get("state_key")): e for e in events(synapse, accounts, GENERAL)
             if "state_key" in e}
    assert state[("m.room.member", ALICE_ACCOUNT)]["content"]["membership"] == "invite"


def test_rerun_with_a_token_sends_nothing(synapse, accounts, config, archive,  # noqa: F811
                                          copied) -> None:
    before = [len(events(synapse, accounts, c)) for c in (GENERAL, PROJECTS)]
    done = run_cli("--config", str(config), "copy", f"archive:{archive}", "tchap-token",
                   "--state", str(copied), "-q", env={"MATRIX_TOKEN": accounts})
    assert done.returncode == 0, done.stdout + done.stderr
    assert [len(events(synapse, accounts, c)) for c in (GENERAL, PROJECTS)] == before


def test_verify_in_bot_mode(synapse, accounts, config, archive, copied) -> None:  # noqa: F811
    done = run_cli("--config", str(config), "verify", f"archive:{archive}", "tchap-token",
                   env={"MATRIX_TOKEN": accounts})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Chat: 12 of 12 messages match." in done.stdout
    # what a bot account cannot hold is named, with the reason, not counted as lost
    named = done.stdout.split("cannot hold (named, not counted as lost):", 1)[1]
    for feature in ("original authors", "original times", "reactions", "the source's own"):
        assert f"\n    {feature}" in named, done.stdout


def test_plan_names_what_bot_mode_cannot_keep(synapse, accounts, config,
                                              archive) -> None:  # noqa: F811
    done = run_cli("--config", str(config), "--lang", "fr", "plan", f"archive:{archive}",
                   "tchap-token", "--state", str(config.with_name("plan.db")),
                   env={"MATRIX_TOKEN": accounts})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "l'auteur est écrit en tête du texte" in done.stdout
    assert "l'heure d'origine est écrite en tête du texte" in done.stdout


def test_a_refused_room_fails_its_messages_not_the_run(synapse, accounts, config,
                                                       tmp_path) -> None:
    """Someone else already holds the alias of one conversation's room (the account is not
    in it): that conversation's messages fail, named; the other conversation is copied."""
    taken = Conversation("19:prise@thread.v2", ConversationKind.GROUP_CHAT, "Prise", None)
    free = Conversation("19:libre@thread.v2", ConversationKind.GROUP_CHAT, "Libre", None)
    alice = synapse.login("alice.martin", "mot-de-passe")
    synapse.request("POST", "/_matrix/client/v3/createRoom",
                    {"room_alias_name": alias_localpart(BOT_PREFIX, "room", taken.source_id)},
                    token=alice)
    path = tmp_path / "archive"
    with ArchiveWriter.open(path) as writer:
        for conversation in (taken, free):
            writer.prepare_conversation(conversation)
            writer.post(conversation, ChatMessage(f"{conversation.name}-1",
                                                  conversation.source_id, ALICE,
                                                  datetime(2024, 6, 1, tzinfo=UTC), None,
                                                  f"dans {conversation.name}"))
        writer.commit()
    done = run_cli("--config", str(config), "copy", f"archive:{path}", "tchap-token",
                   "--state", str(tmp_path / "state.db"), "-q",
                   env={"MATRIX_TOKEN": accounts})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Prise" in done.stdout and "could not be prepared" in done.stdout
    found = by_part(events(synapse, accounts, free))
    assert ("Libre-1", "message") in found
