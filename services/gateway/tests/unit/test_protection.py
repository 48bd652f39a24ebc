import asyncio

from supply_common.testing.clock import ManualClock
from supply_gateway.domain.breaker import CircuitBreaker, State
from supply_gateway.domain.concurrency import ConcurrencyCap
from supply_gateway.domain.headers import client_response_headers, upstream_request_headers
from supply_gateway.domain.ratelimit import Limit, RateLimiter


def test_the_bucket_allows_a_burst_then_refuses_with_a_retry_after() -> None:
    clock = ManualClock()
    limiter = RateLimiter(Limit.per_minute(10, burst=5), clock=clock)
    assert all(limiter.check("1.2.3.4").allowed for _ in range(5))
    refused = limiter.check("1.2.3.4")
    assert not refused.allowed
    assert refused.retry_after_s == 6
    assert limiter.check("5.6.7.8").allowed, "other clients keep their own bucket"
    clock.now += 6
    assert limiter.check("1.2.3.4").allowed
    assert not limiter.check("1.2.3.4").allowed


def test_the_bucket_refills_up_to_the_burst_only() -> None:
    clock = ManualClock()
    limiter = RateLimiter(Limit(1.0, burst=3), clock=clock)
    clock.now += 1000
    assert sum(limiter.check("k").allowed for _ in range(10)) == 3


def test_the_limiter_forgets_the_oldest_keys_beyond_its_bound() -> None:
    limiter = RateLimiter(Limit(1.0, burst=1), max_keys=2, clock=ManualClock())
    for key in ("a", "b", "c"):
        limiter.check(key)
    assert limiter.check("a").allowed, "a was forgotten, so it starts with a full bucket"
    assert not limiter.check("c").allowed


def test_the_breaker_opens_after_consecutive_failures_and_half_opens_after_the_cooldown() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=5, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    breaker.record_success()
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is State.OPEN
    assert not breaker.allow()
    assert breaker.retry_after_s() == 5
    clock.now += 5
    assert breaker.state is State.HALF_OPEN
    assert breaker.allow(), "one trial call"
    assert not breaker.allow(), "only one trial at a time"
    breaker.record_failure()
    assert breaker.state is State.OPEN
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is State.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_client_identity_headers_never_reach_an_upstream() -> None:
    client = [
        ("X-User-Role", "senior_management"),
        ("x-user-id", "1"),
        ("X-User-Email", "boss@example.com"),
        ("X-User-Anything", "x"),
        ("Authorization", "Bearer abc"),
        ("Cookie", "sg_access=abc"),
        ("Content-Type", "application/json"),
        ("If-Match", '"3"'),
        ("Idempotency-Key", "k1"),
        ("Host", "evil"),
    ]
    headers = upstream_request_headers(client, "rid-1", "Bearer verified")
    assert headers == {
        "content-type": "application/json",
        "if-match": '"3"',
        "idempotency-key": "k1",
        "x-request-id": "rid-1",
        "authorization": "Bearer verified",
    }


def test_anonymous_requests_carry_no_identity_at_all() -> None:
    headers = upstream_request_headers([("X-User-Role", "senior_management"), ("Authorization", "Bearer x")], "rid")
    assert not any(name.startswith("x-user-") or name == "authorization" for name in headers)


def test_only_listed_response_headers_come_back() -> None:
    back = client_response_headers(
        [("ETag", '"2"'), ("Location", "/sales/1"), ("Set-Cookie", "x=y"), ("Server", "uvicorn"), ("Retry-After", "3")]
    )
    assert back == [("etag", '"2"'), ("location", "/sales/1"), ("retry-after", "3")]


async def test_the_cap_refuses_beyond_the_limit_per_key_and_hands_slots_to_waiters_in_turn() -> None:
    cap = ConcurrencyCap(2)
    assert cap.try_acquire("a")
    assert cap.try_acquire("a")
    assert not cap.try_acquire("a")
    assert cap.try_acquire("b"), "each key has its own slots"
    assert not await cap.acquire("a", timeout_s=0.01), "no slot came back in time"
    first = asyncio.create_task(cap.acquire("a", timeout_s=5))
    second = asyncio.create_task(cap.acquire("a", timeout_s=5))
    await asyncio.sleep(0)
    assert not cap.try_acquire("a"), "a newcomer does not jump the queue"
    cap.release("a")
    assert await first
    assert not second.done()
    cap.release("a")
    assert await second
    for _ in range(2):
        cap.release("a")
    cap.release("b")
    assert cap.in_flight("a") == cap.in_flight("b") == 0
    assert (cap._held, cap._waiting) == ({}, {}), "keys with nothing in flight are forgotten"
