"""The broker loses everything in the middle of a job (Redis restarted without persistence).

Mid-way through the documents stage the test empties the broker's Redis db and drops every
connection to it, as a Redis restart does: the queued messages are gone, and so are the ones the
worker had reserved (Celery discards them when its connection breaks, since they can no longer
be acknowledged), along with the rate-limit buckets and cached access tokens kept there. Only
the database still knows the job: the sweep must find the stage overdue and resume it, and the
job must end exactly as a clean run does, with one createReport per document.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from connectors.amazon_business.operations import UsagePlan
from connectors.sandbox.scenario import Scenario
from tests.pipeline.conftest import Configure, SandboxFactory
from tests.pipeline.support import (
    FAST_PLANS,
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

#: createReport at ten a second: the documents stage takes long enough to be interrupted.
PACED_PLANS = {**FAST_PLANS, "createReport": UsagePlan(10.0, 5)}
SANDBOX_PLANS = {**FAST_PLANS, "createReport": UsagePlan(15.0, 8)}


def restart_redis_db(client: redis.Redis) -> int:
    """Empty the db and drop every connection to it (only to it); returns how many dropped."""
    db = client.connection_pool.connection_kwargs["db"]
    client.flushdb()
    dropped = 0
    for entry in client.client_list():
        if int(entry["db"]) == db and entry["id"] != str(client.client_id()):
            dropped += int(client.client_kill_filter(_id=entry["id"]))
    return dropped


@pytest.mark.timeout(150)
def test_a_flushed_broker_is_recovered_by_the_sweep(
    database_url: str,
    tmp_path: Path,
    scenario: Scenario,
    make_sandbox: SandboxFactory,
    configure: Configure,
    broker: str,
    broker_db: redis.Redis,
    refresh_token: str,
    clean_rows: dict[str, dict[tuple[Any, ...], Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = make_sandbox(scenario, usage_plans=SANDBOX_PLANS, report_processing_seconds=1.0)
    settings = pipeline_settings(
        sandbox.url,
        database_url,
        tmp_path / "data",
        refresh_token,
        broker,
        usage_plans=PACED_PLANS,
        stage_grace_seconds=3.0,
        lease_seconds=5.0,
    )
    app, ctx = configure(settings)
    engine, party = ctx.engine, ctx.party
    caplog.set_level(logging.WARNING, logger="worker.tasks")

    with running_worker(app):
        job_id = start_job(app, ctx)
        deadline = time.monotonic() + 60
        while True:
            states = document_states(engine, party)
            if states["requested"] + states["done"] >= 10 and states["pending"] >= 10:
                break
            assert time.monotonic() < deadline, (
                f"no documents in flight: {describe(engine, job_id)}"
            )
            time.sleep(0.05)
        assert restart_redis_db(broker_db) >= 1
        assert stages(engine, job_id)["documents"].status == "running"

        job = wait_for_job(
            engine, job_id, timeout=90, tick=lambda: app.send_task("abrecon.sweep"), every=1.0
        )

    assert job.status == "done", describe(engine, job_id)
    assert "is overdue; enqueued again" in caplog.text
    assert_matches_scenario(engine, party, scenario)
    assert_same_rows(canonical_rows(engine, party), clean_rows)
    assert_one_report_per_document(sandbox, engine, party)
