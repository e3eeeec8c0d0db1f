"""Reporting client against the sandbox: order pages, include flags and single orders."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.amazon_business.client import AmazonBusinessClient
from connectors.amazon_business.errors import MalformedResponseError, NotFoundError
from connectors.amazon_business.models import Money
from connectors.amazon_business.reporting import ReportingClient
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import SandboxServer

from .conftest import SandboxClientFactory, ScriptedTransport

START = datetime(2024, 12, 1, tzinfo=UTC)
END = datetime(2025, 6, 1, tzinfo=UTC)


def test_iter_orders_pages_with_the_token_alone(
    sandbox_client: SandboxClientFactory, scenario: Scenario
) -> None:
    client, sandbox = sandbox_client(orders_page_size=7)
    orders = list(client.reporting.iter_orders(START, END, include_line_items=True))
    assert [o.order_id for o in orders] == [
        o["orderId"] for o in scenario.orders_in_date_window(START, END)
    ]
    assert len(orders) == len(scenario.orders)
    assert all(o.line_items for o in orders)

    queries = [e.query for e in sandbox.request_log("getOrdersByOrderDate")]
    assert len(queries) == math.ceil(len(scenario.orders) / 7)
    assert queries[0] == {
        "startDate": "2024-12-01T00:00:00Z",
        "endDate": "2025-06-01T00:00:00Z",
        "includeLineItems": "true",
    }
    assert all(list(q) == ["nextPageToken"] for q in queries[1:])


def test_include_flags_choose_the_parts(
    client: AmazonBusinessClient, sandbox: SandboxServer
) -> None:
    bare = client.reporting.get_orders_page(START, END)
    assert bare.orders and bare.next_page_token == ""  # the sandbox's "no more pages"
    order = bare.orders[0]
    assert order.line_items == [] and order.shipments == [] and order.charges == []
    assert "lineItems" not in order.model_dump(by_alias=True, mode="json")
    assert sandbox.request_log("getOrdersByOrderDate")[0].query == {
        "startDate": "2024-12-01T00:00:00Z",
        "endDate": "2025-06-01T00:00:00Z",
    }

    full = client.reporting.get_orders_page(
        START, END, include_line_items=True, include_shipments=True, include_charges=True
    ).orders[0]
    assert full.line_items and full.shipments and full.charges
    net = full.order_net_total
    assert isinstance(net, Money) and isinstance(net.amount, Decimal)
    assert full.order_date is not None and full.order_date.tzinfo is not None
    charge = full.charges[0]
    assert charge.transaction_id and charge.amount is not None
    line_ids = {tid for line in full.line_items for tid in line.transaction_ids}
    assert charge.transaction_id in line_ids


def test_get_order_by_id(
    client: AmazonBusinessClient, scenario: Scenario, sandbox: SandboxServer
) -> None:
    order_id = sorted(scenario.orders)[3]
    order = client.reporting.get_order(order_id, include_charges=True, include_shipments=True)
    assert order.order_id == order_id
    assert order.charges and order.shipments and not order.line_items
    entry = sandbox.request_log("getOrdersByOrderId")[0]
    assert entry.path.endswith(f"/orders/{order_id}")
    assert entry.query == {"includeShipments": "true", "includeCharges": "true"}
    with pytest.raises(NotFoundError) as caught:
        client.reporting.get_order("999-0000000-0000000")
    assert caught.value.status == 404 and caught.value.request_id


def test_input_is_checked(client: AmazonBusinessClient) -> None:
    with pytest.raises(ValueError, match="after"):
        client.reporting.get_orders_page(END, START)
    with pytest.raises(ValueError, match="empty"):
        client.reporting.get_orders_page(START, END, next_page_token="")
    with pytest.raises(ValueError, match="empty"):
        client.reporting.get_order("")


def scripted(*bodies: Any) -> ReportingClient:
    return ReportingClient(ScriptedTransport(list(bodies)).as_transport())


def test_an_answer_about_another_order_is_not_taken_for_the_asked_one() -> None:
    # Amazon's static sandbox answers getOrdersByOrderId with a fixed, different order.
    client = scripted({"orders": [{"orderId": "112-1248174-0174665"}], "size": 1})
    with pytest.raises(MalformedResponseError, match="112-1248174-0174665"):
        client.get_order("114-7470804-5505847")
    with pytest.raises(NotFoundError):
        scripted({"orders": [], "size": 0}).get_order("114-7470804-5505847")


def test_repeating_order_pages_are_stopped_and_orders_deduplicated() -> None:
    client = scripted(
        {"orders": [{"orderId": "A"}, {"orderId": "B"}], "nextPageToken": "T1"},
        {"orders": [{"orderId": "B"}, {"orderId": "C"}], "nextPageToken": "T2"},
        {"orders": [{"orderId": "D"}], "nextPageToken": "T1"},
    )
    seen: list[str] = []
    with pytest.raises(MalformedResponseError, match="token repeats"):
        for order in client.iter_orders(START, END):
            seen.append(order.order_id)
    assert seen == ["A", "B", "C", "D"]
