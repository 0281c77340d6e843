"""Teams file attachments, the export listings and the identity map, end to end:
``migrate copy teams://… archive:A`` against the fake Graph server (tests/fake_graph.py,
fake_graph_teams.py, fake_graph_teams_files.py), driven by the real msgraph-sdk.

Files linked from messages are fetched through the shares API and stored once, by sha256,
with their driveItem; a deleted or forbidden file fails only its message, which the next
run retries; a 30 MB file goes through with flat memory; everyone seen is in the identity
map with their UPN, and ``archive people`` writes the mapping sheet; the export listing
(``?listing=export``, getAllMessages) gives the same archive as the per-channel listings.
"""

from __future__ import annotations

import csv
import hashlib
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import peak_rss_kib, run_cli
from fake_graph import FakeGraph
from fake_graph_teams import FakeChannel, FakeChat, FakeTeam, FakeTeams, member, message, user
from fake_graph_teams_files import (
    FakeFile,
    FakeFiles,
    directory_user,
    generated,
    reference,
)

from connectors.graph.teams_files import file_references, share_id
from migrate.archive.layout import blob_path
from migrate.endpoint import parse_endpoint
from migrate.registry import connector_for

REPO = Path(__file__).resolve().parent.parent
TENANT = "mairie-exemple.onmicrosoft.com"
TOKEN = "eyFakeTeamsFilesToken.for-tests"
TEAM = "5c3b8e2a-0000-4000-8000-00000000f001"
GENERAL = "19:general0001@thread.tacv2"
WORKS = "19:travaux0002@thread.tacv2"
AGENT = "agent@mairie-exemple.fr"
DIRECT = "19:a1111111_b2222222@unq.gbl.spaces"
ALICE = ("a1111111-0000-4000-8000-000000000001", "Alice Martin", "alice@mairie-exemple.fr")
BOB = ("b2222222-0000-4000-8000-000000000002", "Bob Durand", "bob@mairie-exemple.fr")
GUEST = ("c3333333-0000-4000-8000-000000000003", "Chloé (Prestataire)")
SITE = "https://mairieexemple.sharepoint.com/sites/Mairie/Shared%20Documents/General"
BUDGET = FakeFile(f"{SITE}/Budget 2024.xlsx", "Budget 2024.xlsx",
                  b"PK\x03\x04budget" * 300, mime_type="application/vnd.openxmlformats-"
                  "officedocument.spreadsheetml.sheet")
BIG = 30 * 1024 * 1024
PLAN = FakeFile(f"{SITE}/Plan local d'urbanisme.pdf", "Plan local d'urbanisme.pdf",
                size=BIG, seed="plu", mime_type="application/pdf")
GONE = FakeFile(f"{SITE}/Ancien compte rendu.docx", "Ancien compte rendu.docx",
                b"PK\x03\x04ancien" * 50, status=404)
SECRET = FakeFile("https://mairieexemple.sharepoint.com/sites/RH/Shared%20Documents/"
                  "Salaires.xlsx", "Salaires.xlsx", b"PK\x03\x04rh" * 50, status=403)
NOTE = FakeFile("https://mairieexemple-my.sharepoint.com/personal/alice/Documents/"
                "Microsoft Teams Chat Files/note.txt", "note.txt", "Note de séance\n".encode(),
                mime_type="text/plain")
CARD = {"id": "card1", "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None, "content": '{"type":"AdaptiveCard","body":[]}', "name": None,
        "thumbnailUrl": None, "teamsAppId": None}


def _in(channel: str) -> dict:
    return {"channelIdentity": {"teamId": TEAM, "channelId": channel}}


def build(big: bool = True) -> tuple[FakeTeams, FakeFiles]:
    """A team whose messages link files (one shared twice, a 30 MB one, a deleted one and
    a forbidden one), with a guest reacting and mentioned; a user's chat with a file."""
    alice, bob, guest = user(*ALICE[:2]), user(*BOB[:2]), user(*GUEST)
    people = [member(*ALICE), member(*BOB)]
    general = FakeChannel(GENERAL, "Général", None, people)
    general.messages = [
        message("1001", "2024-03-01T09:00:00Z", alice, '<p>Le budget <attachment id="b1">'
                "</attachment></p>", attachments=[reference(BUDGET, "b1")],
                reactions=[{"reactionType": "like", "displayName": "Like",
                            "reactionContentUrl": None, "createdDateTime":
                            "2024-03-01T09:01:00Z", "user": user(GUEST[0], None)}],
                **_in(GENERAL)),
        message("1003", "2024-03-01T11:00:00Z", alice, "<p>L'ancien CR</p>",
                attachments=[reference(GONE, "g1")], **_in(GENERAL)),
        message("1004", "2024-03-01T12:00:00Z", bob, "<p>Les salaires</p>",
                attachments=[reference(SECRET, "s1")], **_in(GENERAL)),
        message("1005", "2024-03-01T13:00:00Z", bob, "<p>Encore le budget, et une carte</p>",
                attachments=[reference(BUDGET, "b2"), CARD], **_in(GENERAL)),
    ]
    if big:
        general.messages.append(
            message("1002", "2024-03-01T10:00:00Z", bob, "<p>Le PLU</p>",
                    attachments=[reference(PLAN, "p1")], **_in(GENERAL)))
    general.replies = {"1001": [
        message("1101", "2024-03-01T09:05:00Z", bob, '<p>Merci <at id="0">Chloé</at></p>',
                replyToId="1001", mentions=[{"id": 0, "mentionText": "Chloé",
                                             "mentioned": guest}], **_in(GENERAL)),
        message("1102", "2024-03-01T09:06:00Z", alice, "<p>Je relis</p>", replyToId="1001",
                lastModifiedDateTime="2024-03-02T09:06:00Z", **_in(GENERAL)),
    ]}
    works = FakeChannel(WORKS, "Travaux", None, people, [
        message(str(2000 + n), f"2024-04-0{1 + n // 4}T0{n % 4}:00:00Z", (alice, bob)[n % 2],
                f"<div>point {n}</div>", **_in(WORKS)) for n in range(7)])
    chat = FakeChat(DIRECT, "oneOnOne", None, people, [
        message("3001", "2024-05-01T08:00:00Z", alice, "<p>La note</p>", chatId=DIRECT,
                attachments=[reference(NOTE, "n1")]),
        message("3002", "2024-05-01T08:01:00Z", bob, "<p>Reçue</p>", chatId=DIRECT)])
    users = {ALICE[0]: directory_user(ALICE[0], "alice.martin@mairie-exemple.fr", ALICE[1],
                                      ALICE[2]),
             BOB[0]: directory_user(BOB[0], "bob.durand@mairie-exemple.fr", BOB[1], None),
             AGENT: "Agent"}
    files = FakeFiles()
    files.add(BUDGET, PLAN, GONE, SECRET, NOTE)
    return FakeTeams(teams=[FakeTeam(TEAM, "Mairie", None, [general, works])],
                     chats={AGENT: [chat]}, users=users), files


def start(big: bool = True) -> FakeGraph:
    fake = FakeGraph(tokens={TOKEN}).start()
    fake.teams, fake.teams_files = build(big)
    return fake


@pytest.fixture
def server():
    fake = start()
    yield fake
    fake.stop()


def config(tmp_path: Path, server: FakeGraph, location: str = f"/{TEAM}") -> str:
    """A config naming the endpoint ``mairie``: its token in a file, pages of 3."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    path = tmp_path / "migrate.toml"
    path.write_text(f'[endpoints.mairie]\nurl = "teams://{TENANT}{location}"\n'
                    f'graph_url = "{server.url}"\ntoken_file = "{token}"\npage_size = "3"\n')
    return str(path)


def copy(conf: str, archive: Path, state: Path) -> subprocess.CompletedProcess:
    done = run_cli("--config", conf, "copy", "mairie", f"archive:{archive}", "--state",
                   str(state), "--quiet")
    assert TOKEN not in done.stdout + done.stderr
    return done


def archived(archive: Path) -> dict:
    """{message id: message} of an archive, read through the archive connector."""
    reader = connector_for(parse_endpoint(f"archive:{archive}")).open_source()
    try:
        return {m.source_id: m for c in reader.conversations()
                for m in reader.chat_messages(c)}
    finally:
        reader.close()


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_share_ids_are_encoded_as_microsoft_documents():
    url = "https://onedrive.live.com/redir?resid=1231244193912!12&authKey=1201919!12921!1"
    key = share_id(url)
    assert key.startswith("u!") and "=" not in key and "/" not in key and "+" not in key
    import base64
    assert base64.urlsafe_b64decode(key[2:] + "==").decode() == url
    message_json = {"attachments": [reference(BUDGET, "a"), CARD, reference(BUDGET, "b"),
                                    {"contentType": "reference", "contentUrl": None}]}
    assert [f.url for f in file_references(message_json)] == [BUDGET.url]


def test_files_are_archived_once_with_their_drive_item_and_failures_retried(server,
                                                                             tmp_path):
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    server.teams.throttle_once = {"shares"}
    done = copy(conf, archive, state)
    assert done.returncode == 1, done.stdout + done.stderr
    assert server.requests["429:shares"] == 1  # waited out
    out = done.stdout
    assert "[1003]" in out and "no longer in SharePoint or OneDrive" in out
    assert "[1004]" in out and "access denied to file Salaires.xlsx" in out \
        and "Files.Read.All" in out
    messages = archived(archive)
    assert "1003" not in messages and "1004" not in messages and len(messages) == 12

    budget = hashlib.sha256(BUDGET.data).hexdigest()
    plan = hashlib.sha256(b"".join(generated(BIG, "plu"))).hexdigest()
    (first,) = messages["1001"].attachments
    assert (first.sha256, first.size, first.name, first.media_type) == (
        budget, len(BUDGET.data), BUDGET.name, BUDGET.mime_type)
    assert [a.sha256 for a in messages["1005"].attachments] == [budget]  # shared: once
    assert (archive / blob_path(budget)).read_bytes() == BUDGET.data
    (big,) = messages["1002"].attachments
    assert big.sha256 == plan and big.size == BIG
    blob = archive / blob_path(plan)
    assert blob.stat().st_size == BIG
    assert json.loads(messages["1005"].raw)["attachments"][1] == CARD  # the card: raw JSON

    described = {line["sha256"]: line for line in lines(archive / "data/index/files.jsonl")}
    assert set(described) == {budget, plan}
    item = json.loads(described[budget]["source"])
    assert item["webUrl"] == BUDGET.url and item["eTag"] and item["size"] == len(BUDGET.data)
    assert described[budget]["name"] == BUDGET.name

    page = next(p for p in archive.glob("data/chat/*/transcript.html")
                if "general" in p.parent.name)
    text = page.read_text("utf-8")
    assert f'href="../../../{blob_path(budget)}"' in text and BUDGET.name in text
    assert (page.parent / f"../../../{blob_path(budget)}").resolve().is_file()

    server.teams_files.files[GONE.url].status = 200  # restored from the recycle bin
    again = copy(conf, archive, state)
    assert again.returncode == 1 and "Copied 1 messages" in again.stdout, again.stdout
    assert "[1004]" in again.stdout and server.requests["download:Budget 2024.xlsx"] == 4
    assert "1003" in archived(archive)
    valid = run_cli("archive", "validate", str(archive))
    assert valid.returncode == 0, valid.stdout


def test_a_30_mb_file_goes_through_with_flat_memory(tmp_path):
    small = start(big=False)
    try:
        conf = config(tmp_path, small)
        done, baseline = peak_rss_kib("--config", conf, "copy", "mairie",
                                       f"archive:{tmp_path / 'small'}", "--state",
                                       str(tmp_path / "small.db"), "--quiet")
        assert done.returncode == 1, done.stdout + done.stderr
    finally:
        small.stop()
    large = start(big=True)
    try:
        conf = config(tmp_path, large)
        done, peak = peak_rss_kib("--config", conf, "copy", "mairie",
                                   f"archive:{tmp_path / 'A'}", "--state",
                                   str(tmp_path / "s.db"), "--quiet")
        assert done.returncode == 1, done.stdout + done.stderr
        assert large.requests["download:Plan local d'urbanisme.pdf"] == 1
    finally:
        large.stop()
    growth = (peak - baseline) * 1024
    print(f"30 MB file: peak RSS {peak // 1024} MiB, {growth / BIG:.2f} x the file above "
          f"a copy without it ({baseline // 1024} MiB)")
    assert growth < BIG // 2


def test_everyone_seen_is_in_the_identity_map_and_the_mapping_sheet(server, tmp_path):
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    copy(conf, archive, state)
    people = {p["source_id"]: p for p in lines(archive / "data/index/people.jsonl")}
    assert set(people) == {f"aad:{ALICE[0]}", f"aad:{BOB[0]}", f"aad:{GUEST[0]}"}
    assert people[f"aad:{ALICE[0]}"] == {
        "source_id": f"aad:{ALICE[0]}", "display_name": ALICE[1],
        "upn": "alice.martin@mairie-exemple.fr", "email": ALICE[2], "in_directory": True}
    bob = people[f"aad:{BOB[0]}"]  # no mail in the directory: the member's e-mail stays
    assert bob["upn"] == "bob.durand@mairie-exemple.fr" and bob["email"] == BOB[2]
    guest = people[f"aad:{GUEST[0]}"]  # a guest: no record, what the mention said
    assert guest["in_directory"] is False and guest["display_name"] == GUEST[1]
    assert guest["upn"] is None
    assert all(server.requests[f"user:{key}"] == 1 for key in (ALICE[0], BOB[0]))

    before = (archive / "data/index/people.jsonl").read_bytes()
    copy(conf, archive, state)  # a rerun: the same map, nothing twice
    assert (archive / "data/index/people.jsonl").read_bytes() == before

    sheet = tmp_path / "mappings" / "people.csv"
    done = run_cli("archive", "people", str(archive), "--csv", str(sheet),
                   env={"LANG": "fr_FR.UTF-8"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 personnes (2 trouvées dans l'annuaire)" in done.stdout
    with open(sheet, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["source_id", "upn", "display_name", "email", "target_account"]
    assert {r["source_id"]: (r["upn"], r["target_account"]) for r in rows} == {
        f"aad:{ALICE[0]}": ("alice.martin@mairie-exemple.fr", ""),
        f"aad:{BOB[0]}": ("bob.durand@mairie-exemple.fr", ""),
        f"aad:{GUEST[0]}": ("", "")}
    nothing = run_cli("archive", "people", str(tmp_path), "--csv", str(sheet))
    assert nothing.returncode != 0 and "not an archive" in nothing.stderr

    with open(archive / "data/index/people.jsonl", "ab") as stream:  # damage it
        stream.write(b'{"display_name": "Personne"}\n')
    damaged = run_cli("archive", "validate", str(archive))
    assert damaged.returncode == 1
    assert "people.jsonl line 4: 'source_id' is missing" in damaged.stdout, damaged.stdout


def test_the_example_mapping_sheet_has_the_columns_the_command_writes():
    with open(REPO / "mappings" / "people.example.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(line for line in f if not line.startswith("#")))
    assert tuple(rows[0]) == ("source_id", "upn", "display_name", "email", "target_account")
    assert all(len(row) == 5 for row in rows[1:]) and len(rows) > 2


def _chat_files(archive: Path) -> dict[str, bytes]:
    """Every message file and chat index of an archive, by relative path."""
    found = {str(p.relative_to(archive)): p.read_bytes()
             for p in archive.glob("data/chat/*/messages.jsonl")}
    for name in ("conversations", "files", "people"):
        path = archive / f"data/index/{name}.jsonl"
        found[name] = path.read_bytes() if path.exists() else b""
    return found


@pytest.mark.parametrize("location", [f"/{TEAM}", f"/?user={AGENT}"])
def test_the_export_listing_gives_the_same_archive_and_verify_matches(tmp_path, location):
    server = start(big=False)
    try:
        for file in (GONE, SECRET):
            server.teams_files.files[file.url].status = 200
        export = f"{location}{'&' if '?' in location else '?'}listing=export&model=A"
        done = copy(config(tmp_path, server, location), tmp_path / "A", tmp_path / "a.db")
        assert done.returncode == 0, done.stdout + done.stderr
        listed = server.requests["channel messages"] + server.requests["chat messages"]
        server.teams.throttle_once = {"getAllMessages"}
        (tmp_path / "b").mkdir()
        done = copy(config(tmp_path / "b", server, export), tmp_path / "B", tmp_path / "b.db")
        assert done.returncode == 0, done.stdout + done.stderr
        assert server.requests["429:getAllMessages"] == 1
        assert server.requests["getAllMessages model=A"] == 1  # first page; then nextLinks
        assert server.requests["channel messages"] + server.requests["chat messages"] == \
            listed  # the export listing alone was read
        assert _chat_files(tmp_path / "B") == _chat_files(tmp_path / "A")
        messages = archived(tmp_path / "B")
        assert len(messages) == (13 if location.startswith("/5") else 2)
        if "3001" in messages:  # a file shared in a 1:1 chat (OneDrive) is there too
            (note,) = messages["3001"].attachments
            assert note.sha256 == hashlib.sha256(NOTE.data).hexdigest()
            assert note.media_type == "text/plain"

        checked = run_cli("--config", str(tmp_path / "b" / "migrate.toml"), "verify",
                          "mairie", f"archive:{tmp_path / 'A'}")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "messages match" in checked.stdout
    finally:
        server.stop()


def test_a_wrong_listing_or_model_is_a_usage_error(server, tmp_path):
    for query in ("?listing=all", "?model=A", "?listing=export&model=C"):
        done = copy(config(tmp_path, server, f"/{TEAM}{query}"), tmp_path / "A",
                    tmp_path / "s.db")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "listing" in done.stderr and "Traceback" not in done.stderr


def test_a_copy_killed_in_the_middle_of_a_file_resumes_with_nothing_lost_or_twice(
        server, tmp_path):
    for file in (GONE, SECRET):
        server.teams_files.files[file.url].status = 200
    plan = server.teams_files.files[PLAN.url]
    plan.hold = threading.Event()
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    process = subprocess.Popen(
        [sys.executable, "-m", "migrate", "--config", conf, "copy", "mairie",
         f"archive:{archive}", "--state", str(state), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        assert plan.sending.wait(60), "the copy never reached the 30 MB file"
        process.send_signal(signal.SIGKILL)  # kill -9 while the file is half downloaded
        process.wait(30)
    finally:
        plan.hold.set()
        plan.hold = None
    assert process.returncode == -signal.SIGKILL

    done = copy(conf, archive, state)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [json.loads(line)["source_id"]
           for path in archive.glob("data/chat/*/messages.jsonl")
           for line in path.read_text("utf-8").splitlines()]
    assert len(ids) == len(set(ids)) == 14  # nothing lost, nothing twice
    shas = [line["sha256"] for line in lines(archive / "data/index/files.jsonl")]
    assert len(shas) == len(set(shas)) == 4
    plan_sha = hashlib.sha256(b"".join(generated(BIG, "plu"))).hexdigest()
    assert plan_sha in shas and (archive / blob_path(plan_sha)).stat().st_size == BIG
    assert not list(archive.glob("data/blobs/**/.*.tmp"))
    valid = run_cli("archive", "validate", str(archive))
    assert valid.returncode == 0, valid.stdout


def test_an_archive_copied_to_another_keeps_its_identity_map_and_files(server, tmp_path):
    server.teams_files.files[PLAN.url].status = 404  # no need for the 30 MB file here
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    copy(conf, archive, state)
    done = run_cli("copy", f"archive:{archive}", f"archive:{tmp_path / 'B'}", "--state",
                   str(tmp_path / "b.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    for index in ("data/index/people.jsonl", "data/index/files.jsonl"):
        assert (tmp_path / "B" / index).read_bytes() == (archive / index).read_bytes()


def test_the_transcript_with_file_links_renders_in_headless_chromium(server, tmp_path):
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("chromium is missing: `make test` installs Debian's")
    server.teams_files.files[PLAN.url].status = 404  # no need for the 30 MB file here
    archive = tmp_path / "A"
    copy(config(tmp_path, server), archive, tmp_path / "s.db")
    page = next(p for p in archive.glob("data/chat/*/transcript.html")
                if "general" in p.parent.name)
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [str(chromium), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}",
         f"--screenshot={shot}", "--window-size=900,900", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000
