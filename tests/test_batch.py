"""``migrate batch`` on a real Dovecot: dozens of mailbox pairs, worker processes, a killed
batch resumed, ``migrate status`` from another process, pre-stage and delta passes."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import run_cli, synthetic_message, write_mbox
from tcp_gate import TcpGate

from migrate.endpoint import Config, parse_endpoint
from migrate.engine import CopyOptions
from migrate.registry import connector_for
from migrate.state import StateDB
from migrate.verify import compare

PASSWORD = "batch-secret-Pw"
ENV = {"DOVE_PW": PASSWORD}


def make_pairs(dovecot, tmp_path: Path, prefix: str, count: int, messages: list,
               gate: TcpGate | None = None) -> tuple[Path, Path, list[tuple[str, str]]]:
    """``count`` source users seeded with ``messages`` (and an empty target each), a config
    file naming them (the password by environment variable) and a jobs file; the sources
    are read through ``gate`` when one is given."""
    config = tmp_path / "migrate.toml"
    jobs = tmp_path / "jobs.csv"
    pairs = []
    lines = ["source,target,label"]
    entries = []
    for n in range(count):
        source = dovecot.add_user(f"{prefix}src{n:02d}", PASSWORD)
        target = dovecot.add_user(f"{prefix}dst{n:02d}", PASSWORD)
        dovecot.seed(source, "INBOX", messages[:len(messages) // 2 + 1], PASSWORD)
        dovecot.seed(source, "Dossiers/Élus", messages[len(messages) // 2 + 1:], PASSWORD)
        for user in (source, target):
            url = dovecot.url(user, None)
            if gate is not None and user == source:
                url = gate.url(url, dovecot.port)
            entries.append(f'[endpoints.{user}]\nurl = "{url}"\n'
                           'password_env = "DOVE_PW"\n')
        lines.append(f"{source},{target},Agent {prefix}{n:02d}")
        pairs.append((source, target))
    config.write_text("\n".join(entries))
    jobs.write_text("\n".join(lines) + "\n")
    return config, jobs, pairs


def mail_at(dovecot, user: str) -> Counter:
    """Every message of an account (by its bytes), whatever the folder."""
    found: Counter = Counter()
    for messages in dovecot.contents(user, PASSWORD).values():
        found.update(data for data, _, _ in messages)
    return found


def verified(config: Path, source: str, target: str) -> bool:
    """``verify`` of one pair, through the real connectors, as the command runs it."""
    os.environ.setdefault("DOVE_PW", PASSWORD)
    loaded = Config.load(config)
    return compare(connector_for(parse_endpoint(source, loaded)),
                   connector_for(parse_endpoint(target, loaded)), CopyOptions()).ok


def test_forty_pairs_eight_at_a_time_all_complete_verify_and_are_reported(dovecot, tmp_path):
    config, jobs, pairs = make_pairs(dovecot, tmp_path, "a", 40,
                                     [synthetic_message(n, 300) for n in range(5)])
    state = tmp_path / "state.db"
    done = run_cli("--config", str(config), "batch", str(jobs), "--jobs", "8",
                   "--state", str(state), env=ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "40 pairs run, 40 done, 0 not done; 200 messages copied" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
    for source, target in pairs:
        assert verified(config, source, target), f"{source} → {target} differs"
        assert mail_at(dovecot, target) == mail_at(dovecot, source)
    checked = run_cli("--config", str(config), "verify", *pairs[-1], env=ENV)  # the command
    assert checked.returncode == 0 and "Nothing lost" in checked.stdout, checked.stdout

    status = run_cli("status", "--state", str(state))
    assert status.returncode == 0
    assert status.stdout.count(" done ") == 40
    assert "40 jobs (done 40); 200/200 messages" in status.stdout

    html, table = tmp_path / "report.html", tmp_path / "report.csv"
    report = run_cli("--lang", "fr", "report", "--state", str(state), "--html", str(html),
                     "--csv", str(table))
    assert report.returncode == 0, report.stdout + report.stderr
    page = html.read_text(encoding="utf-8")
    assert '<html lang="fr">' in page and "Toutes les boîtes (40)" in page
    assert all(f"Agent a{n:02d}" in page for n in range(40))
    with table.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 40
    assert {row["label"] for row in rows} == {f"Agent a{n:02d}" for n in range(40)}
    assert all(row["state"] == "done" and row["messages_done"] == "5" for row in rows)
    assert not any(PASSWORD in text for text in (page, table.read_text(encoding="utf-8-sig")))



@pytest.fixture
def slow_link(dovecot):
    """The sources' side of Dovecot behind a throttled link: a pair takes seconds to copy,
    so a job is at work when the test looks, however fast the machine."""
    gate = TcpGate(dovecot.port, rate=SLOW_RATE)
    yield gate
    gate.close()


SLOW_RATE = 40_000  # bytes a second: about 6 s for a mailbox of 120 messages of 2 kB


def test_a_killed_batch_rerun_leaves_every_mailbox_complete_exactly_once(dovecot, slow_link,
                                                                         tmp_path):
    messages = [synthetic_message(1000 + n, 2000) for n in range(120)]
    config, jobs, pairs = make_pairs(dovecot, tmp_path, "k", 8, messages, slow_link)
    state = tmp_path / "state.db"
    batch = start_batch(config, jobs, state, 2)
    seen_running, owners = wait_until_running(batch, state, also_done=True)
    assert "msg/s" in seen_running and "Agent k" in seen_running
    batch.send_signal(signal.SIGKILL)
    batch.wait()
    # The workers die with the batch: none keeps copying behind the rerun.
    pids = [int(owner.split(":")[1]) for owner in owners]
    assert pids
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)
    unfinished = [job for job in StateDB.open(state).jobs() if job.status != "done"]
    assert unfinished, "the batch finished before it was killed: nothing was resumed"

    slow_link.set_rate(None)
    rerun = run_cli("--config", str(config), "batch", str(jobs), "--jobs", "3",
                    "--state", str(state), env=ENV)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Resumed an unfinished pass" in rerun.stdout
    for source, target in pairs:
        at_target = mail_at(dovecot, target)
        assert at_target == mail_at(dovecot, source)
        assert sum(at_target.values()) == len(messages)  # nothing twice
    assert all(job.status == "done" for job in StateDB.open(state).jobs())


def start_batch(config: Path, jobs: Path, state: Path, parallel: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "migrate", "--config", str(config), "batch",
                             str(jobs), "--jobs", str(parallel), "--state", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LANG": "C.UTF-8", **ENV})


def wait_until_running(batch: subprocess.Popen, state: Path, also_done: bool = False
                       ) -> tuple[str, list[str]]:
    """Poll ``migrate status`` (another process) until a job runs (and one is done);
    returns that status output and the lease owners (``host:pid``) of the running jobs."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and batch.poll() is None:
        statuses = {job.status for job in StateDB.open(state).jobs()}  # quick look first
        if "running" not in statuses or (also_done and "done" not in statuses):
            time.sleep(0.02)
            continue
        status = run_cli("status", "--state", str(state))
        if " running " in status.stdout and (" done " in status.stdout or not also_done):
            owners = [job.lease_owner for job in StateDB.open(state).jobs()
                      if job.lease_owner]
            if owners:
                return status.stdout, owners
        time.sleep(0.2)
    if batch.poll() is not None:
        out, err = batch.communicate()
        raise AssertionError(f"the batch ended (exit {batch.returncode}) before a job was "
                             f"seen running:\n{out}{err}")
    raise AssertionError("the batch never showed a running job within 60 s")


def test_ctrl_c_stops_the_batch_cleanly_and_a_rerun_resumes_it(dovecot, slow_link, tmp_path):
    messages = [synthetic_message(3000 + n, 2000) for n in range(120)]
    config, jobs, pairs = make_pairs(dovecot, tmp_path, "c", 8, messages, slow_link)
    state = tmp_path / "state.db"
    batch = start_batch(config, jobs, state, 1)
    wait_until_running(batch, state)
    assert batch.poll() is None, "the batch ended before Ctrl-C: give it more to copy"
    batch.send_signal(signal.SIGINT)
    out, err = batch.communicate(timeout=60)
    assert batch.returncode == 130, out + err
    assert "Interrupted: run the same command again to resume." in out
    jobs_now = StateDB.open(state).jobs()
    assert not any(job.status == "running" or job.lease_owner for job in jobs_now)
    assert any(job.status == "interrupted" for job in jobs_now)
    assert "interrupted" in run_cli("status", "--state", str(state)).stdout

    slow_link.set_rate(None)
    rerun = run_cli("--config", str(config), "batch", str(jobs), "--jobs", "2",
                    "--state", str(state), env=ENV)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Resumed an unfinished pass" in rerun.stdout
    for source, target in pairs:
        assert mail_at(dovecot, target) == mail_at(dovecot, source)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead
        return stat.read().split(") ")[-1][0] != "Z"


def subjects(mail: Counter) -> list[str]:
    return [line.split(b": ", 1)[1].decode() for data in mail.elements()
            for line in data.split(b"\r\n") if line.startswith(b"Subject: ")]


def dated(n: int, when: datetime) -> dict:
    return {"msg": synthetic_message(5000 + n, 300), "flags": [], "date": when}


def test_prestage_before_then_since_then_delta_copy_only_the_newer(dovecot, tmp_path):
    old = [dated(n, datetime(2024, 3, 1, tzinfo=UTC) + timedelta(days=n)) for n in range(4)]
    new = [dated(10 + n, datetime(2026, 6, 1, tzinfo=UTC) + timedelta(days=n))
           for n in range(3)]
    config, jobs, pairs = make_pairs(dovecot, tmp_path, "p", 3, old + new)
    state = tmp_path / "state.db"

    def batch(*dates: str) -> subprocess.CompletedProcess:
        done = run_cli("--config", str(config), "batch", str(jobs), "--jobs", "3",
                       "--state", str(state), *dates, env=ENV)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    first = batch("--before", "2025-01-01")
    assert "12 messages copied" in first.stdout
    for _, target in pairs:  # (Dovecot serves bare LFs of the body as CRLF: by subject)
        assert sorted(subjects(mail_at(dovecot, target))) == \
            [f"message {5000 + n}" for n in range(4)]

    second = batch("--since", "2025-01-01")
    assert "9 messages copied" in second.stdout
    for source, target in pairs:
        assert mail_at(dovecot, target) == mail_at(dovecot, source)

    source = pairs[0][0]
    dovecot.seed(source, "INBOX", [dated(20, datetime(2023, 1, 1, tzinfo=UTC))], PASSWORD)
    delta = batch()  # the final pass: whatever is new, even with an old date
    assert "1 messages copied" in delta.stdout
    for source, target in pairs:
        assert mail_at(dovecot, target) == mail_at(dovecot, source)
        assert sum(mail_at(dovecot, target).values()) == \
            len(old) + len(new) + (source == pairs[0][0])


def test_copy_since_and_before_window_a_pass_and_a_plain_rerun_completes_it(tmp_path):
    source = write_mbox(tmp_path / "in.mbox", [synthetic_message(n) for n in range(20)])
    target, state = tmp_path / "out", tmp_path / "state.db"
    args = ("copy", f"mbox:{source}", f"maildir:{target}", "--state", str(state), "--quiet")
    # write_mbox dates message n at 2023-01-01 00:00 + n minutes.
    first = run_cli(*args, "--before", "2023-01-01T00:05:00+00:00")
    assert first.returncode == 0 and "Copied 5 messages" in first.stdout, first.stdout
    middle = run_cli(*args, "--since", "2023-01-01T00:15:00+00:00")
    assert middle.returncode == 0 and "Copied 5 messages" in middle.stdout, middle.stdout
    rest = run_cli(*args)
    assert rest.returncode == 0 and "Copied 10 messages" in rest.stdout, rest.stdout
    assert len(list(target.rglob("cur/*")) + list(target.rglob("new/*"))) == 20
    plan = run_cli(*args, "--dry-run", "--before", "2023-01-02")
    assert plan.returncode == 0 and "counts above are of whole folders" in plan.stdout
    bad = run_cli(*args, "--since", "demain")
    assert bad.returncode == 2 and "--since 'demain' is not a date" in bad.stderr


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_status_on_an_empty_state_says_so(tmp_path, lang):
    done = run_cli("--lang", lang, "status", "--state", str(tmp_path / "none.db"))
    assert done.returncode == 0
    assert ("No job" if lang == "en" else "Aucune tâche") in done.stdout


def test_a_pair_that_cannot_log_in_fails_alone_and_is_reported(dovecot, tmp_path):
    config, jobs, pairs = make_pairs(dovecot, tmp_path, "f", 3,
                                     [synthetic_message(7000 + n, 300) for n in range(3)])
    text = config.read_text().replace(f"[endpoints.{pairs[1][1]}]\nurl = \"imap://{pairs[1][1]}",
                                      f"[endpoints.{pairs[1][1]}]\nurl = \"imap://nobody-here")
    config.write_text(text)
    state = tmp_path / "state.db"
    done = run_cli("--config", str(config), "batch", str(jobs), "--jobs", "3",
                   "--state", str(state), env=ENV)
    assert done.returncode == 3, done.stdout + done.stderr  # as copy: could not log in
    assert "3 pairs run, 2 done, 1 not done" in done.stdout
    assert "Agent f01: FAILED" in done.stdout
    for n in (0, 2):
        assert mail_at(dovecot, pairs[n][1]) == mail_at(dovecot, pairs[n][0])

    table = tmp_path / "report.csv"
    assert run_cli("report", "--state", str(state), "--csv", str(table)).returncode == 0
    with table.open(encoding="utf-8-sig", newline="") as handle:
        rows = {row["label"]: row for row in csv.DictReader(handle)}
    assert rows["Agent f01"]["state"] == "aborted" and rows["Agent f01"]["error"]
    assert rows["Agent f00"]["state"] == "done" and not rows["Agent f00"]["error"]
    assert PASSWORD not in table.read_text(encoding="utf-8-sig")


def test_a_job_lease_keeps_others_off_while_its_owner_lives(tmp_path):
    from migrate.state import _process_start, lease_owner

    state = StateDB.open(tmp_path / "state.db")
    job = state.job("mbox:/a.mbox", "maildir:/a")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        owner = f"{socket.gethostname()}:{sleeper.pid}:{_process_start(sleeper.pid)}"
        assert state.claim_job(job, owner)
        assert not state.claim_job(job, lease_owner())  # its owner runs
        sleeper.kill()
        time.sleep(0.2)  # killed, not yet reaped: a zombie is no owner
        assert state.claim_job(job, lease_owner())
    finally:
        sleeper.kill()
        sleeper.wait()
    reused = f"{socket.gethostname()}:{os.getpid()}:1"  # this pid, but another start time
    state.release_job(job, lease_owner())
    assert state.claim_job(job, reused)
    assert state.claim_job(job, lease_owner())
