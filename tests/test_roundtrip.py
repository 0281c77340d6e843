"""``migrate roundtrip``: an archive through a scratch target and back, with a certificate
(via a Maildir, and via a real Dovecot)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import run_cli, synthetic_message

from migrate.archive import ArchiveWriter
from migrate.model import Content, Folder, MailMessage, Role

OFFSET = timezone(timedelta(hours=-5))
FOLDERS = [Folder(("INBOX",), Role.INBOX), Folder(("Éléments envoyés",), Role.SENT),
           Folder(("Projets", "2024"))]


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A sealed archive: 30 messages with flags, keywords and dates at UTC-5 in 3 folders."""
    path = tmp_path / "A"
    writer = ArchiveWriter.open(path, source="test:roundtrip")
    for folder in FOLDERS:
        writer.prepare_folder(folder)
    for n in range(30):
        flags = [{"\\Seen"}, {"\\Answered", "\\Flagged"}, {"$Forwarded", "Projet-Alpha"},
                 set()][n % 4]
        date = datetime(2022, 3, 1, 9, 0, tzinfo=OFFSET) + timedelta(hours=n)
        writer.append(FOLDERS[n % 3], MailMessage(Content.from_bytes(crlf(synthetic_message(n))),
                                                  f"m{n}", frozenset(flags), date))
    writer.commit()
    writer.close()
    assert run_cli("archive", "validate", str(path)).returncode == 0
    return path


def _certificate(prefix: Path) -> dict:
    return json.loads(prefix.with_suffix(".json").read_text())


def _check(cert: dict) -> None:
    assert cert["ok"] is True and cert["lost"] == 0
    assert cert["messages"] == 30 and cert["byte_identical"] == 30
    assert cert["byte_identical_percent"] == 100.0
    assert cert["transformations"].get("date-offset") == 30  # UTC-5 came back in UTC
    assert cert["archive"]["messages_sha256"] == cert["returned"]["messages_sha256"]
    assert cert["archive"]["tagmanifest_sha256"] != cert["returned"]["tagmanifest_sha256"]
    assert cert["operator"] and cert["tool_version"] and cert["created"]


def test_roundtrip_via_maildir(archive, tmp_path):
    prefix = tmp_path / "cert"
    via = f"maildir:{tmp_path / 'scratch'}"
    done = run_cli("roundtrip", str(archive), "--via", via, "--certificate", str(prefix),
                   "--out", str(tmp_path / "back"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "30/30 messages byte-identical (100.0 %), 0 lost" in done.stdout
    cert = _certificate(prefix)
    _check(cert)
    assert run_cli("archive", "validate", str(tmp_path / "back")).returncode == 0
    for language in ("fr", "en"):
        page = Path(f"{prefix}.{language}.html").read_text()
        assert f'<html lang="{language}">' in page
        assert cert["archive"]["tagmanifest_sha256"] in page
    assert "Certificat de réversibilité" in Path(f"{prefix}.fr.html").read_text()
    HTMLParser().feed(Path(f"{prefix}.en.html").read_text())

    again = run_cli("roundtrip", str(archive), "--via", via, "--certificate", str(prefix))
    assert again.returncode == 2 and "not empty" in again.stderr


def test_roundtrip_via_dovecot_names_its_transformations(archive, dovecot, tmp_path):
    user = dovecot.add_user("rt-scratch")
    prefix = tmp_path / "cert"
    done = run_cli("roundtrip", str(archive), "--via", dovecot.url(user),
                   "--certificate", str(prefix))
    assert done.returncode == 0, done.stdout + done.stderr
    cert = _certificate(prefix)
    _check(cert)
    assert {"from": ["Éléments envoyés"], "to": ["Sent"]} in cert["renamed_folders"]
    assert "received dates in the server's time zone" in done.stdout
    assert "secret" not in json.dumps(cert)


def test_forced_roundtrip_over_a_used_target_counts_extras_not_losses(archive, tmp_path):
    """A Maildir that is not empty is refused, and with --force whatever else it holds
    comes back as extra (not lost); the certificate still proves the archive's messages."""
    scratch = tmp_path / "scratch"
    first = run_cli("roundtrip", str(archive), "--via", f"maildir:{scratch}",
                    "--certificate", str(tmp_path / "one"))
    assert first.returncode == 0, first.stdout + first.stderr
    (scratch / "cur" / "1.extra.migrate:2,").write_bytes(synthetic_message(999))
    forced = run_cli("roundtrip", str(archive), "--via", f"maildir:{scratch}", "--force",
                     "--certificate", str(tmp_path / "two"))
    assert forced.returncode == 0, forced.stdout + forced.stderr
    cert = _certificate(tmp_path / "two")
    assert cert["comparison"]["totals"]["extra"] == 1 and cert["lost"] == 0
