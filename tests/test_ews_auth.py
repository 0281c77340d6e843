"""EWS authentication through the CLI against the fake server (tests/fake_ews_auth.py):
NTLM with a real handshake whose NTLMv2 proof the fake checks against the password, and
OAuth 2 — the client-credentials grant at a configured authority, and a token obtained
elsewhere — with tokens renewed when the server says they expired. Secrets never show in
output, the state database or the JSON log.
"""

from __future__ import annotations

import base64
import os
import struct

import pytest
from conftest import run_cli, synthetic_message
from fake_ews import FakeEws, FakeMailbox, FakeMessage
from fake_ews_auth import (
    FakeTokenEndpoint,
    challenge_message,
    md4,
    nt_owf_v2,
    verify_authenticate,
)

pytest.importorskip("exchangelib")

USER = "agent@mairie-exemple.fr"
PASSWORD = "Mot-de-passe-NTLM-7!"
TENANT = "4f2b7a10-3c6e-4d1a-9b8e-2f6c0d9e1a55"
CLIENT_ID = "b1d2c3e4-0000-4aaa-8bbb-123456789abc"
CLIENT_SECRET = "Xq8~client.secret-value_Zz"


@pytest.fixture
def mailbox() -> FakeMailbox:
    box = FakeMailbox(USER)
    inbox = box.add_folder("Boîte de réception", well_known="inbox")
    sent = box.add_folder("Éléments envoyés", well_known="sentitems")
    inbox.messages += [FakeMessage(synthetic_message(n)) for n in range(40)]
    sent.messages += [FakeMessage(synthetic_message(n)) for n in range(100, 110)]
    return box


def copied(archive) -> set[bytes]:
    """The bytes of every message an archive holds."""
    return {path.read_bytes() for path in archive.rglob("*.eml")}


def held(mailbox: FakeMailbox) -> set[bytes]:
    return {m.mime for m in mailbox.items().values()}


def secrets_absent(*texts: str | bytes, secrets: tuple[str, ...]) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        for secret in secrets:
            assert secret.encode() not in data


# --- NTLM ----------------------------------------------------------------------------------


def test_md4_and_ntowfv2_match_the_published_vectors():
    """RFC 1320's MD4 vectors and [MS-NLMP] 4.2.4.1.1 (User/Domain/Password)."""
    assert md4(b"").hex() == "31d6cfe0d16ae931b73c59d7e0c089c0"
    assert md4(b"message digest").hex() == "d9130a8164549fe818874806e1c7014b"
    assert nt_owf_v2("Password", "User", "Domain").hex() == "0c868a403bfd7a93a3001ef22ef02e3f"


def test_the_fake_refuses_a_forged_proof():
    challenge = os.urandom(8)
    assert challenge_message(0x1, challenge)[24:32] == challenge
    blob = b"\x01\x01" + b"\x00" * 30
    name, domain = "agent".encode("utf-16-le"), b""
    proof = b"\x00" * 16  # not HMAC-MD5(NTOWFv2, challenge + blob)
    nt = proof + blob
    header = 72
    message = (b"NTLMSSP\x00" + struct.pack("<I", 3)
               + struct.pack("<HHI", 0, 0, header)  # LM
               + struct.pack("<HHI", len(nt), len(nt), header)
               + struct.pack("<HHI", 0, 0, header + len(nt))  # domain
               + struct.pack("<HHI", len(name), len(name), header + len(nt))
               + struct.pack("<HHI", 0, 0, header) + struct.pack("<HHI", 0, 0, header)
               + struct.pack("<I", 1) + b"\x00" * 8 + nt + domain + name)
    assert not verify_authenticate(message, challenge, "agent", "any password")


def ntlm_config(tmp_path, server: FakeEws, password_file) -> str:
    config = tmp_path / "migrate.toml"
    config.write_text(f'[endpoints.mairie]\nurl = "ews://agent%40mairie-exemple.fr@{server.host}'
                      f'?tls=off"\npassword_file = "{password_file}"\n')
    return str(config)


def test_ntlm_is_the_default_and_one_handshake_serves_the_whole_copy(mailbox, tmp_path):
    server = FakeEws(mailbox, USER, PASSWORD, auth="ntlm").start()
    try:
        password_file = tmp_path / "agent.pw"
        password_file.write_text(PASSWORD + "\n")
        done = run_cli("--config", ntlm_config(tmp_path, server, password_file), "copy",
                       "mairie", f"archive:{tmp_path / 'A'}", "--state",
                       str(tmp_path / "state.db"), "--quiet")
        assert done.returncode == 0, done.stdout + done.stderr
        assert copied(tmp_path / "A") == held(mailbox)
        assert server.requests["ntlm-authenticated"] == 1  # one keep-alive connection
        assert server.requests["ntlm-refused"] == 0
        assert server.requests["GetItem:MimeContent"] >= 1
    finally:
        server.stop()


def test_ntlm_with_a_wrong_password_exits_3_naming_the_endpoint(mailbox, tmp_path):
    server = FakeEws(mailbox, USER, PASSWORD, auth="ntlm").start()
    try:
        password_file = tmp_path / "agent.pw"
        password_file.write_text("Mauvais-mot-de-passe-42")
        done = run_cli("--config", ntlm_config(tmp_path, server, password_file), "copy",
                       "mairie", f"archive:{tmp_path / 'A'}", "--state",
                       str(tmp_path / "state.db"), "--quiet")
        assert done.returncode == 3, done.stdout + done.stderr
        assert "login refused (ntlm)" in done.stderr
        assert f"ews://agent@mairie-exemple.fr@{server.host}" in done.stderr
        assert "Traceback" not in done.stderr
        assert server.requests["ntlm-refused"] >= 1  # the handshake ran, the proof failed
        secrets_absent(done.stdout, done.stderr, (tmp_path / "state.db").read_bytes(),
                       secrets=("Mauvais-mot-de-passe-42", PASSWORD))
    finally:
        server.stop()


def test_a_wrong_password_fails_fast_even_with_fault_tolerance(mailbox, tmp_path):
    """exchangelib's FaultTolerance takes a 401 for throttling and retries it for
    max_wait seconds; the login itself must not: it fails at once."""
    server = FakeEws(mailbox, USER, PASSWORD, auth="ntlm").start()
    try:
        url = f"ews://agent%40mairie-exemple.fr:wrong-pw@{server.host}?tls=off&max_wait=600"
        done = run_cli("copy", url, f"archive:{tmp_path / 'A'}", "--state",
                       str(tmp_path / "state.db"), "--quiet")
        assert done.returncode == 3, done.stdout + done.stderr
        assert "login refused" in done.stderr
        assert server.requests["ntlm-refused"] == 1
    finally:
        server.stop()


# --- OAuth 2 ---------------------------------------------------------------------------------


@pytest.fixture
def tokens():
    endpoint = FakeTokenEndpoint(TENANT, CLIENT_ID, CLIENT_SECRET).start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def bearer_server(mailbox, tokens):
    server = tokens.attach(FakeEws(mailbox, USER, "unused", auth="bearer")).start()
    yield server
    server.stop()


def oauth_config(tmp_path, server: FakeEws, tokens: FakeTokenEndpoint, secret: str) -> str:
    secret_file = tmp_path / "client.secret"
    secret_file.write_text(secret)
    config = tmp_path / "migrate.toml"
    config.write_text(
        f'[endpoints.m365]\nurl = "ews://agent%40mairie-exemple.fr@{server.host}?tls=off"\n'
        f'auth = "oauth2"\ntenant = "{TENANT}"\nclient_id = "{CLIENT_ID}"\n'
        f'authority = "{tokens.url}"\nclient_secret_file = "{secret_file}"\n')
    return str(config)


def test_client_credentials_copy_impersonates_the_mailbox_and_leaks_no_secret(
        bearer_server, tokens, mailbox, tmp_path):
    state, log = tmp_path / "state.db", tmp_path / "log.jsonl"
    done = run_cli("--config", oauth_config(tmp_path, bearer_server, tokens, CLIENT_SECRET),
                   "copy", "m365", f"archive:{tmp_path / 'A'}", "--state", str(state),
                   "--log-json", str(log), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert copied(tmp_path / "A") == held(mailbox)
    assert len(tokens.requests) == 1 and tokens.requests[0]["client_id"] == CLIENT_ID
    host = bearer_server.host.split(":")[0]
    assert tokens.scopes == [f"https://{host}/.default"]
    assert bearer_server.impersonated == {USER}  # an app token reads the mailbox it names
    issued = tuple(tokens.tokens)
    archive = [path.read_bytes() for path in (tmp_path / "A").rglob("*") if path.is_file()]
    secrets_absent(done.stdout, done.stderr, state.read_bytes(), log.read_bytes(), *archive,
                   secrets=(CLIENT_SECRET, *issued))


def test_a_token_expired_mid_run_is_renewed_and_the_run_completes(
        bearer_server, tokens, mailbox, tmp_path):
    bearer_server.expire_tokens_after = 6  # past the login, amid the listings
    state = tmp_path / "state.db"
    done = run_cli("--config", oauth_config(tmp_path, bearer_server, tokens, CLIENT_SECRET),
                   "copy", "m365", f"archive:{tmp_path / 'A'}", "--state", str(state),
                   "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert bearer_server.requests["bearer-refused"] >= 1  # the expired token was refused …
    assert len(tokens.requests) == 2  # … and one new token fetched
    assert copied(tmp_path / "A") == held(mailbox)
    secrets_absent(done.stdout, done.stderr, state.read_bytes(),
                   secrets=(CLIENT_SECRET, *tokens.tokens))


def test_a_token_is_renewed_before_the_expiry_its_issuer_declared(mailbox, tmp_path):
    """expires_in short: exchangelib finds the token expired before sending and calls
    the credentials' refresh(); the server never sees an expired token."""
    tokens = FakeTokenEndpoint(TENANT, CLIENT_ID, CLIENT_SECRET, lifetime=121).start()
    server = tokens.attach(FakeEws(mailbox, USER, "unused", auth="bearer")).start()
    try:
        inbox = mailbox.by_well_known("inbox")
        inbox.messages += [FakeMessage(synthetic_message(n) + b"x" * 200_000)
                           for n in range(200, 300)]  # a run of some seconds
        done = run_cli("--config", oauth_config(tmp_path, server, tokens, CLIENT_SECRET),
                       "copy", "m365", f"archive:{tmp_path / 'A'}", "--state",
                       str(tmp_path / "state.db"), "--quiet")
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(tokens.requests) >= 2  # 121 s less the 120 s margin: renewed in the run
        assert server.requests["bearer-refused"] == 0
        assert copied(tmp_path / "A") == held(mailbox)
    finally:
        server.stop()
        tokens.stop()


def test_a_wrong_client_secret_exits_3_with_the_identity_platform_reason(
        bearer_server, tokens, tmp_path):
    wrong = "wrong~secret.value_123"
    done = run_cli("--config", oauth_config(tmp_path, bearer_server, tokens, wrong),
                   "copy", "m365", f"archive:{tmp_path / 'A'}", "--state",
                   str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "token endpoint refused the app registration" in done.stderr
    assert f"client id {CLIENT_ID}" in done.stderr and "AADSTS7000215" in done.stderr
    assert "Traceback" not in done.stderr
    assert bearer_server.requests["GetFolder"] == 0
    secrets_absent(done.stdout, done.stderr, (tmp_path / "state.db").read_bytes(),
                   secrets=(wrong, CLIENT_SECRET))


def test_a_token_file_is_read_again_when_the_server_refuses_the_token(
        bearer_server, tokens, mailbox, tmp_path):
    """A token obtained elsewhere (token_file): when it expires, another tool writes a
    new one in the file; the copy reads it again on the 401 and goes on."""
    token_file = tmp_path / "access.token"
    token_file.write_text(tokens.issue())
    bearer_server.expire_tokens_after = 5
    bearer_server.on_tokens_expired = lambda: token_file.write_text(tokens.issue())
    config = tmp_path / "migrate.toml"
    config.write_text(f'[endpoints.m365]\nurl = "ews://agent%40mairie-exemple.fr@'
                      f'{bearer_server.host}?tls=off"\ntoken_file = "{token_file}"\n')
    done = run_cli("--config", str(config), "copy", "m365", f"archive:{tmp_path / 'A'}",
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert bearer_server.requests["bearer-refused"] >= 1
    assert tokens.requests == []  # nothing asked of the identity platform
    assert copied(tmp_path / "A") == held(mailbox)
    secrets_absent(done.stdout, done.stderr, secrets=tuple(tokens.tokens))


def test_a_stale_token_file_exits_3(bearer_server, tokens, tmp_path):
    token_file = tmp_path / "access.token"
    stale = tokens.issue()
    token_file.write_text(stale)
    tokens.expire_all()
    config = tmp_path / "migrate.toml"
    config.write_text(f'[endpoints.m365]\nurl = "ews://agent%40mairie-exemple.fr@'
                      f'{bearer_server.host}?tls=off"\ntoken_file = "{token_file}"\n')
    done = run_cli("--config", str(config), "copy", "m365", f"archive:{tmp_path / 'A'}",
                   "--state", str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "login refused (oauth2)" in done.stderr
    secrets_absent(done.stdout, done.stderr, secrets=(stale,))
    assert base64.b64encode(stale.encode()).decode() not in done.stderr


def test_an_impersonation_refusal_is_an_auth_error_without_a_new_token(
        bearer_server, tokens, tmp_path):
    """Only a 401 is worth a new token; the app lacking the right to impersonate the
    mailbox (ErrorImpersonateUserDenied) stops at once, exit 3."""
    from fake_ews import Fault

    bearer_server.faults.append(Fault("soap", "ErrorImpersonateUserDenied", times=None,
                                      operation="GetFolder"))
    done = run_cli("--config", oauth_config(tmp_path, bearer_server, tokens, CLIENT_SECRET),
                   "copy", "m365", f"archive:{tmp_path / 'A'}", "--state",
                   str(tmp_path / "state.db"), "--quiet")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "ErrorImpersonateUserDenied" in done.stderr
    assert len(tokens.requests) == 1
