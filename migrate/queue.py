"""Batches scaled out on PostgreSQL: the state database is also the job queue.

The queue is procrastinate's (its tables live beside the state's, in the same database):
``migrate batch --state postgresql://…`` enqueues one queue job per pair of the pass, and
``migrate worker`` on any number of machines takes them and calls ``batch.run_job``. A queue
job carries two ids only (the pass and the pair); the pair's spec is read from the state's
``batch_jobs`` row, and credentials from the worker's own config file.

Every worker sends heartbeats; a worker that stops sending them (killed, machine down, cut
off) is *stalled*, and the job it held is handed back to the queue by whichever worker
looks first (``get_stalled_jobs`` + ``retry_job``, one looker at a time under an advisory
lock). The worker that takes it again takes over its lease and writes the takeover to the
audit log; the copy resumes from the state (cursors, confirmed items): nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from .batch import Takeover, run_job, take_over
from .endpoint import Config
from .errors import StateError
from .jobs_csv import JobSpec
from .state import BatchEntry, BatchStatus, StateDB, lease_owner

TASK_NAME = "migrate.copy_pair"
QUEUE = "migrate"
#: Advisory lock keys (any constant bigint of ours): the schema set-up, the stalled look.
_SCHEMA_LOCK = 0x6D6967726174_01
_STALLED_LOCK = 0x6D6967726174_02
FINAL = (BatchStatus.DONE, BatchStatus.FAILED)

log = logging.getLogger(__name__)


def is_queue_url(state_url: str) -> bool:
    """Whether a state database can hold the shared queue (PostgreSQL only)."""
    return state_url.startswith(("postgresql", "postgres:"))


def conninfo(state_url: str) -> str:
    """The libpq URL of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    from sqlalchemy.engine import make_url

    return make_url(state_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker's tasks need, handed to them in the job context (never in the queue)."""

    state: StateDB
    config_path: str | None
    name: str


def queue_app(state: StateDB):
    """A procrastinate app on the state's PostgreSQL database, with the one task."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo(state.url)))
    app.task(name=TASK_NAME, queue=QUEUE, pass_context=True)(_copy_pair)
    return app


def ensure_schema(state: StateDB) -> None:
    """Create procrastinate's tables the first time (one process at a time)."""
    import psycopg
    from procrastinate.schema import SchemaManager

    try:
        with psycopg.connect(conninfo(state.url)) as connection:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            found = connection.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
            if found is None or found[0] is None:
                connection.execute(SchemaManager.get_schema())
    except psycopg.Error as exc:
        raise StateError(f"cannot set up the job queue in {state.safe_url}: {exc}") from None


@dataclass(frozen=True)
class Enqueued:
    """What ``enqueue`` did: pairs put in the queue, pairs already waiting or running."""

    queued: int
    already: int


def enqueue(state: StateDB, batch_id: int, pending: list[tuple[JobSpec, int]]) -> Enqueued:
    """Put each pair still to run into the queue, once: a pair already waiting (same
    queueing lock: procrastinate refuses it), running or just done is left as it is, so
    that a rerun enqueues nothing twice."""
    from procrastinate.exceptions import AlreadyEnqueued

    ensure_schema(state)
    app = queue_app(state)
    queued = already = 0
    with app.open():
        task = app.tasks[TASK_NAME]
        for _spec, job_id in pending:
            queueing_lock = f"migrate-batch-{batch_id}-job-{job_id}"
            try:
                new = task.configure(queueing_lock=queueing_lock, lock=f"migrate-job-{job_id}"
                                     ).defer(batch_id=batch_id, job_id=job_id)
            except AlreadyEnqueued:
                already += 1
                continue
            if _taken_meanwhile(app, state, batch_id, job_id, queueing_lock, new):
                app.job_manager.cancel_job_by_id(new, delete_job=True)
                already += 1
            else:
                queued += 1
    state.audit("batch-enqueued", batch_id, queued=queued, already=already)
    return Enqueued(queued, already)


def _taken_meanwhile(app, state: StateDB, batch_id: int, job_id: int, queueing_lock: str,
                     new: int) -> bool:
    """Whether a pair just queued was already being copied, or ended done, by an earlier
    queue job: the queueing lock only covers jobs waiting, so look after queueing (a job
    that moved from waiting to running before this look is seen running; one that ended
    has written its pair's outcome first)."""
    running = app.job_manager.list_jobs(queueing_lock=queueing_lock, status="doing")
    if any(job.id != new for job in running):
        return True
    entry = state.batch_entry_row(batch_id, job_id)
    return entry is not None and entry.status == BatchStatus.DONE


def _copy_pair(context, batch_id: int, job_id: int) -> None:
    """The queue task: one pair of a pass, through ``run_job`` (which records everything).
    A second attempt means the first worker stalled: the run takes the job over."""
    setup: WorkerSetup = context.additional_context["setup"]
    state = setup.state
    entry = state.batch_entry_row(batch_id, job_id)
    if entry is None:
        raise StateError(f"pair {job_id} of batch {batch_id} is not in the state database "
                         "this worker uses: check --state")
    spec = JobSpec.from_dict(entry.spec)
    takeover = None
    if context.job.attempts > 0:
        takeover = Takeover(context.job.id, setup.name, context.job.attempts)
    if entry.status != BatchStatus.DONE:
        run_job(state, Config.load(setup.config_path), spec, batch_id, takeover)
    elif takeover is not None:  # its worker died after the copy, before letting it go
        take_over(state, batch_id, job_id, spec, takeover, already_done=True)
        state.release_job(job_id, lease_owner())
    state.close_batch_if_complete(batch_id)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_worker(state: StateDB, config_path: str | None, concurrency: int,
               stalled_after: float) -> None:
    """Take jobs from the queue until stopped (SIGINT/SIGTERM: the running jobs end
    first). A worker silent for ``stalled_after`` seconds is stalled and its job retried."""
    ensure_schema(state)
    setup = WorkerSetup(state, config_path, worker_name())
    app = queue_app(state)
    state.audit("worker-started", worker=setup.name, concurrency=concurrency)

    async def work() -> None:
        async with app.open_async():
            watcher = asyncio.create_task(_watch_stalled(app, state, setup.name,
                                                         stalled_after))
            try:
                await app.run_worker_async(
                    queues=[QUEUE], name=setup.name, concurrency=concurrency,
                    additional_context={"setup": setup},
                    update_heartbeat_interval=max(0.5, stalled_after / 5),
                    stalled_worker_timeout=stalled_after, delete_jobs="never")
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    try:
        asyncio.run(work())
    finally:
        state.audit("worker-stopped", worker=setup.name)


async def _watch_stalled(app, state: StateDB, name: str, stalled_after: float) -> None:
    """Every few seconds, hand the jobs of stalled workers back to the queue."""
    while True:
        await asyncio.sleep(max(1.0, stalled_after / 3))
        try:
            await retry_stalled(app, state, name, stalled_after)
        except Exception as exc:  # a failed look must not stop the worker; next one retries
            log.warning("looking for stalled jobs failed: %s", exc)


async def retry_stalled(app, state: StateDB, name: str, stalled_after: float) -> int:
    """Retry the jobs whose worker has sent no heartbeat for ``stalled_after`` seconds,
    recording each in the audit log; one worker looks at a time. Returns how many."""
    import psycopg

    retried = 0
    connect = psycopg.AsyncConnection.connect(conninfo(state.url))
    async with await connect as connection, connection.transaction():
        cursor = await connection.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                          (_STALLED_LOCK,))
        row = await cursor.fetchone()
        if not row or not row[0]:
            return 0
        stalled = await app.job_manager.get_stalled_jobs(
            task_name=TASK_NAME, seconds_since_heartbeat=stalled_after)
        for job in stalled:
            await app.job_manager.retry_job(job)
            args = job.task_kwargs
            holder = await asyncio.to_thread(_lease_of, state, args.get("job_id"))
            await asyncio.to_thread(
                state.audit, "batch-job-stalled", args.get("batch_id"), args.get("job_id"),
                queue_job=job.id, queue_worker=job.worker_id, dead_worker=holder,
                found_by=name, silent_for=stalled_after)
            retried += 1
    return retried


def _lease_of(state: StateDB, job_id: int | None) -> str | None:
    return next((job.lease_owner for job in state.jobs() if job.id == job_id), None)


@dataclass(frozen=True)
class PassProgress:
    """How far a queued pass is: its rows by status."""

    entries: list[BatchEntry]

    @property
    def counts(self) -> Counter:
        return Counter(BatchStatus(entry.status) for entry in self.entries)

    @property
    def finished(self) -> bool:
        return all(entry.status in FINAL for entry in self.entries)


def wait_for_pass(state: StateDB, batch_id: int, on_change: Callable[[PassProgress], None],
                  interval: float = 2.0, on_idle: Callable[[float], None] | None = None,
                  idle_after: float = 60.0) -> PassProgress:
    """Poll the state until every pair of the pass ended; ``on_change`` on each change, and
    ``on_idle`` (seconds) each time ``idle_after`` passes with nothing running and nothing
    changing (no worker is taking the pairs: the operator should hear it)."""
    last: Counter | None = None
    changed = time.monotonic()
    while True:
        progress = PassProgress(state.batch_entries(batch_id))
        if progress.counts != last:
            last, changed = progress.counts, time.monotonic()
            on_change(progress)
        if progress.finished:
            return progress
        idle = time.monotonic() - changed
        if on_idle is not None and idle >= idle_after and not progress.counts["running"]:
            on_idle(idle)
            changed = time.monotonic()
        time.sleep(interval)
