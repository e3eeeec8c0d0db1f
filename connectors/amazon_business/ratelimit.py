"""Amazon's usage plans as token buckets shared by every process.

Amazon throttles each operation per *party* (application x consented customer) with a token
bucket: ``rate`` tokens per second flow into a bucket of ``burst``; a request takes a token or is
answered 429. Celery's own ``rate_limit`` is per worker process and cannot express that, so the
bucket lives in Redis, updated atomically by a Lua script on Redis's own clock, and every worker
process draws from the same one.

A caller *reserves* a token: when the bucket is empty but the next token is at most ``max_wait``
seconds away, the token is booked (the bucket goes negative) and the caller is told how long to
wait before sending; nobody else can take it meanwhile, so a handful of processes share the plan
without polling and without overshooting. When the wait would be longer, nothing is booked and the
wait is returned as a hint: a Celery task retries with that countdown instead of sleeping.

Client buckets keep one token of headroom below Amazon's burst (``headroom``), so that network
jitter between our clock and Amazon's never turns a granted request into a 429.

Without Redis, :class:`LocalRateLimiter` keeps the same buckets in process memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from connectors.amazon_business.operations import OPERATIONS, UsagePlan

if TYPE_CHECKING:
    from redis import Redis


@dataclass(frozen=True, slots=True)
class Reservation:
    """The answer of a bucket: ``granted`` with a ``wait`` before sending, or a retry hint."""

    granted: bool
    wait: float


class RateLimiter(Protocol):
    """What the transport needs from a limiter."""

    def reserve(self, operation: str, max_wait: float) -> Reservation:
        """Book a token for ``operation`` if one is free within ``max_wait`` seconds."""
        ...

    def report_limit(self, operation: str, rate: float) -> None:
        """Amazon said (``x-amzn-RateLimit-Limit``) the plan's rate is ``rate``."""
        ...


class PlanBook:
    """The usage plan in force for each operation: defaults, overrides, and what Amazon reports."""

    def __init__(self, overrides: Mapping[str, UsagePlan] | None = None, headroom: int = 1):
        self._overrides = dict(overrides or {})
        self._headroom = headroom

    def plan(self, operation: str) -> UsagePlan:
        """The configured plan (an override, else Amazon's documented default)."""
        if operation in self._overrides:
            return self._overrides[operation]
        return OPERATIONS[operation].plan

    def client_burst(self, operation: str) -> int:
        """The burst our side uses: the plan's, less the jitter headroom (never below 1)."""
        return max(1, self.plan(operation).burst - self._headroom)


# KEYS[1] bucket hash, KEYS[2] learned rate. ARGV: rate/s, burst, max_wait_ms, ttl_ms.
# Returns {granted (0/1), wait in microseconds}.
_RESERVE_LUA = """
local rate = tonumber(ARGV[1])
local learned = tonumber(redis.call('GET', KEYS[2]) or '')
if learned and learned > 0 and learned < rate then rate = learned end
local burst = tonumber(ARGV[2])
local max_wait_us = tonumber(ARGV[3]) * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ts = now
end
local granted = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  granted = 1
else
  wait = math.ceil((1 - tokens) * 1000000 / rate)
  if wait <= max_wait_us then
    tokens = tokens - 1
    granted = 1
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return {granted, wait}
"""

LEARNED_RATE_TTL_SECONDS = 3600


class RedisRateLimiter:
    """Token buckets in Redis, keyed ``abrecon:rl:{party}:{operation}``, shared by all workers."""

    def __init__(
        self,
        redis: Redis,
        party: str,
        plans: PlanBook | None = None,
        key_prefix: str = "abrecon:rl",
    ) -> None:
        self._redis = redis
        self._party = party
        self._plans = plans or PlanBook()
        self._prefix = key_prefix
        self._script = redis.register_script(_RESERVE_LUA)

    def _keys(self, operation: str) -> list[str]:
        base = f"{self._prefix}:{self._party}:{operation}"
        return [base, f"{base}:learned-rate"]

    def reserve(self, operation: str, max_wait: float) -> Reservation:
        plan = self._plans.plan(operation)
        burst = self._plans.client_burst(operation)
        ttl_ms = int((burst / plan.rate + 60) * 1000)
        granted, wait_us = self._script(
            keys=self._keys(operation),
            args=[repr(plan.rate), burst, int(max_wait * 1000), ttl_ms],
        )
        return Reservation(bool(granted), int(wait_us) / 1_000_000)

    def report_limit(self, operation: str, rate: float) -> None:
        if 0 < rate < self._plans.plan(operation).rate:
            self._redis.set(self._keys(operation)[1], repr(rate), ex=LEARNED_RATE_TTL_SECONDS)

    def reset(self, operation: str) -> None:
        """Forget the bucket and any learned rate (tests and benchmarks)."""
        self._redis.delete(*self._keys(operation))


class LocalRateLimiter:
    """The same buckets in process memory, for a single process without Redis."""

    def __init__(
        self, plans: PlanBook | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._plans = plans or PlanBook()
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._learned: dict[str, float] = {}

    def reserve(self, operation: str, max_wait: float) -> Reservation:
        plan = self._plans.plan(operation)
        rate = min(plan.rate, self._learned.get(operation, plan.rate))
        burst = self._plans.client_burst(operation)
        with self._lock:
            now = self._clock()
            tokens, ts = self._buckets.get(operation, (float(burst), now))
            tokens = min(float(burst), tokens + max(0.0, now - ts) * rate)
            if tokens >= 1:
                self._buckets[operation] = (tokens - 1, now)
                return Reservation(True, 0.0)
            wait = (1 - tokens) / rate
            if wait <= max_wait:
                self._buckets[operation] = (tokens - 1, now)
                return Reservation(True, wait)
            self._buckets[operation] = (tokens, now)
            return Reservation(False, wait)

    def report_limit(self, operation: str, rate: float) -> None:
        if 0 < rate < self._plans.plan(operation).rate:
            with self._lock:
                self._learned[operation] = rate


class UnlimitedRateLimiter:
    """No client-side limiting (``ABRECON_RATE_LIMITING=false``): Amazon's 429s still apply."""

    def reserve(self, operation: str, max_wait: float) -> Reservation:
        return Reservation(True, 0.0)

    def report_limit(self, operation: str, rate: float) -> None:
        return None
