"""Tokens: the embedded Ed25519 issuer and an external OIDC issuer (JWKS over loopback HTTP)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from lfr.api.auth import (
    AuthConfig,
    AuthError,
    Role,
    TokenIssuer,
    TokenVerifier,
    load_or_create_api_key,
)
from lfr.errors import ConfigError


def test_embedded_key_is_created_once_private_and_verifies(tmp_path):
    key = load_or_create_api_key(tmp_path)
    assert (tmp_path / "api_ed25519.pem").stat().st_mode & 0o077 == 0
    again = load_or_create_api_key(tmp_path)
    token = TokenIssuer(key).issue("PC 1", Role.OFFICER, patrol_id="p-7", zone="north-end")
    who = TokenVerifier(AuthConfig(), again.public_key()).verify(token)
    assert (who.name, who.role, who.patrol_id, who.zone) == (
        "PC 1",
        Role.OFFICER,
        "p-7",
        "north-end",
    )
    with pytest.raises(ConfigError, match="does not exist"):
        load_or_create_api_key(tmp_path / "nowhere", create=False)


def test_tampered_and_unknown_role_tokens_are_refused(tmp_path):
    key = load_or_create_api_key(tmp_path)
    verifier = TokenVerifier(AuthConfig(), key.public_key())
    token = TokenIssuer(key).issue("PC 1", Role.OFFICER)
    head, body, sig = token.split(".")
    with pytest.raises(AuthError, match="invalid bearer token"):
        verifier.verify(f"{head}.{body}.{sig[:-4]}AAAA")
    bad_role = jwt.encode(
        {"iss": "lfr", "aud": "lfr-api", "sub": "x", "role": "admin", "exp": int(time.time()) + 60},
        key,
        algorithm="EdDSA",
    )
    with pytest.raises(AuthError, match="no known lfr role"):
        verifier.verify(bad_role)


@pytest.fixture
def jwks_server():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield key, f"http://127.0.0.1:{server.server_port}/jwks"
    server.shutdown()
    server.server_close()


def test_external_oidc_issuer(jwks_server):
    key, url = jwks_server
    config = AuthConfig(
        oidc_issuer="https://idp.police.test/realms/lfr", oidc_jwks_url=url, oidc_audience="lfr"
    )
    verifier = TokenVerifier(config)

    def token(**claims):
        base = {
            "iss": config.oidc_issuer,
            "aud": "lfr",
            "sub": "sgt-9",
            "lfr_role": "supervisor",
            "exp": int(time.time()) + 60,
        }
        base.update(claims)
        return jwt.encode(base, key, algorithm="RS256", headers={"kid": "k1"})

    who = verifier.verify(token())
    assert (who.name, who.role) == ("sgt-9", Role.SUPERVISOR)
    with pytest.raises(AuthError):
        verifier.verify(token(iss="https://evil.test"))
    with pytest.raises(AuthError):
        verifier.verify(token(aud="other-app"))
    with pytest.raises(AuthError, match="no known lfr role"):
        verifier.verify(token(lfr_role=None))
    with pytest.raises(ConfigError):
        TokenVerifier(AuthConfig(oidc_issuer="https://idp"))
