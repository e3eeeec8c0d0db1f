"""Reconciliation client against the sandbox: pages, windows, batches, and loop protection."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, cast

import pytest

from connectors.amazon_business.client import AmazonBusinessClient
from connectors.amazon_business.errors import MalformedResponseError, RoleNotGrantedError
from connectors.amazon_business.models import OrderLineItem, ResultType
from connectors.amazon_business.reconciliation import (
    MAX_INVOICE_IDS_PER_CALL,
    MAX_LINE_ITEMS_PER_CALL,
    ReconciliationClient,
    split_windows,
)
from connectors.amazon_business.roles import Role
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import SandboxServer

from .conftest import Party, SandboxClientFactory, ScriptedTransport, client_for

RANGE_START = datetime(2024, 12, 1, tzinfo=UTC)
RANGE_END = datetime(2025, 6, 1, tzinfo=UTC)


def feed_date(transaction: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(transaction["feedDate"]))


# -- windows --------------------------------------------------------------------------------


def test_split_windows_tiles_the_range_without_gaps_or_overlaps() -> None:
    start = datetime(2025, 1, 1, 12, 0, 0, 123999, tzinfo=UTC)
    end = datetime(2025, 3, 7, tzinfo=UTC)
    windows = split_windows(start, end, timedelta(days=30))
    assert windows[0][0] == datetime(2025, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)  # floored to ms
    assert windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in pairwise(windows))
    assert all(lo < hi and hi - lo <= timedelta(days=30) for lo, hi in windows)
    assert len(windows) == 3


def test_split_windows_takes_naive_times_as_utc_and_checks_its_input() -> None:
    assert split_windows(datetime(2025, 1, 1), datetime(2025, 1, 2)) == [
        (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))
    ]
    with pytest.raises(ValueError, match="end after it starts"):
        split_windows(RANGE_END, RANGE_START)
    with pytest.raises(ValueError, match="millisecond"):
        split_windows(RANGE_START, RANGE_END, timedelta(0))


# -- pagination against the sandbox ---------------------------------------------------------


def test_pages_follow_next_page_token_alone(
    sandbox_client: SandboxClientFactory, scenario: Scenario
) -> None:
    client, sandbox = sandbox_client(transactions_page_size=7)
    pages = list(
        client.reconciliation.iter_transaction_pages(
            RANGE_START, RANGE_END, window=timedelta(days=365)
        )
    )
    total = len(scenario.transactions)
    assert len(pages) == math.ceil(total / 7) > 3
    assert [len(p.transactions) for p in pages[:-1]] == [7] * (len(pages) - 1)
    assert pages[-1].next_page_token is None
    ids = [t.transaction_id for p in pages for t in p.transactions]
    assert ids == [t["transactionId"] for t in scenario.transactions]
    assert all(p.request_id for p in pages)

    log = sandbox.request_log("getTransactions")
    assert [entry.status for entry in log] == [200] * len(pages)
    assert log[0].query == {
        "feedStartDate": "2024-12-01T00:00:00Z",
        "feedEndDate": "2025-06-01T00:00:00Z",
    }
    for entry, previous in zip(log[1:], pages, strict=False):
        assert entry.query == {"nextPageToken": previous.next_page_token}


def test_windows_over_a_long_range_fetch_everything_once(
    sandbox_client: SandboxClientFactory, scenario: Scenario
) -> None:
    client, sandbox = sandbox_client(transactions_page_size=5)
    transactions = list(
        client.reconciliation.iter_transactions(RANGE_START, RANGE_END, window=timedelta(days=9))
    )
    ids = [t.transaction_id for t in transactions]
    assert len(ids) == len(set(ids))
    assert set(ids) == {t["transactionId"] for t in scenario.transactions}

    first_pages = [
        e.query for e in sandbox.request_log("getTransactions") if "feedStartDate" in e.query
    ]
    windows = [(q["feedStartDate"], q["feedEndDate"]) for q in first_pages]
    assert len(windows) == math.ceil((RANGE_END - RANGE_START) / timedelta(days=9))
    assert windows[0][0] == "2024-12-01T00:00:00Z"
    assert windows[-1][1] == "2025-06-01T00:00:00Z"
    assert all(a[1] == b[0] for a, b in pairwise(windows))  # contiguous


def test_a_transaction_on_a_window_boundary_is_yielded_once(
    client: AmazonBusinessClient, scenario: Scenario, sandbox: SandboxServer
) -> None:
    # The sandbox, like a cautious reading of Amazon, includes both ends of a window, so a
    # transaction stamped exactly on the boundary between two windows comes back twice.
    on_boundary = scenario.transactions[len(scenario.transactions) // 2]
    boundary = feed_date(on_boundary)
    start, end = boundary - timedelta(days=3), boundary + timedelta(days=3)
    window = timedelta(days=3)

    pages = list(client.reconciliation.iter_transaction_pages(start, end, window=window))
    page_ids = [t.transaction_id for p in pages for t in p.transactions]
    assert page_ids.count(on_boundary["transactionId"]) == 2

    streamed = [
        t.transaction_id for t in client.reconciliation.iter_transactions(start, end, window=window)
    ]
    assert streamed.count(on_boundary["transactionId"]) == 1
    expected = {t["transactionId"] for t in scenario.transactions if start <= feed_date(t) <= end}
    assert set(streamed) == expected and len(streamed) == len(expected)


def test_first_page_needs_a_real_range(client: AmazonBusinessClient) -> None:
    with pytest.raises(ValueError, match="after"):
        client.reconciliation.get_transactions_page(RANGE_END, RANGE_START)
    with pytest.raises(ValueError, match="empty"):
        client.reconciliation.get_transactions_page(RANGE_START, RANGE_END, "")


# -- batches of 25 --------------------------------------------------------------------------


def all_line_items(scenario: Scenario) -> list[OrderLineItem]:
    items = []
    for transaction in scenario.transactions:
        for line in transaction["transactionLineItems"]:
            items.append(
                OrderLineItem(
                    order_id=line["orderId"],
                    order_line_item_id=line["orderLineItemId"],
                    shipment_id=line["shipmentId"],
                )
            )
    return items


def test_invoice_details_in_deduplicated_batches_of_25(
    client: AmazonBusinessClient, scenario: Scenario, sandbox: SandboxServer
) -> None:
    items = all_line_items(scenario)
    unique = list(dict.fromkeys(items))
    assert len(items) > len(unique) > 2 * MAX_LINE_ITEMS_PER_CALL  # refunds repeat keys

    results = list(client.reconciliation.get_invoice_details(iter(items + items[:10])))

    sent = [
        e.body["orderLineItems"] for e in sandbox.request_log("getInvoiceDetailsByOrderLineItems")
    ]
    assert len(sent) == math.ceil(len(unique) / MAX_LINE_ITEMS_PER_CALL)
    assert all(1 <= len(batch) <= MAX_LINE_ITEMS_PER_CALL for batch in sent)
    requested = [OrderLineItem.model_validate(item) for batch in sent for item in batch]
    assert requested == unique  # each key once, in first-seen order
    assert {r.order_line_item for r in results} == set(unique)
    for result in results:
        assert result.invoice_details, result.order_line_item
        for detail in result.invoice_details:
            assert detail.invoice_number and detail.invoice_date.tzinfo is not None


def test_invoice_details_rejects_other_types(client: AmazonBusinessClient) -> None:
    bad = cast(Any, [{"orderId": "o", "orderLineItemId": "l", "shipmentId": "s"}])
    with pytest.raises(TypeError, match="OrderLineItem"):
        list(client.reconciliation.get_invoice_details(bad))


def test_payment_details_in_deduplicated_batches_of_25(
    client: AmazonBusinessClient, scenario: Scenario, sandbox: SandboxServer
) -> None:
    numbers = sorted(scenario.documents)
    assert len(numbers) > MAX_INVOICE_IDS_PER_CALL
    results = client.reconciliation.get_batch_invoice_payment_details(
        numbers + numbers[:5] + ["NO-SUCH-INVOICE"]
    )
    sent = [e.body["invoiceIds"] for e in sandbox.request_log("getBatchInvoicePaymentDetails")]
    assert [len(b) for b in sent] == [25] * (len(sent) - 1) + [(len(numbers) + 1) % 25 or 25]
    assert [i for b in sent for i in b] == [*numbers, "NO-SUCH-INVOICE"]
    by_id = {r.invoice_id: r for r in results}
    assert by_id["NO-SUCH-INVOICE"].result_type is ResultType.ERROR
    assert by_id["NO-SUCH-INVOICE"].error is not None
    found = by_id[numbers[0]]
    assert found.ok and found.payment_details is not None
    assert found.payment_details.due_date is not None


def test_payment_details_checks_ids_and_skips_an_empty_call(
    client: AmazonBusinessClient, sandbox: SandboxServer
) -> None:
    assert client.reconciliation.get_batch_invoice_payment_details([]) == []
    assert sandbox.request_log("getBatchInvoicePaymentDetails") == []
    with pytest.raises(ValueError, match="1 to 255"):
        client.reconciliation.get_batch_invoice_payment_details(["x" * 256])
    with pytest.raises(ValueError, match="1 to 255"):
        client.reconciliation.get_batch_invoice_payment_details([""])


def test_missing_role_sends_nothing(
    sandbox: SandboxServer, party: Party, redis_client: Any
) -> None:
    client = client_for(
        sandbox, party, redis_client, roles=frozenset({Role.AMAZON_BUSINESS_ANALYTICS})
    )
    with pytest.raises(RoleNotGrantedError, match="Business Purchase Reconciliation"):
        client.reconciliation.get_transactions_page(RANGE_START, RANGE_END)
    assert sandbox.request_log() == []


# -- loop protection (scripted answers: the sandbox never repeats a token) ------------------


def scripted(bodies: list[dict[str, Any]]) -> tuple[ReconciliationClient, ScriptedTransport]:
    transport = ScriptedTransport(bodies)
    return ReconciliationClient(transport.as_transport()), transport


def txn(tid: str) -> dict[str, Any]:
    return {"transactionId": tid, "amount": {"currencyCode": "USD", "amount": "1.00"}}


def test_a_repeating_page_token_stops_the_loop() -> None:
    client, transport = scripted(
        [
            {"transactions": [txn("a")], "nextPageToken": "T1"},
            {"transactions": [txn("b")], "nextPageToken": "T2"},
            {"transactions": [txn("c")], "nextPageToken": "T1"},
            {"transactions": [txn("d")]},
        ]
    )
    seen: list[str | None] = []
    with pytest.raises(MalformedResponseError, match="repeats") as caught:
        for transaction in client.iter_transactions(
            RANGE_START, RANGE_END, window=timedelta(days=400)
        ):
            seen.append(transaction.transaction_id)
    assert seen == ["a", "b", "c"]
    assert caught.value.operation == "getTransactions"
    assert caught.value.request_id == "rid-3"
    assert [q.get("nextPageToken") for q in transport.queries] == [None, "T1", "T2"]


def test_a_token_pointing_at_itself_stops_the_loop() -> None:
    client, _ = scripted(
        [
            {"transactions": [txn("a")], "nextPageToken": "T1"},
            {"transactions": [txn("b")], "nextPageToken": "T1"},
        ]
    )
    with pytest.raises(MalformedResponseError, match="token repeats"):
        list(client.iter_transaction_pages(RANGE_START, RANGE_END, window=timedelta(days=400)))


def test_the_same_page_under_a_new_token_stops_the_loop() -> None:
    client, _ = scripted(
        [
            {"transactions": [txn("a"), txn("b")], "nextPageToken": "T1"},
            {"transactions": [txn("a"), txn("b")], "nextPageToken": "T2"},
            {"transactions": [txn("a"), txn("b")], "nextPageToken": "T3"},
        ]
    )
    with pytest.raises(MalformedResponseError, match="repeats an earlier page"):
        list(client.iter_transaction_pages(RANGE_START, RANGE_END, window=timedelta(days=400)))


def test_an_empty_token_ends_the_window_and_duplicates_are_dropped() -> None:
    client, transport = scripted(
        [
            {"transactions": [txn("a"), txn("b")], "nextPageToken": "T1"},
            {
                "transactions": [txn("b"), txn("c"), {"feedDate": "2025-01-01T00:00:00Z"}],
                "nextPageToken": "",
            },
        ]
    )
    streamed = list(client.iter_transactions(RANGE_START, RANGE_END, window=timedelta(days=400)))
    assert [t.transaction_id for t in streamed] == ["a", "b", "c", None]
    assert len(transport.queries) == 2


def test_each_window_gets_its_own_token_chain() -> None:
    client, transport = scripted(
        [
            {"transactions": [txn("a")], "nextPageToken": "SAME"},
            {"transactions": [txn("b")]},
            {"transactions": [txn("c")], "nextPageToken": "SAME"},
            {"transactions": [txn("d")]},
        ]
    )
    start = datetime(2025, 1, 1, tzinfo=UTC)
    streamed = list(
        client.iter_transactions(start, start + timedelta(days=2), window=timedelta(days=1))
    )
    assert [t.transaction_id for t in streamed] == ["a", "b", "c", "d"]
    assert transport.queries == [
        {"feedStartDate": "2025-01-01T00:00:00Z", "feedEndDate": "2025-01-02T00:00:00Z"},
        {"nextPageToken": "SAME"},
        {"feedStartDate": "2025-01-02T00:00:00Z", "feedEndDate": "2025-01-03T00:00:00Z"},
        {"nextPageToken": "SAME"},
    ]
