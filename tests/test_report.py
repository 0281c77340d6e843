"""Reports: the JSON layout, and the HTML page's structure (RGAA tables, no network) and
rendering in a real headless Chromium (Debian's ``chromium``; ``make test`` installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import run_cli, synthetic_message, write_mbox

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Structure(HTMLParser):
    """Collects what the accessibility checks need: tables, captions, th scopes, headings."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.tables: list[dict] = []
        self.headings: list[int] = []
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        elif tag == "table":
            self.tables.append({"caption": False, "th": 0, "scoped": 0})
        elif tag == "caption" and self.tables:
            self.tables[-1]["caption"] = True
        elif tag == "th" and self.tables:
            self.tables[-1]["th"] += 1
            self.tables[-1]["scoped"] += values.get("scope") in ("col", "row")
        elif tag in ("h1", "h2", "h3", "h4"):
            self.headings.append(int(tag[1]))
        elif tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if values.get(name):
                self.external.append(values[name] or "")


@pytest.fixture
def reports(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A verify run with a loss and a hostile subject, reported as JSON and HTML."""
    hostile = synthetic_message(3).replace(b"Subject: message 3",
                                           b"Subject: <script>alert(1)</script> & co")
    mbox = write_mbox(tmp_path / "Courrier.mbox",
                      [synthetic_message(n) for n in range(3)] + [hostile])
    source, target = f"mbox:{mbox}", f"maildir:{tmp_path / 'md'}"
    run_cli("copy", source, target, "--state", str(tmp_path / "s.db"), "--quiet", check=True)
    victim = next(p for p in (tmp_path / "md" / ".Courrier" / "cur").iterdir()
                  if b"<script>" in p.read_bytes())
    victim.unlink()
    done = run_cli("verify", source, target, "--report-json", str(tmp_path / "r.json"),
                   "--report-html", str(tmp_path / "r.html"))
    assert done.returncode == 1, done.stdout + done.stderr
    return tmp_path / "r.json", tmp_path / "r.html", tmp_path


def test_json_report_layout(reports):
    report = json.loads(reports[0].read_text())
    assert report["format"] == "sovereign-migrate/verify-report" and report["version"] == 1
    assert set(report) >= {"source", "target", "ok", "totals", "folders", "items",
                           "transformations", "tool_version", "created"}
    assert report["totals"]["missing"] == 1 and report["totals"]["match"] == 3
    assert report["folders"][0]["source"] == ["Courrier"]
    assert report["folders"][0]["missing"] == 1
    item = report["items"][0]
    assert item["subject"] == "<script>alert(1)</script> & co"
    assert set(item) >= {"outcome", "folder", "date", "sender", "subject", "message_id",
                         "changes"}


def test_html_report_is_self_contained_and_its_tables_are_accessible(reports):
    text = reports[1].read_text()
    page = Structure()
    page.feed(text)
    assert page.lang == "en"
    assert page.scripts == 0 and page.external == []
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    assert len(page.tables) >= 3
    for table in page.tables:
        assert table["caption"] and table["th"] and table["scoped"] == table["th"], table
    assert page.headings[0] == 1
    assert all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False))
    assert "<svg" in text and "<title" in text


def test_html_report_renders_in_headless_chromium(reports):
    assert Path(CHROMIUM).exists(), "chromium is missing: `make test` installs Debian's"
    shot = reports[2] / "shot.png"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={reports[2] / 'chromium'}",
         f"--screenshot={shot}", "--window-size=1200,1600", reports[1].resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000
