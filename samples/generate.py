"""Write samples/mairie-exemple/: a small, deterministic sample mailbox for the demo.

A directory of mbox files, as Thunderbird keeps them, with an Outlook-style French folder
tree ("Boîte de réception" with a subfolder "Projets", "Éléments envoyés"): fictitious
messages of a town hall (attachments, flags through Status/X-Status headers) and a few odd
real-world shapes: no Message-ID, 8-bit headers, a body line starting with "From ", a
20,000-character line. Run: python samples/generate.py
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).with_name("mairie-exemple")
FOLDERS = {"Boîte de réception.mbox": range(0, 25), "Boîte de réception.sbd/Projets.mbox":
           range(25, 32), "Éléments envoyés.mbox": range(32, 40)}
START = datetime(2024, 3, 4, 8, 30, tzinfo=UTC)
PEOPLE = ["Claire Martin <claire.martin@mairie-exemple.fr>",
          "Jean Dupont <jean.dupont@mairie-exemple.fr>",
          "Service urbanisme <urbanisme@mairie-exemple.fr>",
          "Préfecture <courrier@prefecture-exemple.gouv.fr>"]
SUBJECTS = ["Conseil municipal du {n} mars", "Permis de construire n°{n}",
            "Réservation de la salle des fêtes", "Budget primitif {n}",
            "Re: Travaux rue de la Mairie", "Invitation: cérémonie du {n} mai"]


def message(n: int) -> bytes:
    date = START + timedelta(hours=7 * n, minutes=n)
    sender = PEOPLE[n % len(PEOPLE)]
    subject = SUBJECTS[n % len(SUBJECTS)].format(n=n + 1)
    status = ["Status: RO\n", "Status: O\n", "Status: RO\nX-Status: A\n",
              "Status: RO\nX-Status: F\n"][n % 4]
    headers = (f"From: {sender}\nTo: accueil@mairie-exemple.fr\n"
               f"Subject: =?utf-8?q?{quote(subject)}?=\n"
               f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0100')}\n")
    if n % 11 != 5:  # a few messages have no Message-ID, as some old clients wrote them
        headers += f"Message-ID: <{n}.demo@mairie-exemple.fr>\n"
    headers += "MIME-Version: 1.0\n" + status
    body = (f"Bonjour,\n\nVeuillez trouver ci-joint le document n°{n}.\n"
            "Cordialement,\n-- \nMairie d'Exemple\n")
    if n % 5 == 0:
        attachment = base64.encodebytes(bytes(range(256)) * (n + 1)).decode()
        return (headers + 'Content-Type: multipart/mixed; boundary="b"\n\n--b\n'
                'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n'
                + body + '\n--b\nContent-Type: application/pdf; name="doc.pdf"\n'
                'Content-Transfer-Encoding: base64\n'
                f'Content-Disposition: attachment; filename="doc{n}.pdf"\n\n'
                + attachment + "--b--\n").encode()
    return (headers + "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n" + body).encode()


def quote(text: str) -> str:
    return "".join(c if c.isalnum() and c.isascii() else
                   "".join(f"={b:02X}" for b in c.encode()) for c in text)


ODD = [
    # 8-bit header bytes (Latin-1), no Message-ID, no Date
    b"From: =?iso-8859-1?q?H=E9l=E8ne?= <helene@example.org>\nSubject: caf\xe9 cr\xe8me\n"
    b"Status: RO\n\nUn message sans date ni Message-ID.\n",
    # a body line starting with "From " (escaped as >From in the mbox file)
    b"From: jean.dupont@mairie-exemple.fr\nSubject: Citation\nMessage-ID: <quote@x>\n"
    b"Date: Tue, 5 Mar 2024 10:00:00 +0100\n\nFrom the minutes of the meeting:\n"
    b">From an earlier reply\n",
    # a 20,000-character line
    b"From: robot@example.org\nSubject: long line\nMessage-ID: <long@x>\n"
    b"Date: Wed, 6 Mar 2024 11:00:00 +0100\n\n" + b"x" * 20000 + b"\n",
]


def mbox_escape(data: bytes) -> bytes:
    lines = data.split(b"\n")
    return b"\n".join(b">" + line if line.lstrip(b">").startswith(b"From ") else line
                      for line in lines)


def write_mbox(path: Path, messages: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for n, data in enumerate(messages):
            date = (START + timedelta(hours=7 * n)).strftime("%a %b %d %H:%M:%S %Y")
            out.write(f"From MAILER-DAEMON {date}\n".encode())
            out.write(mbox_escape(data))
            if not data.endswith(b"\n"):
                out.write(b"\n")
            out.write(b"\n")


def main() -> None:
    for name, numbers in FOLDERS.items():
        messages = [message(n) for n in numbers]
        if name.startswith("Boîte de réception.mbox"):
            messages += ODD
        write_mbox(OUT / name, messages)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
