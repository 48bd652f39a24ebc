from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from supply_auth.adapters.keys import KeyStore

pytestmark = pytest.mark.integration


def me(harness, token):
    return harness.client.get("/me", headers={"Authorization": f"Bearer {token}"})


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_refresh_rotates_and_the_old_token_stops_working(harness):
    first = harness.login(harness.create())

    second = harness.client.post("/refresh", json={"refresh_token": first["refresh_token"]})

    assert second.status_code == 200
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert me(harness, pair["access_token"]).status_code == 200
    third = harness.client.post("/refresh", json={"refresh_token": pair["refresh_token"]})
    assert third.status_code == 200


def test_reusing_a_refresh_token_revokes_the_whole_family(harness):
    account = harness.create()
    first = harness.login(account)
    other_login = harness.login(account)
    second = harness.client.post("/refresh", json={"refresh_token": first["refresh_token"]}).json()

    reuse = harness.client.post("/refresh", json={"refresh_token": first["refresh_token"]})

    assert reuse.status_code == 401
    assert harness.client.post("/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    assert harness.client.post("/refresh", json={"refresh_token": other_login["refresh_token"]}).status_code == 200


def test_refresh_tokens_are_stored_hashed(harness):
    pair = harness.login(harness.create())

    stored = [row[0] for row in harness.sql("SELECT token_hash FROM refresh_tokens")]

    assert stored
    assert all(pair["refresh_token"].encode() not in token for token in stored)


def test_refresh_tokens_expire_at_their_absolute_lifetime(harness):
    pair = harness.login(harness.create())
    harness.execute("UPDATE refresh_families SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND")

    assert harness.client.post("/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_logout_revokes_the_family_and_needs_a_signed_in_caller(harness):
    pair = harness.login(harness.create())
    headers = {"Authorization": f"Bearer {pair['access_token']}"}

    assert harness.client.post("/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    assert (
        harness.client.post("/logout", json={"refresh_token": pair["refresh_token"]}, headers=headers).status_code
        == 204
    )

    assert harness.client.post("/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_logout_cannot_revoke_someone_elses_login(harness):
    mine = harness.login(harness.create())
    theirs = harness.login(harness.create())

    harness.client.post(
        "/logout",
        json={"refresh_token": theirs["refresh_token"]},
        headers={"Authorization": f"Bearer {mine['access_token']}"},
    )

    assert harness.client.post("/refresh", json={"refresh_token": theirs["refresh_token"]}).status_code == 200


def test_jwks_publishes_the_signing_key_and_verifies_tokens_like_a_gateway_would(harness):
    token = harness.login(harness.create())["access_token"]

    jwks = harness.client.get("/.well-known/jwks.json").json()

    [key] = jwks["keys"]
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert key["use"] == "sig"
    assert key["alg"] == "EdDSA"
    assert "d" not in key
    public = jwt.PyJWK(key).key
    claims = jwt.decode(token, public, algorithms=["EdDSA"], audience="supply-store", issuer="supply-store-auth")
    assert claims["role"] == "customer"


def test_after_rotation_old_and_new_tokens_verify_and_both_keys_are_published(harness):
    account = harness.create()
    old_token = harness.login(account)["access_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    new_key = KeyStore(harness.keys_dir, retention_s=360).rotate()
    time.sleep(0.01)
    new_token = harness.login(account)["access_token"]

    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid != old_kid
    assert me(harness, old_token).status_code == 200
    assert me(harness, new_token).status_code == 200
    kids = [k["kid"] for k in harness.client.get("/.well-known/jwks.json").json()["keys"]]
    assert set(kids) == {old_kid, new_key.kid}


def test_a_key_retired_beyond_the_token_lifetime_is_no_longer_accepted(harness):
    account = harness.create()
    old_token = harness.login(account)["access_token"]
    later = KeyStore(harness.keys_dir, retention_s=360, clock=lambda: time.time() + 3600)
    later.rotate()

    pruned = KeyStore(harness.keys_dir, retention_s=360, clock=lambda: time.time() + 3600 + 361).prune()

    assert pruned == [jwt.get_unverified_header(old_token)["kid"]]
    assert me(harness, old_token).status_code == 401
    assert len(harness.client.get("/.well-known/jwks.json").json()["keys"]) == 1


def _claims(harness, account, **changes):
    now = int(time.time())
    claims = {
        "sub": account["id"],
        "role": account["role"],
        "email": account["email"],
        "iss": "supply-store-auth",
        "aud": "supply-store",
        "iat": now,
        "exp": now + 300,
        "jti": "x",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(harness, claims, key=None, kid=None, algorithm="EdDSA"):
    signer = harness.auth.keys.signer()
    return jwt.encode(claims, key or signer.private_key, algorithm=algorithm, headers={"kid": kid or signer.kid})


def tampered_tokens(harness, account):
    genuine = harness.login(account)["access_token"]
    header, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    kid = harness.auth.keys.signer().kid
    public_pem = harness.auth.keys.signer().public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "changed role": f"{header}.{b64({**claims, 'role': 'senior_management'})}.{signature}",
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64({**claims, 'role': 'senior_management'})}.",
        "alg none, no signature part": f"{b64({'alg': 'none', 'kid': kid})}.{payload}",
        "wrong key, same kid": _signed(harness, _claims(harness, account), key=Ed25519PrivateKey.generate()),
        "unknown kid": _signed(harness, _claims(harness, account), kid="ed25519-20000101T000000-deadbeef"),
        "expired": _signed(harness, _claims(harness, account, iat=int(time.time()) - 700, exp=int(time.time()) - 400)),
        "wrong audience": _signed(harness, _claims(harness, account, aud="someone-else")),
        "wrong issuer": _signed(harness, _claims(harness, account, iss="evil")),
        "missing exp": _signed(harness, _claims(harness, account, exp=None)),
        "missing role": _signed(harness, _claims(harness, account, role=None)),
        "HS256 with the public key as secret": _hs256(claims, kid, public_pem),
        "garbage": "not.a.token",
        "empty": "",
    }


def _hs256(claims, kid, secret: bytes) -> str:
    import hashlib
    import hmac

    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_tampered_or_foreign_tokens_are_refused(harness):
    account = harness.create()
    admin_only = harness.client.get("/users", headers=harness.bearer(account))
    assert admin_only.status_code == 403

    for name, token in tampered_tokens(harness, account).items():
        for path in ("/me", "/users"):
            response = harness.client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (name, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert "WWW-Authenticate" in response.headers


def test_a_genuine_token_for_a_deleted_or_disabled_user_is_refused_by_me(harness):
    account = harness.create()
    headers = harness.bearer(account)
    harness.execute("UPDATE users SET disabled = 1 WHERE id = :id", id=account["id"])

    assert harness.client.get("/me", headers=headers).status_code == 401
