"""The engine's batch hooks, driven through a real archive target: deferred contents that a
source provides in one go, and retries of passing failures."""

from __future__ import annotations

import threading

from conftest import read_endpoint, synthetic_message, write_mbox

from connectors.maildir import MaildirConnector
from connectors.mbox import MboxConnector
from migrate import engine
from migrate.connector import Capabilities, Connector, Kind, MailTarget
from migrate.endpoint import parse_endpoint
from migrate.errors import RetryableError
from migrate.model import Content, Folder, MailMessage
from migrate.observe import Observer
from migrate.registry import connector_for
from migrate.state import StateDB


def test_deferred_content_loads_once_and_only_when_needed():
    calls = []

    def load() -> Content:
        calls.append(1)
        return Content.from_bytes(b"Subject: x\r\n\r\nbody\r\n")

    content = Content.deferred(load, size=20)
    assert content.size == 20 and not content.loaded and calls == []
    assert content.read().endswith(b"body\r\n") and calls == [1]
    assert content.sha256 and calls == [1]

    provided = Content.deferred(load)
    provided.provide(Content.from_bytes(b"given"))
    assert provided.read() == b"given" and calls == [1]


class _Flaky(MailTarget):
    """A target that refuses each message once with a Retry-After, then takes it."""

    def __init__(self) -> None:
        self.tries: dict[str, int] = {}
        self.written: list[str] = []

    def prepare_folder(self, folder: Folder) -> None: ...

    def find(self, folder: Folder, message: MailMessage) -> str | None:
        return None

    def append(self, folder: Folder, message: MailMessage) -> str:
        self.tries[message.source_id] = self.tries.get(message.source_id, 0) + 1
        if self.tries[message.source_id] == 1:
            raise RetryableError("slow down", retry_after=0.01)
        self.written.append(message.source_id)
        return message.source_id


def test_default_append_batch_reports_each_outcome():
    target = _Flaky()
    messages = [MailMessage(Content.from_bytes(b"m"), str(n)) for n in range(3)]
    first = target.append_batch(Folder(("INBOX",)), messages)
    assert all(isinstance(outcome, RetryableError) for outcome in first)
    assert target.append_batch(Folder(("INBOX",)), messages) == ["0", "1", "2"]


class _FlakyConnector(Connector):
    scheme = "flaky"
    description = "a test target that throttles every message once"
    capabilities = Capabilities(writes=frozenset({Kind.MAIL}))
    target = _Flaky()

    def open_target(self) -> _Flaky:
        return self.target


def test_engine_retries_throttled_items_and_records_them_done(tmp_path):
    mbox = write_mbox(tmp_path / "Inbox.mbox", [synthetic_message(n) for n in range(5)])
    source = connector_for(parse_endpoint(f"mbox:{mbox}"))
    target = _FlakyConnector(parse_endpoint("flaky:x"))
    state = StateDB.open(tmp_path / "s.db")
    result = engine.copy(source, target, state, engine.CopyOptions(), Observer())
    assert result.ok and result.copied == 5
    assert sorted(target.target.tries.values()) == [2] * 5
    again = engine.copy(source, target, state, engine.CopyOptions(), Observer())
    assert again.copied == 0 and again.skipped == 5


class _ParallelMbox(MboxConnector):
    max_connections = 4


class _ParallelMaildir(MaildirConnector):
    max_connections = 4


def test_folders_copied_over_several_connections(tmp_path):
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    for f in range(6):
        write_mbox(source_dir / f"Folder{f}.mbox",
                   [synthetic_message(f * 100 + n) for n in range(40)])
    source = _ParallelMbox(parse_endpoint(f"mbox:{source_dir}"))
    target = _ParallelMaildir(parse_endpoint(f"maildir:{tmp_path / 'M'}"))
    state = StateDB.open(tmp_path / "s.db")
    options = engine.CopyOptions(connections=3, batch_messages=7)
    threads: set[str] = set()

    class Threads(Observer):
        def item_copied(self, folder, message) -> None:
            threads.add(threading.current_thread().name)

    result = engine.copy(source, target, state, options, Threads())
    assert result.ok and result.copied == 240 and len(result.folders) == 6
    assert len(threads) == 3
    copied = read_endpoint(f"maildir:{tmp_path / 'M'}")
    assert {path: sum(c.values()) for path, c in copied.items() if path != ("INBOX",)} == {
        (f"Folder{f}",): 40 for f in range(6)}
    assert state.job_counts(result.job_id) == (240, result.bytes)
    again = engine.copy(source, target, state, options, Observer())
    assert again.copied == 0 and again.skipped == 240
