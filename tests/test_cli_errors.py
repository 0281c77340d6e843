"""An error ends a command with its exit code, the technical message, and what to do about
it in the operator's language: a wrong endpoint, a server that does not answer, a refused
password on a real Dovecot, a tampered archive."""

from __future__ import annotations

import socket

from conftest import run_cli

from migrate.errors import (
    ArchiveError,
    AuthError,
    CapabilityError,
    ConfigError,
    ConnectError,
    MailboxUnavailableError,
    MigrateError,
    StateError,
)
from migrate.i18n import MESSAGES


def test_every_kind_of_error_says_what_to_do_in_both_languages():
    kinds = (MigrateError, ConfigError, CapabilityError, ConnectError, AuthError,
             MailboxUnavailableError, ArchiveError, StateError)
    hints = {kind.hint for kind in kinds}
    assert len(hints) == len(kinds)  # each says something of its own
    assert all(set(MESSAGES[hint]) == {"en", "fr"} for hint in hints)


def test_a_wrong_endpoint_exits_2_and_says_to_correct_it(tmp_path):
    done = run_cli("--lang", "fr", "copy", "nosuch:x", f"maildir:{tmp_path / 'm'}",
                   "--state", str(tmp_path / "s.db"))
    assert done.returncode == 2
    first, hint = done.stderr.strip().splitlines()[-2:]
    assert first.startswith("Erreur : no connector for 'nosuch:'")
    assert hint.startswith("À faire : corrigez la commande")


def test_a_server_that_does_not_answer_exits_3_and_says_what_to_check(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run_cli("copy", f"imap://agent:pw@127.0.0.1:{port}?tls=off",
                   f"maildir:{tmp_path / 'm'}", "--state", str(tmp_path / "s.db"))
    assert done.returncode == 3, done.stderr
    assert "What to do: check the server's address and port" in done.stderr


def test_a_refused_password_exits_3_names_the_secret_to_check_and_never_shows_it(
        dovecot, tmp_path):
    user = dovecot.add_user("erwan", "the-right-one")
    for lang, expected in (("en", "What to do: check the account and its secret"),
                           ("fr", "À faire : vérifiez le compte et son secret")):
        done = run_cli("--lang", lang, "copy", dovecot.url(user, "Wrong-Pw-41"),
                       f"maildir:{tmp_path / 'm'}", "--state", str(tmp_path / "s.db"))
        assert done.returncode == 3, done.stderr
        assert expected in done.stderr
        assert "Wrong-Pw-41" not in done.stdout + done.stderr


def test_an_archive_of_an_unknown_format_points_to_archive_validate(tmp_path):
    archive = tmp_path / "A"
    sample = tmp_path / "in.mbox"
    sample.write_bytes(b"From x@y Thu Jan  1 00:00:00 2026\nSubject: s\n\nbody\n")
    assert run_cli("copy", f"mbox:{sample}", f"archive:{archive}",
                   "--state", str(tmp_path / "s.db")).returncode == 0
    info = archive / "bag-info.txt"
    lines = [("Sovereign-Migrate-Archive-Version: 99" if line.startswith(
        "Sovereign-Migrate-Archive-Version:") else line) for line in info.read_text().splitlines()]
    info.write_text("\n".join(lines) + "\n")
    done = run_cli("--lang", "fr", "copy", f"archive:{archive}", f"maildir:{tmp_path / 'm'}",
                   "--state", str(tmp_path / "s2.db"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "archive format version 99 is unknown" in done.stderr
    assert "À faire : `migrate archive validate DOSSIER`" in done.stderr, done.stderr
