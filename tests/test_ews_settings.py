"""EWS endpoint parameters: what ``ews://`` URLs mean, and the mistakes refused early."""

from __future__ import annotations

import pytest

pytest.importorskip("exchangelib")

from connectors.ews.session import Settings
from migrate.endpoint import parse_endpoint
from migrate.errors import ConfigError


def settings(url: str) -> Settings:
    return Settings.from_endpoint(parse_endpoint(url))


def test_defaults_to_https_ews_path_and_ntlm():
    s = settings("ews://jdupont:pw@mail.mairie.fr")
    assert s.service_endpoint == "https://mail.mairie.fr/EWS/Exchange.asmx"
    assert (s.auth, s.mailbox, s.impersonate, s.version) == ("ntlm", "jdupont", False, None)


def test_explicit_endpoint_and_impersonation():
    s = settings("ews://svc:pw@mail.mairie.fr?endpoint=https://ews.mairie.fr/EWS/Exchange.asmx"
                 "&impersonate=jdupont@mairie.fr&auth=basic")
    assert s.service_endpoint == "https://ews.mairie.fr/EWS/Exchange.asmx"
    assert (s.user, s.mailbox, s.impersonate, s.auth) == \
        ("svc", "jdupont@mairie.fr", True, "basic")


@pytest.mark.parametrize("url, words", [
    ("ews://jdupont@mail.mairie.fr", "no password"),
    ("ews://jdupont:pw@mail.mairie.fr?auth=kerberos", "auth must be"),
    ("ews://jdupont:pw@mail.mairie.fr?endpoint=http://mail.mairie.fr/EWS/Exchange.asmx",
     "needs tls=off"),
    ("ews://:pw@mail.mairie.fr", "a user is needed"),
    ("ews://jdupont:pw@mail.mairie.fr?version=2010", "version must be"),
])
def test_mistakes_are_config_errors(url, words):
    with pytest.raises(ConfigError, match=words):
        settings(url)


def endpoint_from_config(tmp_path, body: str):
    from migrate.endpoint import Config

    path = tmp_path / "migrate.toml"
    path.write_text(body)
    return Config.load(path).endpoint("m365")


def test_oauth2_client_credentials_read_tenant_client_id_and_secret_from_the_config(tmp_path):
    endpoint = endpoint_from_config(tmp_path, (
        '[endpoints.m365]\nurl = "ews://jdupont%40mairie.fr@mail.mairie.fr?auth=oauth2"\n'
        'tenant = "4f2b7a10"\nclient_id = "b1d2c3e4"\nclient_secret_env = "EWS_SECRET"\n'))
    s = Settings.from_endpoint(endpoint)
    assert s.auth == "oauth2" and s.oauth is not None
    assert s.oauth.token_url == "https://login.microsoftonline.com/4f2b7a10/oauth2/v2.0/token"
    assert s.oauth.scope == "https://mail.mairie.fr/.default"  # the server's own resource
    assert (s.mailbox, s.impersonate) == ("jdupont@mairie.fr", True)  # an app token


def test_a_token_alone_means_oauth2_and_a_national_cloud_authority_is_taken(tmp_path):
    endpoint = endpoint_from_config(tmp_path, (
        '[endpoints.m365]\nurl = "ews://jdupont%40mairie.fr@outlook.office365.us'
        '?authority=https://login.microsoftonline.us&scope=https://outlook.office365.us/.default"\n'
        'token_command = "get-token jdupont"\n'))
    s = Settings.from_endpoint(endpoint)
    assert (s.auth, s.oauth.client_id, s.impersonate) == ("oauth2", None, False)
    assert s.oauth.scope == "https://outlook.office365.us/.default"


@pytest.mark.parametrize("url, words", [
    ("ews://jdupont@mail.mairie.fr?auth=oauth2", "needs client_secret_file"),
    ("ews://jdupont@mail.mairie.fr?auth=oauth2&authority=http://login.example",
     "needs tls=off"),
])
def test_oauth2_mistakes_are_config_errors(url, words):
    with pytest.raises(ConfigError, match=words):
        settings(url)


def test_a_client_secret_without_tenant_is_refused(tmp_path):
    endpoint = endpoint_from_config(tmp_path, (
        '[endpoints.m365]\nurl = "ews://jdupont@mail.mairie.fr?auth=oauth2&client_id=b1"\n'
        'client_secret = "x"\n'))
    with pytest.raises(ConfigError, match="needs tenant="):
        Settings.from_endpoint(endpoint)
