"""The transport against a sandbox injecting each kind of fault, over real HTTP."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from connectors.amazon_business.errors import (
    RateLimitWaitError,
    RetryableError,
    ServerError,
    ServiceUnavailableError,
    ThrottledError,
    TransportError,
)
from connectors.amazon_business.models import OrderLineItem
from connectors.amazon_business.operations import UsagePlan
from connectors.amazon_business.transport import backoff_wait, suggested_wait
from connectors.sandbox.faults import FaultSpec
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import DOWNLOAD_OPERATION, SandboxServer
from tests.connectors.conftest import Party, SandboxClientFactory, SandboxFactory, client_for

START, END = datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 20, tzinfo=UTC)
#: The generated scenario's whole feed-date range.
ALL = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        ("429=1", ThrottledError, 429),
        ("500=1", ServerError, 500),
        ("503=1", ServiceUnavailableError, 503),
    ],
)
def test_error_statuses_become_typed_retryable_errors(
    sandbox_client: SandboxClientFactory, fault: str, error: type[RetryableError], status: int
) -> None:
    client, sandbox = sandbox_client(faults=FaultSpec.parse(fault))
    with pytest.raises(error) as caught:
        client.reconciliation.get_transactions_page(START, END)
    exc = caught.value
    assert exc.status == status and exc.operation == "getTransactions"
    assert exc.request_id and exc.request_id in str(exc)
    assert exc.code and exc.retry_after > 0
    assert len(sandbox.request_log("getTransactions")) == 1  # a status is never retried silently


def test_a_dropped_post_is_not_resent_behind_the_callers_back(
    sandbox_client: SandboxClientFactory,
) -> None:
    client, sandbox = sandbox_client(faults=FaultSpec.parse("drop=1"))
    item = OrderLineItem(order_id="1", order_line_item_id="2", shipment_id="3")
    with pytest.raises(TransportError):
        list(client.reconciliation.get_invoice_details([item]))
    assert len(sandbox.request_log("getInvoiceDetailsByOrderLineItems")) == 1


@pytest.mark.parametrize(
    ("fault", "config", "message", "sent"),
    [
        # A dropped GET is retried by urllib3, then reported.
        ("drop=1", {"connection_retries": 2}, "the connection was dropped", 3),
        ("truncate=1", {}, "cut short", None),
        (
            "slow=1,slow_seconds=1.5",
            {"read_timeout": 0.3, "connection_retries": 0},
            "timed out",
            None,
        ),
    ],
    ids=["dropped-get", "truncated-body", "slow-answer"],
)
def test_a_broken_exchange_is_a_transport_error(
    make_sandbox: SandboxFactory,
    scenario: Scenario,
    party: Party,
    redis_client: redis.Redis,
    fault: str,
    config: dict[str, Any],
    message: str,
    sent: int | None,
) -> None:
    sandbox = make_sandbox(scenario, faults=FaultSpec.parse(fault))
    client = client_for(sandbox, party, redis_client, **config)
    with pytest.raises(TransportError, match=message):
        client.reconciliation.get_transactions_page(START, END)
    if sent is not None:
        assert len(sandbox.request_log("getTransactions")) == sent


def test_blocking_mode_rides_out_faults_to_the_same_result(
    make_sandbox: SandboxFactory,
    scenario: Scenario,
    party: Party,
    redis_client: redis.Redis,
) -> None:
    clean = make_sandbox(scenario, transactions_page_size=4)
    expected = [
        t.transaction_id
        for t in client_for(clean, party, redis_client).reconciliation.iter_transactions(*ALL)
    ]
    faulty = make_sandbox(
        scenario,
        faults=FaultSpec.parse("429=0.15,500=0.1,503=0.1,drop=0.1,truncate=0.1"),
        seed=5,
        transactions_page_size=4,
    )
    client = client_for(faulty, party, redis_client, blocking=True, blocking_max_wait=60.0)
    client.transport._sleep = lambda seconds: None  # the waits are tested below; keep it fast
    got = [t.transaction_id for t in client.reconciliation.iter_transactions(*ALL)]
    assert got == expected and expected
    assert any(e.fault for e in faulty.request_log())


def test_an_empty_bucket_asks_the_task_to_come_back_later(
    sandbox: SandboxServer, party: Party, redis_client: redis.Redis
) -> None:
    client = client_for(
        sandbox,
        party,
        redis_client,
        usage_plans={"getTransactions": UsagePlan(0.01, 2)},
        max_inline_wait=1.0,
    )
    client.reconciliation.get_transactions_page(START, END)
    with pytest.raises(RateLimitWaitError) as caught:
        client.reconciliation.get_transactions_page(START, END)
    assert 90 < caught.value.retry_after <= 100
    assert len(sandbox.request_log("getTransactions")) == 1


def test_suggested_and_backoff_waits() -> None:
    plan = UsagePlan(0.0167, 15)
    assert suggested_wait(429, plan, None) == pytest.approx(1 / 0.0167)
    assert suggested_wait(429, UsagePlan(2, 10), None) == 1.0
    assert suggested_wait(503, plan, 7.0) == 7.0
    assert suggested_wait(500, plan, None) == 2.0
    waits = [backoff_wait(n, 2.0, cap=30.0) for n in range(1, 12)]
    assert all(2.0 <= w <= 30.0 * 1.25 for w in waits) and waits[-1] >= 30.0


def test_the_rate_limit_header_lowers_the_shared_rate(
    make_sandbox: SandboxFactory,
    scenario: Scenario,
    party: Party,
    redis_client: redis.Redis,
) -> None:
    # The sandbox enforces (and reports) 5/s while our configuration believes in 50/s.
    sandbox = make_sandbox(scenario, usage_plans={"getTransactions": UsagePlan(5.0, 3)})
    client = client_for(
        sandbox, party, redis_client, usage_plans={"getTransactions": UsagePlan(50.0, 3)}
    )
    client.reconciliation.get_transactions_page(START, END)
    learned = redis_client.get(f"abrecon:rl:{party.name}:getTransactions:learned-rate")
    assert learned is not None and float(learned) == 5.0


def test_no_secret_in_debug_logs(
    make_sandbox: SandboxFactory,
    scenario: Scenario,
    party: Party,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = make_sandbox(
        scenario, report_processing_seconds=0.0, faults=FaultSpec.parse("500=0.2"), seed=2
    )
    client = client_for(sandbox, party, redis_client, blocking=True)
    client.transport._sleep = lambda seconds: None
    with caplog.at_level(logging.DEBUG):
        client.transport.auth.invalidate(client.transport.auth.access_token())
        list(client.reconciliation.iter_transactions(START, END))
        number = next(iter(scenario.documents))
        report_id = client.documents.create_report(client.documents.invoice_report_options(number))
        report = client.documents.wait_for_report(report_id, timeout=10, poll_interval=0.05)
        assert report.report_document_id
        document = client.documents.get_report_document(report.report_document_id)
        client.documents.download(document)
    token = client.transport.auth.access_token()
    signature = document.url.split("X-Amz-Signature=")[1].split("&")[0]
    assert sandbox.request_log(DOWNLOAD_OPERATION)
    assert "urllib3" in caplog.text  # the request lines were logged at DEBUG...
    for secret in (token, party.refresh_token, "test-secret", signature):
        assert secret not in caplog.text  # ...without any secret
