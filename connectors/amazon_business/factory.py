"""Wiring: a :class:`Transport` with its auth, token cache and rate limiter from a config."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from connectors.amazon_business.auth import LocalTokenCache, LwaAuth, RedisTokenCache, TokenCache
from connectors.amazon_business.ratelimit import (
    LocalRateLimiter,
    PlanBook,
    RateLimiter,
    RedisRateLimiter,
    UnlimitedRateLimiter,
)
from connectors.amazon_business.redaction import register_secret
from connectors.amazon_business.transport import ConnectionConfig, Transport, shared_session

if TYPE_CHECKING:
    from redis import Redis

# Without Redis, processes keep their tokens and buckets here, one of each per process.
_local_cache = LocalTokenCache()
_local_limiters: dict[tuple[str, tuple[tuple[str, float, int], ...]], LocalRateLimiter] = {}


def build_transport(
    config: ConnectionConfig,
    *,
    redis: Redis | None = None,
    blocking: bool = False,
    session: requests.Session | None = None,
) -> Transport:
    """A transport for ``config``: shared state in ``redis`` when given, else in this process."""
    session = session or shared_session(config.connection_retries)
    register_secret(config.client_secret.get_secret_value())
    register_secret(config.refresh_token.get_secret_value())
    cache: TokenCache = RedisTokenCache(redis) if redis is not None else _local_cache
    auth = LwaAuth(
        token_url=config.lwa_token_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        refresh_token=config.refresh_token,
        region=config.region.value,
        cache=cache,
        session=session,
        timeout=config.timeout,
    )
    plans = PlanBook(config.usage_plans)
    limiter: RateLimiter
    if not config.rate_limiting:
        limiter = UnlimitedRateLimiter()
    elif redis is not None:
        limiter = RedisRateLimiter(redis, config.party, plans)
    else:
        key = (
            config.party,
            tuple(sorted((k, v.rate, v.burst) for k, v in config.usage_plans.items())),
        )
        limiter = _local_limiters.setdefault(key, LocalRateLimiter(plans))
    return Transport(config, auth=auth, limiter=limiter, session=session, blocking=blocking)
