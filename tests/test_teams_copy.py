"""Acceptance: ``migrate copy teams://… archive:A`` against the fake Graph server
(tests/fake_graph.py, tests/fake_graph_teams.py), driven by the real msgraph-sdk.

Every message, reply, reaction, mention, edit time, deletion, system event and inline image
arrives with the untouched Graph JSON; images are blobs whose hashes match what was
served; each conversation has an HTML transcript that Chromium renders; a rerun copies
nothing twice; ``verify`` finds everything matched; throttling (429) is waited out.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli
from fake_graph import FakeGraph
from fake_graph_teams import (
    GRAPH,
    FakeChannel,
    FakeChat,
    FakeTeam,
    FakeTeams,
    member,
    message,
    user,
)

from migrate.endpoint import parse_endpoint
from migrate.model import ChatMessageType, ConversationKind
from migrate.registry import connector_for

TENANT = "mairie-exemple.onmicrosoft.com"
TOKEN = "eyFakeTeamsToken.for-tests"
TEAM = "5c3b8e2a-0000-4000-8000-00000000t001"
GENERAL = "19:general0001@thread.tacv2"
PROJECTS = "19:projets0002@thread.tacv2"
AGENT = "agent@mairie-exemple.fr"
ALICE = ("a1111111-0000-4000-8000-000000000001", "Alice Martin", "alice@mairie-exemple.fr")
BOB = ("b2222222-0000-4000-8000-000000000002", "Bob Durand", "bob@mairie-exemple.fr")
DIRECT = "19:a1111111_b2222222@unq.gbl.spaces"
GROUP = "19:elus0003@thread.v2"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0" + b"photo du chantier" * 64


def _image(path: str, key: str) -> str:
    return f'<p><img src="{GRAPH}/{path}/hostedContents/{key}/$value" ' \
           f'alt="image" itemtype="http://schema.skype.com/AMSImage"></p>'


def _channel_path(channel: str, key: str) -> str:
    return f"teams/{TEAM}/channels/{channel}/messages/{key}"


def build() -> FakeTeams:
    """A team with a threaded channel (mention, reactions, edit, deletion, system event,
    inline images) and a longer one, and a user's 1:1 and group chats."""
    alice, bob = user(*ALICE[:2]), user(*BOB[:2])
    people = [member(*ALICE), member(*BOB)]
    general = FakeChannel(GENERAL, "Général", "Tout & rien", people)
    general.messages = [
        message("1001", "2024-03-01T09:00:00.12Z", alice,
                '<p>Bonjour <at id="0">Bob Durand</at>, voici <b>l\'ordre</b> du jour</p>',
                subject="Ordre du jour", importance="high",
                mentions=[{"id": 0, "mentionText": "Bob Durand", "mentioned": bob}],
                reactions=[{"reactionType": "like", "displayName": "Like",
                            "reactionContentUrl": None,
                            "createdDateTime": "2024-03-01T09:01:00Z", "user": user(BOB[0], None)},
                           {"reactionType": "❤", "displayName": "Heart",
                            "reactionContentUrl": None,
                            "createdDateTime": "2024-03-01T09:02:00.5Z",
                            "user": user(ALICE[0], None)}]),
        message("1002", "2024-03-01T10:00:00Z", bob,
                "<p>Le plan :</p>" + _image(_channel_path(GENERAL, "1002"), "aWQ9eF8wLWltZzE="),
                lastModifiedDateTime="2024-03-01T10:00:00Z"),
        message("1003", "2024-03-01T11:00:00Z", alice, "",
                deletedDateTime="2024-03-01T11:30:00Z",
                lastModifiedDateTime="2024-03-01T11:30:00Z"),
        message("1004", "2024-03-01T12:00:00Z", None, "<systemEventMessage/>",
                messageType="systemEventMessage",
                eventDetail={"@odata.type": "#microsoft.graph.membersAddedEventMessageDetail",
                             "members": [{"id": BOB[0], "displayName": None}],
                             "initiator": alice}),
    ]
    general.replies = {"1001": [
        message("1101", "2024-03-01T09:05:00Z", bob, "<p>Merci, version corrigée</p>",
                replyToId="1001", lastEditedDateTime="2024-03-01T09:07:00Z",
                lastModifiedDateTime="2024-03-01T09:07:00Z"),
        message("1102", "2024-03-01T09:06:00.9Z", alice,
                "<p>La photo</p>" + _image(f"{_channel_path(GENERAL, '1001')}/replies/1102",
                                           "aWQ9eF8wLWltZzI="), replyToId="1001"),
    ]}
    projects = FakeChannel(PROJECTS, "Projets", None, people)
    projects.messages = [message(str(2000 + n), f"2024-04-0{1 + n // 4}T0{n % 4}:00:00Z",
                                 (alice, bob)[n % 2], f"<div>point {n} &amp; suite</div>")
                         for n in range(8)]
    chats = [
        FakeChat(DIRECT, "oneOnOne", None, people, [
            message("3001", "2024-05-01T08:00:00Z", alice, "<p>Tu as le dossier ?</p>",
                    chatId=DIRECT),
            message("3002", "2024-05-01T08:01:00Z", bob,
                    _image(f"chats/{DIRECT}/messages/3002", "aWQ9eF8wLWltZzM="),
                    chatId=DIRECT),
        ]),
        FakeChat(GROUP, "group", "Élus", people, [
            message("4001", "2024-05-02T08:00:00Z", bob, "Conseil à 18 h", chatId=GROUP,
                    body={"contentType": "text", "content": "Conseil à 18 h"}),
        ]),
    ]
    return FakeTeams(teams=[FakeTeam(TEAM, "Mairie", "L'équipe", [general, projects])],
                     chats={AGENT: chats}, users={AGENT: "Agent"},
                     hosted={"aWQ9eF8wLWltZzE=": PNG, "aWQ9eF8wLWltZzI=": JPEG,
                             "aWQ9eF8wLWltZzM=": PNG + b"chat"})


@pytest.fixture
def teams() -> FakeTeams:
    return build()


@pytest.fixture
def server(teams):
    fake = FakeGraph(tokens={TOKEN}).start()
    fake.teams = teams
    yield fake
    fake.stop()


def config(tmp_path, server: FakeGraph, location: str = f"/{TEAM}") -> str:
    """A config naming the endpoint ``mairie``: its token in a file, pages of 3."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    path = tmp_path / "migrate.toml"
    path.write_text(f'[endpoints.mairie]\nurl = "teams://{TENANT}{location}"\n'
                    f'graph_url = "{server.url}"\ntoken_file = "{token}"\npage_size = "3"\n')
    return str(path)


def copy(config_file: str, archive: Path, state: Path):
    done = run_cli("--config", config_file, "copy", "mairie", f"archive:{archive}",
                   "--state", str(state), "--quiet")
    assert TOKEN not in done.stdout + done.stderr
    return done


def served(teams: FakeTeams) -> dict[str, dict]:
    """Every message the server holds, by id."""
    out = {}
    for team in teams.teams:
        for channel in team.channels:
            for item in channel.messages + [r for rs in channel.replies.values() for r in rs]:
                out[item["id"]] = item
    for chats in teams.chats.values():
        for chat in chats:
            out.update({m["id"]: m for m in chat.messages})
    return out


def archived(archive: Path):
    """(conversations, {message id: message}, reader) of an archive."""
    reader = connector_for(parse_endpoint(f"archive:{archive}")).open_source()
    conversations = list(reader.conversations())
    messages = {}
    for conversation in conversations:
        for item in reader.chat_messages(conversation):
            messages[item.source_id] = item
    return conversations, messages, reader


def test_a_team_is_archived_whole_with_its_json_images_and_transcripts(server, teams,
                                                                         tmp_path):
    archive, state = tmp_path / "A", tmp_path / "s.db"
    server.storm(3, retry_after=0.2)  # throttled at the start, and on the way: waited out
    teams.throttle_once = {"channel messages", "replies", "hostedContents"}
    done = copy(config(tmp_path, server), archive, state)
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.requests["429"] == 3 and not teams.throttle_once
    assert all(server.requests[f"429:{kind}"] == 1
               for kind in ("channel messages", "replies", "hostedContents"))
    assert server.requests["channel messages"] == 2 + 3  # pages of 3 followed by nextLink

    conversations, messages, reader = archived(archive)
    assert {c.source_id: c.name for c in conversations} == {GENERAL: "Général",
                                                           PROJECTS: "Projets"}
    general = next(c for c in conversations if c.source_id == GENERAL)
    assert general.kind == ConversationKind.CHANNEL and general.topic == "Tout & rien"
    assert general.workspace.name == "Mairie" and general.workspace.source_id == TEAM
    assert {p.email for p in general.members} == {ALICE[2], BOB[2]}

    team_messages = {k: v for k, v in served(teams).items() if k[0] in "12"}
    assert set(messages) == set(team_messages)
    for key, data in team_messages.items():  # the untouched Graph JSON, text for text
        assert messages[key].raw == json.dumps(data), key
    order = [m.source_id for m in reader.chat_messages(general)]
    assert order == ["1001", "1101", "1102", "1002", "1003", "1004"]  # threads, oldest first

    first = messages["1001"]
    assert first.author.source_id == f"aad:{ALICE[0]}" and first.subject == "Ordre du jour"
    assert first.body_text == "Bonjour Bob Durand, voici l'ordre du jour"
    assert [m.source_id for m in first.mentions] == [f"aad:{BOB[0]}"]
    reactions = {(r.author.source_id, r.author.display_name, r.key, r.created.isoformat())
                 for r in first.reactions}  # Graph gives no names: the members' are used
    assert reactions == {
        (f"aad:{BOB[0]}", BOB[1], "like", "2024-03-01T09:01:00+00:00"),
        (f"aad:{ALICE[0]}", ALICE[1], "❤", "2024-03-01T09:02:00.500000+00:00")}
    assert json.loads(first.raw)["importance"] == "high"
    edited = messages["1101"]
    assert edited.thread_root_id == edited.reply_to_id == "1001"
    assert edited.edited.isoformat() == "2024-03-01T09:07:00+00:00"
    assert messages["1003"].deleted.isoformat() == "2024-03-01T11:30:00+00:00"
    system = messages["1004"]
    assert system.message_type == ChatMessageType.SYSTEM and system.author is None
    assert system.body_text == "members added"

    for key, image in (("1002", teams.hosted["aWQ9eF8wLWltZzE="]),
                       ("1102", teams.hosted["aWQ9eF8wLWltZzI="])):
        (ref,) = messages[key].attachments
        assert ref.sha256 == hashlib.sha256(image).hexdigest() and ref.size == len(image)
        assert reader.blob(ref).content.read() == image
    assert messages["1002"].attachments[0].media_type == "image/png"
    assert messages["1102"].attachments[0].media_type == "image/jpeg"
    reader.close()

    pages = sorted(archive.glob("data/chat/*/transcript.html"))
    assert len(pages) == 2
    text = next(p for p in pages if "general" in p.parent.name).read_text("utf-8")
    assert "Merci, version corrigée" in text and "members added" in text


def test_a_rerun_copies_nothing_twice_and_verify_matches_all(server, teams, tmp_path):
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    assert copy(conf, archive, state).returncode == 0
    files = {p: p.read_bytes() for p in archive.glob("data/chat/*/messages.jsonl")}
    again = copy(conf, archive, state)
    assert again.returncode == 0, again.stdout + again.stderr
    # incremental: the delta rounds and filtered listings report nothing changed
    assert "Copied 0 messages" in again.stdout and "0 already there" in again.stdout
    assert {p: p.read_bytes() for p in archive.glob("data/chat/*/messages.jsonl")} == files
    assert sum(len(f.splitlines()) for f in files.values()) == 14
    checked = run_cli("--config", conf, "verify", "mairie", f"archive:{archive}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Chat: 14 of 14 messages match." in checked.stdout


def test_a_users_chats_are_archived(server, teams, tmp_path):
    archive = tmp_path / "B"
    teams.throttle_once = {"chat messages"}
    done = copy(config(tmp_path, server, f"/?user={AGENT}"), archive, tmp_path / "s.db")
    assert done.returncode == 0, done.stdout + done.stderr
    conversations, messages, reader = archived(archive)
    kinds = {c.source_id: (c.kind, c.name) for c in conversations}
    assert kinds == {DIRECT: (ConversationKind.DIRECT_CHAT, None),
                     GROUP: (ConversationKind.GROUP_CHAT, "Élus")}
    assert set(messages) == {"3001", "3002", "4001"}
    assert server.requests["429:chat messages"] == 1
    assert messages["4001"].body_text == "Conseil à 18 h" and messages["4001"].body_html is None
    (ref,) = messages["3002"].attachments
    assert reader.blob(ref).content.read() == teams.hosted["aWQ9eF8wLWltZzM="]
    reader.close()


def test_an_image_that_cannot_be_fetched_fails_its_message_alone(server, teams, tmp_path):
    image = teams.hosted.pop("aWQ9eF8wLWltZzE=")
    archive, conf = tmp_path / "A", config(tmp_path, server)
    done = copy(conf, archive, tmp_path / "s.db")
    assert done.returncode != 0 and "13 messages" in done.stdout
    assert "[1002]" in done.stdout and "inline image aWQ9eF8wLWltZzE=" in done.stdout
    _, messages, reader = archived(archive)
    reader.close()
    assert "1002" not in messages and len(messages) == 13
    teams.hosted["aWQ9eF8wLWltZzE="] = image  # back: the next run copies that one only
    again = copy(conf, archive, tmp_path / "s.db")
    assert again.returncode == 0 and "Copied 1 messages" in again.stdout, again.stdout


def test_the_transcript_renders_in_headless_chromium(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is missing: `make test` installs Debian's")
    archive = tmp_path / "A"
    assert copy(config(tmp_path, server), archive, tmp_path / "s.db").returncode == 0
    page = next(p for p in archive.glob("data/chat/*/transcript.html")
                if "general" in p.parent.name)
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}",
         f"--screenshot={shot}", "--window-size=1000,1200", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_the_transcript_speaks_french_in_local_time_and_shows_inline_images(server,
                                                                           tmp_path):
    """For a French reader of the archive: labels in French (``--lang fr``), times in
    this machine's zone with their offset, the inline image shown from the archive."""
    archive = tmp_path / "A"
    done = run_cli("--lang", "fr", "--config", config(tmp_path, server), "copy", "mairie",
                   f"archive:{archive}", "--state", str(tmp_path / "s.db"), "--quiet",
                   env={"TZ": "Europe/Paris"})
    assert done.returncode == 0, done.stdout + done.stderr
    page = next(p for p in archive.glob("data/chat/*/transcript.html")
                if "general" in p.parent.name).read_text("utf-8")
    assert '<html lang="fr">' in page and "canal" in page and "membres :" in page
    # 1002, posted 2024-03-01T10:00:00Z: 11:00 in Paris in winter
    assert '<time datetime="2024-03-01T10:00:00+00:00">2024-03-01 11:00:00 (UTC+01:00)' \
        '</time>' in page
    assert "supprimé le" in page  # 1003
    images = re.findall(r'<img src="(\.\./\.\./\.\./data/blobs/sha256/[^"]+)"', page)
    heads = {(archive / "data/chat/x" / image).resolve().read_bytes()[:4] for image in images}
    assert heads == {b"\x89PNG", b"\xff\xd8\xff\xe0"}  # 1002's PNG, 1102's JPEG, shown
    assert "http" not in page.replace("http-equiv", "")  # nothing from outside


def test_every_team_with_a_star(server, teams, tmp_path):
    other = FakeTeam("9d9d9d9d-0000-4000-8000-00000000t002", "Écoles", None, [
        FakeChannel("19:ecoles@thread.tacv2", "Cantine", None, [], [
            message("5001", "2024-06-01T08:00:00Z", user(*BOB[:2]), "<p>Menu</p>")])])
    teams.teams.append(other)
    archive = tmp_path / "A"
    done = copy(config(tmp_path, server, "/*"), archive, tmp_path / "s.db")
    assert done.returncode == 0, done.stdout + done.stderr
    conversations, messages, reader = archived(archive)
    reader.close()
    assert {c.workspace.name for c in conversations} == {"Mairie", "Écoles"}
    assert len(messages) == 15 and "5001" in messages


def test_an_app_without_teams_approval_exits_3_naming_the_permissions(server, teams,
                                                                      tmp_path):
    teams.protected = True
    done = copy(config(tmp_path, server), tmp_path / "A", tmp_path / "s.db")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "ChannelMessage.Read.All" in done.stderr and "protected" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_team_exits_3_naming_it(server, teams, tmp_path):
    done = copy(config(tmp_path, server, "/19-pas-une-equipe"), tmp_path / "A",
                tmp_path / "s.db")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "no such team or user in tenant" in done.stderr
    assert "Traceback" not in done.stderr
