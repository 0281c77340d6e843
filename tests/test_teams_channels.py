"""Teams private and shared channels (issue 7): ``migrate copy teams://… archive:A`` against
the fake Graph server, driven by the real msgraph-sdk.

Each channel keeps its visibility (Graph's membershipType) and its own members; private and
shared channels' messages are archived like any other; a shared channel another team hosts
(listed by ``allChannels`` only) is not copied, and the log says where it is archived;
``archive validate`` and ``verify`` pass; an archive without visibility (written before it
existed) still reads, validates and verifies; two sides that disagree on a channel's
visibility fail verify.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import run_cli
from fake_graph import FakeGraph
from fake_graph_teams import (
    TENANT_ID,
    FakeChannel,
    FakeTeam,
    FakeTeams,
    member,
    message,
    user,
)
from test_teams_copy import ALICE, BOB, TEAM, TOKEN, archived, config, copy

from migrate.archive import ArchiveWriter
from migrate.archive.chatjson import conversation_from_dict
from migrate.model import ChannelVisibility, Conversation, ConversationKind, Identity

GENERAL = "19:general0001@thread.tacv2"
HR = "19:rh0004@thread.tacv2"
SHARED = "19:partage0005@thread.tacv2"
INCOMING = "19:agglo0006@thread.tacv2"
HOST_TEAM = "3e3e3e3e-0000-4000-8000-00000000a001"
HOST_TENANT = "11111111-0000-4000-8000-00000000aaaa"
CLAIRE = ("c3333333-0000-4000-8000-000000000003", "Claire Petit", "claire@mairie-exemple.fr")
DAN = ("d4444444-0000-4000-8000-000000000004", "Dan Roux", "dan@agglo-exemple.fr")


def build() -> FakeTeams:
    """A team with a standard channel (the team's members), a private one (Alice and
    Claire only) with a thread, a shared one (Bob and an external member, Dan), and a shared
    channel another team hosts and shares with it."""
    alice, bob = user(*ALICE[:2]), user(*BOB[:2])
    general = FakeChannel(GENERAL, "Général", None, [member(*ALICE), member(*BOB)], [
        message("1001", "2024-03-01T09:00:00Z", alice, "<p>Bonjour à tous</p>")])
    hr = FakeChannel(HR, "RH", "Confidentiel", [member(*ALICE), member(*CLAIRE)], [
        message("6001", "2024-03-02T09:00:00Z", alice, "<p>Entretiens annuels</p>")],
        {"6001": [message("6101", "2024-03-02T09:05:00Z", user(*CLAIRE[:2]),
                          "<p>Planning joint</p>", replyToId="6001")]},
        membership="private")
    shared = FakeChannel(SHARED, "Voirie partagée", None, [member(*BOB), member(*DAN)], [
        message("7001", "2024-03-03T09:00:00Z", bob, "<p>Travaux rue des Lilas</p>"),
        message("7002", "2024-03-03T10:00:00Z", user(*DAN[:2]), "<p>Reçu, merci</p>")],
        membership="shared")
    incoming = FakeChannel(INCOMING, "Intercommunalité", None, [member(*DAN)], [
        message("8001", "2024-03-04T09:00:00Z", user(*DAN[:2]), "<p>Ordre du jour</p>")],
        membership="shared")
    team = FakeTeam(TEAM, "Mairie", None, [general, hr, shared],
                    incoming=[(HOST_TEAM, HOST_TENANT, incoming)])
    return FakeTeams(teams=[team])


@pytest.fixture
def teams() -> FakeTeams:
    return build()


@pytest.fixture
def server(teams):
    fake = FakeGraph(tokens={TOKEN}).start()
    fake.teams = teams
    yield fake
    fake.stop()


def emails(conversation: Conversation) -> set[str | None]:
    return {m.email for m in conversation.members}


def test_private_and_shared_channels_keep_their_visibility_members_and_messages(
        server, teams, tmp_path):
    archive, conf = tmp_path / "A", config(tmp_path, server)
    done = copy(conf, archive, tmp_path / "s.db")
    assert done.returncode == 0, done.stdout + done.stderr
    conversations, messages, reader = archived(archive)
    reader.close()
    by_id = {c.source_id: c for c in conversations}
    assert set(by_id) == {GENERAL, HR, SHARED}  # the incoming shared channel is not here
    assert {k: c.visibility for k, c in by_id.items()} == {
        GENERAL: ChannelVisibility.STANDARD, HR: ChannelVisibility.PRIVATE,
        SHARED: ChannelVisibility.SHARED}
    assert all(c.kind == ConversationKind.CHANNEL for c in conversations)
    assert emails(by_id[GENERAL]) == {ALICE[2], BOB[2]}
    assert emails(by_id[HR]) == {ALICE[2], CLAIRE[2]}  # the channel's own, not the team's
    assert emails(by_id[SHARED]) == {BOB[2], DAN[2]}
    assert set(messages) == {"1001", "6001", "6101", "7001", "7002"}
    assert messages["6101"].thread_root_id == "6001" and messages["6101"].conversation_id == HR

    # the incoming shared channel: listed once through allChannels, logged, never read
    assert server.requests["allChannels"] == 1
    assert "8001" not in messages
    assert f"'Intercommunalité' ({INCOMING})" in done.stderr
    assert f"by its host team {HOST_TEAM} (tenant {HOST_TENANT})" in done.stderr
    assert "archive the host team to keep it" in done.stderr

    records = {json.loads(p.read_text("utf-8"))["source_id"]: json.loads(p.read_text("utf-8"))
               for p in archive.glob("data/chat/*/conversation.json")}
    assert {k: r["visibility"] for k, r in records.items()} == {
        GENERAL: "standard", HR: "private", SHARED: "shared"}
    page = next(p for p in archive.glob("data/chat/*/transcript.html")
                if json.loads((p.parent / "conversation.json").read_text())["source_id"] == HR)
    assert "channel (private)" in page.read_text("utf-8")

    valid = run_cli("archive", "validate", str(archive))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    checked = run_cli("--config", conf, "verify", "mairie", f"archive:{archive}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Chat: 5 of 5 messages match." in checked.stdout
    assert "differs" not in checked.stdout


def test_with_the_export_listing_shared_channels_are_read_through_their_own(server, teams,
                                                                          tmp_path):
    """getAllMessages documents public and private channels only: a shared channel's
    messages still arrive, through its own listing, and verify matches them all."""
    archive, conf = tmp_path / "A", config(tmp_path, server, f"/{TEAM}?listing=export&model=A")
    done = copy(conf, archive, tmp_path / "s.db")
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.requests["getAllMessages model=A"] >= 1
    assert server.requests["channel messages"] == 1  # the shared channel's, alone
    conversations, messages, reader = archived(archive)
    reader.close()
    assert set(messages) == {"1001", "6001", "6101", "7001", "7002"}
    assert {c.source_id: c.visibility for c in conversations}[SHARED] == \
        ChannelVisibility.SHARED
    again = copy(conf, archive, tmp_path / "s.db")  # nothing twice, whichever listing
    assert again.returncode == 0 and "Copied 0 messages" in again.stdout, again.stdout
    checked = run_cli("--config", conf, "verify", "mairie", f"archive:{archive}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Chat: 5 of 5 messages match." in checked.stdout


def test_every_team_a_channel_shared_between_two_teams_is_archived_once(server, teams,
                                                                       tmp_path):
    """With ``/*``, the team a shared channel is shared with logs it; its host archives it."""
    host = teams.teams[0]
    shared = next(c for c in host.channels if c.id == SHARED)
    schools = "9d9d9d9d-0000-4000-8000-00000000t002"
    teams.teams.append(FakeTeam(schools, "Écoles", None, [
        FakeChannel("19:ecoles@thread.tacv2", "Cantine", None, [member(*BOB)], [
            message("5001", "2024-06-01T08:00:00Z", user(*BOB[:2]), "<p>Menu</p>")])],
        incoming=[(TEAM, TENANT_ID, shared)]))
    archive = tmp_path / "A"
    done = copy(config(tmp_path, server, "/*"), archive, tmp_path / "s.db")
    assert done.returncode == 0, done.stdout + done.stderr
    conversations, messages, reader = archived(archive)
    reader.close()
    assert [c.workspace.name for c in conversations if c.source_id == SHARED] == ["Mairie"]
    assert len(conversations) == 4 and len(messages) == 6
    assert f"is shared with team {schools} by its host team {TEAM}" in done.stderr


def test_a_refused_allchannels_listing_does_not_stop_the_copy(server, teams, tmp_path):
    teams.all_channels_status = 403
    archive = tmp_path / "A"
    done = copy(config(tmp_path, server), archive, tmp_path / "s.db")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "could not be listed" in done.stderr and "copied all the same" in done.stderr
    conversations, messages, reader = archived(archive)
    reader.close()
    assert {c.source_id for c in conversations} == {GENERAL, HR, SHARED}
    assert len(messages) == 5


def test_an_unknown_membership_type_is_kept_as_unknown(server, teams, tmp_path):
    teams.teams[0].channels[1].membership = "unknownFutureValue"
    archive = tmp_path / "A"
    assert copy(config(tmp_path, server), archive, tmp_path / "s.db").returncode == 0
    conversations, _, reader = archived(archive)
    reader.close()
    assert {c.source_id: c.visibility for c in conversations}[HR] is None
    assert run_cli("archive", "validate", str(archive)).returncode == 0


T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def write(path: Path, conversation: Conversation) -> Path:
    """An archive holding one conversation and no message."""
    writer = ArchiveWriter.open(path, source="test:chat")
    writer.prepare_conversation(conversation)
    writer.commit()
    writer.close()
    return path


def channel(visibility: ChannelVisibility | None) -> Conversation:
    return Conversation(HR, ConversationKind.CHANNEL, "RH", None,
                        (Identity(f"aad:{ALICE[0]}", ALICE[1], ALICE[2]),), None, T0, visibility)


def test_an_archive_without_visibility_still_reads_validates_and_verifies(tmp_path):
    old = write(tmp_path / "old", channel(None))
    (meta,) = old.glob("data/chat/*/conversation.json")
    record = json.loads(meta.read_text("utf-8"))
    # what every archive before visibility held: the same keys, no "visibility"
    assert set(record) == {"source_id", "kind", "name", "topic", "members", "workspace",
                           "created"}
    assert conversation_from_dict(record).visibility is None
    valid = run_cli("archive", "validate", str(old))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    new = write(tmp_path / "new", channel(ChannelVisibility.PRIVATE))
    checked = run_cli("verify", f"archive:{new}", f"archive:{old}")  # unknown: not compared
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_verify_fails_when_the_sides_disagree_on_a_channels_visibility(tmp_path):
    left = write(tmp_path / "A", channel(ChannelVisibility.PRIVATE))
    right = write(tmp_path / "B", channel(ChannelVisibility.STANDARD))
    done = run_cli("verify", f"archive:{left}", f"archive:{right}",
                   "--report-json", str(tmp_path / "r.json"),
                   "--report-html", str(tmp_path / "r.html"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "RH: who may see the channel differs (private → standard)" in done.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["conversations"][0]["visibility_change"] == "private → standard"
    assert "RH (visibility differs: private → standard)" in (tmp_path / "r.html").read_text()


def test_an_unknown_visibility_in_an_archive_is_a_clear_error(tmp_path):
    record = {"source_id": HR, "kind": "channel", "visibility": "public"}
    with pytest.raises(ValueError, match="unknown conversation visibility 'public'"):
        conversation_from_dict(record)
