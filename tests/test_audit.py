"""``migrate audit``: the append-only audit log as an operator reads it, from another
process, on a real copy with deletions carried to a real Dovecot: who ran what and when,
what was deleted at the source and at the target, in English and French or as JSON lines,
filtered by kind, job and date; never a password."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta

import pytest
from conftest import run_cli, synthetic_message

pytest.importorskip("imapclient")

PASSWORD = "Audit-Pw-93xq"
FOLDER = "Dossiers/Élus"


@pytest.fixture
def copied_then_deleted(dovecot, tmp_path):
    """A copy, two messages expunged at the source, then ``copy --delete``: the state."""
    source_user = dovecot.add_user("aude", PASSWORD)
    target_user = dovecot.add_user("audrey", PASSWORD)
    dovecot.seed(source_user, FOLDER, [synthetic_message(n) for n in range(6)], PASSWORD)
    source, target = dovecot.url(source_user, PASSWORD), dovecot.url(target_user, PASSWORD)
    state = str(tmp_path / "state.db")
    assert run_cli("copy", source, target, "--state", state, "--quiet").returncode == 0
    with dovecot.client(source_user, PASSWORD) as client:
        client.select_folder(FOLDER)
        client.delete_messages(sorted(client.search("ALL"))[:2])
        client.expunge()
    done = run_cli("copy", source, target, "--state", state, "--quiet", "--delete")
    assert done.returncode == 0, done.stdout + done.stderr
    return state


def audit(state: str, *args: str, lang: str = "en"):
    return run_cli("--lang", lang, "audit", "--state", state, *args)


def test_deletions_at_both_ends_are_named_with_their_folder_and_pair(copied_then_deleted):
    state = copied_then_deleted
    shown = audit(state)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    assert sum("migrate copy started" in line for line in lines) == 2
    deleted_at_source = [line for line in lines if "deleted at the source, in" in line]
    assert len(deleted_at_source) == 1
    assert f"2 item(s) deleted at the source, in {FOLDER}: their copies are kept" \
        in deleted_at_source[0]
    deleted_at_target = [line for line in lines if "deleted at the target" in line]
    assert len(deleted_at_target) == 2
    assert all(f"in {FOLDER} (deleted at the source; copy --delete)" in line
               and "[job 1: imap://aude@127.0.0.1" in line for line in deleted_at_target)
    assert lines.index(deleted_at_source[0]) < lines.index(deleted_at_target[0])
    assert lines[-1].endswith("run 2 ended: all done, 0 copied, 0 failed")
    assert PASSWORD not in shown.stdout + shown.stderr

    french = audit(state, lang="fr")
    assert f"supprimée sur la cible, dans {FOLDER}" in french.stdout
    assert f"2 élément(s) supprimé(s) à la source, dans {FOLDER}" in french.stdout
    assert "exécution 2 terminée : tout est fait, 0 copiés, 0 en échec" in french.stdout
    assert "migrate copy lancé : imap://aude@" in french.stdout


def test_json_lines_filtered_by_kind_job_and_date(copied_then_deleted):
    state = copied_then_deleted
    shown = audit(state, "--event", "target-deleted", "--json")
    assert shown.returncode == 0, shown.stderr
    events = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [event["event"] for event in events] == ["target-deleted"] * 2
    assert all(event["folder"] == FOLDER.split("/") and event["job"] == 1
               and event["at"].endswith("+00:00") for event in events)
    with sqlite3.connect(state) as db:
        deleted = {key for (key,) in db.execute(
            "SELECT source_key FROM items WHERE status = 'deleted'")}
    assert {event["detail"]["item"] for event in events} == deleted and len(deleted) == 2
    assert PASSWORD not in shown.stdout

    both = audit(state, "--event", "run-started", "--event", "run-finished", "--json")
    assert [json.loads(line)["event"] for line in both.stdout.splitlines()] == \
        ["run-started", "run-finished"] * 2
    of_job = audit(state, "--job", "1", "--json").stdout.splitlines()
    assert of_job and all(json.loads(line)["job"] == 1 for line in of_job)
    assert "No audit event" in audit(state, "--job", "99").stdout

    today, tomorrow = date.today(), date.today() + timedelta(days=1)
    assert len(audit(state, "--since", today.isoformat()).stdout.splitlines()) == \
        len(audit(state).stdout.splitlines())
    assert "No audit event" in audit(state, "--since", tomorrow.isoformat()).stdout


def test_an_unknown_kind_of_event_is_refused_with_the_known_ones(copied_then_deleted):
    refused = audit(copied_then_deleted, "--event", "target-deleted", "--event", "deletd")
    assert refused.returncode == 2
    assert "unknown kind of event: deletd" in refused.stderr
    assert "target-deleted" in refused.stderr
    listed = audit(copied_then_deleted, "--event", "list").stdout.split()
    assert "batch-job-taken-over" in listed and "target-deleted" in listed
