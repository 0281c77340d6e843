"""NTLM and OAuth2 (Bearer) authentication for the fake EWS server, and its token endpoint.

``FakeEws(..., auth="ntlm")`` does a real NTLM handshake over HTTP, on one keep-alive
connection, as IIS does: a request without credentials gets ``401`` with
``WWW-Authenticate: NTLM``; the client's NEGOTIATE gets a CHALLENGE (server challenge,
target info with names and a timestamp); the client's AUTHENTICATE is checked by
recomputing its NTLMv2 proof from the password ([MS-NLMP] 3.3.2: NTOWFv2 =
HMAC-MD5(MD4(UTF-16LE(password)), UTF-16LE(upper(user) + domain)); NTProofStr =
HMAC-MD5(NTOWFv2, server challenge + blob)). The connection is then authenticated, and
the following requests on it carry no credentials. hashlib has no MD4 under OpenSSL 3, so
a small MD4 ([RFC 1320]) is here.

``FakeEws(..., auth="bearer")`` wants ``Authorization: Bearer TOKEN`` with a token issued
by a ``FakeTokenEndpoint`` (the Microsoft identity platform's client-credentials grant,
``POST /{tenant}/oauth2/v2.0/token``) attached to the server; an expired or unknown token
gets ``401`` with ``WWW-Authenticate: Bearer … error="invalid_token"`` as Exchange Online
sends it.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import struct
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from fake_ews import AUTHENTICATORS, FakeEws

# --- MD4 (RFC 1320) ----------------------------------------------------------------------


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


def md4(data: bytes) -> bytes:
    """The MD4 digest of ``data`` (RFC 1320), for the NT hash."""
    message = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) \
        + struct.pack("<Q", len(data) * 8)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for offset in range(0, len(message), 64):
        x = struct.unpack("<16I", message[offset:offset + 64])
        aa, bb, cc, dd = a, b, c, d
        for i in range(16):  # round 1: F(x,y,z) = xy | ~xz
            k, s = i, (3, 7, 11, 19)[i % 4]
            a = _rotl((a + ((b & c) | (~b & d)) + x[k]) & 0xFFFFFFFF, s)
            a, b, c, d = d, a, b, c
        for i in range(16):  # round 2: G = xy | xz | yz, + 0x5A827999
            k, s = (i % 4) * 4 + i // 4, (3, 5, 9, 13)[i % 4]
            a = _rotl((a + ((b & c) | (b & d) | (c & d)) + x[k] + 0x5A827999) & 0xFFFFFFFF, s)
            a, b, c, d = d, a, b, c
        for i in range(16):  # round 3: H = x ^ y ^ z, + 0x6ED9EBA1
            k = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[i]
            s = (3, 9, 11, 15)[i % 4]
            a = _rotl((a + (b ^ c ^ d) + x[k] + 0x6ED9EBA1) & 0xFFFFFFFF, s)
            a, b, c, d = d, a, b, c
        a, b, c, d = ((a + aa) & 0xFFFFFFFF, (b + bb) & 0xFFFFFFFF,
                      (c + cc) & 0xFFFFFFFF, (d + dd) & 0xFFFFFFFF)
    return struct.pack("<4I", a, b, c, d)


# --- NTLM ----------------------------------------------------------------------------------

SIGNATURE = b"NTLMSSP\x00"
NEGOTIATE_UNICODE = 0x00000001
REQUEST_TARGET = 0x00000004
NEGOTIATE_NTLM = 0x00000200
NEGOTIATE_ALWAYS_SIGN = 0x00008000
TARGET_TYPE_DOMAIN = 0x00010000
NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NEGOTIATE_TARGET_INFO = 0x00800000
NEGOTIATE_VERSION = 0x02000000
NEGOTIATE_128 = 0x20000000
NEGOTIATE_KEY_EXCH = 0x40000000
NEGOTIATE_56 = 0x80000000
_OFFERED = (NEGOTIATE_UNICODE | REQUEST_TARGET | NEGOTIATE_NTLM | NEGOTIATE_ALWAYS_SIGN
            | NEGOTIATE_EXTENDED_SESSIONSECURITY | NEGOTIATE_VERSION | NEGOTIATE_128
            | NEGOTIATE_KEY_EXCH | NEGOTIATE_56)
DOMAIN = "MAIRIE"


def nt_owf_v2(password: str, user: str, domain: str) -> bytes:
    """NTOWFv2 ([MS-NLMP] 3.3.2)."""
    return hmac.new(md4(password.encode("utf-16-le")),
                    (user.upper() + domain).encode("utf-16-le"), "md5").digest()


def _av_pairs() -> bytes:
    """Target info: NetBIOS and DNS names, a timestamp, the end marker."""
    stamp = int((datetime.now(UTC) - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds()
                * 10_000_000)
    pairs = [(2, DOMAIN.encode("utf-16-le")), (1, b"E\x00X\x00C\x00H\x000\x001\x00"),
             (4, b"m\x00a\x00i\x00r\x00i\x00e\x00.\x00f\x00r\x00"),
             (3, "exch01.mairie.fr".encode("utf-16-le")), (7, struct.pack("<Q", stamp))]
    return b"".join(struct.pack("<HH", kind, len(value)) + value
                    for kind, value in pairs) + struct.pack("<HH", 0, 0)


def challenge_message(client_flags: int, server_challenge: bytes) -> bytes:
    """A CHALLENGE_MESSAGE (type 2) answering a NEGOTIATE with the flags it asked for."""
    flags = (client_flags & _OFFERED) | NEGOTIATE_UNICODE | NEGOTIATE_NTLM \
        | NEGOTIATE_TARGET_INFO | TARGET_TYPE_DOMAIN
    target = DOMAIN.encode("utf-16-le")
    info = _av_pairs()
    header = 56  # fixed part, with the Version field
    version = bytes([10, 0]) + struct.pack("<H", 17763) + b"\x00\x00\x00\x0f"
    return (SIGNATURE + struct.pack("<I", 2)
            + struct.pack("<HHI", len(target), len(target), header)
            + struct.pack("<I", flags) + server_challenge + b"\x00" * 8
            + struct.pack("<HHI", len(info), len(info), header + len(target))
            + version + target + info)


def _field(message: bytes, at: int) -> bytes:
    length, _, offset = struct.unpack_from("<HHI", message, at)
    return message[offset:offset + length]


def verify_authenticate(message: bytes, server_challenge: bytes, user: str,
                        password: str) -> bool:
    """True when an AUTHENTICATE_MESSAGE (type 3) proves ``password`` for ``user``.

    ``user`` may be ``DOMAIN\\name`` or a bare name / UPN; the name in the message must be
    the same (case-insensitively), and its NTLMv2 proof must match the password."""
    if message[:8] != SIGNATURE or struct.unpack_from("<I", message, 8)[0] != 3:
        return False
    flags = struct.unpack_from("<I", message, 60)[0]
    encoding = "utf-16-le" if flags & NEGOTIATE_UNICODE else "cp437"
    nt_response = _field(message, 20)
    domain = _field(message, 28).decode(encoding)
    name = _field(message, 36).decode(encoding)
    expected = user.split("\\", 1)[-1]
    if name.lower() != expected.lower() or len(nt_response) <= 24:  # not NTLMv1
        return False
    proof, blob = nt_response[:16], nt_response[16:]
    key = nt_owf_v2(password, name, domain)
    return hmac.compare_digest(
        hmac.new(key, server_challenge + blob, "md5").digest(), proof)


def _ntlm(server: FakeEws, handler: BaseHTTPRequestHandler) -> bool:
    """NTLM over HTTP: the handshake on this connection, then its requests go through."""
    if getattr(handler, "ntlm_authenticated", False):
        return True
    header = handler.headers.get("Authorization") or ""
    token = header[5:].strip() if header.startswith("NTLM ") else ""
    try:
        message = base64.b64decode(token) if token else b""
    except ValueError:
        message = b""
    kind = struct.unpack_from("<I", message, 8)[0] \
        if len(message) >= 12 and message[:8] == SIGNATURE else 0
    if kind == 1:
        flags = struct.unpack_from("<I", message, 12)[0]
        handler.ntlm_challenge = os.urandom(8)
        answer = challenge_message(flags, handler.ntlm_challenge)
        server.requests["ntlm-challenge"] += 1
        handler._send(401, b"", {
            "WWW-Authenticate": "NTLM " + base64.b64encode(answer).decode()})
        return False
    if kind == 3 and getattr(handler, "ntlm_challenge", None) is not None:
        challenge, handler.ntlm_challenge = handler.ntlm_challenge, None
        if verify_authenticate(message, challenge, server.user, server.password):
            handler.ntlm_authenticated = True
            server.requests["ntlm-authenticated"] += 1
            return True
        server.requests["ntlm-refused"] += 1
    server.requests["401"] += 1
    handler._send(401, b"", {"WWW-Authenticate": "NTLM"})
    return False


AUTHENTICATORS["ntlm"] = _ntlm


# --- OAuth2: Bearer tokens and the token endpoint -------------------------------------------


class FakeTokenEndpoint:
    """The identity platform's token endpoint for one app registration (client
    credentials grant): ``url`` is the authority to configure; tokens live ``lifetime``
    seconds, and ``expire_all()`` makes every token issued so far expired at once."""

    def __init__(self, tenant: str, client_id: str, client_secret: str,
                 lifetime: int = 3599) -> None:
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.lifetime = lifetime
        self.tokens: dict[str, float] = {}  # token → expiry (monotonic)
        self.requests: list[dict[str, str]] = []  # the forms received, secrets masked
        self.scopes: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeTokenEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def attach(self, server: FakeEws) -> FakeEws:
        """Make ``server`` (built with ``auth="bearer"``) accept this endpoint's tokens."""
        server.token_endpoint = self  # type: ignore[attr-defined]
        return server

    def issue(self) -> str:
        """A new valid access token (as a test's external token provider would get)."""
        token = "eyJ0eXAiOiJKV1QifQ." + os.urandom(24).hex()
        with self._lock:
            self.tokens[token] = time.monotonic() + self.lifetime
        return token

    def valid(self, token: str) -> bool:
        with self._lock:
            return self.tokens.get(token, 0) > time.monotonic()

    def expire_all(self) -> None:
        with self._lock:
            for token in self.tokens:
                self.tokens[token] = 0

    def _answer(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        """Microsoft's answers: AADSTS error codes in an OAuth error body, or a token."""
        self.requests.append({k: ("***" if k == "client_secret" else v)
                              for k, v in form.items()})
        if path != f"/{self.tenant}/oauth2/v2.0/token":
            return 400, {"error": "invalid_request", "error_description":
                         f"AADSTS90002: Tenant '{path.split('/')[1]}' not found."}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type",
                         "error_description": "AADSTS70003: grant type not supported."}
        if form.get("client_id") != self.client_id:
            return 400, {"error": "unauthorized_client", "error_description":
                         f"AADSTS700016: Application with identifier "
                         f"'{form.get('client_id')}' was not found in the directory."}
        if form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description":
                         "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                         "being sent in the request is the client secret value, not the "
                         "client secret ID.", "error_codes": [7000215]}
        self.scopes.append(form.get("scope", ""))
        return 200, {"token_type": "Bearer", "expires_in": self.lifetime,
                     "ext_expires_in": self.lifetime, "access_token": self.issue()}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                status, answer = endpoint._answer(self.path, form)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _bearer(server: FakeEws, handler: BaseHTTPRequestHandler) -> bool:
    """Bearer tokens from the attached token endpoint; 401 as Exchange Online says it."""
    header = handler.headers.get("Authorization") or ""
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    issuer: FakeTokenEndpoint | None = getattr(server, "token_endpoint", None)
    if token and issuer is not None and issuer.valid(token):
        server.requests["bearer-ok"] += 1
        expire_after = getattr(server, "expire_tokens_after", None)
        if expire_after is not None and server.requests["bearer-ok"] == expire_after:
            issuer.expire_all()  # this request still passes; the next ones need a new token
            on_expire = getattr(server, "on_tokens_expired", None)
            if on_expire is not None:
                on_expire()
        return True
    server.requests["401"] += 1
    if token:
        server.requests["bearer-refused"] += 1
    handler._send(401, b"", {"WWW-Authenticate": (
        'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
        'trusted_issuers="00000001-0000-0000-c000-000000000000@*", '
        'token_types="app_asserting_user", error="invalid_token", '
        'error_description="The access token has expired"')})
    return False


AUTHENTICATORS["bearer"] = _bearer
