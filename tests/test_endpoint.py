"""Endpoints and the config file: secrets are fetched when used and never displayed."""

from __future__ import annotations

import pytest

from migrate.endpoint import Config, parse_endpoint
from migrate.errors import ConfigError


def test_file_endpoints():
    endpoint = parse_endpoint("mbox:/var/mail/x.mbox")
    assert (endpoint.scheme, endpoint.path) == ("mbox", "/var/mail/x.mbox")
    assert endpoint.display == "mbox:/var/mail/x.mbox"


def test_url_password_is_never_displayed():
    endpoint = parse_endpoint("imap://agent%40mairie.fr:p%40ss@127.0.0.1:1143/?tls=off")
    assert endpoint.user == "agent@mairie.fr"
    assert endpoint.password.get() == "p@ss"
    assert endpoint.params == {"tls": "off"}
    for shown in (endpoint.display, repr(endpoint), str(endpoint.password)):
        assert "p@ss" not in shown and "p%40ss" not in shown
    assert endpoint.display == "imap://agent@mairie.fr@127.0.0.1:1143/"


@pytest.mark.parametrize("text", ["nothing", "mbox:", "b@d://x", "imap://h:notaport"])
def test_bad_endpoints(text):
    with pytest.raises(ConfigError):
        parse_endpoint(text)


def test_config_secrets_from_env_file_and_command(tmp_path, monkeypatch):
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    config_file = tmp_path / "migrate.toml"
    config_file.write_text(f"""
[endpoints.env]
url = "imap://a@127.0.0.1"
password_env = "MIGRATE_TEST_PW"
[endpoints.file]
url = "imap://b@127.0.0.1"
password_file = "{secret_file}"
tls = "off"
[endpoints.cmd]
url = "imap://c@127.0.0.1"
password_command = "echo from-command"
[endpoints.missing]
url = "imap://d@127.0.0.1"
password_env = "MIGRATE_TEST_UNSET"
""")
    monkeypatch.setenv("MIGRATE_TEST_PW", "from-env")
    monkeypatch.delenv("MIGRATE_TEST_UNSET", raising=False)
    config = Config.load(config_file)
    assert parse_endpoint("env", config).password.get() == "from-env"
    file_endpoint = parse_endpoint("file", config)
    assert file_endpoint.password.get() == "from-file"
    assert file_endpoint.params == {"tls": "off"}
    assert file_endpoint.name == "file"
    assert parse_endpoint("cmd", config).password.get() == "from-command"
    with pytest.raises(ConfigError, match="MIGRATE_TEST_UNSET"):
        parse_endpoint("missing", config).password.get()


def test_bad_config_file(tmp_path):
    broken = tmp_path / "c.toml"
    broken.write_text("[endpoints\n")
    with pytest.raises(ConfigError, match=r"c\.toml"):
        Config.load(broken)
    no_url = tmp_path / "n.toml"
    no_url.write_text("[endpoints.x]\npassword = 'y'\n")
    with pytest.raises(ConfigError, match="needs a 'url'"):
        parse_endpoint("x", Config.load(no_url))
