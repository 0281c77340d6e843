"""Read-ahead: batches prepared one ahead in a thread, errors arriving in order."""

from __future__ import annotations

import threading

import pytest

from migrate.errors import BadInputError
from migrate.model import Content
from migrate.readahead import batches, read_ahead


def test_batches_come_in_order_prepared_in_another_thread():
    prepared: list[tuple[int, str]] = []
    batches = read_ahead(iter(range(5)),
                         lambda b: prepared.append((b, threading.current_thread().name)))
    assert list(batches) == [0, 1, 2, 3, 4]
    assert [b for b, _ in prepared] == [0, 1, 2, 3, 4]
    assert {name for _, name in prepared} == {"read-ahead"}


def test_an_error_arrives_after_the_batches_read_before_it():
    def source():
        yield 1
        yield 2
        raise BadInputError("the folder broke off")

    seen = []
    with pytest.raises(BadInputError, match="broke off"):
        for batch in read_ahead(source(), lambda b: None):
            seen.append(batch)
    assert seen == [1, 2]


def test_consumer_leaving_early_stops_the_producer():
    produced = []

    def source():
        for n in range(1000):
            produced.append(n)
            yield n

    for batch in read_ahead(source(), lambda b: None):
        if batch == 3:
            break
    assert len(produced) < 10


def test_a_failed_load_is_remembered_without_asking_again():
    calls = []

    def load() -> Content:
        calls.append(1)
        raise BadInputError("message vanished")

    content = Content.deferred(load, size=10)
    for _ in range(3):
        with pytest.raises(BadInputError, match="vanished"):
            content.load()
    assert calls == [1]


def test_batches_close_at_a_count_or_a_byte_budget():
    sizes = [1, 1, 5, 1, 1, 1, 1]
    assert list(batches(sizes, 3, 6, lambda n: n)) == [[1, 1, 5], [1, 1, 1], [1]]
    assert list(batches([], 3, 6, lambda n: n)) == []
