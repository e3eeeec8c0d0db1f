"""Fixtures for the connector tests: a real sandbox over HTTP on 127.0.0.1 and a real Redis.

Every test gets its own sandbox (so its request log holds only that test's calls) and its own
*party*: a fresh refresh token, hence a fresh LWA token-cache key and fresh rate-limit buckets in
Redis db 14. Only the keys a test created are deleted afterwards; nothing is flushed.

Usage plans are raised on both sides (the sandbox's buckets and the client's Redis buckets) so
the suite runs in seconds; the plans themselves are tested in tests/core.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
import redis
import requests
from pydantic import SecretStr

from connectors.amazon_business.client import AmazonBusinessClient
from connectors.amazon_business.operations import OPERATIONS, UsagePlan
from connectors.amazon_business.roles import Role
from connectors.amazon_business.transport import ApiResponse, ConnectionConfig, Transport
from connectors.sandbox.generator import generate_scenario
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import SandboxConfig, SandboxServer

REDIS_URL = "redis://127.0.0.1:6379/14"
USER_EMAIL = "buyer@example.com"
#: Generous plans for every operation, on the sandbox and the client alike.
FAST_PLANS: dict[str, UsagePlan] = {name: UsagePlan(200.0, 200) for name in OPERATIONS}

SandboxFactory = Callable[..., SandboxServer]
SandboxClientFactory = Callable[..., tuple[AmazonBusinessClient, SandboxServer]]


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    return client


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    """40 orders over 90 days from 2025-01-06 (about 60 transactions, 100 line items)."""
    generated, _ledger, _truth = generate_scenario(40, 7)
    return generated


@dataclass
class Party:
    """One consented customer of one test: its credentials and the Redis keys it creates."""

    name: str
    refresh_token: str
    redis: redis.Redis

    @property
    def lwa_key(self) -> str:
        digest = hashlib.sha256(self.refresh_token.encode()).hexdigest()
        return f"abrecon:lwa:NA:{digest}"

    def cleanup(self) -> None:
        keys = [self.lwa_key, *self.redis.scan_iter(match=f"abrecon:rl:{self.name}:*")]
        self.redis.delete(*keys)


@pytest.fixture()
def party(redis_client: redis.Redis) -> Iterator[Party]:
    token = uuid.uuid4().hex
    created = Party(f"test-{token[:12]}", f"Atzr|test-{token}", redis_client)
    yield created
    created.cleanup()


@pytest.fixture()
def make_sandbox() -> Iterator[SandboxFactory]:
    """``make_sandbox(scenario, **config)``: a started sandbox, stopped after the test."""
    with ExitStack() as servers:

        def make(scenario: Scenario, **overrides: Any) -> SandboxServer:
            settings: dict[str, Any] = {"usage_plans": dict(FAST_PLANS), "seed": 3, **overrides}
            return servers.enter_context(SandboxServer(scenario, SandboxConfig(**settings)))

        yield make


@pytest.fixture()
def sandbox(make_sandbox: SandboxFactory, scenario: Scenario) -> SandboxServer:
    return make_sandbox(scenario, report_processing_seconds=0.2)


def connection_config(sandbox: SandboxServer, party: Party, **overrides: Any) -> ConnectionConfig:
    """A configuration pointing at ``sandbox`` with every role granted."""
    settings: dict[str, Any] = {
        "api_base_url": sandbox.url,
        "lwa_token_url": f"{sandbox.url}/auth/o2/token",
        "client_id": "amzn1.application-oa2-client.test",
        "client_secret": SecretStr("test-secret"),
        "refresh_token": SecretStr(party.refresh_token),
        "roles": frozenset(Role),
        "user_email": USER_EMAIL,
        "party": party.name,
        "usage_plans": dict(FAST_PLANS),
        "read_timeout": 10.0,
    }
    settings.update(overrides)
    return ConnectionConfig(**settings)


def client_for(
    sandbox: SandboxServer,
    party: Party,
    redis_client: redis.Redis,
    *,
    blocking: bool = False,
    **overrides: Any,
) -> AmazonBusinessClient:
    """A client of ``sandbox`` for ``party`` (``overrides`` as for :func:`connection_config`)."""
    return AmazonBusinessClient.from_config(
        connection_config(sandbox, party, **overrides), redis=redis_client, blocking=blocking
    )


@pytest.fixture()
def sandbox_client(
    make_sandbox: SandboxFactory, scenario: Scenario, party: Party, redis_client: redis.Redis
) -> SandboxClientFactory:
    """``sandbox_client(**config)``: a sandbox of ``scenario`` so configured, and a client of it."""

    def make(**config: Any) -> tuple[AmazonBusinessClient, SandboxServer]:
        sandbox = make_sandbox(scenario, **config)
        return client_for(sandbox, party, redis_client), sandbox

    return make


@pytest.fixture()
def config(sandbox: SandboxServer, party: Party) -> ConnectionConfig:
    return connection_config(sandbox, party)


@pytest.fixture()
def client(config: ConnectionConfig, redis_client: redis.Redis) -> AmazonBusinessClient:
    return AmazonBusinessClient.from_config(config, redis=redis_client)


class ScriptedTransport:
    """Stands in for a :class:`Transport`: answers ``call`` with scripted bodies, in order, and
    records the query of each call (request ids ``rid-1``, ``rid-2``, ...)."""

    def __init__(self, bodies: list[Any]) -> None:
        self.bodies = list(bodies)
        self.queries: list[dict[str, str]] = []

    def call(self, operation_name: str, **kwargs: Any) -> ApiResponse:
        self.queries.append(dict(kwargs.get("query") or {}))
        return ApiResponse(200, self.bodies.pop(0), f"rid-{len(self.queries)}", None)

    def as_transport(self) -> Transport:
        return cast(Transport, self)


@dataclass
class Recorder:
    """Every request a session sent and the answer it got, in order."""

    exchanges: list[tuple[requests.PreparedRequest, requests.Response]] = field(
        default_factory=list
    )


class RecordingAdapter(requests.adapters.HTTPAdapter):
    """A transport adapter that keeps each request and response it carries."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().send(request, **kwargs)
        self.recorder.exchanges.append((request, response))
        return response


@pytest.fixture()
def recorder() -> Recorder:
    return Recorder()
