"""App-only sign-in with a client secret through azure-identity (unmodified), against the
fake login server over TLS (tests/fake_graph_auth.py), then Graph with the token it got."""

from __future__ import annotations

import pytest
from conftest import run_cli, synthetic_message
from fake_graph import FakeGraph, FakeMailbox, FakeMessage
from fake_graph_auth import FakeLogin

USER = "agent@mairie-exemple.fr"
TENANT = "mairie-exemple.onmicrosoft.com"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "Qx8Q~fake.client-secret_value"


@pytest.fixture
def servers(tmp_path):
    box = FakeMailbox(USER)
    inbox = box.add_folder("Boîte de réception", well_known="inbox")
    box.add(inbox, *[FakeMessage(synthetic_message(n)) for n in range(3)])
    graph = FakeGraph(box, tokens=set()).start()
    login = FakeLogin(graph, TENANT, CLIENT_ID, SECRET, tmp_path).start()
    yield graph, login
    login.stop()
    graph.stop()


def _config(tmp_path, graph: FakeGraph, login: FakeLogin, secret: str,
            ca: bool = True) -> str:
    (tmp_path / "secret").write_text(secret + "\n")
    config = tmp_path / "migrate.toml"
    config.write_text(f'[endpoints.mairie]\nurl = "graph://{TENANT}/{USER}"\n'
                      f'client_id = "{CLIENT_ID}"\ngraph_url = "{graph.url}"\n'
                      f'authority = "{login.authority}"\n'
                      + (f'ca_file = "{login.cert_file}"\n' if ca else "")
                      + f'password_file = "{tmp_path / "secret"}"\n')
    return str(config)


def test_client_secret_signs_in_and_copies(servers, tmp_path):
    graph, login = servers
    done = run_cli("--config", _config(tmp_path, graph, login, SECRET), "copy", "mairie",
                   f"archive:{tmp_path / 'A'}", "--state", str(tmp_path / "s.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Copied 3 messages" in done.stdout
    assert login.requests["issued"] == 1  # one token, cached for the whole run
    assert graph.requests["401"] == 0
    assert SECRET not in done.stdout + done.stderr


def test_a_wrong_secret_exits_3_naming_tenant_and_app_never_the_secret(servers, tmp_path):
    graph, login = servers
    done = run_cli("--config", _config(tmp_path, graph, login, "wrong-secret-value"), "copy",
                   "mairie", f"archive:{tmp_path / 'A'}", "--state", str(tmp_path / "s.db"),
                   "--quiet")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"sign-in refused for app {CLIENT_ID} in tenant {TENANT}" in done.stderr
    assert "AADSTS7000215" in done.stderr
    assert "wrong-secret-value" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("AADSTS7000215") == 1  # said once, not logged again
    assert login.requests["refused"] >= 1 and graph.requests["$value"] == 0


def test_tls_is_verified_by_default(servers, tmp_path):
    """Without ca_file the self-signed login server is not trusted: the run stops (exit 3)."""
    graph, login = servers
    done = run_cli("--config", _config(tmp_path, graph, login, SECRET, ca=False), "copy",
                   "mairie", f"archive:{tmp_path / 'A'}", "--state", str(tmp_path / "s.db"),
                   "--quiet")
    assert done.returncode == 3, done.stdout + done.stderr
    assert login.requests["issued"] == 0
    assert f"TLS certificate of the sign-in service {login.authority} is not trusted" \
        in done.stderr


def test_a_certificate_signs_in_and_copies(servers, tmp_path):
    from fake_graph_auth import make_app_certificate

    graph, login = servers
    pem, login.app_certificate = make_app_certificate(tmp_path)
    config = tmp_path / "migrate.toml"
    config.write_text(f'[endpoints.mairie]\nurl = "graph://{TENANT}/{USER}"\n'
                      f'client_id = "{CLIENT_ID}"\ngraph_url = "{graph.url}"\n'
                      f'authority = "{login.authority}"\nca_file = "{login.cert_file}"\n'
                      f'certificate = "{pem}"\n')
    done = run_cli("--config", str(config), "copy", "mairie", f"archive:{tmp_path / 'A'}",
                   "--state", str(tmp_path / "s.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Copied 3 messages" in done.stdout and login.requests["issued"] == 1
    (tmp_path / "other").mkdir()
    other, _ = make_app_certificate(tmp_path / "other")  # a certificate the app does not know
    config.write_text(config.read_text().replace(str(pem), str(other)))
    refused = run_cli("--config", str(config), "copy", "mairie", f"archive:{tmp_path / 'B'}",
                      "--state", str(tmp_path / "t.db"), "--quiet")
    assert refused.returncode == 3 and "sign-in refused" in refused.stderr, refused.stderr
