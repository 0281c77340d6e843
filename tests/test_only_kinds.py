"""``--only KIND``: a pass that carries some kinds of items and leaves the others, as
MigrationWiz's item types do: calendars first, mail later, or mail alone into a target
that holds more. On a real Outlook file (an OST holding mail, calendars and contacts),
with plan, copy, verify and batch, through the CLI as an operator runs it."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

pytest.importorskip("pypff", reason="the pst extra (libpff-python) is not installed")


def archived(archive) -> tuple[int, int]:
    """(messages, calendar entries) held by an archive."""
    index = archive / "data/index"
    messages = (index / "messages.jsonl").read_text().splitlines() \
        if (index / "messages.jsonl").exists() else []
    entries = (index / "entries.jsonl").read_text().splitlines() \
        if (index / "entries.jsonl").exists() else []
    return len(messages), sum(json.loads(line)["kind"] == "calendar" for line in entries)


def test_calendars_first_then_the_rest(outlook_ost, tmp_path):
    source, archive, state = f"pst:{outlook_ost}", tmp_path / "A", str(tmp_path / "s.db")
    planned = run_cli("plan", source, f"archive:{archive}", "--only", "calendar",
                      "--state", state)
    assert planned.returncode == 0, planned.stderr
    assert "Left out by --only: mail, contacts." in planned.stdout
    assert "169 events" in planned.stdout and "Total:" not in planned.stdout

    first = run_cli("--lang", "fr", "copy", source, f"archive:{archive}", "--only", "calendar",
                    "--state", state, "--quiet")
    assert first.returncode == 0, first.stdout + first.stderr
    assert archived(archive) == (0, 169)
    checked = run_cli("verify", source, f"archive:{archive}", "--only", "calendar")
    assert checked.returncode == 0, checked.stdout
    assert "169 of 169 events match" in checked.stdout
    whole = run_cli("verify", source, f"archive:{archive}")
    assert whole.returncode == 1 and "14 missing" in whole.stdout  # the mail is not there

    rest = run_cli("copy", source, f"archive:{archive}", "--state", state, "--quiet")
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert "Copied 14 messages" in rest.stdout and "0 events copied" in rest.stdout
    assert archived(archive) == (14, 169)
    assert run_cli("verify", source, f"archive:{archive}").returncode == 0


def test_a_kind_the_pair_cannot_carry_is_refused_before_anything_is_copied(tmp_path):
    mbox = tmp_path / "in.mbox"
    mbox.write_bytes(b"From x@y Thu Jan  1 00:00:00 2026\nSubject: s\n\nbody\n")
    refused = run_cli("copy", f"mbox:{mbox}", f"archive:{tmp_path / 'A'}", "--only", "chat",
                      "--state", str(tmp_path / "s.db"))
    assert refused.returncode == 2
    assert "--only chat: mbox → archive carries only mail" in refused.stderr
    assert not (tmp_path / "A" / "data" / "eml").exists()
    wrong = run_cli("copy", f"mbox:{mbox}", f"archive:{tmp_path / 'A'}", "--only", "agenda")
    assert wrong.returncode == 2 and "'agenda' is not one of" in wrong.stderr


def test_a_jobs_file_gives_each_row_its_kinds_and_names_a_wrong_one(outlook_ost, tmp_path):
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("source,target,only\n"
                    f"pst:{outlook_ost},archive:{tmp_path / 'A1'},calendar;contacts\n"
                    f"pst:{outlook_ost},archive:{tmp_path / 'A2'},mal\n")
    checked = run_cli("batch", str(jobs), "--check", "--state", str(tmp_path / "s.db"))
    assert checked.returncode == 2
    assert f"{jobs}:3: only: unknown kind of item mal" in checked.stderr, checked.stderr

    jobs.write_text("source,target,only\n"
                    f"pst:{outlook_ost},archive:{tmp_path / 'A1'},calendar;contacts\n"
                    f"pst:{outlook_ost},archive:{tmp_path / 'A2'},\n")
    done = run_cli("batch", str(jobs), "--jobs", "2", "--only", "mail",
                   "--state", str(tmp_path / "s.db"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert archived(tmp_path / "A1") == (0, 169)  # its own cell
    assert archived(tmp_path / "A2") == (14, 0)   # --only for the rows without one
