"""``graph://TENANT/USER`` endpoints: parameters checked with clear errors, clouds, tokens."""

from __future__ import annotations

import base64
import json
import time

import pytest
from conftest import run_cli

from connectors.graph.credentials import OPAQUE_LIFETIME, SuppliedToken, expires_at
from connectors.graph.settings import Settings
from migrate.endpoint import Config, Endpoint, Secret, parse_endpoint
from migrate.errors import ConfigError

URL = "graph://mairie-exemple.onmicrosoft.com/agent@mairie-exemple.fr"


def _endpoint(query: str = "", **secrets: Secret) -> Endpoint:
    parsed = parse_endpoint(URL + (f"?{query}" if query else ""))
    return Endpoint(parsed.scheme, parsed.path, parsed.user, parsed.host, parsed.port,
                    parsed.location, parsed.params, secrets or {"token": Secret("t")})


def test_defaults_are_the_global_cloud_and_graphs_mailbox_limit():
    s = Settings.from_endpoint(_endpoint())
    assert (s.tenant, s.user, s.auth) == ("mairie-exemple.onmicrosoft.com",
                                          "agent@mairie-exemple.fr", "token")
    assert s.graph_url == "https://graph.microsoft.com/v1.0"
    assert s.authority == "login.microsoftonline.com"
    assert s.scope == "https://graph.microsoft.com/.default"
    assert s.concurrency == 4 and not s.hidden


def test_a_national_cloud_gets_its_own_scope_and_authority():
    s = Settings.from_endpoint(_endpoint("graph_url=https://graph.microsoft.us/v1.0/"
                                         "&authority=https://login.microsoftonline.us"))
    assert s.scope == "https://graph.microsoft.us/.default"
    assert s.authority == "login.microsoftonline.us"


@pytest.mark.parametrize(("query", "secrets", "message"), [
    ("", {"password": Secret("s")}, "client_id="),
    ("client_id=app", {}, "no credentials"),
    ("graph_url=http://graph.example.org/v1.0", None, "https://"),
    ("authority=http://login.example.org", None, "over https"),
    ("concurrency=5", None, "between 1 and 4"),
    ("max_wait=soon", None, "whole number"),
    ("hidden=yes", None, "on or off"),
])
def test_wrong_parameters_are_config_errors(query, secrets, message):
    endpoint = _endpoint(query, **(secrets if secrets is not None else {"token": Secret("t")}))
    if secrets == {}:
        endpoint = Endpoint(endpoint.scheme, None, None, endpoint.host, None,
                            endpoint.location, endpoint.params, {})
    with pytest.raises(ConfigError, match=message):
        Settings.from_endpoint(endpoint)


def test_the_user_is_needed():
    with pytest.raises(ConfigError, match="graph://TENANT/USER"):
        Settings.from_endpoint(_endpoint().__class__("graph", host="tenant", location="/",
                                                     secrets={"token": Secret("t")}))


def test_a_secret_in_the_config_file_never_shows_in_the_endpoint(tmp_path):
    config = tmp_path / "m.toml"
    config.write_text(f'[endpoints.m]\nurl = "{URL}"\nclient_id = "app"\n'
                      'password = "very-secret-value"\n')
    endpoint = Config.load(config).endpoint("m")
    assert Settings.from_endpoint(endpoint).auth == "secret"
    assert "very-secret-value" not in endpoint.display + repr(endpoint)


def _jwt(claims: dict) -> str:
    encode = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")  # noqa: E731
    return f"{encode({'alg': 'none'})}.{encode(claims)}.signature"


def test_a_supplied_jwt_is_read_again_once_expired(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(_jwt({"exp": int(time.time()) + 30}))  # inside the 60 s margin
    credential = SuppliedToken(Secret(file=str(token_file)))
    credential.get_token("scope")
    credential.get_token("scope")
    assert credential.reads == 2  # expired (or about to): read again each time
    token_file.write_text(_jwt({"exp": int(time.time()) + 3600}))
    first = credential.get_token("scope")
    assert credential.get_token("scope") is first and credential.reads == 3


def test_an_opaque_token_lives_a_few_minutes():
    assert abs(expires_at("opaque") - (time.time() + OPAQUE_LIFETIME)) < 5
    assert expires_at(_jwt({"exp": 1234})) == 1234


def test_the_connector_is_registered():
    done = run_cli("connectors")
    assert done.returncode == 0 and "graph" in done.stdout, done.stdout + done.stderr


def test_an_empty_client_secret_is_a_config_error(tmp_path):
    (tmp_path / "secret").write_text("\n")
    config = tmp_path / "m.toml"
    config.write_text(f'[endpoints.m]\nurl = "{URL}"\nclient_id = "app"\n'
                      f'password_file = "{tmp_path / "secret"}"\n')
    done = run_cli("--config", str(config), "plan", "m", f"archive:{tmp_path / 'A'}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot sign in with a client secret" in done.stderr
    assert "Traceback" not in done.stderr
