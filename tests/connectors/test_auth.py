"""Login with Amazon: cached, refreshed on expiry and after a 401, single-flight."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from connectors.amazon_business.auth import LocalTokenCache, LwaAuth, RedisTokenCache, cache_ttl
from connectors.amazon_business.errors import AuthError, ConfigurationError
from connectors.amazon_business.transport import ConnectionConfig, shared_session
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import LWA_OPERATION, SandboxServer
from tests.connectors.conftest import REDIS_URL, Party, SandboxClientFactory, connection_config

WINDOW = (datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 8, tzinfo=UTC))


def _auth(config: ConnectionConfig, cache: Any) -> LwaAuth:
    return LwaAuth(
        token_url=config.lwa_token_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        refresh_token=config.refresh_token,
        region="NA",
        cache=cache,
        session=shared_session(),
    )


def _token_requests(sandbox: SandboxServer) -> int:
    return len(sandbox.request_log(LWA_OPERATION))


def test_cache_ttl_stays_below_expiry() -> None:
    assert cache_ttl(3600) == 3300
    assert cache_ttl(100) == 80
    assert all(0 < cache_ttl(n) < n for n in range(2, 5000, 7))


def test_token_is_cached_in_redis_and_refreshed_when_it_expires(
    sandbox_client: SandboxClientFactory, party: Party, redis_client: redis.Redis
) -> None:
    # The sandbox issues tokens that live 2 s; the cache keeps them 1.6 s (80 %).
    client, sandbox = sandbox_client(token_ttl_seconds=2)
    first = client.transport.auth.access_token()
    assert first == client.transport.auth.access_token()
    assert redis_client.get(party.lwa_key) == first.encode()
    assert 0 < redis_client.ttl(party.lwa_key) <= 2
    client.reconciliation.get_transactions_page(*WINDOW)
    assert _token_requests(sandbox) == 1
    time.sleep(2.1)
    client.reconciliation.get_transactions_page(*WINDOW)  # would be a 401 with the old token
    assert _token_requests(sandbox) == 2
    assert client.transport.auth.access_token() != first
    statuses = [e.status for e in sandbox.request_log("getTransactions")]
    assert statuses == [200, 200]


def test_a_401_refreshes_the_token_and_retries_once(
    sandbox_client: SandboxClientFactory, party: Party, redis_client: redis.Redis
) -> None:
    client, sandbox = sandbox_client()
    # A token the cache believes in but Amazon does not know (revoked, or from another sandbox).
    redis_client.set(party.lwa_key, "Atza|revoked-token", ex=600)
    page = client.reconciliation.get_transactions_page(*WINDOW)
    assert page.transactions is not None
    assert [e.status for e in sandbox.request_log("getTransactions")] == [401, 200]
    assert _token_requests(sandbox) == 1
    assert redis_client.get(party.lwa_key) != b"Atza|revoked-token"


def test_wrong_credentials_are_a_clear_error_without_the_secret(
    make_sandbox: Callable[..., SandboxServer], scenario: Scenario, party: Party
) -> None:
    sandbox = make_sandbox(scenario, lwa_client_secret="the-right-secret")
    config = connection_config(sandbox, party, client_secret=SecretStr("a-wrong-secret"))
    auth = _auth(config, LocalTokenCache())
    with pytest.raises(AuthError) as caught:
        auth.access_token()
    text = str(caught.value) + repr(auth)
    assert "a-wrong-secret" not in text and party.refresh_token not in text
    assert caught.value.status in (400, 401)


def test_missing_credentials_are_named() -> None:
    config = ConnectionConfig(client_id="", lwa_token_url="http://127.0.0.1:9/auth/o2/token")
    with pytest.raises(ConfigurationError, match="ABRECON_LWA_CLIENT_ID"):
        _auth(config, LocalTokenCache()).access_token()


def _fetch_token(config: ConnectionConfig, start: float, out: Any) -> None:
    auth = _auth(config, RedisTokenCache(redis.Redis.from_url(REDIS_URL)))
    time.sleep(max(0.0, start - time.time()))
    out.put(auth.access_token())


def test_single_flight_refresh_across_processes(sandbox: SandboxServer, party: Party) -> None:
    config = connection_config(sandbox, party)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start = time.time() + 2.0
    procs = [ctx.Process(target=_fetch_token, args=(config, start, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    tokens = {queue.get(timeout=30) for _ in procs}
    for p in procs:
        p.join(10)
    assert len(tokens) == 1
    assert _token_requests(sandbox) == 1
