"""A fake Microsoft identity platform (login) on 127.0.0.1 over TLS, for azure-identity.

azure-identity only talks to an ``https://`` authority, so the test makes a self-signed
certificate for 127.0.0.1 (``make_certificate``) and the connector is told to trust it
through its documented ``ca_file`` setting; verification stays on. The server answers
what MSAL asks for an app-only sign-in: the tenant's OpenID configuration and the
``client_credentials`` grant at the token endpoint, issuing a token the fake Graph server
accepts, or ``invalid_client`` (AADSTS7000215) for a wrong secret.
"""

from __future__ import annotations

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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
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


class FakeLogin:
    """The login server: ``authority`` is its ``host:port``; tokens go to ``graph``."""

    def __init__(self, graph: FakeGraph, tenant: str, client_id: str, secret: str,
                 directory: Path) -> None:
        self.graph, self.tenant, self.client_id, self.secret = graph, tenant, client_id, secret
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

    def _token(self, form: dict[str, str]) -> tuple[int, dict]:
        if form.get("grant_type") != "client_credentials" or \
                form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.secret:
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
