"""Ed25519 keys and tokens made in the test, the way auth makes them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class Signer:
    def __init__(self, kid: str = "key-1") -> None:
        self.kid = kid
        self.key = Ed25519PrivateKey.generate()

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.key.public_key()))
        return {**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def token(self, role: str = "customer", *, email: str = "c@example.com", sub: str = "u1", **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "role": role,
            "email": email,
            "iss": "supply-store-auth",
            "aud": "supply-store",
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})


def jwks(*signers: Signer) -> dict[str, Any]:
    return {"keys": [signer.jwk() for signer in signers]}


def unsigned(claims: dict[str, Any], kid: str = "key-1") -> str:
    """An `alg: none` token."""
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{part(claims)}."


def tamper_role(token: str, role: str) -> str:
    """Swap the role claim and keep the original signature."""
    import base64

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = role
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"
