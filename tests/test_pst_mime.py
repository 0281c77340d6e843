"""Rebuilding PST messages as MIME, and the compressed-RTF decompressor, on small
hand-built inputs: headers kept or built, bodies, attachments, attached messages,
deterministic bytes; LZFu from MS-OXRTFCP's own example; HTML out of encapsulating RTF."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from connectors.pst.mime import render
from connectors.pst.parts import Address, Attachment, MessageParts
from connectors.pst.reader import lost_attachment
from connectors.pst.rtf import _crc, decompress, html_from_rtf, is_encapsulated_html
from migrate.archive.errors import IndexLineError
from migrate.archive.jsonl import Line
from migrate.archive.records import parse_mail_record
from migrate.errors import BadInputError

TRANSPORT = ("Received: from mx.example.org by mail.mairie.fr;\r\n"
             "\tMon, 3 Feb 2020 10:00:00 +0100\r\n"
             "Microsoft Mail Internet Headers Version 2.0\r\n"
             "From: Agent <agent@mairie-exemple.fr>\r\n"
             "Subject: =?utf-8?q?R=C3=A9union?=\r\n"
             "MIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed;\r\n\tboundary=\"old-boundary\"\r\n"
             "Message-ID: <r1@mairie-exemple.fr>\r\n\r\n")


def rebuilt(parts: MessageParts):
    data = b"".join(render(parts))
    message = message_from_bytes(data, policy=policy.default)
    assert not [d for part in message.walk() for d in part.defects]
    assert not [d for part in message.walk() for _, value in part.items()
                for d in getattr(value, "defects", ())]
    return data, message


def text(part) -> str:
    """A text part's content with the line ends Python uses."""
    return part.get_content().replace("\r\n", "\n")


def test_transport_headers_are_kept_verbatim_but_not_the_old_body_fields():
    data, message = rebuilt(MessageParts("1", transport_headers=TRANSPORT, text="Bonjour"))
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"Received: from mx.example.org by mail.mairie.fr;\r\n"
                           b"\tMon, 3 Feb 2020 10:00:00 +0100\r\nFrom: Agent")
    assert b"old-boundary" not in data and b"Microsoft Mail Internet" not in data
    assert head.count(b"MIME-Version") == 1
    assert message["Subject"] == "Réunion" and message["Message-ID"] == "<r1@mairie-exemple.fr>"
    assert message.get_content_type() == "text/plain"
    assert text(message) == "Bonjour\n"


def test_headers_built_from_properties_without_transport_headers():
    parts = MessageParts("2", subject="Budget été", date=datetime(2021, 6, 1, 8, 0, tzinfo=UTC),
                         sender=Address("Élodie Martin", "elodie@mairie-exemple.fr"),
                         to=[Address("Service RH", "rh@mairie-exemple.fr")],
                         cc=[Address("Sans adresse", None), Address('Le "Maire"', "EX:/o=x")],
                         message_id="<b2@x>",
                         text="ligne 1\r\nligne 2 = égal")
    _, message = rebuilt(parts)
    assert message["Subject"] == "Budget été"
    assert message["From"].addresses[0].display_name == "Élodie Martin"
    assert message["From"].addresses[0].addr_spec == "elodie@mairie-exemple.fr"
    assert message["To"].addresses[0].addr_spec == "rh@mairie-exemple.fr"
    # people without an Internet address: named, as empty groups (RFC 6854), not invented
    assert [g.display_name for g in message["Cc"].groups] == ["Sans adresse", 'Le "Maire"']
    assert message["Cc"].addresses == ()
    assert message["Date"].datetime == datetime(2021, 6, 1, 8, 0, tzinfo=UTC)
    assert text(message) == "ligne 1\nligne 2 = égal\n"


def test_text_and_html_are_alternatives_and_attachments_follow():
    photo = bytes(range(256)) * 1000
    parts = MessageParts("3", text="texte", html=b"<p>caf\xe9</p>", html_charset="windows-1252",
                         attachments=[Attachment("photo.JPG",
                                                 read=lambda: iter([photo[:1000], photo[1000:]])),
                                      Attachment("procès-verbal.pdf", "application/pdf",
                                                 read=lambda: iter([b"%PDF-1.4"])),
                                      Attachment("logo.png", "image/png", content_id="logo@1",
                                                 read=lambda: iter([b"\x89PNG"]),
                                                 inline=True),
                                      Attachment("cv.txt", "text/plain", content_id="cv@1",
                                                 read=lambda: iter([b"CV"]))])
    _, message = rebuilt(parts)
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(("html",))
    assert text(body) == "<p>café</p>\n"
    assert text(message.get_body(("plain",))) == "texte\n"
    attached = list(message.iter_attachments())
    assert [a.get_filename() for a in attached] == ["photo.JPG", "procès-verbal.pdf", "logo.png",
                                                    "cv.txt"]
    assert attached[0].get_content_type() == "image/jpeg"
    assert attached[0].get_content() == photo
    assert attached[2]["Content-ID"] == "<logo@1>"
    assert attached[2].get_content_disposition() == "inline"
    assert attached[3].get_content_disposition() == "attachment"  # a Content-ID alone
    assert attached[3]["Content-ID"] == "<cv@1>"


def test_html_without_a_code_page_is_labelled_by_what_it_decodes_as():
    _, latin = rebuilt(MessageParts("11", html=b"<p>d\xe9j\xe0</p>"))
    assert latin.get_content_charset() == "windows-1252" and "déjà" in text(latin)
    _, utf8 = rebuilt(MessageParts("12", html="<p>déjà</p>".encode()))
    assert utf8.get_content_charset() == "utf-8" and "déjà" in text(utf8)


def test_an_attached_message_is_message_rfc822_rebuilt_recursively():
    inner = MessageParts("4/0", subject="Convocation", text="ordre du jour",
                         attachments=[Attachment("odj.txt", read=lambda: iter([b"1. budget"]))])
    _, message = rebuilt(MessageParts("4", subject="Fwd", text="voir",
                                      attachments=[Attachment(None, embedded=inner)]))
    attached = next(message.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    assert attached.get_filename() == "Convocation.eml"
    forwarded = attached.get_content()
    assert forwarded["Subject"] == "Convocation"
    assert next(forwarded.iter_attachments()).get_content() == "1. budget"


def test_the_same_item_gives_the_same_bytes_and_another_item_other_boundaries():
    parts = MessageParts("5", text="a", attachments=[Attachment("x", read=lambda: iter([b"x"]))])
    first, again = b"".join(render(parts)), b"".join(render(parts))
    assert first == again
    other = b"".join(render(MessageParts("6", text="a", attachments=parts.attachments)))
    assert other != first and len(other) == len(first)


def lzfu_literal(raw: bytes) -> bytes:
    """Compressed RTF holding only literal runs (control byte 0 before each 8 bytes)."""
    body = b"".join(b"\x00" + raw[i:i + 8] for i in range(0, len(raw), 8))
    return struct.pack("<IIII", len(body) + 12, len(raw), 0x75465A4C, _crc(body)) + body


def test_lzfu_decompresses_the_example_of_ms_oxrtfcp():
    # MS-OXRTFCP 3.1.1: a dictionary reference and literal runs
    compressed = bytes.fromhex("2d0000002b0000004c5a4675f1c5c7a703000a0072637067313235423"
                               "20af32068656c09002062 7705b06c647d0a800fa0".replace(" ", ""))
    assert decompress(compressed) == b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"


def test_lzfu_literal_runs_uncompressed_bodies_and_damage():
    text = b"{\\rtf1\\ansi Bonjour \\'e9t\\'e9 !}"
    assert decompress(lzfu_literal(text)) == text
    stored = struct.pack("<IIII", len(text) + 12, len(text), 0x414C454D, 0) + text
    assert decompress(stored) == text
    damaged = bytearray(lzfu_literal(text))
    damaged[-3] ^= 0xFF
    with pytest.raises(BadInputError, match="CRC"):
        decompress(bytes(damaged))
    with pytest.raises(BadInputError, match="unknown type"):
        decompress(struct.pack("<IIII", 12, 0, 0x12345678, 0))


ENCAPSULATED = (b"{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0{\\fonttbl{\\f0\\fswiss Arial;}}"
                b"{\\*\\htmltag19 <html>}{\\*\\htmltag34 <head>}{\\*\\htmltag41 </head>}"
                b"{\\*\\htmltag50 <body>}\\htmlrtf {\\htmlrtf0 \r\n"
                b"{\\*\\htmltag64 <p>}\\htmlrtf {\\htmlrtf0 Caf\\'e9 \\{ok\\}"
                b"{\\*\\htmltag72 </p>}\\htmlrtf }\\htmlrtf0 "
                b"{\\*\\htmltag58 </body>}{\\*\\htmltag27 </html>}}")


def test_html_encapsulated_in_rtf_comes_out_and_becomes_the_html_body():
    assert is_encapsulated_html(ENCAPSULATED)
    html = html_from_rtf(ENCAPSULATED)
    assert html.replace(b"\r\n", b"") == \
        b"<html><head></head><body><p>Caf\xe9 {ok}</p></body></html>"
    _, message = rebuilt(MessageParts("7", rtf=ENCAPSULATED))
    assert message.get_content_type() == "text/html"
    assert "Café {ok}" in text(message)


def test_an_rtf_authored_body_is_kept_as_an_attachment_beside_the_text():
    native = b"{\\rtf1\\ansi\\deff0 {\\b gras}}"
    _, message = rebuilt(MessageParts("8", text="gras", rtf=native))
    assert text(message.get_body(("plain",))) == "gras\n"
    kept = next(message.iter_attachments())
    assert kept.get_filename() == "message.rtf" and kept.get_content() == native
    _, plain = rebuilt(MessageParts("9", text="t", rtf=b"{\\rtf1\\ansi\\fromtext t}"))
    assert plain.get_content_type() == "text/plain"  # RTF made from the text adds nothing


def record_line(derived: object) -> Line:
    data = {"id": 1, "folder": ["Inbox"], "role": None, "flags": [], "internal_date": None,
            "source_id": "42", "source": None, "sha256": "a" * 64, "size": 1,
            "path": "data/eml/Inbox/1.eml", "derived_from": derived}
    return Line(1, 0, json.dumps(data).encode())


def test_the_archive_record_keeps_provenance_and_refuses_a_malformed_one(tmp_path):
    good = {"kind": "derived", "file": "agent.pst", "file_size": 10, "file_sha256": "b" * 64,
            "item_id": "42"}
    record = parse_mail_record(record_line(good), tmp_path, "messages.jsonl")
    assert record.derived_from is not None and record.derived_from.file_name == "agent.pst"
    assert record.to_dict()["derived_from"] == good
    assert parse_mail_record(record_line(None), tmp_path, "messages.jsonl").derived_from is None
    for bad in ("agent.pst", {**good, "file_sha256": "nope"}, {**good, "file_size": -1},
                {**good, "kind": "original"}):
        with pytest.raises(IndexLineError, match="derived_from"):
            parse_mail_record(record_line(bad), tmp_path, "messages.jsonl")


def test_an_attachment_the_file_does_not_give_is_replaced_by_a_note_saying_why():
    lost = lost_attachment("plan.docx", "pst.lost.link", where="\\\\srv\\partage\\plan.docx")
    _, message = rebuilt(MessageParts("10", text="voir le plan", attachments=[lost]))
    note = next(message.iter_attachments())
    assert note.get_filename() == "plan.docx (not kept).txt"
    words = text(note)
    assert 'the attachment "plan.docx" of this message was not kept' in words
    assert "la pièce jointe « plan.docx » de ce message n'a pas été conservée" in words
    assert "\\\\srv\\partage\\plan.docx" in words
