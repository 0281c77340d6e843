"""``migrate verify`` between local endpoints: every outcome, listed, with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli, synthetic_message, write_mbox


def _copied(tmp_path: Path, count: int = 12) -> tuple[str, str, Path]:
    mbox = write_mbox(tmp_path / "Boîte.mbox", [synthetic_message(n) for n in range(count)])
    source, target = f"mbox:{mbox}", f"maildir:{tmp_path / 'md'}"
    run_cli("copy", source, target, "--state", str(tmp_path / "s.db"), "--quiet", check=True)
    return source, target, tmp_path / "md" / ".Bo&AO4-te" / "cur"


def _file_of(folder: Path, n: int) -> Path:
    return next(p for p in folder.iterdir() if f"<{n}@test.invalid>".encode() in p.read_bytes())


def test_moved_missing_extra_and_changed_bytes_are_each_listed(tmp_path):
    source, target, cur = _copied(tmp_path)
    _file_of(cur, 2).unlink()                                     # missing
    moved = _file_of(cur, 4)                                      # moved to INBOX
    moved.rename(tmp_path / "md" / "cur" / moved.name)
    changed = _file_of(cur, 6)                                    # same Message-ID, new bytes
    changed.write_bytes(changed.read_bytes().replace(b"message 6", b"message VI"))
    (cur / "1.extra.migrate:2,").write_bytes(synthetic_message(99))  # only in target

    done = run_cli("verify", source, target, "--report-json", str(tmp_path / "r.json"))
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    outcome = {item["message_id"]: item for item in report["items"]}
    assert outcome["<2@test.invalid>"]["outcome"] == "missing"
    assert outcome["<4@test.invalid>"]["outcome"] == "differ"
    assert outcome["<4@test.invalid>"]["changes"][0]["aspect"] == "folder"
    assert outcome["<4@test.invalid>"]["target_folder"] == ["INBOX"]
    assert outcome["<6@test.invalid>"]["changes"][0]["aspect"] == "bytes"
    assert outcome["<99@test.invalid>"]["outcome"] == "extra"
    assert len(report["items"]) == 4
    assert report["totals"]["match"] == 9
    assert "(folder: Boîte → INBOX)" in done.stdout


def test_french_summary_and_the_first_hundred_then_a_pointer(tmp_path):
    source, target, cur = _copied(tmp_path, count=130)
    for path in list(cur.iterdir())[:120]:
        path.unlink()
    done = run_cli("--lang", "fr", "verify", source, target,
                   "--report-html", str(tmp_path / "r.html"))
    assert done.returncode == 1
    listed = [line for line in done.stdout.splitlines() if line.startswith("  - ")]
    assert len(listed) == 100
    assert "… et 20 de plus. Tous sont listés dans" in done.stdout
    assert "Écarts trouvés : 120 manquants" in done.stdout
    page = (tmp_path / "r.html").read_text()
    assert page.count("absent de la cible") >= 120 and '<html lang="fr">' in page


def test_identical_endpoints_exit_zero(tmp_path):
    source, target, _ = _copied(tmp_path)
    done = run_cli("verify", source, target)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Nothing lost: all 12 messages" in done.stdout


def test_an_unreadable_target_folder_is_unverifiable_never_a_pass(tmp_path):
    source, target, cur = _copied(tmp_path, count=4)
    broken = next(cur.iterdir())
    broken.unlink()
    broken.symlink_to(tmp_path / "nowhere")  # the target's listing fails on it
    done = run_cli("verify", source, target, "--report-json", str(tmp_path / "r.json"))
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["totals"]["unverifiable"] == 4 and report["totals"]["missing"] == 0
    assert report["totals"]["match"] == 0 and report["ok"] is False
    assert all(item["detail"] for item in report["items"])
