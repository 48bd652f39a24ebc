"""Tokens made in a test the way auth makes them: an Ed25519 key of the test's own, its key set as a
`file://` URL (for a service's `AUTH_JWKS_URL`, in process or in a child process), user access tokens
and service credentials.

    ISSUER = TestIssuer()
    settings = SalesWriterSettings(auth_jwks_url=ISSUER.jwks_url, ...)
    client.post("/sales", headers=ISSUER.bearer("technical_worker"), json=...)
    client.get("/internal/sales/digest", headers=ISSUER.service_bearer("sales:digest"))
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from supply_common.tokens import ALGORITHM, AUDIENCE, ISSUER, SERVICE_AUDIENCE, KeyStore, TokenVerifier, jwks_from_url


class TestIssuer:
    """Signs like auth, with a key nobody else has. Tokens live an hour unless told otherwise, so that
    module-level headers outlast a slow suite."""

    __test__ = False

    def __init__(self, kid: str = "test-key-1") -> None:
        self.kid = kid
        self.key = Ed25519PrivateKey.generate()
        self._jwks_path: Path | None = None

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.key.public_key()))
        return {**jwk, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    @property
    def jwks_url(self) -> str:
        """A `file://` URL of this issuer's key set (written once)."""
        if self._jwks_path is None:
            folder = Path(tempfile.mkdtemp(prefix="supply-jwks-"))
            self._jwks_path = folder / "jwks.json"
            self._jwks_path.write_text(json.dumps(self.jwks()))
        return self._jwks_path.as_uri()

    def verifier(self, **options: Any) -> TokenVerifier:
        return TokenVerifier(KeyStore(jwks_from_url(self.jwks_url)), **options)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def token(
        self,
        role: str = "technical_worker",
        *,
        sub: str | None = None,
        email: str | None = None,
        ttl_s: int = 3600,
        **overrides: Any,
    ) -> str:
        """A user's access token; an override of `None` leaves that claim out."""
        claims = {
            "sub": sub or f"{role}-1",
            "role": role,
            "email": email if email is not None else f"{role.replace('_', '-')}@example.com",
        }
        return self._issue(claims, AUDIENCE, ttl_s, overrides)

    def service_token(self, *scopes: str, subject: str = "test-operator", ttl_s: int = 3600, **overrides: Any) -> str:
        """A service credential carrying `scopes`."""
        return self._issue({"sub": subject, "scope": " ".join(scopes)}, SERVICE_AUDIENCE, ttl_s, overrides)

    def _issue(self, claims: dict[str, Any], audience: str, ttl_s: int, overrides: dict[str, Any]) -> str:
        """`claims` signed with this issuer's registered claims for `audience`, then `overrides`
        (`None` leaves a claim out)."""
        now = int(time.time())
        issued = {
            **claims,
            "iss": ISSUER,
            "aud": audience,
            "iat": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
            **overrides,
        }
        return self.sign({name: value for name, value in issued.items() if value is not None})

    def bearer(self, role: str = "technical_worker", **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **claims)}"}

    def service_bearer(self, *scopes: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.service_token(*scopes, **claims)}"}


ISSUER_FOR_TESTS = TestIssuer()
"""One issuer per test process: what the services' test settings trust and their tests sign with."""
