"""The neutral model's helpers: summaries for people, never used to rebuild bytes."""

from __future__ import annotations

from migrate.model import summarize


def test_summary_decodes_encoded_words_for_people():
    summary = summarize(b"Subject: =?utf-8?q?Conseil=20municipal=20du=201=20mars?=\r\n"
                        b"From: =?iso-8859-1?q?H=E9l=E8ne?= <helene@example.org>\r\n"
                        b"Message-ID: <a@b>\r\nDate: Mon, 4 Mar 2024 08:30:00 +0100\r\n\r\nx")
    assert summary.subject == "Conseil municipal du 1 mars"
    assert summary.sender == "Hélène <helene@example.org>"
    assert summary.message_id == "<a@b>"


def test_summary_of_broken_or_missing_headers_never_fails():
    assert summarize(b"Subject: =?no-such-charset?q?x?=\n\n").subject == "=?no-such-charset?q?x?="
    # a charset name no codec could ever have (a damaged byte): email's CharsetError
    damaged = summarize(b"Subject: =?ut\xff-8?q?R=C3=A9union?=\n\n").subject
    assert damaged is not None and damaged.endswith("?q?R=C3=A9union?=")
    assert summarize(b"").subject is None
    assert summarize(b"\x00\xff garbage without headers").message_id is None
