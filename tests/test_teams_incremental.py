"""Issue 7: incremental Teams passes. A rerun asks Graph only for what changed (channel
delta rounds, chat listings filtered on lastModifiedDateTime) and writes nothing when
nothing changed; an edit, a reaction, a deletion or a new reply becomes a new version in
the archive (every version kept, the transcript showing the current one); a run killed
with SIGKILL and run again leaves nothing missing and nothing twice; a thread whose replies
cannot be listed fails alone and is completed by the next run.

Against the fake Graph server (tests/fake_graph_teams.py, tests/fake_graph_teams_delta.py)
driven by the real msgraph-sdk, through real ``migrate`` processes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from fake_graph import FakeGraph
from fake_graph_teams import FakeTeams
from test_teams_copy import (
    AGENT,
    ALICE,
    BOB,
    GENERAL,
    PROJECTS,
    TOKEN,
    archived,
    build,
    config,
    copy,
    message,
    user,
)

from migrate.archive import open_archive, validate
from migrate.state import StateDB


@pytest.fixture
def teams() -> FakeTeams:
    return build()


@pytest.fixture
def server(teams):
    fake = FakeGraph(tokens={TOKEN}).start()
    fake.teams = teams
    yield fake
    fake.stop()


def lines(archive: Path) -> dict[str, list[dict]]:
    """Every line of every conversation's messages.jsonl, by directory name."""
    return {p.parent.name: [json.loads(x) for x in p.read_bytes().splitlines()]
            for p in archive.glob("data/chat/*/messages.jsonl")}


def ids(archive: Path) -> list[str]:
    """The message id of every line of the archive (versions included)."""
    return sorted(m["source_id"] for found in lines(archive).values() for m in found)


def verify(conf: str, archive: Path, total: int) -> None:
    checked = run_cli("--config", conf, "verify", "mairie", f"archive:{archive}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"Chat: {total} of {total} messages match." in checked.stdout


def change_everything(fake: FakeTeams) -> None:
    """An edit, a reaction, a deletion and a new reply in the team's channels."""
    fake.edit("1002", "<p>Le plan, version 2</p>", "2024-06-01T10:00:00Z")
    fake.react("1001", "laugh", BOB[0], "2024-06-01T10:01:00Z")
    fake.delete("2003", "2024-06-01T10:02:00Z")
    fake.add_reply("1001", message("1103", "2024-06-01T10:03:00Z", user(*ALICE[:2]),
                                    "<p>Nouvelle réponse</p>", replyToId="1001"))


def test_a_rerun_with_nothing_changed_asks_only_for_changes_and_writes_nothing(
        server, teams, tmp_path):
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    first = copy(conf, archive, state)
    assert first.returncode == 0, first.stdout + first.stderr
    assert server.requests["channel delta:initial"] == 2  # one per channel, for its link
    files = {p: p.read_bytes() for p in archive.glob("data/chat/*/messages.jsonl")}
    server.requests.clear()
    again = copy(conf, archive, state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Copied 0 messages" in again.stdout and "0 failed" in again.stdout
    assert server.requests["channel delta:token"] == 2
    for full in ("channel messages", "replies", "hostedContents", "channel delta:initial"):
        assert server.requests[full] == 0, full
    assert {p: p.read_bytes() for p in archive.glob("data/chat/*/messages.jsonl")} == files

    chats, chat_state = tmp_path / "B", tmp_path / "c.db"
    chat_conf = config(tmp_path, server, f"/?user={AGENT}")
    assert copy(chat_conf, chats, chat_state).returncode == 0
    server.requests.clear()
    again = copy(chat_conf, chats, chat_state)
    assert again.returncode == 0 and "Copied 0 messages" in again.stdout, again.stdout
    assert server.requests["chat messages"] == server.requests["chat messages:filtered"] == 2


def test_edits_reactions_deletions_and_replies_become_new_versions(server, teams, tmp_path):
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    assert copy(conf, archive, state).returncode == 0
    before = ids(archive)
    change_everything(teams)
    server.requests.clear()
    again = copy(conf, archive, state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Copied 1 messages" in again.stdout  # the new reply
    assert "3 chat message(s) copied earlier changed" in again.stdout
    assert server.requests["channel messages"] == 0
    assert server.requests["replies"] == 3  # the threads that changed (1001, 1002, 2003) only
    assert ids(archive) == sorted([*before, "1001", "1002", "2003", "1103"])

    by_dir = lines(archive)
    general = next(v for k, v in by_dir.items() if "general" in k)
    assert [m.get("version", 1) for m in general if m["source_id"] == "1002"] == [1, 2]
    latest = next(m for m in reversed(general) if m["source_id"] == "1002")
    assert json.loads(latest["raw"])["body"]["content"] == "<p>Le plan, version 2</p>"
    _, messages, reader = archived(archive)
    assert messages["1002"].body_html == "<p>Le plan, version 2</p>"
    assert messages["1002"].edited.isoformat() == "2024-06-01T10:00:00+00:00"
    assert {r.key for r in messages["1001"].reactions} == {"like", "❤", "laugh"}
    assert messages["2003"].deleted.isoformat() == "2024-06-01T10:02:00+00:00"
    assert messages["1103"].thread_root_id == "1001"
    reader.close()
    reader = open_archive(archive)
    conversation = next(c for c in reader.conversations() if c.source_id == GENERAL)
    versions = {v[-1].source_id: v for v in reader.chat_versions(conversation)}
    assert versions["1002"][0].body_html.startswith("<p>Le plan :</p>")
    assert len(versions["1001"]) == 2 and len(versions["1101"]) == 1
    order = [m.source_id for m in reader.chat_messages(conversation)]
    assert order == ["1001", "1101", "1102", "1002", "1003", "1004", "1103"]  # as written
    reader.close()

    assert validate(archive).ok
    page = next(archive.glob("data/chat/*general*/transcript.html")).read_text("utf-8")
    assert "Le plan, version 2" in page and "1 former archived version(s)" in page
    assert "Nouvelle réponse" in page and "laugh" in page
    verify(conf, archive, 15)

    third = copy(conf, archive, state)  # the changes were carried once: nothing more
    assert third.returncode == 0 and "Copied 0 messages" in third.stdout
    assert "changed at the source" not in third.stdout
    assert len(ids(archive)) == len(before) + 4


def test_a_chat_edit_is_found_by_the_lastmodified_filter(server, teams, tmp_path):
    archive, state = tmp_path / "B", tmp_path / "s.db"
    conf = config(tmp_path, server, f"/?user={AGENT}")
    assert copy(conf, archive, state).returncode == 0
    teams.edit("3001", "<p>Tu as le dossier complet ?</p>", "2024-07-01T08:00:00Z")
    teams.react("4001", "like", ALICE[0], "2024-07-01T08:05:00Z")
    again = copy(conf, archive, state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 chat message(s) copied earlier changed" in again.stdout
    _, messages, reader = archived(archive)
    reader.close()
    assert messages["3001"].body_html == "<p>Tu as le dossier complet ?</p>"
    assert [r.key for r in messages["4001"].reactions] == ["like"]
    assert ids(archive) == sorted(["3001", "3001", "3002", "4001", "4001"])
    assert validate(archive).ok
    verify(conf, archive, 3)


def test_a_killed_incremental_run_and_a_rerun_leave_nothing_missing_or_twice(
        server, teams, tmp_path):
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    assert copy(conf, archive, state).returncode == 0
    before = ids(archive)
    change_everything(teams)
    for n in range(8):  # every message of the second channel edited too
        teams.edit(str(2000 + n), f"<div>point {n} revu</div>", f"2024-06-02T0{n}:00:00Z")
    changed = {"1001", "1002", "1103"} | {str(2000 + n) for n in range(8)}
    server.delay = 0.15  # each request is slow: the kill lands mid-run
    args = ["--config", conf, "copy", "mairie", f"archive:{archive}", "--state", str(state),
            "--quiet"]
    process = subprocess.Popen([sys.executable, "-m", "migrate", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(ids(archive)) == len(before) and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert len(before) < len(ids(archive)) < len(before) + len(changed)  # killed mid-run
    time.sleep(0.3)
    server.delay = 0.0
    again = run_cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ids(archive) == sorted(before + sorted(changed))  # one new version each, once
    report = validate(archive)
    assert report.ok, report.problems
    _, messages, reader = archived(archive)
    reader.close()
    assert messages["2005"].body_html == "<div>point 5 revu</div>"
    verify(conf, archive, 15)


def test_a_reply_alone_is_found_by_the_next_full_pass(server, teams, tmp_path):
    """Graph's channel delta reports first messages only, and a reply leaves its first
    message untouched: an incremental pass cannot see it, the next full pass does
    (``full_pass_days``; 0 makes every pass full, as the last one should be)."""
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    assert copy(conf, archive, state).returncode == 0
    before = ids(archive)
    teams.edit("1101", "<p>Merci, version corrigée deux fois</p>", "2024-06-03T08:00:00Z")
    teams.add_reply("1001", message("1104", "2024-06-03T08:01:00Z", user(*BOB[:2]),
                                    "<p>Une réponse tardive</p>", replyToId="1001"))
    incremental = copy(conf, archive, state)
    assert incremental.returncode == 0 and "Copied 0 messages" in incremental.stdout
    assert ids(archive) == before  # the documented limit of an incremental pass

    Path(conf).write_text(Path(conf).read_text() + 'full_pass_days = "0"\n')
    server.requests.clear()
    full = copy(conf, archive, state)
    assert full.returncode == 0, full.stdout + full.stderr
    assert server.requests["channel messages"] > 0 and server.requests["replies"] > 0
    assert "Copied 1 messages" in full.stdout
    assert "1 chat message(s) copied earlier changed" in full.stdout
    assert ids(archive) == sorted([*before, "1101", "1104"])
    verify(conf, archive, 15)


def test_a_refused_delta_filter_falls_back_to_a_whole_delta_round(server, teams, tmp_path):
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    teams.delta_filter = False
    first = copy(conf, archive, state)
    assert first.returncode == 0, first.stdout + first.stderr
    assert server.requests["400"] == 2 and server.requests["channel delta:initial"] == 2
    teams.edit("2001", "<div>point 1 revu</div>", "2024-06-02T01:00:00Z")
    server.requests.clear()
    again = copy(conf, archive, state)
    assert again.returncode == 0 and server.requests["channel messages"] == 0
    assert "1 chat message(s) copied earlier changed" in again.stdout


def test_an_expired_delta_link_lists_the_channels_afresh_and_misses_nothing(
        server, teams, tmp_path):
    archive, state, conf = tmp_path / "A", tmp_path / "s.db", config(tmp_path, server)
    assert copy(conf, archive, state).returncode == 0
    before = ids(archive)
    teams.edit("2005", "<div>point 5 revu</div>", "2024-06-02T05:00:00Z")
    server.expire_deltas = True
    server.requests.clear()
    again = copy(conf, archive, state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert server.requests["410"] == 2 and server.requests["channel messages"] > 0
    assert "1 chat message(s) copied earlier changed" in again.stdout
    assert "Copied 0 messages" in again.stdout and "0 failed" in again.stdout
    assert ids(archive) == sorted([*before, "2005"])
    server.expire_deltas = False
    server.requests.clear()
    third = copy(conf, archive, state)  # the fresh listing left a new delta link
    assert third.returncode == 0 and server.requests["channel delta:token"] == 2
    assert server.requests["channel messages"] == 0


@pytest.mark.parametrize("status", [403, 404, 500])
def test_a_thread_whose_replies_fail_fails_alone_and_the_next_run_completes_it(
        server, teams, tmp_path, status):
    archive, state = tmp_path / "A", tmp_path / "s.db"
    conf = config(tmp_path, server)
    Path(conf).write_text(Path(conf).read_text() + 'throttle_retries = "1"\nmax_wait = "1"\n')
    teams.failing_replies["1001"] = status
    done = copy(conf, archive, state)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[1001#replies]" in done.stdout and "replies to message 1001" in done.stdout
    _, messages, reader = archived(archive)
    reader.close()
    assert set(messages) == {"1001", "1002", "1003", "1004"} | {str(2000 + n)
                                                                 for n in range(8)}
    db = StateDB.open(state)
    assert any(key == "1001#replies" for _, key, _ in db.failures(1))

    checked = run_cli("--config", conf, "verify", "mairie", f"archive:{archive}")
    assert checked.returncode != 0 and "replies to message 1001" in checked.stdout + \
        checked.stderr  # a partial listing never passes for a match

    del teams.failing_replies["1001"]  # healed: the next run lists the thread again
    again = copy(conf, archive, state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Copied 2 messages" in again.stdout
    assert not any(key == "1001#replies" for _, key, _ in db.failures(1))
    assert len(ids(archive)) == 14 and validate(archive).ok
    verify(conf, archive, 14)


def test_old_and_new_archives_read_alike_without_versions(server, teams, tmp_path):
    """An archive without later versions has no ``version`` field anywhere: byte for byte
    what format v1 always wrote; open_archive counts messages, not lines."""
    archive, conf = tmp_path / "A", config(tmp_path, server)
    assert copy(conf, archive, tmp_path / "s.db").returncode == 0
    assert all("version" not in m for found in lines(archive).values() for m in found)
    change_everything(teams)
    assert copy(conf, archive, tmp_path / "s.db").returncode == 0
    reader = open_archive(archive)
    counts = {c.source_id: reader.chat_message_count(c) for c in reader.conversations()}
    assert counts == {GENERAL: 7, PROJECTS: 8}
    summary = run_cli("archive", "show", str(archive))
    assert summary.returncode == 0, summary.stderr
    assert "Général" in summary.stdout
