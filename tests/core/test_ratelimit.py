"""Usage-plan token buckets: in Redis (shared by processes) and in process memory."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import pytest
import redis

from connectors.amazon_business.operations import UsagePlan
from connectors.amazon_business.ratelimit import LocalRateLimiter, PlanBook, RedisRateLimiter

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture()
def r() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    return client


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_local_bucket_burst_then_rate() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(PlanBook({"getTransactions": UsagePlan(2.0, 10)}), clock=clock)
    grants = [limiter.reserve("getTransactions", max_wait=0) for _ in range(12)]
    # burst 10 less one token of headroom
    assert [g.granted for g in grants] == [True] * 9 + [False] * 3
    assert grants[9].wait == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.reserve("getTransactions", max_wait=0).granted
    # a reservation books the next token: the one after it waits a full interval more
    first = limiter.reserve("getTransactions", max_wait=5)
    second = limiter.reserve("getTransactions", max_wait=5)
    assert first.granted and second.granted
    assert first.wait == pytest.approx(0.5)
    assert second.wait == pytest.approx(1.0)


def test_local_bucket_learns_smaller_rate() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(PlanBook({"getTransactions": UsagePlan(2.0, 2)}), clock=clock)
    limiter.report_limit("getTransactions", 0.5)
    limiter.report_limit("getTransactions", 5.0)  # a larger plan never raises ours
    assert limiter.reserve("getTransactions", 0).granted
    refused = limiter.reserve("getTransactions", 0)
    assert not refused.granted and refused.wait == pytest.approx(2.0)


def test_redis_bucket_burst_then_wait(r: redis.Redis) -> None:
    party = f"test-{uuid.uuid4().hex}"
    limiter = RedisRateLimiter(r, party, PlanBook({"createReport": UsagePlan(1.0, 4)}))
    grants = [limiter.reserve("createReport", max_wait=0) for _ in range(4)]
    assert [g.granted for g in grants] == [True, True, True, False]
    assert 0.9 < grants[3].wait <= 1.0
    booked = limiter.reserve("createReport", max_wait=5)
    assert booked.granted and 0.9 < booked.wait <= 1.0
    after = limiter.reserve("createReport", max_wait=5)
    assert after.granted and 1.9 < after.wait <= 2.0
    limiter.reset("createReport")


def test_redis_bucket_learned_rate_is_shared(r: redis.Redis) -> None:
    party = f"test-{uuid.uuid4().hex}"
    plans = PlanBook({"getTransactions": UsagePlan(10.0, 2)})
    one = RedisRateLimiter(r, party, plans)
    two = RedisRateLimiter(r, party, plans)
    one.report_limit("getTransactions", 0.5)
    assert two.reserve("getTransactions", 0).granted
    refused = two.reserve("getTransactions", 0)
    assert not refused.granted and 1.9 < refused.wait <= 2.0
    one.reset("getTransactions")


def _hammer(party: str, until: float, queue: multiprocessing.Queue[list[float]]) -> None:
    limiter = RedisRateLimiter(
        redis.Redis.from_url(REDIS_URL), party, PlanBook({"getTransactions": UsagePlan(20.0, 6)})
    )
    sent: list[float] = []
    while True:
        reservation = limiter.reserve("getTransactions", max_wait=1.0)
        if not reservation.granted:
            continue
        time.sleep(reservation.wait)
        now = time.time()
        if now > until:
            break
        sent.append(now)
    queue.put(sent)


def test_four_processes_share_one_bucket(r: redis.Redis) -> None:
    party = f"test-{uuid.uuid4().hex}"
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[float]] = ctx.Queue()
    start = time.time() + 1.5  # let the children start
    until = start + 2.0
    procs = [ctx.Process(target=_hammer, args=(party, until, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    sent = sorted(t for _ in procs for t in queue.get(timeout=30))
    for p in procs:
        p.join(10)
    span = until - sent[0]
    # never more than the client burst (6 - 1 headroom) plus what the rate refills
    for i, t in enumerate(sent):
        assert i + 1 <= 5 + 20.0 * (t - sent[0]) + 1
    assert len(sent) >= 0.9 * (5 + 20.0 * span) - 2
    RedisRateLimiter(r, party).reset("getTransactions")
