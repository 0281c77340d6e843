"""Loading one listed message fetches it with the next few not loaded yet (migrate/unfetched.py)."""

from __future__ import annotations

from migrate.errors import ItemError
from migrate.model import Content, MailMessage
from migrate.unfetched import Unfetched


def _listed(unfetched: Unfetched, keys: list[str], asked: list[list[str]],
            served: dict[str, Content | Exception]) -> list[MailMessage]:
    """Messages whose contents load through ``unfetched`` as a server source's would."""
    def load(key: str) -> Content:
        group = unfetched.group(key)
        asked.append(group)
        body = unfetched.deliver(key, {k: served[k] for k in group if k in served})
        if body is None:
            raise ItemError(f"{key} is gone")
        if isinstance(body, Exception):
            raise body
        return body

    messages = [MailMessage(Content.deferred(lambda k=key: load(k)), key) for key in keys]
    unfetched.listed(messages)
    return messages


def test_loading_one_fetches_the_next_ones_not_loaded_and_hands_them_their_bytes():
    unfetched, asked = Unfetched(read_ahead=2), []
    served = {k: Content.from_bytes(k.encode()) for k in "abcde"}
    a, b, c, d, e = _listed(unfetched, list("abcde"), asked, served)
    assert b.content.read() == b"b"
    assert asked == [["b", "c", "d"]] and c.content.loaded and d.content.loaded
    assert not a.content.loaded and not e.content.loaded
    assert e.content.read() == b"e" and a.content.read() == b"a"
    assert asked == [["b", "c", "d"], ["e"], ["a"]]  # fetched ones are not asked again


def test_a_message_the_server_did_not_send_or_refused_fails_alone():
    unfetched, asked = Unfetched(read_ahead=5), []
    served: dict[str, Content | Exception] = {"a": Content.from_bytes(b"a"),
                                              "c": ItemError("c is corrupt")}
    a, b, c = _listed(unfetched, list("abc"), asked, served)
    assert a.content.read() == b"a" and not b.content.loaded and not c.content.loaded
    for message, words in ((b, "b is gone"), (c, "c is corrupt")):
        try:
            message.content.read()
        except ItemError as exc:
            assert words in str(exc)
        else:
            raise AssertionError(f"{message.source_id} should have failed")


def test_a_prefetched_batch_gets_its_bytes_and_is_forgotten():
    unfetched = Unfetched(read_ahead=3)
    messages = [MailMessage(Content.deferred(lambda: Content.from_bytes(b"late")), k)
                for k in "xyz"]
    unfetched.listed(messages)
    unfetched.provide(messages[:2], {"x": Content.from_bytes(b"x")})
    assert messages[0].content.loaded and messages[0].content.read() == b"x"
    assert not messages[1].content.loaded  # the server sent nothing for it
    assert unfetched.group("x") == ["x"]  # forgotten: a later load asks for itself alone
    assert unfetched.group("z") == ["z"]
