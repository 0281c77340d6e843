"""``migrate verify`` against a real Dovecot: all match after a copy; a deleted message and
changed flags are listed, exactly; bare-LF messages come back CRLF as a declared
transformation, not a loss."""

from __future__ import annotations

import json

from conftest import run_cli, synthetic_message, write_mbox


def flagged(n: int) -> dict:
    return {"msg": synthetic_message(n, body_size=300), "flags": [["\\Seen"], []][n % 2]}


def test_verify_after_imap_copy_lists_exactly_what_was_changed(dovecot, tmp_path):
    src, dst = dovecot.add_user("v-src"), dovecot.add_user("v-dst")
    dovecot.seed(src, "INBOX", [flagged(n) for n in range(30)])
    dovecot.seed(src, "Dossiers/Été", [flagged(n) for n in range(30, 45)])
    source, target = dovecot.url(src), dovecot.url(dst)
    run_cli("copy", source, target, "--state", str(tmp_path / "s.db"), "--quiet", check=True)

    clean = run_cli("verify", source, target, "--report-json", str(tmp_path / "ok.json"))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Nothing lost: all 45 messages" in clean.stdout
    report = json.loads((tmp_path / "ok.json").read_text())
    assert report["ok"] is True and report["totals"]["match"] == 45
    assert report["items"] == []

    with dovecot.client(dst) as client:
        client.select_folder("INBOX")
        uids = client.search(["HEADER", "Message-ID", "<3@test.invalid>"])
        client.delete_messages(uids)
        client.expunge()
        client.select_folder("Dossiers/Été")
        uids = client.search(["HEADER", "Message-ID", "<31@test.invalid>"])
        client.set_flags(uids, [b"\\Flagged", b"\\Seen"])

    bad = run_cli("verify", source, target, "--report-json", str(tmp_path / "bad.json"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    listed = [line for line in bad.stdout.splitlines() if line.startswith("  - ")]
    assert len(listed) == 2, bad.stdout
    assert any("missing in target: INBOX" in line and "<3@test.invalid>" in line
               and "message 3" in line and "sender3@example.org" in line for line in listed)
    assert any("differs: Dossiers/Été" in line and "<31@test.invalid>" in line
               and "flags: ∅ → \\Flagged \\Seen" in line for line in listed), listed
    report = json.loads((tmp_path / "bad.json").read_text())
    assert report["ok"] is False
    assert report["totals"] == {"messages": 45, "match": 43, "transformed": 0, "differ": 1,
                                "missing": 1, "extra": 0, "unverifiable": 0}
    items = {item["message_id"]: item for item in report["items"]}
    assert set(items) == {"<3@test.invalid>", "<31@test.invalid>"}
    assert items["<3@test.invalid>"]["outcome"] == "missing"
    assert items["<3@test.invalid>"]["folder"] == ["INBOX"]
    assert items["<31@test.invalid>"]["changes"][0]["aspect"] == "flags"
    assert items["<31@test.invalid>"]["folder"] == ["Dossiers", "Été"]


def test_bare_lf_messages_come_back_crlf_as_a_transformation(dovecot, tmp_path):
    user = dovecot.add_user("v-lf")
    lf = [synthetic_message(n).replace(b"\r\n", b"\n") for n in range(5)]
    crlf = [synthetic_message(n).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            for n in range(5, 8)]
    mbox = write_mbox(tmp_path / "Courrier.mbox", lf + crlf)
    run_cli("copy", f"mbox:{mbox}", dovecot.url(user), "--state", str(tmp_path / "s.db"),
            "--quiet", check=True)
    done = run_cli("verify", f"mbox:{mbox}", dovecot.url(user),
                   "--report-json", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "line ends stored as CRLF" in done.stdout and ": 5 messages" in done.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["totals"]["transformed"] == 5 and report["totals"]["match"] == 3
    assert report["transformations"] == {"crlf": 5}
    assert report["totals"]["missing"] == report["totals"]["differ"] == 0
