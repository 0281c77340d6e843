"""The state database: what was copied where, so that every run can resume and never repeat.

SQLAlchemy 2.x; a SQLite file in WAL mode by default (``state.db``), any SQLAlchemy URL
otherwise (PostgreSQL to share one migration between machines). Tables: runs, jobs,
folders, items and an append-only audit log. No secret is ever written here: endpoints are
stored by their ``display`` form.
"""

from __future__ import annotations

import getpass
import itertools
import json
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from .errors import StateError

SCHEMA_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class ItemStatus(StrEnum):
    PENDING = "pending"  # written or about to be; not confirmed durable at the target
    DONE = "done"        # the target confirmed and committed the write
    FAILED = "failed"    # recorded with its error; retried on the next run
    REMOVED = "removed"  # deleted at the source after it was copied; the copy is kept
    DELETED = "deleted"  # deleted at the source, and its copy deleted too (copy --delete)


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # finished with failed items
    ABORTED = "aborted"  # stopped by an error that ended the job
    INTERRUPTED = "interrupted"  # stopped on request (Ctrl-C) or killed; a rerun resumes it


class BatchStatus(StrEnum):
    """Where a job stands in one pass of a batch."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # finished with failed items, or stopped by an error
    INTERRUPTED = "interrupted"  # Ctrl-C or a killed worker: the next run resumes it


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Run(Base):
    """One invocation of a command."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    command: Mapped[str] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    operator: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started: Mapped[datetime] = mapped_column(default=utcnow)
    finished: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))
    copied: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)


class Job(Base):
    """A source → target pair (one mailbox, one team); resumable on its own."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("source", "target"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(1024))
    target: Mapped[str] = mapped_column(String(1024))
    label: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING)
    messages_total: Mapped[int] = mapped_column(default=0)
    bytes_total: Mapped[int] = mapped_column(default=0)
    messages_done: Mapped[int] = mapped_column(default=0)
    bytes_done: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires: Mapped[datetime | None]
    started: Mapped[datetime | None]
    updated: Mapped[datetime | None]
    finished: Mapped[datetime | None]


class FolderState(Base):
    """A source folder of a job, where it goes, and the cursor of its last complete pass."""

    __tablename__ = "folders"
    __table_args__ = (UniqueConstraint("job_id", "source_path"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    source_path: Mapped[str] = mapped_column(Text)  # JSON array of names
    target_path: Mapped[str] = mapped_column(Text)  # JSON array of names
    role: Mapped[str | None] = mapped_column(String(16))
    cursor: Mapped[str | None] = mapped_column(Text)
    messages_total: Mapped[int] = mapped_column(default=0)
    bytes_total: Mapped[int] = mapped_column(default=0)
    updated: Mapped[datetime | None]


class Item(Base):
    """One source item: where it went, its fingerprint, and whether the write is confirmed."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("folder_id", "source_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("folders.id"))
    source_key: Mapped[str] = mapped_column(String(1024))
    target_key: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    updated: Mapped[datetime] = mapped_column(default=utcnow)


class BatchEntry(Base):
    """One job within one pass of ``migrate batch`` (a run with command ``batch``): what
    this pass did to it, so that a rerun of an interrupted pass skips what it finished."""

    __tablename__ = "batch_jobs"
    __table_args__ = (UniqueConstraint("batch_id", "job_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    line: Mapped[int] = mapped_column(default=0)  # its line in the jobs file
    spec: Mapped[dict] = mapped_column(JSON, default=dict)  # the row, as a worker needs it
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.PENDING)
    started: Mapped[datetime | None]
    finished: Mapped[datetime | None]
    copied: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    bytes: Mapped[int] = mapped_column(default=0)
    exit_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Append-only: who ran what, when, on which job, with what outcome."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    operator: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


_APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]
_APPEND_ONLY_POSTGRESQL = [
    "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS audit_append_only ON audit",
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
]


def state_url(value: str | os.PathLike) -> str:
    """A SQLAlchemy URL from ``--state``: a URL as is, a plain path as a SQLite file."""
    text_value = str(value)
    if "://" in text_value:
        return text_value
    return f"sqlite:///{Path(text_value).expanduser().resolve()}"


def _engine_url(url: str) -> str:
    """``postgresql://`` with psycopg 3, the driver the ``postgresql`` extra installs
    (SQLAlchemy's default for it is psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


#: PostgreSQL advisory lock key under which one process at a time sets the schema up
#: (several workers start at once).
_SCHEMA_LOCK = 0x6D6967726174_00


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (migrate status) never block the copy
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@dataclass(frozen=True)
class ItemRecord:
    """What the state knows of one source item."""

    source_key: str
    status: ItemStatus
    target_key: str | None
    attempts: int
    sha256: str | None = None  # fingerprint of the version written (chat message, entry)


class StateDB:
    """Access to the state database; one engine, short sessions, explicit transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.operator = _operator()
        try:
            self.engine: Engine = create_engine(_engine_url(url), future=True)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            with self.engine.begin() as connection:
                if self.engine.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                       {"key": _SCHEMA_LOCK})
                Base.metadata.create_all(connection)
                self._install_append_only(connection)
                self._check_schema(connection)
        except ImportError as exc:
            raise StateError(f"the state database {self.safe_url} needs a driver that is not "
                             f"installed ({exc.name}); for PostgreSQL: pip install "
                             "'sovereign-migrate[postgresql]'") from None
        except OperationalError as exc:
            raise StateError(f"cannot open the state database {self.safe_url}: "
                             f"{exc.orig}") from None
        except SQLAlchemyError as exc:
            raise StateError(f"state database {self.safe_url}: {exc}") from None

    @classmethod
    def open(cls, value: str | os.PathLike) -> StateDB:
        return cls(state_url(value))

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    def _install_append_only(self, connection: Connection) -> None:
        dialect = self.engine.dialect.name
        if dialect == "postgresql" and connection.scalar(text(
                "SELECT 1 FROM pg_trigger WHERE tgname = 'audit_append_only'")):
            return  # (replacing it would lock the audit table against every writer)
        statements = {"sqlite": _APPEND_ONLY_SQLITE,
                      "postgresql": _APPEND_ONLY_POSTGRESQL}.get(dialect, [])
        for statement in statements:
            connection.execute(text(statement))

    def _check_schema(self, connection: Connection) -> None:
        version = connection.scalar(select(Meta.value).where(Meta.key == "schema_version"))
        if version is None:
            connection.execute(insert(Meta).values(key="schema_version",
                                                   value=str(SCHEMA_VERSION)))
        elif int(version) > SCHEMA_VERSION:
            raise StateError(f"the state database {self.safe_url} was written by a newer "
                             f"version (schema {version}); upgrade sovereign-migrate")

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- runs and audit ---------------------------------------------------------------

    def start_run(self, command: str, source: str | None, target: str | None,
                  options: dict) -> int:
        with self.session() as session, session.begin():
            run = Run(command=command, source=source, target=target, options=options,
                      operator=self.operator, host=socket.gethostname(), pid=os.getpid())
            session.add(run)
            session.flush()
            session.add(AuditEntry(run_id=run.id, operator=self.operator, event="run-started",
                                   detail={"command": command, "source": source,
                                           "target": target}))
            return run.id

    def finish_run(self, run_id: int, outcome: str, copied: int, failed: int) -> None:
        with self.session() as session, session.begin():
            session.execute(update(Run).where(Run.id == run_id).values(
                finished=utcnow(), outcome=outcome, copied=copied, failed=failed))
            session.add(AuditEntry(run_id=run_id, operator=self.operator, event="run-finished",
                                   detail={"outcome": outcome, "copied": copied,
                                           "failed": failed}))

    def audit(self, event_name: str, run_id: int | None = None, job_id: int | None = None,
              **detail: object) -> None:
        with self.session() as session, session.begin():
            session.add(AuditEntry(run_id=run_id, job_id=job_id, operator=self.operator,
                                   event=event_name, detail=detail))

    # --- jobs and folders ---------------------------------------------------------------

    def job(self, source: str, target: str, label: str | None = None) -> int:
        """The id of the job for this pair, created on first use."""
        with self.session() as session, session.begin():
            found = session.scalar(select(Job).where(Job.source == source,
                                                     Job.target == target))
            if found is None:
                found = Job(source=source, target=target, label=label)
                session.add(found)
                session.flush()
            return found.id

    def find_job(self, source: str, target: str) -> int | None:
        """The id of the job for this pair, if one was ever started."""
        with self.session() as session:
            return session.scalar(select(Job.id).where(Job.source == source,
                                                       Job.target == target))

    def jobs(self) -> list[Job]:
        """Every job, oldest first (detached rows, for display)."""
        with self.session() as session:
            return list(session.scalars(select(Job).order_by(Job.id)))

    def update_job(self, job_id: int, **values: object) -> None:
        with self.session() as session, session.begin():
            session.execute(update(Job).where(Job.id == job_id).values(updated=utcnow(),
                                                                        **values))

    def folder(self, job_id: int, source_path: Sequence[str], target_path: Sequence[str],
               role: str | None) -> tuple[int, str | None]:
        """The folder row for this source path (created or re-targeted) and its cursor."""
        source_json, target_json = _path_json(source_path), _path_json(target_path)
        with self.session() as session, session.begin():
            row = session.scalar(select(FolderState).where(
                FolderState.job_id == job_id, FolderState.source_path == source_json))
            if row is None:
                row = FolderState(job_id=job_id, source_path=source_json,
                                  target_path=target_json, role=role)
                session.add(row)
                session.flush()
            elif row.target_path != target_json:
                # A new mapping sends this folder elsewhere: what was copied is not there.
                row.target_path, row.cursor = target_json, None
                session.execute(update(Item).where(Item.folder_id == row.id)
                                .values(status=ItemStatus.FAILED,
                                        error="folder mapping changed; to copy again"))
            row.role, row.updated = role, utcnow()
            return row.id, row.cursor

    def set_folder_totals(self, folder_id: int, messages: int, size: int) -> None:
        with self.session() as session, session.begin():
            session.execute(update(FolderState).where(FolderState.id == folder_id)
                            .values(messages_total=messages, bytes_total=size))

    def save_cursor(self, folder_id: int, cursor: str | None) -> None:
        with self.session() as session, session.begin():
            session.execute(update(FolderState).where(FolderState.id == folder_id)
                            .values(cursor=cursor, updated=utcnow()))

    # --- items --------------------------------------------------------------------------

    def lookup(self, folder_id: int, keys: Iterable[str]) -> dict[str, ItemRecord]:
        """What is known of these source keys in this folder (absent keys: never seen)."""
        keys = list(keys)
        found: dict[str, ItemRecord] = {}
        with self.session() as session:
            for start in range(0, len(keys), 500):
                rows = session.execute(
                    select(Item.source_key, Item.status, Item.target_key, Item.attempts,
                           Item.sha256)
                    .where(Item.folder_id == folder_id,
                           Item.source_key.in_(keys[start:start + 500])))
                for key, status, target_key, attempts, sha256 in rows:
                    found[key] = ItemRecord(key, ItemStatus(status), target_key, attempts,
                                            sha256)
        return found

    def mark_pending(self, job_id: int, folder_id: int,
                     items: Sequence[tuple[str, int]]) -> None:
        """Record (source key, size) as about to be written: the write-ahead mark."""
        if not items:
            return
        now = utcnow()
        table = Item.__table__
        with self.engine.begin() as connection:
            existing = set(connection.scalars(
                select(table.c.source_key).where(
                    table.c.folder_id == folder_id,
                    table.c.source_key.in_([key for key, _ in items]))))
            new = [{"job_id": job_id, "folder_id": folder_id, "source_key": key, "size": size,
                    "status": ItemStatus.PENDING.value, "attempts": 1, "updated": now}
                   for key, size in items if key not in existing]
            if new:
                connection.execute(table.insert(), new)
            again = [{"b_folder": folder_id, "b_key": key, "b_size": size}
                     for key, size in items if key in existing]
            if again:
                connection.execute(
                    table.update().where((table.c.folder_id == bindparam("b_folder"))
                                         & (table.c.source_key == bindparam("b_key")))
                    .values(status=ItemStatus.PENDING.value, size=bindparam("b_size"),
                            attempts=table.c.attempts + 1, updated=now), again)

    def mark_results(self, folder_id: int, done: Sequence[tuple[str, str, str | None]],
                     failed: Sequence[tuple[str, str]]) -> None:
        """Record confirmed writes (source key, target key, sha256) and failures (key, error)."""
        now = utcnow()
        table = Item.__table__
        where = (table.c.folder_id == bindparam("b_folder")) & \
            (table.c.source_key == bindparam("b_key"))
        with self.engine.begin() as connection:
            if done:
                connection.execute(
                    table.update().where(where).values(
                        status=ItemStatus.DONE.value, target_key=bindparam("b_target"),
                        sha256=func.coalesce(bindparam("b_sha256"), table.c.sha256),
                        error=None, updated=now),
                    [{"b_folder": folder_id, "b_key": key, "b_target": target_key,
                      "b_sha256": sha256} for key, target_key, sha256 in done])
            if failed:
                connection.execute(
                    table.update().where(where).values(
                        status=ItemStatus.FAILED.value, error=bindparam("b_error"),
                        updated=now),
                    [{"b_folder": folder_id, "b_key": key, "b_error": error}
                     for key, error in failed])

    def mark_removed(self, job_id: int, folder_id: int, keys: Iterable[str]) -> int:
        """Record the items the source says it deleted (their copies kept) and audit it;
        keys never copied or already recorded are passed over. Returns how many were new."""
        count = 0
        gone = iter(keys)
        while chunk := list(itertools.islice(gone, 500)):
            known = self.lookup(folder_id, chunk)
            removed = [key for key in chunk if (record := known.get(key)) is not None
                       and record.status not in (ItemStatus.REMOVED, ItemStatus.DELETED)]
            if removed:
                self._set_status(folder_id, removed, ItemStatus.REMOVED)
                self.audit("source-deleted", job_id=job_id, folder_id=folder_id,
                           count=len(removed))
                count += len(removed)
        return count

    def mark_deleted(self, job_id: int, folder_id: int, key: str, target_key: str) -> None:
        """Record that the copy of an item deleted at the source was deleted too; audited
        first, so that a kill in between audits it twice rather than never."""
        self.audit("target-deleted", job_id=job_id, folder_id=folder_id, item=key,
                   copy=target_key)
        self._set_status(folder_id, [key], ItemStatus.DELETED)

    def _set_status(self, folder_id: int, keys: Sequence[str], status: ItemStatus) -> None:
        table = Item.__table__
        with self.engine.begin() as connection:
            connection.execute(
                table.update().where((table.c.folder_id == bindparam("b_folder"))
                                     & (table.c.source_key == bindparam("b_key")))
                .values(status=status.value, updated=utcnow()),
                [{"b_folder": folder_id, "b_key": key} for key in keys])

    def removed_items(self, folder_id: int) -> list[tuple[str, str]]:
        """(source key, target key) of the folder's items deleted at the source whose copy
        is kept."""
        with self.session() as session:
            return [(key, target) for key, target in session.execute(
                select(Item.source_key, Item.target_key).where(
                    Item.folder_id == folder_id, Item.status == ItemStatus.REMOVED,
                    Item.target_key.is_not(None)))]

    def record_failure(self, job_id: int, folder_id: int, key: str, error: str,
                       sha256: str | None = None, size: int | None = None) -> None:
        """Record an item that failed before it could be written (e.g. unreadable)."""
        with self.session() as session, session.begin():
            row = session.scalar(select(Item).where(Item.folder_id == folder_id,
                                                    Item.source_key == key))
            if row is None:
                session.add(Item(job_id=job_id, folder_id=folder_id, source_key=key,
                                 sha256=sha256, size=size, status=ItemStatus.FAILED,
                                 error=error, attempts=1))
            else:
                row.status, row.error, row.updated = ItemStatus.FAILED, error, utcnow()
                row.attempts += 1

    def job_counts(self, job_id: int) -> tuple[int, int]:
        """(messages done, bytes done) of a job, counted once at start."""
        with self.session() as session:
            done_count, done_bytes = session.execute(
                select(func.count(), func.coalesce(func.sum(Item.size), 0))
                .where(Item.job_id == job_id, Item.status == ItemStatus.DONE)).one()
            return int(done_count), int(done_bytes)

    def done_count(self, job_id: int, source_path: Sequence[str]) -> int:
        """Messages of one source folder already copied by earlier runs."""
        with self.session() as session:
            return int(session.scalar(
                select(func.count()).select_from(Item)
                .join(FolderState, FolderState.id == Item.folder_id)
                .where(FolderState.job_id == job_id,
                       FolderState.source_path == _path_json(source_path),
                       Item.status == ItemStatus.DONE)) or 0)

    def failed_count(self, job_id: int) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(Item).where(
                Item.job_id == job_id, Item.status == ItemStatus.FAILED)) or 0)

    def failures(self, job_id: int, limit: int = 1000) -> list[tuple[list[str], str, str]]:
        """Failed items of a job: (folder path, source key, error)."""
        with self.session() as session:
            rows = session.execute(
                select(FolderState.source_path, Item.source_key, Item.error)
                .join(FolderState, FolderState.id == Item.folder_id)
                .where(Item.job_id == job_id, Item.status == ItemStatus.FAILED)
                .order_by(Item.id).limit(limit))
            return [(json.loads(path), key, error or "") for path, key, error in rows]

    # --- batches (migrate batch) -------------------------------------------------------

    def open_batch(self, pass_key: str, jobs_file: str) -> tuple[int, bool]:
        """The batch run of this pass: the last one with the same ``pass_key`` if it never
        finished (killed or interrupted: resumed), else a new one. Returns (id, resumed)."""
        with self.session() as session:
            rows = session.execute(select(Run.id, Run.options, Run.outcome)
                                   .where(Run.command == "batch").order_by(Run.id.desc()))
            for run_id, options, outcome in rows:
                if (options or {}).get("pass") == pass_key:
                    if outcome in (None, "interrupted"):
                        self.audit("batch-resumed", run_id)
                        return run_id, True
                    break
        return self.start_run("batch", None, None, {"pass": pass_key, "file": jobs_file}), False

    def batch_entry(self, batch_id: int, job_id: int, line: int,
                    spec: dict[str, object]) -> BatchStatus:
        """The status of ``job_id`` in this batch, its row created on first sight; ``spec``
        is the jobs file's row (endpoint names or URLs without secrets, options), so that
        whatever runs the job needs nothing else."""
        with self.session() as session, session.begin():
            row = session.scalar(select(BatchEntry).where(BatchEntry.batch_id == batch_id,
                                                          BatchEntry.job_id == job_id))
            if row is None:
                row = BatchEntry(batch_id=batch_id, job_id=job_id, line=line,
                                 status=BatchStatus.PENDING)
                session.add(row)
            row.line, row.spec = line, spec
            return BatchStatus(row.status)

    def batch_entry_row(self, batch_id: int, job_id: int) -> BatchEntry | None:
        """The ``batch_jobs`` row of a job in a batch (detached)."""
        with self.session() as session:
            return session.scalar(select(BatchEntry).where(BatchEntry.batch_id == batch_id,
                                                           BatchEntry.job_id == job_id))

    def update_batch_entry(self, batch_id: int, job_id: int, **values: object) -> None:
        with self.session() as session, session.begin():
            session.execute(update(BatchEntry).where(BatchEntry.batch_id == batch_id,
                                                     BatchEntry.job_id == job_id)
                            .values(**values))

    def claim_job(self, job_id: int, owner: str) -> bool:
        """Take the job's lease for ``owner`` (``lease_owner()``); False if another process that
        is still alive on this host holds it. One job never runs twice at once."""
        with self.session() as session, session.begin():
            held = session.scalar(select(Job.lease_owner).where(Job.id == job_id))
            if held and held != owner and _owner_alive(held):
                return False
            session.execute(update(Job).where(Job.id == job_id)
                            .values(lease_owner=owner, lease_expires=None))
            return True

    def take_over_job(self, job_id: int, owner: str) -> str | None:
        """Take the job's lease whoever holds it, and return the previous owner: only for a
        job the queue found stalled (its worker stopped its heartbeat: dead or cut off)."""
        with self.session() as session, session.begin():
            held = session.scalar(select(Job.lease_owner).where(Job.id == job_id)
                                  .with_for_update())
            session.execute(update(Job).where(Job.id == job_id)
                            .values(lease_owner=owner, lease_expires=None))
            return held

    def close_batch_if_complete(self, batch_id: int) -> bool:
        """Finish a queued pass once every one of its jobs ended (done or failed); True for
        the one caller that finished it. Workers call it after each job."""
        with self.session() as session, session.begin():
            run = session.scalar(select(Run).where(Run.id == batch_id).with_for_update())
            if run is None or run.outcome is not None:
                return False
            entries = list(session.scalars(select(BatchEntry)
                                           .where(BatchEntry.batch_id == batch_id)))
            final = (BatchStatus.DONE, BatchStatus.FAILED)
            if not entries or any(entry.status not in final for entry in entries):
                return False
            failed = any(entry.status != BatchStatus.DONE or entry.failed for entry in entries)
            run.finished, run.outcome = utcnow(), "failed-items" if failed else "done"
            run.copied = sum(entry.copied for entry in entries)
            run.failed = sum(entry.failed for entry in entries)
            session.add(AuditEntry(run_id=batch_id, operator=self.operator,
                                   event="run-finished",
                                   detail={"outcome": run.outcome, "copied": run.copied,
                                           "failed": run.failed}))
            return True

    def batch_entries(self, batch_id: int) -> list[BatchEntry]:
        """Every ``batch_jobs`` row of a pass, in jobs-file order (detached)."""
        with self.session() as session:
            return list(session.scalars(select(BatchEntry)
                                        .where(BatchEntry.batch_id == batch_id)
                                        .order_by(BatchEntry.line)))

    def audit_entries(self, event_name: str | None = None) -> list[AuditEntry]:
        """The audit log, oldest first (detached), optionally one kind of event."""
        return list(self.audit_log([event_name] if event_name else None))

    def audit_log(self, events: Sequence[str] | None = None, since: datetime | None = None,
                  job_id: int | None = None) -> Iterator[AuditEntry]:
        """The audit log, oldest first, streamed (it grows with every deletion), filtered
        by kinds of event, time (``since``, inclusive) and job."""
        query = select(AuditEntry).order_by(AuditEntry.id)
        if events:
            query = query.where(AuditEntry.event.in_(list(events)))
        if since is not None:
            query = query.where(AuditEntry.at >= since.astimezone(UTC))
        if job_id is not None:
            query = query.where(AuditEntry.job_id == job_id)
        with self.session() as session:
            yield from session.scalars(query.execution_options(yield_per=500))

    def folder_paths(self, folder_ids: Iterable[int]) -> dict[int, list[str]]:
        """The source paths of these folders (for what the audit names by folder id)."""
        wanted = sorted(set(folder_ids))
        found: dict[int, list[str]] = {}
        with self.session() as session:
            for start in range(0, len(wanted), 500):
                for folder_id, path in session.execute(
                        select(FolderState.id, FolderState.source_path)
                        .where(FolderState.id.in_(wanted[start:start + 500]))):
                    found[folder_id] = json.loads(path)
        return found

    def release_job(self, job_id: int, owner: str) -> None:
        with self.session() as session, session.begin():
            session.execute(update(Job).where(Job.id == job_id, Job.lease_owner == owner)
                            .values(lease_owner=None, lease_expires=None))

    def job_progress(self) -> list[JobProgress]:
        """Every job with its rate and last batch pass, oldest first (for status and
        reports); the rate counts the items confirmed since the job's current run began."""
        now = utcnow()
        progress = []
        with self.session() as session:
            last_entries = {}
            for entry in session.scalars(select(BatchEntry).order_by(BatchEntry.id)):
                last_entries[entry.job_id] = entry
            for job in session.scalars(select(Job).order_by(Job.id)):
                rate = 0.0
                started = _aware(job.started)
                if job.status == JobStatus.RUNNING and started is not None:
                    recent = session.scalar(select(func.count()).select_from(Item).where(
                        Item.job_id == job.id, Item.status == ItemStatus.DONE,
                        Item.updated >= started)) or 0
                    elapsed = (now - started).total_seconds()
                    rate = recent / elapsed if elapsed > 0 else 0.0
                progress.append(JobProgress(job, rate, last_entries.get(job.id)))
        return progress


@dataclass(frozen=True)
class JobProgress:
    """A job as ``migrate status`` and ``migrate report`` show it."""

    job: Job
    rate: float  # messages per second in the current run (0 when not running)
    last_pass: BatchEntry | None  # its row in the latest batch that ran it, if any

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the current rate, if it runs and the rate is known."""
        left = self.job.messages_total - self.job.messages_done
        if self.rate <= 0 or left < 0:
            return None
        return left / self.rate

    @property
    def seconds(self) -> float | None:
        """How long the job's last run took (or has been running)."""
        started = _aware(self.job.started)
        if started is None:
            return None
        return ((_aware(self.job.finished) or utcnow()) - started).total_seconds()


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for what was stored in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def lease_owner() -> str:
    """This process as a lease owner: ``host:pid:start`` (the start time tells a process
    from a later one that got the same pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid()) or ''}"


def _process_start(pid: int) -> str | None:
    """When a process started (clock ticks since boot, Linux), or None if it does not run
    (a zombie, killed and not yet reaped, counts as not running)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _owner_alive(owner: str) -> bool:
    """Whether a lease owner ``host:pid:start`` still runs; another host's is assumed
    alive."""
    host, pid, start = [*owner.split(":"), "", ""][:3]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    if Path("/proc/self/stat").exists():
        current = _process_start(int(pid))
        return current is not None and (not start or current == start)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _path_json(path: Sequence[str]) -> str:
    return json.dumps(list(path), ensure_ascii=False)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
