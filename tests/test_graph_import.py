"""Microsoft 365 as a target through the mailbox import/export API (connectors/graph/target.py,
mailbox_import.py, fts.py), against the fake Graph server (tests/fake_graph_import.py) with
the real msgraph-sdk: copies are received mail (not drafts) at their received time; each
step can be killed (kill -9 of a real process) and a rerun leaves every message once and no
staging draft; a 403 names the permission and the ``import=draft`` fallback."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import test_graph_target as base
from conftest import synthetic_message
from fake_graph import FakeGraph, FakeMailbox
from fake_graph_import import expire_imports, release, stall
from test_graph_target import SHA256, box, cli, expected, held, open_target, total

from connectors.graph.target import STAGING
from migrate.errors import AuthError, ConfigError, ItemError, RetryableError
from migrate.model import Content, Folder, MailMessage, Role

INBOX = Folder(("Boîte de réception",), Role.INBOX)
# The fixtures of tests/test_graph_target.py: the English source mailbox, the French target,
# the config naming them, and the archive made from the source.
source, target, config, archive = base.source, base.target, base.config, base.archive


def staged(box: FakeMailbox) -> list:
    """What lies in our staging folder (it must be hidden, and empty after a run)."""
    found = [f for f in box.folders.values() if f.name == STAGING]
    assert all(f.hidden for f in found)
    return [m for f in found for m in f.messages]


def copy_args(archive_path, tmp_path, state: str = "state.db") -> tuple[str, ...]:
    return ("copy", f"archive:{archive_path}", "cible", "--state", str(tmp_path / state),
            "--quiet")


def test_copies_are_received_mail_at_their_received_time_and_reruns_import_nothing(
        source, target, config, archive, tmp_path):
    done = cli(config, *copy_args(archive, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    count = total(box(source))
    # bytes, read, flagged, categories; not drafts; receivedDateTime = the internal date
    assert held(box(target)) == expected(box(source))
    assert not any(m.draft for f in box(target).folders.values() for m in f.messages)
    assert target.requests["import"] == target.requests["permanentDelete"] == count
    assert 0 < target.requests["export"] < count  # drafts exported several at a time
    assert not staged(box(target))
    assert target.requests["importSession"] == 1  # one session for the whole run
    assert target.requests["settings/exchange"] == 1
    sessions = getattr(target, "import_tokens", set())
    state = sqlite3.connect(tmp_path / "state.db").iterdump()
    dumped = "\n".join(state)
    for token in sessions:  # the importUrl's token is a secret
        assert token not in done.stdout + done.stderr and token not in dumped

    again = cli(config, *copy_args(archive, tmp_path))
    assert again.returncode == 0, again.stdout + again.stderr
    os.remove(tmp_path / "state.db")
    lost = cli(config, *copy_args(archive, tmp_path))
    assert lost.returncode == 0, lost.stdout + lost.stderr
    assert target.requests["import"] == target.requests["upload"] == count  # nothing again
    assert held(box(target)) == expected(box(source))


def test_keys_are_immutable_ids_and_flags_answered_draft_travel_in_the_stream(target, config):
    writer = open_target(config)
    try:
        flags = frozenset({"\\Seen", "\\Answered", "Urgent"})
        when = datetime(2022, 12, 24, 18, 5, 9, tzinfo=UTC)
        key = writer.append(INBOX, MailMessage(Content.from_chunks([synthetic_message(1)]), "1",
                                               flags, internal_date=when))
        draft = writer.append(INBOX, MailMessage(Content.from_chunks([synthetic_message(2)]),
                                                 "2", frozenset({"$Forwarded", "\\Draft"})))
        inbox = box(target).by_well_known("inbox")
        first, second = inbox.messages
        assert (key, draft) == (first.id, second.id)  # the ids $value and PATCH take
        assert (first.draft, first.is_read, first.received) == (False, True, when)
        assert first.properties["Integer 0x1081"] == "102" and first.categories == ("Urgent",)
        assert len(first.properties[SHA256]) == 64
        assert (second.draft, second.is_read) == (True, False)  # \Draft kept as a draft
        assert second.properties["Integer 0x1081"] == "104"
        writer.set_flags(INBOX, key, frozenset({"\\Flagged"}))  # the key works for a PATCH
        assert (first.is_read, first.flagged) == (False, True)
    finally:
        writer.close()
    assert not staged(box(target))


def run_killed_at(kind: str, target: FakeGraph, config: str, archive_path, tmp_path) -> None:
    """Start a copy as a real process, stall the first ``kind`` request (the step before it
    done), kill -9 the process there, then let the server drop that request."""
    stall(target, kind)
    process = subprocess.Popen([sys.executable, "-m", "migrate", "--config", config,
                                *copy_args(archive_path, tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not target.requests[f"stalled:{kind}"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert target.requests[f"stalled:{kind}"] == 1, f"no {kind} request came"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
        release(target)
    time.sleep(0.2)


def test_killed_between_the_draft_and_its_import_then_a_rerun(source, target, config,
                                                              archive, tmp_path):
    run_killed_at("import", target, config, archive, tmp_path)
    # the drafts staged with it (one export request for a batch) are left behind
    assert len(staged(box(target))) >= 1 and target.requests["import"] == 0
    again = cli(config, *copy_args(archive, tmp_path))
    assert again.returncode == 0, again.stdout + again.stderr
    assert held(box(target)) == expected(box(source))  # every message once
    assert not staged(box(target))  # the dead run's draft deleted for good
    assert target.requests["import"] == total(box(source))


def test_killed_between_the_import_and_the_drafts_deletion_then_a_rerun(source, target, config,
                                                                        archive, tmp_path):
    run_killed_at("permanentDelete", target, config, archive, tmp_path)
    assert len(staged(box(target))) >= 1 and target.requests["import"] == 1
    again = cli(config, *copy_args(archive, tmp_path))
    assert again.returncode == 0, again.stdout + again.stderr
    assert held(box(target)) == expected(box(source))  # the imported one recognised
    assert not staged(box(target))
    assert target.requests["import"] == total(box(source))  # none imported twice


def test_a_missing_import_permission_names_it_and_the_fallback(source, target, config,
                                                               archive, tmp_path):
    target.import_denied = True
    done = cli(config, *copy_args(archive, tmp_path))
    assert done.returncode == 3, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "MailboxItem.ImportExport.All" in said and "import=draft" in said
    assert not staged(box(target))  # the draft staged for the refused export is gone


def test_import_draft_keeps_mime_drafts_without_the_import_api(source, target, config, archive,
                                                               tmp_path):
    text = open(config).read()
    cible = text[text.index("[endpoints.cible]"):]
    drafts = tmp_path / "drafts.toml"  # the same mailbox, with import = "draft"
    drafts.write_text(text + cible.replace("[endpoints.cible]", "[endpoints.brouillons]")
                      + 'import = "draft"\n')
    done = cli(str(drafts), "copy", f"archive:{archive}", "brouillons", "--state",
               str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert held(box(target), dates=False) == expected(box(source), drafts=True)
    assert target.requests["export"] == target.requests["import"] == 0
    assert target.requests["upload"] == total(box(source))
    planned = cli(str(drafts), "plan", f"archive:{archive}", "brouillons")
    assert "upload time" in planned.stdout  # the draft mode's dates limit is said
    checked = cli(str(drafts), "verify", f"archive:{archive}", "brouillons")
    assert checked.returncode == 0, checked.stdout + checked.stderr  # dates not compared


def test_an_expired_session_is_renewed_and_throttling_waited_out(target, config):
    writer = open_target(config)
    try:
        writer.append(INBOX, MailMessage(Content.from_chunks([synthetic_message(1)]), "1"))
        expire_imports(target)  # the importUrl now answers 401
        writer.append(INBOX, MailMessage(Content.from_chunks([synthetic_message(2)]), "2"))
        target.throttle_imports = 2  # the import URL itself answers 429 twice
        writer.append(INBOX, MailMessage(Content.from_chunks([synthetic_message(3)]), "3"))
    finally:
        writer.close()
    assert target.requests["import:401"] == 1 and target.requests["importSession"] == 2
    assert target.requests["import:429"] == 2 and target.requests["import"] == 3
    inbox = box(target).by_well_known("inbox")
    assert [m.mime for m in inbox.messages] == [synthetic_message(n) for n in (1, 2, 3)]
    assert not staged(box(target))


def test_an_import_whose_answer_is_lost_is_found_not_repeated(target, config):
    target.drop_imports = 1
    writer = open_target(config)
    try:
        key = writer.append(INBOX, MailMessage(Content.from_chunks([synthetic_message(7)]), "7"))
    finally:
        writer.close()
    inbox = box(target).by_well_known("inbox")
    assert [m.id for m in inbox.messages] == [key] and target.requests["import"] == 1
    assert not staged(box(target))


def test_a_stream_it_cannot_read_fails_that_message_alone(target, config):
    target.corrupt_exports = 1
    writer = open_target(config)
    try:
        outcomes = writer.append_batch(INBOX, [
            MailMessage(Content.from_chunks([synthetic_message(n)]), str(n)) for n in (1, 2)])
    finally:
        writer.close()
    assert isinstance(outcomes[0], ItemError) and "0x0099" in str(outcomes[0])
    assert "not imported" in str(outcomes[0])
    inbox = box(target).by_well_known("inbox")
    assert [m.mime for m in inbox.messages] == [synthetic_message(2)]  # the other went on
    assert not staged(box(target)) and target.requests["import"] == 1
    assert target.requests["export"] == 1  # both drafts exported by one request


def test_an_unknown_import_mode_is_a_configuration_error(config):
    with pytest.raises(ConfigError, match="import must be fts"):
        open_target(config, **{"import": "pst"})


def test_the_import_urls_token_never_shows_in_an_error(target, config):
    target.refuse_imports = 1
    writer = open_target(config)
    try:
        outcome = writer.append_batch(INBOX, [
            MailMessage(Content.from_chunks([synthetic_message(1)]), "1")])[0]
    finally:
        writer.close()
    assert isinstance(outcome, ItemError) and "HTTP 400" in str(outcome)
    (token,) = target.import_tokens
    assert token not in str(outcome) and "***" in str(outcome)
    assert not staged(box(target))


def test_ids_translated_once_per_batch_and_an_untranslated_one_is_found_on_retry(target,
                                                                               config):
    messages = [MailMessage(Content.from_chunks([synthetic_message(n)]), str(n))
                for n in range(3)]
    writer = open_target(config)
    try:
        keys = writer.append_batch(INBOX, messages)
        assert target.requests["translate"] == 1  # one request for the three imports
        target.untranslatable = 1
        extra = MailMessage(Content.from_chunks([synthetic_message(9)]), "9")
        (outcome,) = writer.append_batch(INBOX, [extra])
        assert isinstance(outcome, RetryableError) and "looked for again" in str(outcome)
        (again,) = writer.append_batch(INBOX, [extra])  # the engine's retry
    finally:
        writer.close()
    inbox = box(target).by_well_known("inbox")
    assert [m.id for m in inbox.messages] == [*keys, again]  # the retry imported nothing
    assert target.requests["import"] == 4 and not staged(box(target))


def test_a_refused_import_session_names_the_permission_and_leaves_no_draft(target, config):
    target.import_denied = "session"  # exportItems allowed, createImportSession refused
    writer = open_target(config)
    try:
        with pytest.raises(AuthError, match=r"MailboxItem\.ImportExport\.All.*import=draft"):
            writer.append(INBOX, MailMessage(Content.from_chunks([synthetic_message(1)]), "1"))
    finally:
        writer.close()
    assert target.requests["export"] == 1 and target.requests["import"] == 0
    assert not staged(box(target)) and not box(target).by_well_known("inbox").messages
