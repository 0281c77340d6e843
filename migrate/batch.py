"""``migrate batch``: many mailbox pairs, each in a worker process of its own.

A pass of a jobs file is a run (command ``batch``) in the state DB, and each of its pairs
a ``batch_jobs`` row beside the pair's job. ``run_job`` copies one pair and records what it
did: it is the one function a worker calls, here in a child process, or from the shared
PostgreSQL queue (``queue.py``, ``migrate worker``). Processes, not threads: the engine is
synchronous, and one job that crashes or is killed leaves the others running. On Linux
the children are forked from a server process that imported the engine and the pairs'
connectors once (``forkserver`` with a preload), not started afresh: a new interpreter
importing them costs a third of a second of CPU per pair, which a batch of small mailboxes
feels. Each child dies with that server, and the server with the batch process (Linux
``PR_SET_PDEATHSIG``; the server exits when the batch's end of its pipe closes), so a
killed batch never leaves a copy running behind a rerun; a job's lease
(``host:pid:start``) keeps a second process off a job that is still being copied.

A rerun of the same pass (same file, same dates) after a kill or Ctrl-C resumes it: the
pairs it finished are skipped, the others resume from the state. A rerun after a pass that
finished starts a new pass, which copies only what is new (see docs/design.md, "Batches").
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from .connector import parse_kinds
from .endpoint import Config, parse_endpoint
from .engine import CopyOptions, DateWindow
from .errors import MigrateError
from .jobs_csv import JobSpec
from .state import BatchStatus, JobStatus, StateDB, lease_owner, utcnow

#: How long children get to stop cleanly after Ctrl-C before they are killed.
STOP_GRACE = 30.0
INTERRUPTED = 130  # the exit code of a run stopped by Ctrl-C, as shells report it


@dataclass(frozen=True)
class JobOutcome:
    """What one pair's run ended with, as recorded in its ``batch_jobs`` row."""

    spec: JobSpec
    job_id: int
    status: BatchStatus
    exit_code: int
    copied: int = 0
    failed: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass
class BatchResult:
    """What a pass did: one outcome per pair it ran, the pairs a resumed pass skipped."""

    batch_id: int
    resumed: bool
    outcomes: list[JobOutcome] = field(default_factory=list)
    skipped: list[JobSpec] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """0 all done; the worst job's code otherwise (1 failed items, 2 configuration,
        3 connection); 130 when interrupted."""
        if self.interrupted:
            return INTERRUPTED
        return max((o.exit_code for o in self.outcomes), default=0)


def pass_key(jobs_file: str | os.PathLike, window: DateWindow,
             only: tuple[str, ...] = ()) -> str:
    """What makes two runs of ``migrate batch`` the same pass: the file, the dates and the
    kinds of items (``--only``)."""
    since = window.since.isoformat() if window.since else ""
    before = window.before.isoformat() if window.before else ""
    kinds = f"|only={','.join(sorted(only))}" if only else ""  # as before when not given
    return f"{Path(jobs_file).resolve()}|since={since}|before={before}{kinds}"


@dataclass(frozen=True)
class Takeover:
    """A queued job run again because its worker stopped its heartbeat (died, cut off):
    the new run takes the lease whoever holds it, and says so in the audit log."""

    queue_job: int  # the queue's id for the job
    worker: str  # the worker taking it over (``host:pid``)
    attempt: int


def run_job(state: StateDB, config: Config, spec: JobSpec, batch_id: int,
            takeover: Takeover | None = None) -> JobOutcome:
    """Copy one pair of a batch and record the outcome; never raises for a job's error
    (a bad mailbox is recorded and the batch goes on), only for Ctrl-C."""
    from . import engine
    from .mapping import FolderMapping
    from .observe import Observer
    from .registry import connector_for

    job_id = state.job(spec.source_display, spec.target_display, spec.label)
    owner = lease_owner()
    started = time.monotonic()
    if takeover is not None:
        take_over(state, batch_id, job_id, spec, takeover)
    elif not state.claim_job(job_id, owner):
        error = "another process is copying this pair right now; it was left to it"
        state.update_batch_entry(batch_id, job_id, status=BatchStatus.FAILED, exit_code=1,
                                 error=error, finished=utcnow())
        return JobOutcome(spec, job_id, BatchStatus.FAILED, 1, error=error)
    state.update_batch_entry(batch_id, job_id, status=BatchStatus.RUNNING, started=utcnow(),
                             finished=None, error=None, exit_code=None)
    try:
        options = CopyOptions(mapping=FolderMapping.load(spec.maps, spec.include, spec.exclude),
                              label=spec.label, window=DateWindow.parse(spec.since, spec.before),
                              kinds=parse_kinds(spec.only, "only"))
        source = connector_for(parse_endpoint(spec.source, config))
        target = connector_for(parse_endpoint(spec.target, config))
        result = engine.copy(source, target, state, options, Observer(), command="batch-job")
        status = BatchStatus.DONE if result.ok else BatchStatus.FAILED
        outcome = JobOutcome(spec, job_id, status, 0 if result.ok else 1, result.copied,
                             result.failed, time.monotonic() - started)
        state.update_batch_entry(batch_id, job_id, status=status, finished=utcnow(),
                                 exit_code=outcome.exit_code, copied=result.copied,
                                 skipped=result.skipped, failed=result.failed,
                                 bytes=result.bytes)
        return outcome
    except KeyboardInterrupt:
        state.update_job(job_id, status=JobStatus.INTERRUPTED)
        state.update_batch_entry(batch_id, job_id, status=BatchStatus.INTERRUPTED,
                                 finished=utcnow(), exit_code=INTERRUPTED,
                                 error="interrupted (Ctrl-C); the next run resumes it")
        raise
    except MigrateError as exc:
        return _job_failed(state, batch_id, spec, job_id, exc.exit_code, str(exc), started)
    except Exception as exc:  # a bug must not take the other mailboxes down
        return _job_failed(state, batch_id, spec, job_id, 1,
                           f"unexpected error: {type(exc).__name__}: {exc}", started)
    finally:
        state.release_job(job_id, owner)


def take_over(state: StateDB, batch_id: int, job_id: int, spec: JobSpec, takeover: Takeover,
              already_done: bool = False) -> None:
    """Take a stalled job's lease for this process, whoever holds it, and write the takeover
    (the dead worker's lease, the new one) to the audit log."""
    owner = lease_owner()
    previous = state.take_over_job(job_id, owner)
    state.audit("batch-job-taken-over", batch_id, job_id, job=spec.name,
                queue_job=takeover.queue_job, attempt=takeover.attempt, dead_worker=previous,
                new_worker=owner, worker=takeover.worker, already_done=already_done)


def _job_failed(state: StateDB, batch_id: int, spec: JobSpec, job_id: int, code: int,
                error: str, started: float) -> JobOutcome:
    state.update_job(job_id, status=JobStatus.ABORTED)
    state.update_batch_entry(batch_id, job_id, status=BatchStatus.FAILED, finished=utcnow(),
                             exit_code=code, error=error)
    return JobOutcome(spec, job_id, BatchStatus.FAILED, code, error=error,
                      seconds=time.monotonic() - started)


def run_batch(specs: list[JobSpec], state: StateDB, config_path: str | None,
              key: str, jobs_file: str, parallel: int,
              on_finished: Callable[[JobOutcome, int, int], None] | None = None,
              on_started: Callable[[BatchResult], None] | None = None) -> BatchResult:
    """Run every pair of a checked jobs file, ``parallel`` worker processes at a time.

    ``on_started(result)`` is called once the pass is set up (``resumed``, ``skipped``
    known), ``on_finished(outcome, finished, total)`` as each pair ends, both in this
    process.
    """
    result, queue = open_pass(specs, state, key, jobs_file)
    batch_id = result.batch_id
    if on_started is not None:
        on_started(result)
    queue.reverse()
    total = len(queue)
    running: dict[object, tuple[multiprocessing.process.BaseProcess, JobSpec, int]] = {}
    context = _job_context(specs, config_path)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while queue or running:
            while queue and len(running) < parallel:
                spec, job_id = queue.pop()
                process = context.Process(target=_job_process, name=f"migrate-job-{job_id}",
                                          args=(state.url, config_path, spec, batch_id,
                                                os.getpid()))
                process.start()
                running[process.sentinel] = (process, spec, job_id)
            for sentinel in wait(list(running)):
                process, spec, job_id = running.pop(sentinel)
                process.join()
                outcome = _collect(state, batch_id, spec, job_id, process.exitcode)
                result.outcomes.append(outcome)
                if on_finished is not None:
                    on_finished(outcome, len(result.outcomes), total)
    except KeyboardInterrupt:
        result.interrupted = True
        _stop(state, batch_id, running)
    finally:
        signal.signal(signal.SIGTERM, previous)
        outcome_name = ("interrupted" if result.interrupted else
                        "done" if result.exit_code == 0 else "failed-items")
        state.finish_run(batch_id, outcome_name, sum(o.copied for o in result.outcomes),
                         sum(o.failed for o in result.outcomes))
    return result


def open_pass(specs: list[JobSpec], state: StateDB, key: str, jobs_file: str
              ) -> tuple[BatchResult, list[tuple[JobSpec, int]]]:
    """Open (or resume) the pass of a jobs file: a ``batch_jobs`` row per pair; returns the
    pass and the pairs still to run (those it finished are in ``skipped``)."""
    batch_id, resumed = state.open_batch(key, jobs_file)
    result = BatchResult(batch_id, resumed)
    queue: list[tuple[JobSpec, int]] = []
    for spec in specs:
        job_id = state.job(spec.source_display, spec.target_display, spec.label)
        if spec.label:
            state.update_job(job_id, label=spec.label)
        entry = state.batch_entry(batch_id, job_id, spec.line, spec.to_dict())
        if entry == BatchStatus.DONE:
            result.skipped.append(spec)
            continue
        if entry != BatchStatus.RUNNING:  # (a queue worker may be copying it right now)
            state.update_job(job_id, status=JobStatus.PENDING)
        queue.append((spec, job_id))
    state.audit("batch-started", batch_id, jobs=len(queue), skipped=len(result.skipped),
                resumed=resumed)
    return result, queue


def _raise_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _stop(state: StateDB, batch_id: int, running: dict) -> None:
    """Ctrl-C: ask every child to stop (SIGTERM, once), wait a little, kill what remains,
    and mark their jobs interrupted (the next run of the same pass resumes them)."""
    for process, _, _ in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for process, _, job_id in running.values():
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
        entry = state.batch_entry_row(batch_id, job_id)
        if entry is not None and entry.status in (BatchStatus.DONE, BatchStatus.FAILED):
            continue  # it ended on its own just before it was asked to stop
        state.update_batch_entry(batch_id, job_id, status=BatchStatus.INTERRUPTED,
                                 finished=utcnow(), exit_code=INTERRUPTED,
                                 error="interrupted; the next run resumes it")
        state.update_job(job_id, status=JobStatus.INTERRUPTED)


def _collect(state: StateDB, batch_id: int, spec: JobSpec, job_id: int,
             exit_code: int | None) -> JobOutcome:
    """The outcome a child recorded; a child that died without recording one (killed,
    out of memory) is recorded here, and its job resumes on the next run."""
    entry = state.batch_entry_row(batch_id, job_id)
    if entry is not None and entry.status not in (BatchStatus.RUNNING, BatchStatus.PENDING):
        seconds = 0.0
        if entry.started and entry.finished:
            seconds = (entry.finished - entry.started).total_seconds()
        return JobOutcome(spec, job_id, BatchStatus(entry.status),
                          entry.exit_code if entry.exit_code is not None else 1,
                          entry.copied, entry.failed, seconds, entry.error)
    how = (f"killed by signal {-exit_code}" if exit_code is not None and exit_code < 0
           else f"exit code {exit_code}")
    error = f"the worker process died ({how}); the next run resumes this job"
    state.update_batch_entry(batch_id, job_id, status=BatchStatus.FAILED, finished=utcnow(),
                             exit_code=1, error=error)
    state.update_job(job_id, status=JobStatus.INTERRUPTED)
    return JobOutcome(spec, job_id, BatchStatus.FAILED, 1, error=error)


def _job_context(specs: list[JobSpec], config_path: str | None):
    """How job processes start: forked from a server that imported the engine and the
    connectors these pairs use (Linux), else each a fresh interpreter."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from .registry import connector_class

    context = multiprocessing.get_context("forkserver")
    config = Config.load(config_path)
    modules = {"migrate.batch", "migrate.engine"}
    for spec in specs:
        for text in (spec.source, spec.target):
            with contextlib.suppress(MigrateError):
                modules.add(connector_class(parse_endpoint(text, config).scheme).__module__)
    context.set_forkserver_preload(sorted(modules))
    return context


def _job_process(state_url: str, config_path: str | None, spec: JobSpec, batch_id: int,
                 batch_pid: int) -> None:
    """A worker process: one pair, then exit with its code.

    Ctrl-C reaches the whole terminal's process group: children ignore it and stop when the
    batch process asks (SIGTERM, once), so that a second signal never breaks the records a
    stopping job writes.
    """
    _die_with_parent(batch_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_once)
    try:
        state = StateDB(state_url)
        outcome = run_job(state, Config.load(config_path), spec, batch_id)
    except KeyboardInterrupt:
        os._exit(INTERRUPTED)
    except MigrateError as exc:  # the state DB itself cannot be opened
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(outcome.exit_code)


def _stop_once(_signum, _frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _die_with_parent(batch_pid: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux): the batch process,
    or the fork server, which exits with it. Elsewhere, the job lease still keeps a rerun
    off this job while it lives."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent or not _alive(batch_pid):  # died before prctl took effect
        os._exit(INTERRUPTED)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
