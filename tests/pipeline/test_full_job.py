"""A whole job through a real Celery worker on Redis, against a faulty sandbox over HTTP.

The sandbox injects throttling, 5xx answers, dropped connections and truncated bodies into every
kind of call the job makes (:data:`PLAN`); the job must still store exactly what the sandbox
holds, and running the same window again must change no row and ask Amazon for no document a
second time. createReport meets each way an answer gets lost: dropped and truncated after the
report was made (resolved by listing the reports), a 500 before anything happened (resolved as
never received, then sent once), a 429 (certainly not received).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sandbox.faults import FaultKind
from connectors.sandbox.generator import generate_scenario
from connectors.sandbox.scenario import Scenario
from tests.pipeline.conftest import Configure, SandboxFactory
from tests.pipeline.support import (
    RECONCILIATION_ONLY,
    FaultPlan,
    assert_matches_scenario,
    assert_one_report_per_document,
    describe,
    dump_tables,
    pipeline_settings,
    running_worker,
    stages,
    start_job,
    wait_for_job,
)

DROP, TRUNCATE = FaultKind.DROP, FaultKind.TRUNCATE
E429, E500, E503 = FaultKind.THROTTLED, FaultKind.INTERNAL_ERROR, FaultKind.UNAVAILABLE
PLAN: FaultPlan = {
    "getTransactions": {2: TRUNCATE},
    "getInvoiceDetailsByOrderLineItems": {2: DROP},
    "getOrdersByOrderId": {3: E429, 9: E503},
    "createReport": {3: DROP, 9: TRUNCATE, 14: E500, 20: E429},
    "getReport": {6: E429, 18: DROP},
    "getReportDocument": {5: E503},
    "downloadDocument": {4: TRUNCATE, 10: DROP},
}


@pytest.mark.timeout(240)
def test_full_job_stores_the_scenario_and_a_rerun_changes_nothing(
    database_url: str,
    tmp_path: Path,
    scenario: Scenario,
    make_sandbox: SandboxFactory,
    configure: Configure,
    refresh_token: str,
    broker: str,
) -> None:
    sandbox = make_sandbox(scenario, PLAN)
    settings = pipeline_settings(
        sandbox.url, database_url, tmp_path / "data", refresh_token, broker
    )
    app, ctx = configure(settings)
    engine, party = ctx.engine, ctx.party

    with running_worker(app):
        first = start_job(app, ctx)
        job = wait_for_job(engine, first, timeout=180)
        assert job.status == "done", describe(engine, first)
        assert job.error == ""
        assert {s.status for s in stages(engine, first).values()} == {"done"}
        assert_matches_scenario(engine, party, scenario, analytics=True)
        assert_one_report_per_document(sandbox, engine, party)
        planned = sum(len(calls) for calls in PLAN.values())
        assert len(sandbox.injected) == planned, sandbox.injected

        before = dump_tables(engine, party)
        creates = len(sandbox.request_log("createReport"))
        second = start_job(app, ctx)
        again = wait_for_job(engine, second, timeout=60)
        assert again.status == "done", describe(engine, second)

    assert dump_tables(engine, party) == before
    assert len(sandbox.request_log("createReport")) == creates
    assert_one_report_per_document(sandbox, engine, party)
    counts = stages(engine, second)["documents"].counts or {}
    assert (counts["done"], counts["unavailable"]) == (len(scenario.documents), 0)


@pytest.mark.timeout(120)
def test_without_the_analytics_role_orders_are_skipped_with_a_reason(
    database_url: str,
    tmp_path: Path,
    make_sandbox: SandboxFactory,
    configure: Configure,
    refresh_token: str,
    broker: str,
) -> None:
    scenario = generate_scenario(8, 21)[0]
    sandbox = make_sandbox(scenario)
    settings = pipeline_settings(
        sandbox.url,
        database_url,
        tmp_path / "data",
        refresh_token,
        broker,
        roles=RECONCILIATION_ONLY,
    )
    app, ctx = configure(settings)

    with running_worker(app):
        job_id = start_job(app, ctx)
        job = wait_for_job(ctx.engine, job_id, timeout=90)

    assert job.status == "done", describe(ctx.engine, job_id)
    orders = stages(ctx.engine, job_id)["orders"]
    assert orders.status == "skipped"
    assert "Amazon Business Analytics role is not granted" in (orders.errors or [])[0]["reason"]
    assert_matches_scenario(ctx.engine, ctx.party, scenario, analytics=False)
    assert not sandbox.request_log("getOrdersByOrderId")
    assert_one_report_per_document(sandbox, ctx.engine, ctx.party)
