from __future__ import annotations

import base64
import os
import stat
import time

import jwt
import pytest

from supply_auth.adapters.keys import InvalidToken, KeyStore, NoSigningKey, TokenService
from supply_common.testing.clock import ManualClock


def test_an_empty_folder_has_no_signer_unless_asked_to_create_one(tmp_path):
    store = KeyStore(tmp_path / "keys", retention_s=360)
    with pytest.raises(NoSigningKey):
        store.ensure(create=False)
    store.ensure(create=True)
    assert len(store.all_keys()) == 1


def test_keys_are_private_files(tmp_path):
    key = KeyStore(tmp_path, retention_s=360).rotate()
    mode = stat.S_IMODE(os.stat(tmp_path / f"{key.kid}.pem").st_mode)
    assert mode == 0o600


def test_rotation_makes_a_new_signer_and_keeps_the_old_key_published_until_its_tokens_expire(tmp_path):
    clock = ManualClock(1_800_000_000)
    store = KeyStore(tmp_path, retention_s=360, clock=clock)
    first = store.rotate()
    clock.now += 10
    second = store.rotate()

    assert store.signer().kid == second.kid
    assert [k.kid for k in store.published()] == [first.kid, second.kid]
    clock.now += 359
    assert len(store.published()) == 2
    clock.now += 2
    assert [k.kid for k in store.published()] == [second.kid]
    assert store.prune() == [first.kid]
    assert not (tmp_path / f"{first.kid}.pem").exists()


def test_rotation_twice_within_a_second_still_orders_keys(tmp_path):
    store = KeyStore(tmp_path, retention_s=360, clock=ManualClock(1_800_000_000.5))
    kids = [store.rotate().kid for _ in range(3)]
    assert store.signer().kid == kids[-1]
    assert [k.kid for k in store.all_keys()] == kids


def test_a_serving_process_sees_a_rotation_made_by_another_process(tmp_path):
    serving = KeyStore(tmp_path, retention_s=360)
    serving.rotate()
    before = serving.signer().kid

    other = KeyStore(tmp_path, retention_s=360, clock=lambda: time.time() + 5).rotate()

    assert serving.signer().kid == other.kid != before


def test_foreign_files_in_the_folder_are_ignored(tmp_path):
    store = KeyStore(tmp_path, retention_s=360)
    store.rotate()
    (tmp_path / "README.txt").write_text("hello")
    (tmp_path / "ed25519-garbage.pem").write_text("not a key")
    assert len(store.all_keys()) == 1


def test_jwks_has_only_public_okp_keys(tmp_path):
    store = KeyStore(tmp_path, retention_s=360)
    key = store.rotate()
    [jwk] = store.jwks()["keys"]
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"], "kid": key.kid, "use": "sig", "alg": "EdDSA"}
    assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32


@pytest.fixture
def tokens(tmp_path):
    store = KeyStore(tmp_path, retention_s=360)
    store.rotate()
    return TokenService(store, issuer="supply-store-auth", audience="supply-store", ttl_s=300)


def test_issued_tokens_verify_and_carry_every_claim(tokens):
    token = tokens.issue(user_id="U1", role="customer", email="a@example.com", session_id="S1", generation=2)
    claims = tokens.verify(token)
    assert claims["sub"] == "U1"
    assert (claims["sid"], claims["gen"]) == ("S1", 2)
    assert claims["exp"] - claims["iat"] == 300
    assert jwt.get_unverified_header(token)["kid"] == tokens.keys.signer().kid


def test_tokens_without_a_kid_or_with_another_algorithm_are_refused(tokens):
    key = tokens.keys.signer().private_key
    now = int(time.time())
    claims = {
        "sub": "U1",
        "role": "customer",
        "email": "e",
        "iss": "supply-store-auth",
        "aud": "supply-store",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
    }
    with pytest.raises(InvalidToken):
        tokens.verify(jwt.encode(claims, key, algorithm="EdDSA"))
    with pytest.raises(InvalidToken):
        tokens.verify(jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": tokens.keys.signer().kid}))
    with pytest.raises(InvalidToken):
        tokens.verify(
            jwt.encode({**claims, "sub": 7}, key, algorithm="EdDSA", headers={"kid": tokens.keys.signer().kid})
        )
