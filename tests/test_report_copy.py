"""``copy --report-json/--report-html``: totals, folders and every failed item."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from conftest import run_cli, synthetic_message, write_mbox

INDEX = "data/index/messages.jsonl"


class Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables = self.captions = self.th = self.scoped = 0

    def handle_starttag(self, tag, attrs):
        self.tables += tag == "table"
        self.captions += tag == "caption"
        if tag == "th":
            self.th += 1
            self.scoped += dict(attrs).get("scope") in ("col", "row")


def test_copy_reports_list_the_failed_item(tmp_path):
    mbox = write_mbox(tmp_path / "Inbox.mbox", [synthetic_message(n) for n in range(5)])
    archive, state = tmp_path / "A", str(tmp_path / "state.db")
    run_cli("copy", f"mbox:{mbox}", f"archive:{archive}", "--state", state, check=True)
    index = archive / INDEX
    lines = index.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[2])
    record["path"] = "data/eml/../../../etc/passwd"  # this one item cannot be read
    lines[2] = json.dumps(record).encode() + b"\n"
    index.write_bytes(b"".join(lines))

    done = run_cli("--lang", "fr", "copy", f"archive:{archive}", f"maildir:{tmp_path / 'M'}",
                   "--state", state, "--report-json", str(tmp_path / "c.json"),
                   "--report-html", str(tmp_path / "c.html"))
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["format"] == "sovereign-migrate/copy-report" and report["ok"] is False
    assert report["totals"]["copied"] == 4 and report["totals"]["failed"] == 1
    assert len(report["failures"]) == 1 and report["failures"][0]["folder"] == ["Inbox"]
    page = (tmp_path / "c.html").read_text()
    assert '<html lang="fr">' in page and "Rapport de copie" in page
    assert "Tous les éléments en échec (1)" in page
    tables = Tables()
    tables.feed(page)
    assert tables.tables == tables.captions == 2 and tables.th == tables.scoped
