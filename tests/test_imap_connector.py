"""The IMAP connector against a real Dovecot: folders, roles, reading, writing, logging in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from dovecot import MASTER

from connectors.imap.folders import Hierarchy
from connectors.imap.wire import uid_set
from migrate.endpoint import Config, parse_endpoint
from migrate.errors import AuthError, BadInputError, ConnectError
from migrate.model import Content, Folder, MailMessage, Role
from migrate.registry import connector_for

PARIS = timezone(timedelta(hours=2))


def connector(url: str):
    return connector_for(parse_endpoint(url))


def message(n: int, flags=(), date: datetime | None = None, crlf: bool = True) -> bytes:
    text = (f"From: a{n}@example.org\nTo: b@example.org\nSubject: m{n}\n"
            f"Message-ID: <{n}.connector@test.invalid>\n\nBody {n}\n")
    return text.replace("\n", "\r\n").encode() if crlf else text.encode()


def test_folders_roles_and_non_ascii_names_round_trip(dovecot):
    user = dovecot.add_user("folders")
    names = [("Éléments envoyés",), ("Boîte de réception", "Projets"), ("Notes v1.2",),
             ("Archive", "2023")]
    target = connector(dovecot.url(user)).open_target()
    try:
        for path in names:
            target.prepare_folder(Folder(path))
    finally:
        target.close()
    source = connector(dovecot.url(user)).open_source()
    try:
        listed = {f.path: f for f in source.folders()}
    finally:
        source.close()
    for path in names:
        assert path in listed, sorted(listed)
    assert listed[("INBOX",)].role is Role.INBOX
    assert listed[("Sent",)].role is Role.SENT
    assert listed[("Drafts",)].role is Role.DRAFTS
    assert listed[("Trash",)].role is Role.TRASH
    assert listed[("Junk",)].role is Role.JUNK
    assert listed[("Archive",)].role is Role.ARCHIVE
    assert listed[("Éléments envoyés",)].role is None
    order = [f.path for f in connector(dovecot.url(user)).open_source().folders()]
    assert order.index(("Archive",)) < order.index(("Archive", "2023"))
    with dovecot.client(user) as raw:  # stored in modified UTF-7, as IMAP wants
        raw.folder_encode = False
        assert b"&AMk-l&AOk-ments envoy&AOk-s" in [n for _, _, n in raw.list_folders()]


def test_a_parent_without_messages_is_listed_and_reads_empty(dovecot):
    user = dovecot.add_user("noselect")
    dovecot.seed(user, "Parent/Child", [message(1)])
    source = connector(dovecot.url(user)).open_source()
    try:
        folders = {f.path: f for f in source.folders()}
        assert ("Parent", "Child") in folders
        if ("Parent",) in folders:  # Maildir++ lists it \NonExistent: kept, but empty
            assert list(source.messages(folders[("Parent",)])) == []
            assert source.stats(folders[("Parent",)]).messages == 0
        assert len(list(source.messages(folders[("Parent", "Child")]))) == 1
    finally:
        source.close()


def test_role_folder_finds_special_use_folders_and_creates_nothing(dovecot):
    user = dovecot.add_user("roles")
    imap = connector(dovecot.url(user))
    assert imap.role_folder(Role.INBOX) == ("INBOX",)
    assert imap.role_folder(Role.SENT) == ("Sent",)
    assert imap.role_folder(Role.OUTBOX) is None
    with dovecot.client(user) as raw:
        assert not any("Outbox" in name for _, _, name in raw.list_folders())


def test_hierarchy_with_dots_and_a_personal_prefix():
    cyrus = Hierarchy(".", "INBOX.")
    assert cyrus.path_of("INBOX.Sent") == ("Sent",)
    assert cyrus.path_of("INBOX") == ("INBOX",)
    assert cyrus.name_of(("Projets", "2024")) == "INBOX.Projets.2024"
    assert cyrus.name_of(("INBOX",)) == "INBOX"
    with pytest.raises(BadInputError, match="--map"):
        cyrus.name_of(("Notes v1.2",))
    flat = Hierarchy(None)
    assert flat.path_of("a/b.c") == ("a/b.c",)
    assert Hierarchy("/").path_of("inbox/x") == ("INBOX", "x")


def test_reading_lists_metadata_and_never_marks_read(dovecot):
    user = dovecot.add_user("peek")
    when = datetime(2021, 6, 1, 10, 30, 0, tzinfo=PARIS)
    dovecot.seed(user, "INBOX", [
        {"msg": message(1), "flags": ["\\Flagged", "$Forwarded", "Projet-X"], "date": when},
        {"msg": message(2), "date": when},
    ])
    source = connector(dovecot.url(user)).open_source()
    try:
        inbox = Folder(("INBOX",), Role.INBOX)
        messages = list(source.messages(inbox))
        assert [m.content.loaded for m in messages] == [False, False]  # bodies not fetched yet
        assert messages[0].flags == {"\\Flagged", "$Forwarded", "Projet-X"}  # no \Recent
        assert messages[0].internal_date.timestamp() == when.timestamp()
        assert messages[0].internal_date.utcoffset() is not None
        assert messages[0].size == len(message(1))
        assert messages[0].content.read() == message(1)
        assert messages[1].content.loaded  # fetched with the one before (read-ahead)
        assert source.stats(inbox).messages == 2
        assert source.stats(inbox).bytes == len(message(1)) + len(message(2))
    finally:
        source.close()
    for _, flags, _ in dovecot.contents(user)["INBOX"]:
        assert "\\Seen" not in flags


def test_prefetch_provides_a_batch_in_one_go(dovecot):
    user = dovecot.add_user("prefetch")
    dovecot.seed(user, "INBOX", [message(n) for n in range(30)])
    source = connector(dovecot.url(user)).open_source()
    try:
        inbox = Folder(("INBOX",), Role.INBOX)
        messages = list(source.messages(inbox))
        source.prefetch(inbox, messages[5:25])
        assert all(m.content.loaded for m in messages[5:25])
        assert not messages[0].content.loaded
        assert [m.content.read() for m in messages] == [message(n) for n in range(30)]
    finally:
        source.close()


def test_cursor_lists_only_newer_messages_unless_uidvalidity_changed(dovecot):
    user = dovecot.add_user("cursor")
    dovecot.seed(user, "Work", [message(1), message(2)])
    imap = connector(dovecot.url(user))
    source = imap.open_source()
    work = Folder(("Work",))
    try:
        cursor = source.cursor(work)
        assert len(cursor.split(":")) == 3  # UIDVALIDITY:LASTUID:HIGHESTMODSEQ (CONDSTORE)
        dovecot.seed(user, "Work", [message(3)])
        assert [m.content.read() for m in source.messages(work, cursor)] == [message(3)]
    finally:
        source.close()
    with dovecot.client(user) as raw:
        raw.delete_folder("Work")
    dovecot.seed(user, "Work", [message(1), message(2), message(3)])
    source = imap.open_source()
    try:
        assert len(list(source.messages(work, cursor))) == 3  # new UIDVALIDITY: all again
    finally:
        source.close()


def test_append_keeps_bytes_flags_and_date_and_returns_the_uid(dovecot):
    user = dovecot.add_user("append")
    odd = b"Subject: odd\r\nX-Bare-CR: a\rb\r\n\r\nno Message-ID, bare CR kept\r\n"
    when = datetime(2019, 12, 24, 18, 0, 5, tzinfo=UTC)
    target = connector(dovecot.url(user)).open_target()
    folder = Folder(("Dossiers", "Été"))
    try:
        target.prepare_folder(folder)
        key = target.append(folder, MailMessage(Content.from_bytes(odd), "s1",
                                                frozenset({"\\Seen", "\\Recent", "Mot-clé",
                                                           "$Label1"}), when))
        validity, uid = key.split(":")
        assert validity.isdigit() and uid == "1"
    finally:
        target.close()
    target = connector(dovecot.url(user)).open_target()  # as a rerun after a crash would
    try:
        assert target.find(folder, MailMessage(Content.from_bytes(odd), "s1",
                                               internal_date=when)) == key
        other = MailMessage(Content.from_bytes(odd + b"x"), "s2", internal_date=when)
        assert target.find(folder, other) is None
    finally:
        target.close()
    [(data, flags, date)] = dovecot.contents(user)["Dossiers/Été"]
    assert data == odd
    # never \Recent; a keyword that is not an atom is written encoded (imap/keywords.py)
    assert flags == {"\\Seen", "$Label1", "Mot-cl&AOk-"}
    assert date.timestamp() == when.timestamp()


def test_multiappend_batch_with_one_refused_message_fails_only_that_one(dovecot):
    user = dovecot.add_user("multi", max_mail_size="2K")
    target = connector(dovecot.url(user)).open_target()
    folder = Folder(("INBOX",), Role.INBOX)
    big = message(99) + b"x" * 4000
    batch = [MailMessage(Content.from_bytes(data), f"k{i}")
             for i, data in enumerate([message(1), big, message(2)])]
    try:
        results = target.append_batch(folder, batch)
    finally:
        target.close()
    assert isinstance(results[0], str) and isinstance(results[2], str)
    assert type(results[1]).__name__ == "TooLargeError"
    assert [d for d, _, _ in dovecot.contents(user)["INBOX"]] == [message(1), message(2)]


def test_uid_sets_of_appenduid():
    assert uid_set("7") == [7]
    assert uid_set("3955:3957,3960") == [3955, 3956, 3957, 3960]


def test_imaps_and_starttls_verify_the_certificate(dovecot):
    user = dovecot.add_user("tls")
    for url in (dovecot.imaps_url(user), dovecot.url(user, tls=True)):
        source = connector(url).open_source()
        try:
            assert ("INBOX",) in [f.path for f in source.folders()]
        finally:
            source.close()
    untrusted = dovecot.imaps_url(user).split("?")[0]
    with pytest.raises(ConnectError, match="not trusted"):
        connector(untrusted).open_source()


def test_wrong_password_is_an_auth_error_without_the_password(own_dovecot):
    # A failed login makes Dovecot slow down later ones from the same address: own server.
    dovecot = own_dovecot.start()
    user = dovecot.add_user("auth", "right-one")
    with pytest.raises(AuthError) as caught:
        connector(dovecot.url(user, "Wr0ng-Secret")).open_source()
    assert "Wr0ng-Secret" not in str(caught.value)
    assert "login refused" in str(caught.value)


def test_master_user_and_authzid_log_in_as_the_user(dovecot):
    user = dovecot.add_user("proxied")
    dovecot.seed(user, "INBOX", [message(7)])
    master, password = MASTER
    for url in (dovecot.url(f"{user}*{master}", password),
                dovecot.url(master, password, query=f"authzid={user}")):
        source = connector(url).open_source()
        try:
            inbox = Folder(("INBOX",), Role.INBOX)
            assert [m.content.read() for m in source.messages(inbox)] == [message(7)]
        finally:
            source.close()


@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer"])
def test_oauth_token_is_read_again_on_each_login(own_dovecot, tmp_path, mechanism):
    # Dovecot checks the token like a password (passwd-file): a refreshed token is a new one.
    dovecot = own_dovecot.start()
    user = dovecot.add_user(f"oauth-{mechanism}", "token-1")
    token = tmp_path / "token"
    token.write_text("token-1\n")
    config = tmp_path / "migrate.toml"
    config.write_text(f'[endpoints.cloud]\nurl = "{dovecot.url(user, None)}&auth={mechanism}"\n'
                      f'token_file = "{token}"\n')
    endpoint = Config.load(config).endpoint("cloud")
    imap = connector_for(endpoint)
    imap.open_source().close()
    dovecot.add_user(user, "token-2")
    token.write_text("token-2\n")
    source = imap.open_source()
    source.close()
    token.write_text("expired\n")
    with pytest.raises(AuthError) as caught:
        imap.open_source()
    assert "expired" not in str(caught.value)


def test_server_refusals_become_the_engine_errors():
    from connectors.imap.quirks import detect, preset
    from connectors.imap.session import refusal
    from migrate.errors import ItemError, QuotaError, RetryableError, TooLargeError

    exchange, generic = preset("exchange"), preset("generic")
    throttled = refusal("APPEND failed: Server Unavailable. 15. Suggested Backoff Time: "
                        "2500 milliseconds", exchange)
    assert isinstance(throttled, RetryableError) and throttled.retry_after == 2.5
    assert isinstance(refusal("[OVERQUOTA] Quota exceeded", generic), QuotaError)
    assert isinstance(refusal("[TOOBIG] Message too large", generic), TooLargeError)
    assert isinstance(refusal("[LIMIT] Mail size is larger than the maximum size", generic),
                      TooLargeError)
    other = refusal("[CANNOT] Invalid flags", generic)
    assert type(other) is ItemError and "Invalid flags" in str(other)
    assert detect("* OK The Microsoft Exchange IMAP4 service is ready.").name == "exchange"
    assert detect("* OK Gimap ready for requests").name == "gmail"
    assert detect("* OK [CAPABILITY IMAP4rev1] Dovecot (Debian) ready.").name == "dovecot"
    assert detect("* OK hello").name == "generic"
    assert "\\All" in preset("gmail").skip_attributes
    assert "\\Flagged" in exchange.flags_after_append


def test_endpoint_settings_are_checked_before_connecting():
    from connectors.imap.session import Settings
    from migrate.errors import ConfigError

    def settings(url: str) -> Settings:
        return Settings.from_endpoint(parse_endpoint(url))

    assert settings("imaps://u:p@h").port == 993
    plain = settings("imap://u:p@h")
    assert (plain.port, plain.tls, plain.auth) == (143, "starttls", "login")
    assert settings("imap://u:p@h?tls=off").tls == "off"
    assert settings("imap://admin:p@h?authzid=u").auth == "plain"
    for wrong in ("imaps://u:p@h?tls=off", "imap://u@h", "imap://u:p@h?preset=nope",
                  "imap://u:p@h?auth=xoauth2", "imap://u:p@h?auth=magic"):
        with pytest.raises(ConfigError):
            settings(wrong)


def test_a_body_is_never_fetched_under_another_uidvalidity(dovecot):
    user = dovecot.add_user("revalidated")
    dovecot.seed(user, "Box", [message(1)])
    source = connector(dovecot.url(user)).open_source()
    try:
        box = Folder(("Box",))
        [listed] = list(source.messages(box))
        with dovecot.client(user) as raw:  # same UID 1, other message, new UIDVALIDITY
            raw.delete_folder("Box")
        dovecot.seed(user, "Box", [message(2)])
        source.prefetch(box, [listed])
        with pytest.raises(BadInputError, match="gone"):
            listed.content.read()
    finally:
        source.close()


def test_a_dead_runs_append_landing_after_the_lookup_is_removed_at_close(dovecot):
    """A killed copy's server session can finish its APPEND after the rerun looked for the
    message and wrote it again: the rerun removes that late copy, and only that one."""
    user = dovecot.add_user("late")
    when = datetime(2021, 5, 4, 10, 0, tzinfo=UTC)
    data = b"Message-ID: <late@x>\r\nSubject: late\r\n\r\nbody\r\n"
    twin = {"msg": data, "flags": [], "date": when}
    dovecot.seed(user, "INBOX", [twin])  # an identical message the folder already held
    message = MailMessage(Content.from_bytes(data), "k1", internal_date=when)
    folder = Folder(("INBOX",), Role.INBOX)
    target = connector(dovecot.url(user)).open_target()
    try:
        target.prepare_folder(folder)
        with dovecot.client(user) as client:  # find() must not take the old twin ...
            client.select_folder("INBOX")
            client.add_flags(client.search("ALL"), ["\\Deleted"])
            client.expunge()
        assert target.find(folder, message) is None
        dovecot.seed(user, "INBOX", [twin])  # ... the dead run's APPEND lands now
        key = target.append(folder, message)  # and the rerun writes it again
    finally:
        target.close()
    [(body, _, _)] = dovecot.contents(user)["INBOX"]
    assert body == data
    with dovecot.client(user) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search("ALL") == [int(key.split(":")[1])]
