"""The command line starts fast, imports no connector it does not use, and speaks French."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from migrate.connector import Feature
from migrate.i18n import MESSAGES, detect_language
from migrate.registry import connector_class


def test_every_text_has_both_languages():
    for key, texts in MESSAGES.items():
        assert set(texts) == {"en", "fr"}, key


def test_every_feature_and_builtin_limit_speaks_both_languages():
    for feature in Feature:
        assert f"feature.{feature.value}" in MESSAGES
    for scheme in ("archive", "eml", "maildir", "mbox"):
        for feature, reason in connector_class(scheme).capabilities.limits.items():
            assert isinstance(reason, dict) and set(reason) == {"en", "fr"}, (scheme, feature)


def test_language_from_locale(monkeypatch):
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)
    assert detect_language() == "en"
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert detect_language() == "fr"
    assert detect_language("en") == "en"


def test_cli_starts_fast_without_importing_connectors():
    code = ("import sys, time; t = time.perf_counter(); "
            "from migrate.cli import main; "
            "from click.testing import CliRunner; "
            "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output; "
            "bad = [m for m in sys.modules if m.startswith(('connectors.', 'sqlalchemy', "
            "'exchangelib', 'msgraph', 'imapclient', 'bagit'))]; "
            "assert not bad, bad")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    assert time.perf_counter() - started < 2.0


def test_python_dash_m_and_unknown_scheme_exit_2():
    done = subprocess.run([sys.executable, "-m", "migrate", "plan", "nosuch:x", "eml:y"],
                          capture_output=True, text=True, env={"LANG": "C", "PATH": ""})
    assert done.returncode == 2
    assert "no connector for 'nosuch:'" in done.stderr


def test_connectors_lists_builtins_with_capabilities():
    done = subprocess.run([sys.executable, "-m", "migrate", "connectors"], capture_output=True,
                          text=True, check=True)
    for scheme in ("archive", "eml", "maildir", "mbox"):
        assert f"\n{scheme} " in "\n" + done.stdout
    assert "keeps as target: " in done.stdout and "original-bytes" in done.stdout


THIRD_PARTY = '''
from migrate.connector import Capabilities, Connector, Kind


class NullConnector(Connector):
    scheme = "null"
    description = "a third-party connector that reads nothing"
    capabilities = Capabilities(reads=frozenset({Kind.MAIL}))
'''


def test_third_party_connector_registers_through_entry_points(tmp_path):
    (tmp_path / "null_connector.py").write_text(THIRD_PARTY)
    info = tmp_path / "null_connector-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: null-connector\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text("[migrate.connectors]\n"
                                           "null = null_connector:NullConnector\n")
    done = subprocess.run([sys.executable, "-m", "migrate", "connectors"], capture_output=True,
                          text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert "null       a third-party connector that reads nothing" in done.stdout
