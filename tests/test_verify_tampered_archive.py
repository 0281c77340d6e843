"""``migrate archive validate`` on a tampered archive: one byte changed, one file removed and
one added are each reported, naming the file, and the exit code is 1."""

from __future__ import annotations

from conftest import run_cli, synthetic_message, write_mbox


def test_changed_removed_and_added_files_are_each_named(tmp_path):
    mbox = write_mbox(tmp_path / "Courrier.mbox", [synthetic_message(n) for n in range(6)])
    archive = tmp_path / "A"
    run_cli("copy", f"mbox:{mbox}", f"archive:{archive}", "--state", str(tmp_path / "s.db"),
            "--quiet", check=True)
    assert run_cli("archive", "validate", str(archive)).returncode == 0
    files = sorted((archive / "data" / "eml").rglob("*.eml"))
    changed, removed = files[0], files[1]
    data = bytearray(changed.read_bytes())
    data[200] ^= 0x01  # one bit of one byte
    changed.write_bytes(bytes(data))
    removed.unlink()
    added = changed.parent / "ajout.eml"
    added.write_bytes(synthetic_message(99))

    done = run_cli("archive", "validate", str(archive))
    assert done.returncode == 1, done.stdout
    lines = done.stdout.splitlines()
    for path, words in ((changed, "changed"), (removed, "missing"), (added, "not listed")):
        relative = path.relative_to(archive).as_posix()
        assert any(relative in line and words in line for line in lines), (relative, lines)
    untouched = files[2].relative_to(archive).as_posix()
    assert not any(untouched in line for line in lines)
