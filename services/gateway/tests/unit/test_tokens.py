import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from supply_common.contract.account_events import account_event
from supply_common.revocations import Revocations
from supply_common.testing.clock import ManualClock
from supply_common.tokens import InvalidToken, KeyStore, KeysUnavailable, TokenExpired, TokenVerifier

from .tokens_support import Signer, jwks, tamper_role, unsigned


def verifier_for(*signers: Signer, clock: ManualClock | None = None) -> tuple[TokenVerifier, KeyStore]:
    document = jwks(*signers)

    async def fetch() -> dict:
        return document

    keys = KeyStore(fetch, clock=clock or ManualClock(1000.0))
    return TokenVerifier(keys), keys


async def test_a_valid_token_gives_the_identity() -> None:
    signer = Signer()
    verifier, _ = verifier_for(signer)
    identity = await verifier.verify(signer.token("technical_worker", email="w@example.com", sub="42"))
    assert (identity.user_id, identity.role, identity.email) == ("42", "technical_worker", "w@example.com")


async def test_an_expired_token_is_refused_as_expired() -> None:
    signer = Signer()
    verifier, _ = verifier_for(signer)
    with pytest.raises(TokenExpired):
        await verifier.verify(signer.token(exp=int(time.time()) - 60, iat=int(time.time()) - 400))


@pytest.mark.parametrize(
    "claims",
    [{"aud": "someone-else"}, {"iss": "evil-issuer"}, {"aud": None}, {"exp": None}, {"role": "admin"}, {"sub": None}],
    ids=["wrong-aud", "wrong-iss", "no-aud", "no-exp", "unknown-role", "no-sub"],
)
async def test_tokens_with_bad_claims_are_refused(claims: dict) -> None:
    signer = Signer()
    verifier, _ = verifier_for(signer)
    with pytest.raises(InvalidToken):
        await verifier.verify(signer.token(**claims))


async def test_alg_none_is_refused() -> None:
    verifier, _ = verifier_for(Signer())
    now = int(time.time())
    token = unsigned(
        {
            "sub": "1",
            "role": "senior_management",
            "email": "x@y.z",
            "iss": "supply-store-auth",
            "aud": "supply-store",
            "exp": now + 300,
        }
    )
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_a_token_signed_by_a_foreign_key_with_a_known_kid_is_refused() -> None:
    verifier, _ = verifier_for(Signer("key-1"))
    with pytest.raises(InvalidToken):
        await verifier.verify(Signer("key-1").token("senior_management"))


async def test_a_tampered_role_breaks_the_signature() -> None:
    signer = Signer()
    verifier, _ = verifier_for(signer)
    with pytest.raises(InvalidToken):
        await verifier.verify(tamper_role(signer.token("customer"), "senior_management"))


async def test_an_hs256_token_is_refused_even_when_keyed_with_the_public_key() -> None:
    import jwt

    signer = Signer()
    verifier, _ = verifier_for(signer)
    token = jwt.encode(
        {"sub": "1", "role": "senior_management"},
        "secret-of-at-least-32-bytes-length!!",
        algorithm="HS256",
        headers={"kid": signer.kid},
    )
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_garbage_is_refused() -> None:
    verifier, _ = verifier_for(Signer())
    for token in ("", "abc", "a.b.c", "x" * 5000):
        with pytest.raises(InvalidToken):
            await verifier.verify(token)


async def test_an_unknown_kid_refetches_the_keys_at_most_once_per_interval() -> None:
    old, new = Signer("old"), Signer("new")
    published = {"doc": jwks(old)}
    calls = []

    async def fetch() -> dict:
        calls.append(1)
        return published["doc"]

    clock = ManualClock(1000.0)
    keys = KeyStore(fetch, min_refetch_s=10, clock=clock)
    verifier = TokenVerifier(keys)
    await verifier.verify(old.token())
    assert len(calls) == 1
    clock.now += 11
    with pytest.raises(InvalidToken):
        await verifier.verify(Signer("stranger").token())
    assert len(calls) == 2
    published["doc"] = jwks(old, new)
    with pytest.raises(InvalidToken):
        await verifier.verify(new.token())
    assert len(calls) == 2, "a second unknown kid within the interval must not refetch"
    clock.now += 11
    assert (await verifier.verify(new.token())).role == "customer"
    assert len(calls) == 3


async def test_no_keys_fails_closed() -> None:
    async def fetch() -> dict:
        raise OSError("auth is down")

    verifier = TokenVerifier(KeyStore(fetch, clock=ManualClock(1000.0)))
    with pytest.raises(KeysUnavailable):
        await verifier.verify(Signer().token())


async def test_cached_keys_are_used_while_auth_is_down_until_they_are_too_stale() -> None:
    signer = Signer()
    state = {"up": True}

    async def fetch() -> dict:
        if not state["up"]:
            raise OSError("down")
        return jwks(signer)

    clock = ManualClock(1000.0)
    verifier = TokenVerifier(KeyStore(fetch, ttl_s=60, max_stale_s=600, clock=clock))
    await verifier.verify(signer.token())
    state["up"] = False
    clock.now += 120
    assert (await verifier.verify(signer.token())).role == "customer"
    clock.now += 600
    with pytest.raises(KeysUnavailable):
        await verifier.verify(signer.token())


async def test_a_key_set_without_ed25519_keys_is_unusable() -> None:
    async def fetch() -> dict:
        return {"keys": [{"kty": "oct", "kid": "key-1", "k": "c2VjcmV0"}]}

    verifier = TokenVerifier(KeyStore(fetch, clock=ManualClock(1000.0)))
    with pytest.raises(KeysUnavailable):
        await verifier.verify(Signer().token())


class DecodeCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import jwt

        self.calls = 0
        decode = jwt.decode

        def counted(*args: object, **kwargs: object) -> object:
            self.calls += 1
            return decode(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(jwt, "decode", counted)


async def test_a_verified_token_is_remembered_until_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = Signer()
    now = {"t": time.time()}
    verifier = TokenVerifier(
        KeyStore(_serving({"doc": jwks(signer)}), clock=ManualClock(1000.0)), wall_clock=lambda: now["t"]
    )
    decodes = DecodeCounter(monkeypatch)
    token = signer.token("technical_worker", sub="7", exp=int(now["t"]) + 60)

    first = await verifier.verify(token)
    again = await verifier.verify(token)
    assert again == first
    assert decodes.calls == 1, "the second presentation is not checked again"

    now["t"] += 60 + verifier.leeway_s
    await verifier.verify(token)
    assert decodes.calls == 2, "past its expiry the token is checked in full again (and refused there)"


async def test_a_remembered_token_is_refused_once_its_key_is_no_longer_published() -> None:
    old, new = Signer("old"), Signer("new")
    published = {"doc": jwks(old)}
    clock = ManualClock(1000.0)
    keys = KeyStore(_serving(published), ttl_s=60, clock=clock)
    verifier = TokenVerifier(keys)
    token = old.token("senior_management")
    assert (await verifier.verify(token)).role == "senior_management"

    published["doc"] = jwks(new)
    clock.now += 61
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_only_the_most_recent_tokens_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = Signer()
    verifier = TokenVerifier(KeyStore(_serving({"doc": jwks(signer)}), clock=ManualClock(1000.0)), cache_size=2)
    decodes = DecodeCounter(monkeypatch)
    tokens = [signer.token(sub=str(n)) for n in range(3)]
    for token in tokens:
        await verifier.verify(token)
    await verifier.verify(tokens[2])
    assert decodes.calls == 3
    await verifier.verify(tokens[0])
    assert decodes.calls == 4, "the oldest token was forgotten and is checked again"


def _serving(published: dict) -> Callable[[], Awaitable[dict]]:
    """Serves `published["doc"]`, which a test may replace."""

    async def fetch() -> dict:
        return published["doc"]

    return fetch


async def test_a_token_revoked_after_it_was_first_accepted_is_refused_from_then_on() -> None:
    signer = Signer()
    revocations = Revocations()
    keys = KeyStore(lambda: _document(signer), clock=ManualClock(1000.0))
    verifier = TokenVerifier(keys, revocation=revocations)
    token = signer.token("technical_worker", sub="42", gen=0, sid="S1")
    later_login = signer.token("technical_worker", sub="42", gen=1, sid="S2")
    assert (await verifier.verify(token)).user_id == "42"  # now remembered

    now = datetime.now(UTC)
    revocations.apply(
        account_event(
            "account.disabled",
            user_id="42",
            occurred_at=now,
            token_generation=1,
            revoked_sessions=(("S1", now + timedelta(minutes=6)),),
            role="technical_worker",
            disabled=True,
        )
    )
    with pytest.raises(InvalidToken, match="revoked"):
        await verifier.verify(token)
    assert (await verifier.verify(later_login)).user_id == "42"


async def _document(signer: Signer) -> dict:
    return jwks(signer)
