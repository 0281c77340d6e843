"""A fake Microsoft identity platform (login) on 127.0.0.1 over TLS, for azure-identity.

azure-identity only talks to an ``https://`` authority, so the test makes a self-signed
certificate for 127.0.0.1 (``make_certificate``) and the connector is told to trust it
through its documented ``ca_file`` setting; verification stays on. The server answers
what MSAL asks for an app-only sign-in: the tenant's OpenID configuration and the
``client_credentials`` grant at the token endpoint (a client secret, or a client assertion
signed with the app's certificate), issuing a token the fake Graph server accepts, or
``invalid_client`` (AADSTS7000215) for a wrong secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import secrets
import ssl
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fake_graph import FakeGraph


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake login 127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "login-cert.pem", directory / "login-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_app_certificate(directory: Path) -> tuple[Path, x509.Certificate]:
    """An app registration's certificate: a PEM file with its RSA key, as the operator
    gives it to ``certificate=``, and the certificate uploaded to the app."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sovereign-migrate app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = directory / "app.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
                    + cert.public_bytes(serialization.Encoding.PEM))
    return pem, cert


class FakeLogin:
    """The login server: ``authority`` is its ``host:port``; tokens go to ``graph``."""

    def __init__(self, graph: FakeGraph, tenant: str, client_id: str, secret: str,
                 directory: Path) -> None:
        self.graph, self.tenant, self.client_id, self.secret = graph, tenant, client_id, secret
        self.app_certificate: x509.Certificate | None = None  # for certificate sign-in
        self.requests: Counter[str] = Counter()
        self.cert_file, key_file = make_certificate(directory)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeLogin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _openid(self) -> dict:
        base = f"https://{self.authority}/{self.tenant}"
        return {"token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0", "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "token"],
                "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                          "private_key_jwt"]}

    def _signed_by_app_certificate(self, assertion: str | None) -> bool:
        """A client assertion (a JWT) whose signature the app's certificate verifies."""
        if self.app_certificate is None or not assertion or assertion.count(".") != 2:
            return False
        head, body, signature = assertion.split(".")
        header = json.loads(_b64(head))
        key = self.app_certificate.public_key()
        padding_ = (padding.PKCS1v15() if header.get("alg") == "RS256"
                    else padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH))
        try:
            key.verify(_b64(signature), f"{head}.{body}".encode(), padding_, hashes.SHA256())
        except InvalidSignature:
            return False
        claims = json.loads(_b64(body))
        return claims.get("iss") == self.client_id and claims.get("sub") == self.client_id

    def _token(self, form: dict[str, str]) -> tuple[int, dict]:
        known = form.get("client_secret") == self.secret if "client_secret" in form \
            else self._signed_by_app_certificate(form.get("client_assertion"))
        if form.get("grant_type") != "client_credentials" or \
                form.get("client_id") != self.client_id or not known:
            self.requests["refused"] += 1
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS7000215: Invalid client secret provided. "
                                              "Ensure the secret being sent in the request is "
                                              "the client secret value, not the client secret "
                                              "ID, for a secret added to app "
                                              f"'{form.get('client_id')}'.",
                         "error_codes": [7000215]}
        self.requests["issued"] += 1
        token = "eyFake." + secrets.token_urlsafe(16)
        self.graph.tokens.add(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                     "access_token": token}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args) -> None:  # quiet
                pass

            def _send(self, status: int, data: dict) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == f"/{server.tenant}/v2.0/.well-known/openid-configuration":
                    server.requests["openid"] += 1
                    self._send(200, server._openid())
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path.split("?")[0] == f"/{server.tenant}/oauth2/v2.0/token":
                    self._send(*server._token(form))
                else:
                    self._send(404, {"error": "not_found"})

        return Handler
