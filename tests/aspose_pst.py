"""Writes the PST test files no public Outlook file provides: a message with attached
messages two levels deep, and a password-protected store. Run by ``pst_data.written_pst``
with the Python of its own venv, where Aspose.Email for Python (a PST writer, from PyPI, in
its free evaluation mode: it adds "(Aspose.Email Evaluation)" to subjects and a notice to
bodies) is installed; never imported by the tests.

Usage: python aspose_pst.py OUTPUT_DIRECTORY          (the test files)
       python aspose_pst.py --bench COUNT FILE         (benchmarks/pst_to_archive.py)
"""

import hashlib
import sys
from pathlib import Path

from aspose.email.mapi import BodyContentType, MapiMessage, MapiRecipientType
from aspose.email.storage.pst import FileFormatVersion, PersonalStorage, StandardIpmFolder

#: What the tests check against (kept in step with tests/test_pst_embedded.py).
REPORT = b"%PDF-1.4 report of the council " * 64
NOTES = bytes(range(256)) * 40
SCANS_MB = 40  # scans.bin: sha256 of 0, 1, 2 … (4-byte little-endian) end to end


def scans() -> bytes:
    return b"".join(hashlib.sha256(n.to_bytes(4, "little")).digest()
                    for n in range(SCANS_MB * 1024 * 1024 // 32))


def embedded(path: Path) -> None:
    """Inbox/Outer: HTML body, report.pdf, and Middle attached; Middle has a To, a Cc,
    notes.bin and Deepest attached."""
    store = PersonalStorage.create(str(path), FileFormatVersion.UNICODE)
    inbox = store.create_predefined_folder("Inbox", StandardIpmFolder.INBOX)
    deepest = MapiMessage("c@example.org", "b@example.org", "Deepest", "Deepest body")
    middle = MapiMessage("b@example.org", "a@example.org", "Middle", "Middle body")
    middle.recipients.add("cc@example.org", "Carbon Copy", MapiRecipientType.CC)
    middle.attachments.add("notes.bin", NOTES)
    middle.attachments.add("deepest.msg", deepest)
    outer = MapiMessage("a@example.org", "me@example.org", "Outer", "Outer body")
    outer.set_body_content("<html><body><p>Outer <b>HTML</b></p></body></html>",
                           BodyContentType.HTML)
    outer.attachments.add("report.pdf", REPORT)
    outer.attachments.add("middle.msg", middle)
    inbox.add_message(outer)
    del store  # written out when released


def big_embedded(path: Path) -> None:
    """Inbox/Fwd: scans, with Scans attached, which holds scans.bin (40 MB)."""
    store = PersonalStorage.create(str(path), FileFormatVersion.UNICODE)
    inbox = store.create_predefined_folder("Inbox", StandardIpmFolder.INBOX)
    middle = MapiMessage("b@example.org", "a@example.org", "Scans", "The scans")
    middle.attachments.add("scans.bin", scans())
    outer = MapiMessage("a@example.org", "me@example.org", "Fwd: scans", "See attached")
    outer.attachments.add("scans.msg", middle)
    inbox.add_message(outer)
    del store


def password(path: Path) -> None:
    """Inbox/Locked, in a store Outlook would open only with the password "s3cret"."""
    store = PersonalStorage.create(str(path), FileFormatVersion.UNICODE)
    inbox = store.create_predefined_folder("Inbox", StandardIpmFolder.INBOX)
    inbox.add_message(MapiMessage("a@example.org", "me@example.org", "Locked", "Locked body"))
    store.store.change_password("s3cret")
    del store


def bench(path: Path, count: int) -> None:
    """Inbox with ``count`` messages of 1 to 9 kB of text, one in five with an attachment
    of 20 kB, 200 kB or 1 MB (random bytes, seeded): a mailbox of a few years."""
    import random

    rng = random.Random(count)
    store = PersonalStorage.create(str(path), FileFormatVersion.UNICODE)
    inbox = store.create_predefined_folder("Inbox", StandardIpmFolder.INBOX)
    for n in range(count):
        message = MapiMessage(f"agent{n % 40}@mairie-exemple.fr", "accueil@mairie-exemple.fr",
                              f"Message {n}", "Corps du message. " * rng.randint(60, 500))
        if n % 5 == 0:
            message.attachments.add(f"piece-{n}.bin",
                                    rng.randbytes(rng.choice([20_000, 200_000, 1_000_000])))
        inbox.add_message(message)
    del store


if __name__ == "__main__" and sys.argv[1] == "--bench":
    target = Path(sys.argv[3])
    partial = target.with_suffix(".part")
    partial.unlink(missing_ok=True)
    bench(partial, int(sys.argv[2]))
    partial.replace(target)
elif __name__ == "__main__":
    out = Path(sys.argv[1])
    for name, write in (("embedded.pst", embedded), ("password.pst", password),
                        ("big-embedded.pst", big_embedded)):
        partial = out / f"{name}.part"
        partial.unlink(missing_ok=True)
        write(partial)
        partial.replace(out / name)
