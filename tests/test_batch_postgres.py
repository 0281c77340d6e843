"""Batches on a real PostgreSQL: the state database is the queue, three ``migrate worker``
processes on a real Dovecot, one killed with SIGKILL mid-job and its pair taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_cli, synthetic_message, write_mbox
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from test_batch import ENV, PASSWORD, mail_at, make_pairs

from migrate.state import StateDB

STALLED_AFTER = "4"
DB_PASSWORD = "Pg-Secret-42"  # seconds without heartbeat before a worker is taken for dead


def start_worker(config: Path, state: str, concurrency: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "migrate", "--config", str(config),
                             "worker", "--state", state, "--stalled-after", STALLED_AFTER,
                             "--concurrency", str(concurrency)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LANG": "C.UTF-8", **ENV})


def add_big_pair(dovecot, config: Path, jobs: Path, count: int) -> tuple[str, str]:
    """A pair with ``count`` messages, first in the jobs file: long enough to be killed in."""
    source = dovecot.add_user("qbigsrc", PASSWORD)
    target = dovecot.add_user("qbigdst", PASSWORD)
    dovecot.seed(source, "INBOX", [synthetic_message(9000 + n, 2000) for n in range(count)],
                 PASSWORD)
    entries = [f'[endpoints.{user}]\nurl = "{dovecot.url(user, None)}"\n'
               'password_env = "DOVE_PW"\n' for user in (source, target)]
    config.write_text(config.read_text() + "\n" + "\n".join(entries))
    header, *rows = jobs.read_text().splitlines()
    jobs.write_text("\n".join([header, f"{source},{target},Agent big", *rows]) + "\n")
    return source, target


def wait_for_running(state: StateDB, label: str, timeout: float = 120) -> str:
    """The lease owner (``host:pid:start``) of the pair ``label`` once it copied a little."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in state.jobs():
            if job.label == label and job.status == "running" and job.lease_owner \
                    and job.messages_done > 0:
                return job.lease_owner
        time.sleep(0.1)
    raise AssertionError(f"{label} never ran")


def test_three_workers_one_killed_every_mailbox_completes_exactly_once(dovecot, postgres,
                                                                        tmp_path):
    # (trust authentication ignores it: a password in the URL must never be shown)
    state_url = postgres.create_database("scaleout").replace("postgres@",
                                                             f"postgres:{DB_PASSWORD}@")
    config, jobs, pairs = make_pairs(dovecot, tmp_path, "q", 12,
                                     [synthetic_message(8000 + n, 300) for n in range(3)])
    big = add_big_pair(dovecot, config, jobs, 400)
    pairs.append(big)

    first = run_cli("--config", str(config), "batch", str(jobs), "--state", state_url,
                    env=ENV)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Queued 13 pairs" in first.stdout
    again = run_cli("--config", str(config), "batch", str(jobs), "--state", state_url, env=ENV)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Resumed an unfinished pass" in again.stdout
    assert "Queued 0 pairs" in again.stdout and "13 already queued" in again.stdout

    state = StateDB.open(state_url)
    workers = [start_worker(config, state_url, concurrency) for concurrency in (1, 2, 1)]
    try:
        victim_lease = wait_for_running(state, "Agent big")
        victim_pid = int(victim_lease.split(":")[1])
        victim = next(w for w in workers if w.pid == victim_pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        waiter = run_cli("--config", str(config), "batch", str(jobs), "--state", state_url,
                         "--wait", env=ENV)
        assert waiter.returncode == 0, waiter.stdout + waiter.stderr
        assert "13 pairs run, 13 done, 0 not done" in waiter.stdout
        assert "Pass 1: 13/13 done" in waiter.stdout
        assert "postgres:***@" in first.stdout
        assert not any(DB_PASSWORD in done.stdout + done.stderr
                       for done in (first, again, waiter))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=60) for worker in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert "takes pairs from postgresql" in out
        if worker.pid != victim_pid:
            assert worker.returncode == 0, out + err
            assert "stopped." in out
        assert PASSWORD not in out + err and DB_PASSWORD not in out + err

    for source, target in pairs:
        at_target = mail_at(dovecot, target)
        assert at_target == mail_at(dovecot, source), f"{source} → {target} differs"
        assert max(at_target.values()) == 1  # nothing twice
    assert sum(mail_at(dovecot, big[1]).values()) == 400

    big_job = next(job for job in state.jobs() if job.label == "Agent big")
    stalled = [e for e in state.audit_entries("batch-job-stalled") if e.job_id == big_job.id]
    taken = [e for e in state.audit_entries("batch-job-taken-over")
             if e.job_id == big_job.id]
    assert len(stalled) == 1 and stalled[0].detail["dead_worker"] == victim_lease
    assert len(taken) == 1 and taken[0].detail["dead_worker"] == victim_lease
    assert taken[0].detail["new_worker"] != victim_lease
    assert int(taken[0].detail["new_worker"].split(":")[1]) in {w.pid for w in workers}
    assert taken[0].detail["attempt"] == 1
    assert [(job.label, job.status, job.lease_owner) for job in state.jobs()
            if job.status != "done" or job.lease_owner] == []
    batch_id = stalled[0].run_id
    closed = [e for e in state.audit_entries("run-finished") if e.run_id == batch_id]
    assert len(closed) == 1 and closed[0].detail["outcome"] == "done"  # closed once

    with state.engine.connect() as db:  # the queue holds ids, never a credential
        queued = db.execute(text("SELECT args, status, attempts FROM procrastinate_jobs")).all()
    assert len(queued) == 13 and all(set(args) == {"batch_id", "job_id"}
                                     for args, _, _ in queued)
    # procrastinate counts the run that finished a job as an attempt, and one more for
    # each attempt a dead worker never finished: the killed one may have held two pairs.
    stalled_ids = Counter(e.job_id for e in state.audit_entries("batch-job-stalled"))
    taken_ids = Counter(e.job_id for e in state.audit_entries("batch-job-taken-over"))
    assert stalled_ids == taken_ids and stalled_ids[big_job.id] == 1
    assert {args["job_id"]: attempts for args, _, attempts in queued} == \
        {job.id: 1 + stalled_ids[job.id] for job in state.jobs()}
    assert all(job_status == "succeeded" for _, job_status, _ in queued)

    status = run_cli("status", "--state", state_url)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count(" done ") == 13
    assert "13 jobs (done 13)" in status.stdout
    # what an operator reads of the takeover: `migrate audit`, in French
    told = run_cli("--lang", "fr", "audit", "--state", state_url, "--event",
                   "batch-job-stalled", "--event", "batch-job-taken-over", "--job",
                   str(big_job.id))
    assert told.returncode == 0, told.stdout + told.stderr
    stalled_line, taken_line = told.stdout.splitlines()
    assert f"worker {victim_lease} muet depuis" in stalled_line
    assert f"à {victim_lease} (tentative 1)" in taken_line and "Agent big" in taken_line
    assert DB_PASSWORD not in told.stdout + told.stderr
    with state.engine.connect() as db:  # nor stored anywhere in the state
        assert not db.execute(text("SELECT 1 FROM runs WHERE CAST(options AS TEXT) LIKE :pw"
                                   " OR source LIKE :pw OR target LIKE :pw"),
                              {"pw": f"%{DB_PASSWORD}%"}).first()
        assert not db.execute(text("SELECT 1 FROM audit WHERE CAST(detail AS TEXT) LIKE :pw"),
                              {"pw": f"%{DB_PASSWORD}%"}).first()


def test_copy_on_postgresql_state_and_its_audit_log_is_append_only(postgres, tmp_path):
    state_url = postgres.create_database("plaincopy")
    source = write_mbox(tmp_path / "in.mbox", [synthetic_message(n) for n in range(6)])
    target = tmp_path / "out"
    args = ("copy", f"mbox:{source}", f"maildir:{target}", "--state", state_url, "--quiet")
    done = run_cli(*args)
    assert done.returncode == 0 and "Copied 6 messages" in done.stdout, done.stdout + done.stderr
    rerun = run_cli(*args)
    assert rerun.returncode == 0 and "Copied 0 messages" in rerun.stdout, rerun.stdout
    assert len(list(target.rglob("cur/*")) + list(target.rglob("new/*"))) == 6
    status = run_cli("status", "--state", state_url)
    assert status.returncode == 0 and "6/6 messages" in status.stdout, status.stdout

    state = StateDB.open(state_url)
    assert state.audit_entries("run-finished")
    for statement in ("UPDATE audit SET event = 'forged'", "DELETE FROM audit"):
        with pytest.raises(SQLAlchemyError, match="append-only"), state.engine.begin() as db:
            db.execute(text(statement))
    assert all(entry.event != "forged" for entry in state.audit_entries())


def test_queue_and_worker_refuse_a_sqlite_state(tmp_path):
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(f"source,target\nmbox:{tmp_path / 'a.mbox'},maildir:{tmp_path / 'a'}\n")
    (tmp_path / "a.mbox").write_bytes(b"")
    state = str(tmp_path / "state.db")
    for args in (("batch", str(jobs), "--queue", "--state", state),
                 ("worker", "--state", state)):
        for lang, words in (("en", "needs a PostgreSQL state"), ("fr", "demande une base")):
            done = run_cli("--lang", lang, *args)
            assert done.returncode == 2 and words in done.stderr, done.stdout + done.stderr


def test_a_stalled_job_of_another_host_is_handed_back_and_its_lease_taken_over(postgres,
                                                                                tmp_path):
    """Through procrastinate's own worker records: a worker that fetched a pair and went
    silent; the pair had been copied (its worker died before letting the lease go), and the
    lease names another host (which a plain claim takes as alive)."""
    import asyncio

    from procrastinate.job_context import JobContext

    from migrate.batch import open_pass
    from migrate.endpoint import Config
    from migrate.jobs_csv import load_jobs
    from migrate.queue import QUEUE, WorkerSetup, _copy_pair, enqueue, queue_app, retry_stalled
    from migrate.state import BatchStatus

    state = StateDB.open(postgres.create_database("handback"))
    write_mbox(tmp_path / "a.mbox", [synthetic_message(1)])
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(f"source,target,label\nmbox:{tmp_path / 'a.mbox'},"
                    f"maildir:{tmp_path / 'a'},Accueil\n")
    result, pending = open_pass(load_jobs(jobs, Config()), state, "test-pass", str(jobs))
    assert enqueue(state, result.batch_id, pending).queued == 1
    job_id = pending[0][1]
    elsewhere = "mairie-autre-hote:4242:99"
    assert state.claim_job(job_id, elsewhere)
    assert not state.claim_job(job_id, "this-host:1:1")  # another host's lease: alive
    state.update_batch_entry(result.batch_id, job_id, status=BatchStatus.DONE)
    app = queue_app(state)

    async def silent_worker_then_another():
        async with app.open_async():
            silent = await app.job_manager.register_worker()
            assert (await app.job_manager.fetch_job([QUEUE], silent)) is not None
            await asyncio.sleep(2.5)
            assert await retry_stalled(app, state, "looker:1", 2.0) == 1
            assert await retry_stalled(app, state, "looker:1", 2.0) == 0  # once
            return await app.job_manager.fetch_job([QUEUE], await app.job_manager
                                                   .register_worker())

    retried = asyncio.run(silent_worker_then_another())
    assert retried is not None and retried.attempts == 1
    context = JobContext(app=app, job=retried, start_timestamp=time.time(),
                         abort_reason=lambda: None,
                         additional_context={"setup": WorkerSetup(state, None, "new:2")})
    _copy_pair(context, result.batch_id, job_id)

    assert not next(job for job in state.jobs() if job.id == job_id).lease_owner
    stalled = state.audit_entries("batch-job-stalled")
    taken = state.audit_entries("batch-job-taken-over")
    assert [e.detail["dead_worker"] for e in stalled] == [elsewhere]
    assert [(e.detail["dead_worker"], e.detail["already_done"]) for e in taken] == \
        [(elsewhere, True)]
    assert [e.run_id for e in state.audit_entries("run-finished")] == [result.batch_id]


def test_waiting_without_a_worker_says_so(postgres, tmp_path):
    """`batch --wait` with no worker running: the operator is told, again and again, that
    nothing takes the pairs (it never fails silently into an endless wait)."""
    from migrate.batch import open_pass
    from migrate.endpoint import Config
    from migrate.jobs_csv import load_jobs
    from migrate.queue import enqueue, wait_for_pass

    state = StateDB.open(postgres.create_database("noworker"))
    write_mbox(tmp_path / "a.mbox", [synthetic_message(1)])
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(f"source,target,label\nmbox:{tmp_path / 'a.mbox'},"
                    f"maildir:{tmp_path / 'a'},Accueil\n")
    result, pending = open_pass(load_jobs(jobs, Config()), state, "idle-pass", str(jobs))
    assert enqueue(state, result.batch_id, pending).queued == 1
    told: list[float] = []

    class Enough(Exception):
        pass

    def idle(seconds: float) -> None:
        told.append(seconds)
        if len(told) == 2:
            raise Enough

    seen = []
    with pytest.raises(Enough):
        wait_for_pass(state, result.batch_id, seen.append, interval=0.05, on_idle=idle,
                      idle_after=0.3)
    assert len(seen) == 1 and seen[0].counts["pending"] == 1  # shown once, then nothing
    assert len(told) == 2 and all(s >= 0.3 for s in told)
