"""A worker killed with SIGKILL in the middle of a job: nothing lost, nothing done twice.

The workers are real ``celery worker --pool=prefork --concurrency=2`` processes configured by
``ABRECON_*`` variables alone; the sandbox runs in the test process and serves them over HTTP.
Reports take two seconds and createReport is paced at ten a second, so when the first worker's
whole process group is killed some documents are still to be requested, some are in flight (a
createReport may be committed as intended and not yet sent, or sent and not yet answered) and
some are done. A second worker plus the periodic sweep (sent by the test, as beat would) must
finish the job with exactly the rows of a clean run and one createReport per document.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from connectors.amazon_business.operations import UsagePlan
from connectors.sandbox.faults import FaultKind
from connectors.sandbox.generator import generate_scenario
from connectors.sandbox.scenario import Scenario
from tests.pipeline.conftest import Configure, SandboxFactory
from tests.pipeline.support import (
    FAST_PLANS,
    WorkerProcess,
    assert_matches_scenario,
    assert_one_report_per_document,
    assert_same_rows,
    canonical_rows,
    describe,
    document_states,
    pipeline_settings,
    running_worker,
    stages,
    start_job,
    wait_for_job,
)
from worker.app import create_app
from worker.services.context import get_context, reset_contexts
from worker.services.leases import acquire_lease, release_lease
from worker.settings import Settings
from worker.store.engine import make_engine
from worker.store.tables import LeaseRow

#: createReport at ten a second: the documents stage takes long enough to be interrupted.
PACED_PLANS = {**FAST_PLANS, "createReport": UsagePlan(10.0, 5)}
SANDBOX_PLANS = {**FAST_PLANS, "createReport": UsagePlan(15.0, 8)}


@pytest.mark.timeout(180)
def test_a_killed_worker_loses_nothing_and_requests_no_document_twice(
    database_url: str,
    tmp_path: Path,
    scenario: Scenario,
    make_sandbox: SandboxFactory,
    broker: str,
    refresh_token: str,
    clean_rows: dict[str, dict[tuple[Any, ...], Any]],
    spawn_worker: Callable[[Settings, str], WorkerProcess],
) -> None:
    sandbox = make_sandbox(scenario, usage_plans=SANDBOX_PLANS, report_processing_seconds=2.0)
    settings = pipeline_settings(
        sandbox.url,
        database_url,
        tmp_path / "data",
        refresh_token,
        broker,
        usage_plans=PACED_PLANS,
        stage_grace_seconds=3.0,
        lease_seconds=5.0,
        sweep_interval_seconds=1.0,
    )
    app = create_app(settings)  # the test only sends messages; the workers run them
    ctx = get_context(settings)
    engine, party = ctx.engine, ctx.party
    try:
        first = spawn_worker(settings, "first")
        job_id = start_job(app, ctx)

        deadline = time.monotonic() + 60
        while True:
            states = document_states(engine, party)
            if states["requested"] + states["done"] >= 15 and states["pending"] >= 10:
                break
            assert time.monotonic() < deadline, (
                f"no documents in flight: {describe(engine, job_id)}"
            )
            time.sleep(0.05)
        first.kill()
        at_kill = document_states(engine, party)
        assert at_kill["pending"] and at_kill["requested"], at_kill
        assert stages(engine, job_id)["documents"].status == "running"

        second = spawn_worker(settings, "second")
        job = wait_for_job(
            engine, job_id, timeout=120, tick=lambda: app.send_task("abrecon.sweep"), every=1.0
        )
        second.stop()
        assert job.status == "done", describe(engine, job_id)
        assert {s.status for s in stages(engine, job_id).values()} == {"done"}
        assert_matches_scenario(engine, party, scenario)
        assert_same_rows(canonical_rows(engine, party), clean_rows)
        assert_one_report_per_document(sandbox, engine, party)
        # The second worker picked the job up because the sweep found it overdue.
        assert "is overdue; enqueued again" in second.output(), second.output()[-3000:]
    finally:
        reset_contexts()


@pytest.mark.timeout(90)
def test_a_documents_step_that_lost_its_lease_requests_nothing_more(
    database_url: str,
    tmp_path: Path,
    make_sandbox: SandboxFactory,
    configure: Configure,
    broker: str,
    refresh_token: str,
) -> None:
    """The lease serialises a party's createReport calls. A step can outlast it (slow answers,
    a short ABRECON_LEASE_SECONDS) while the sweep hands the stage to another worker, which
    then takes the lease over: the old step must stop requesting, or both pick the same
    pending document. Here "another worker" takes the lease while the third createReport is
    being answered."""
    scenario = generate_scenario(8, 21)[0]
    thief = make_engine(database_url)
    taken: list[int] = []

    def take_lease_on_third_create(operation: str, _request: object) -> FaultKind | None:
        if operation == "createReport" and len(sandbox.request_log("createReport")) == 2:
            with thief.begin() as conn:
                conn.execute(
                    sa.update(LeaseRow)
                    .where(col(LeaseRow.name).startswith("documents:"))
                    .values(
                        holder="another-worker", expires_at=datetime.now(UTC) + timedelta(minutes=1)
                    )
                )
            taken.append(1)
        return None

    sandbox = make_sandbox(scenario, rule=take_lease_on_third_create)
    settings = pipeline_settings(
        sandbox.url, database_url, tmp_path / "data", refresh_token, broker, lease_seconds=30.0
    )
    app, ctx = configure(settings)
    try:
        with running_worker(app):
            job_id = start_job(app, ctx)
            deadline = time.monotonic() + 30
            while not taken:
                assert time.monotonic() < deadline, describe(ctx.engine, job_id)
                time.sleep(0.05)
            time.sleep(0.5)  # the old step had every chance to go on (it sends in ms)
            assert len(sandbox.request_log("createReport")) == 3
            with thief.begin() as conn:  # the other worker is gone; its lease is released
                conn.execute(sa.delete(LeaseRow).where(col(LeaseRow.holder) == "another-worker"))
            job = wait_for_job(ctx.engine, job_id, timeout=60)
    finally:
        thief.dispose()
    assert job.status == "done", describe(ctx.engine, job_id)
    assert_matches_scenario(ctx.engine, ctx.party, scenario)
    assert_one_report_per_document(sandbox, ctx.engine, ctx.party)


def _try_lease(url: str, name: str, answer: Any) -> None:
    engine = make_engine(url)
    answer.put(acquire_lease(engine, name, datetime.now(UTC), 60.0))
    engine.dispose()


def test_forked_pool_processes_do_not_share_a_lease(database_url: str) -> None:
    """Celery's prefork children are forks of one parent that imported everything: a lease
    taken by one child must still exclude its siblings."""
    name = f"documents:fork-{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url)
    try:
        assert acquire_lease(engine, name, datetime.now(UTC), 60.0)
        fork = multiprocessing.get_context("fork")
        answer = fork.Queue()
        child = fork.Process(target=_try_lease, args=(database_url, name, answer))
        child.start()
        child.join(30)
        assert answer.get(timeout=5) is False
        release_lease(engine, name)
    finally:
        engine.dispose()
