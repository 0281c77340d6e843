"""A later pass carries flag changes made at the source since the last one (CONDSTORE),
without copying anything again."""

from __future__ import annotations

from collections import Counter

from conftest import run_cli, synthetic_message


def flags_by_bytes(contents: dict[str, list[tuple]], folder: str) -> Counter:
    return Counter((data, flags) for data, flags, _ in contents[folder])


def test_flag_changes_at_the_source_reach_the_target_on_the_next_pass(dovecot, tmp_path):
    source_user, target_user = dovecot.add_user("flora"), dovecot.add_user("felix")
    dovecot.seed(source_user, "INBOX", [synthetic_message(n) for n in range(10)])
    source, target = dovecot.url(source_user), dovecot.url(target_user)
    state = str(tmp_path / "state.db")
    first = run_cli("copy", source, target, "--state", state, "--quiet")
    assert first.returncode == 0, first.stdout + first.stderr

    with dovecot.client(source_user) as client:
        client.select_folder("INBOX")
        uids = sorted(client.search("ALL"))
        client.add_flags(uids[:3], ["\\Flagged", "\\Seen"])
        client.add_flags(uids[3:4], ["Projet-Alpha"])
    dovecot.seed(source_user, "INBOX", [synthetic_message(100)])  # and one new message

    second = run_cli("copy", source, target, "--state", state, "--quiet")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Copied 1 messages" in second.stdout
    assert "Flags brought up to date on 4 messages" in second.stdout
    assert flags_by_bytes(dovecot.contents(target_user), "INBOX") == \
        flags_by_bytes(dovecot.contents(source_user), "INBOX")

    with dovecot.client(source_user) as client:  # a flag taken off travels too
        client.select_folder("INBOX")
        client.remove_flags(uids[:1], ["\\Flagged"])
    third = run_cli("copy", source, target, "--state", state, "--quiet")
    assert "Copied 0 messages" in third.stdout
    assert "Flags brought up to date on 1 messages" in third.stdout
    assert flags_by_bytes(dovecot.contents(target_user), "INBOX") == \
        flags_by_bytes(dovecot.contents(source_user), "INBOX")

    fourth = run_cli("copy", source, target, "--state", state, "--quiet")
    assert "Copied 0 messages" in fourth.stdout and "Flags brought" not in fourth.stdout
