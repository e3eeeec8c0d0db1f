"""Fixtures of the pipeline tests: a real Redis broker, sandboxes over HTTP, a worker's settings.

* ``broker``: the URL of a Redis db dedicated to this test run, flushed before and after each
  test; only that db is ever flushed. The db is ``ABRECON_TEST_PIPELINE_REDIS_URL`` if set, else
  the first of :data:`~tests.pipeline.support.CANDIDATE_DBS` that holds no key and has no client
  when the session starts (another engineer's worker may be consuming some db). The tests skip,
  with the reason, only when no Redis answers.
* ``make_sandbox(scenario, plan=None, rule=None, **config)``: a started sandbox (a
  :class:`~tests.pipeline.support.PlannedFaultSandbox`: faults in the calls the test names) with
  generous usage plans, stopped after the test.
* ``configure(settings)``: makes ``settings`` this process's settings (for tasks run by an
  in-process worker) and returns a Celery app on the Redis broker and the context; the
  settings and cached contexts are reset afterwards.
* ``spawn_worker(settings, name)``: a real worker subprocess (``celery ... worker
  --pool=prefork``) configured through ``ABRECON_*`` variables; killed after the test.
* ``clean_rows``: the rows of a clean run over ``scenario``, to compare a troubled run with.
* ``refresh_token``: a fresh one per test, hence a party of the test's own (PostgreSQL tests of
  a module share their database).

``database_url`` (SQLite and PostgreSQL, schema at head) comes from tests/conftest.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from connectors.sandbox.generator import generate_scenario
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import SandboxConfig
from tests.pipeline.support import (
    CANDIDATE_DBS,
    FAST_PLANS,
    REDIS_SERVER,
    FaultPlan,
    FaultRule,
    PlannedFaultSandbox,
    WorkerProcess,
    run_clean_job,
    start_worker_process,
)
from worker.app import create_app
from worker.services.context import Context, get_context, reset_contexts, use_settings
from worker.settings import Settings

SandboxFactory = Callable[..., PlannedFaultSandbox]
Configure = Callable[[Settings], tuple[Celery, Context]]


@pytest.fixture(scope="session")
def broker_db() -> redis.Redis:
    """A client of the Redis db the pipeline tests own for this run."""
    configured = os.environ.get("ABRECON_TEST_PIPELINE_REDIS_URL")
    server = redis.Redis.from_url(configured or REDIS_SERVER, socket_connect_timeout=2)
    try:
        server.ping()
    except redis.ConnectionError as error:
        pytest.skip(f"no Redis answers at {configured or REDIS_SERVER} ({error})")
    if configured:
        return server
    busy = {int(client["db"]) for client in server.client_list()}
    keyspace = server.info("keyspace")
    for db in CANDIDATE_DBS:
        if db not in busy and f"db{db}" not in keyspace:
            return redis.Redis.from_url(f"{REDIS_SERVER}/{db}", socket_connect_timeout=2)
    pytest.fail(f"every Redis db of {CANDIDATE_DBS} is in use: set ABRECON_TEST_PIPELINE_REDIS_URL")


def _url(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{kwargs['db']}"


@pytest.fixture
def broker(broker_db: redis.Redis) -> Iterator[str]:
    """The broker URL, its db empty at the start and at the end of the test."""
    url = _url(broker_db)
    broker_db.flushdb()
    yield url
    broker_db.flushdb()


@pytest.fixture
def refresh_token() -> str:
    return f"Atzr|pipeline-{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    """30 orders over 90 days: about 50 transactions, 85 line items and 50 documents."""
    return generate_scenario(30, 5)[0]


@pytest.fixture(scope="session")
def clean_rows(
    broker_db: redis.Redis, scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[tuple[Any, ...], Any]]:
    """The rows of a clean run over ``scenario`` (see :func:`run_clean_job`), made once."""
    broker_db.flushdb()
    try:
        return run_clean_job(scenario, _url(broker_db), tmp_path_factory.mktemp("clean-run"))
    finally:
        broker_db.flushdb()


@pytest.fixture
def make_sandbox() -> Iterator[SandboxFactory]:
    """``make_sandbox(scenario, plan, rule, **config)``: a started sandbox, stopped after the
    test."""
    with ExitStack() as servers:

        def make(
            scenario: Scenario,
            plan: FaultPlan | None = None,
            rule: FaultRule | None = None,
            **overrides: Any,
        ) -> PlannedFaultSandbox:
            config: dict[str, Any] = {
                "usage_plans": dict(FAST_PLANS),
                "report_processing_seconds": 0.3,
                "seed": 3,
                **overrides,
            }
            sandbox = PlannedFaultSandbox(scenario, SandboxConfig(**config), plan, rule)
            servers.enter_context(sandbox)
            return sandbox

        yield make


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Callable[[Settings, str], WorkerProcess]]:
    """``spawn_worker(settings, name)``: a worker subprocess; all are killed after the test."""
    started: list[WorkerProcess] = []

    def spawn(settings: Settings, name: str) -> WorkerProcess:
        worker = start_worker_process(settings, tmp_path / f"worker-{name}.log", name)
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.kill()


@pytest.fixture
def configure(broker: str) -> Iterator[Configure]:
    """``configure(settings)``: this process's settings, a Celery app and the context."""

    def apply(settings: Settings) -> tuple[Celery, Context]:
        assert settings.effective_broker_url == broker
        use_settings(settings)
        return create_app(settings), get_context()

    yield apply
    use_settings(None)
    reset_contexts()
