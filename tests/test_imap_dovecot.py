"""The test Dovecot itself: it starts, greets, logs users in, and stops."""

from __future__ import annotations

import imaplib
import ssl

import pytest


def test_users_log_in_over_plain_and_tls(dovecot):
    dovecot.add_user("smoke", "pw")
    with imaplib.IMAP4("127.0.0.1", dovecot.port) as plain:
        assert plain.login("smoke", "pw")[0] == "OK"
    context = ssl.create_default_context(cafile=str(dovecot.cert))
    with imaplib.IMAP4_SSL("127.0.0.1", dovecot.ssl_port, ssl_context=context) as secure:
        assert secure.login("smoke", "pw")[0] == "OK"


def test_wrong_password_is_refused(dovecot):
    dovecot.add_user("smoke2", "pw")
    with imaplib.IMAP4("127.0.0.1", dovecot.port) as client, pytest.raises(imaplib.IMAP4.error):
        client.login("smoke2", "nope")


def test_stop_then_start_again(own_dovecot):
    own_dovecot.add_user("again", "pw")
    own_dovecot.start()
    own_dovecot.stop()
    with pytest.raises(OSError):
        imaplib.IMAP4("127.0.0.1", own_dovecot.port)
    own_dovecot.start()
    with imaplib.IMAP4("127.0.0.1", own_dovecot.port) as client:
        assert client.login("again", "pw")[0] == "OK"
