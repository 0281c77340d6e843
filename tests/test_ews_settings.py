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
