"""Contract: every request the clients send is what Amazon's models require, and every answer
parses and round-trips to the wire document.

The clients run against the sandbox through a transport whose requests session records each
exchange exactly as it went over the wire (method, URL, headers, body bytes). Each request is
checked with Amazon's Swagger model (``tests/support/api_models.py``), and each answer is parsed
with abrecon's models and dumped back to compare with what was received.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import redis
import requests

from connectors.amazon_business import models
from connectors.amazon_business.client import AmazonBusinessClient
from connectors.amazon_business.documents import invoice_report_options
from connectors.amazon_business.factory import build_transport
from connectors.amazon_business.models import (
    AmazonModel,
    CreateReportResponse,
    InvoiceDetailsResponse,
    InvoicePaymentDetailsResponse,
    OrderLineItem,
    OrdersPage,
    Report,
    ReportDocument,
    ReportsPage,
    TransactionsPage,
)
from connectors.amazon_business.operations import OPERATIONS
from connectors.amazon_business.ordering import line_item
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import SandboxServer
from tests.support.api_models import (
    operation_spec,
    require_api_models,
    validate_http_request,
    validate_response,
)

from .conftest import Party, Recorder, RecordingAdapter, connection_config

#: The model each modelled operation's 2xx answer is parsed with.
RESPONSE_MODELS: dict[str, type[AmazonModel]] = {
    "getTransactions": TransactionsPage,
    "getInvoiceDetailsByOrderLineItems": InvoiceDetailsResponse,
    "getBatchInvoicePaymentDetails": InvoicePaymentDetailsResponse,
    "getReports": ReportsPage,
    "createReport": CreateReportResponse,
    "getReport": Report,
    "getReportDocument": ReportDocument,
    "getOrdersByOrderDate": OrdersPage,
    "getOrdersByOrderId": OrdersPage,
}

_ROUTES = [
    (name, op.method, re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(op.path)) + "$"))
    for name, op in OPERATIONS.items()
]


def operation_of(request: requests.PreparedRequest) -> str | None:
    path = urlsplit(str(request.url)).path
    for name, method, pattern in _ROUTES:
        if request.method == method and pattern.match(path):
            return name
    return None


@pytest.fixture()
def recorded_client(
    make_sandbox: Callable[..., SandboxServer],
    scenario: Scenario,
    party: Party,
    redis_client: redis.Redis,
    recorder: Recorder,
) -> Iterator[tuple[AmazonBusinessClient, SandboxServer]]:
    require_api_models()
    sandbox = make_sandbox(
        scenario, transactions_page_size=20, orders_page_size=15, report_processing_seconds=0.1
    )
    session = requests.Session()
    adapter = RecordingAdapter(recorder)
    session.mount("http://", adapter)
    transport = build_transport(
        connection_config(sandbox, party), redis=redis_client, session=session
    )
    yield AmazonBusinessClient(transport), sandbox
    session.close()


def exercise_every_operation(client: AmazonBusinessClient, scenario: Scenario) -> None:
    """Call every operation at least once through the public client API, paging included."""
    start, end = datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    recon = client.reconciliation
    transactions = list(recon.iter_transactions(start, end, window=timedelta(days=120)))
    items = [item for t in transactions for item in t.order_line_items()][:30]
    details = list(recon.get_invoice_details(items))
    numbers = [d.invoice_number for r in details for d in r.invoice_details]
    recon.get_batch_invoice_payment_details(numbers[:27])

    documents = client.documents
    number = numbers[0]
    done_id = documents.create_report(invoice_report_options(number))
    by_line = documents.create_report(
        {"orderId": items[0].order_id, "orderLineItemId": items[0].order_line_item_id},
        data_start_time=start,
        data_end_time=end,
    )
    report = documents.wait_for_report(done_id, timeout=10, poll_interval=0.05)
    documents.wait_for_report(by_line, timeout=10, poll_interval=0.05)
    assert report.report_document_id is not None
    document = documents.get_report_document(report.report_document_id)
    documents.download(document)
    queued = documents.create_report(invoice_report_options(number, credit_memo=False))
    documents.cancel_report(queued)
    list(documents.iter_reports(page_size=1, processing_statuses=["DONE", "CANCELLED"]))
    documents.get_reports(marketplace_ids=["ATVPDKIKX0DER"], created_since=start)

    reporting = client.reporting
    orders = list(
        reporting.iter_orders(
            start, end, include_line_items=True, include_shipments=True, include_charges=True
        )
    )
    reporting.get_order(orders[0].order_id, include_line_items=True)

    search = client.product_search
    found = search.search_products("US", "en_US", facets=["OFFERS"], page_size=3)
    asin = found["products"][0]["asin"]
    search.get_product(asin, "US", "en_US", inclusions_for_products=["title"])
    offers = search.search_offers(asin, "US", "en_US", inclusions_for_offers=["price"])
    search.get_products_by_asins([asin], "US", "en_US", facets=["OFFERS"])
    search.get_offers_by_offer_ids([offers["offers"][0]["offerId"]], "US", "en_US", ["price"])

    product = {
        "attributeType": "SelectedProductReference",
        "productReference": {"productReferenceType": "ProductIdentifier", "id": asin},
    }
    client.ordering.place_order(
        "contract-1",
        [line_item("1", 1, [product])],
        [{"attributeType": "Region", "region": "US"}],
        [],
    )
    client.ordering.order_details("contract-1")
    client.user_management.create_business_user_account(
        "contract@example.com", "Con", "Tract", "g-1", "Requisitioner", "US"
    )


def test_every_request_and_answer_matches_amazons_models(
    recorded_client: tuple[AmazonBusinessClient, SandboxServer],
    scenario: Scenario,
    recorder: Recorder,
) -> None:
    client, _sandbox = recorded_client
    exercise_every_operation(client, scenario)

    checked: dict[str, int] = {}
    for request, response in recorder.exchanges:
        name = operation_of(request)
        if name is None:  # Login with Amazon and the presigned download
            continue
        checked[name] = checked.get(name, 0) + 1
        assert response.ok, f"{name}: HTTP {response.status_code} {response.text[:300]}"
        validate_http_request(
            name, str(request.method), str(request.url), dict(request.headers), request.body
        )
        wire = response.json() if response.content else None
        validate_response(name, response.status_code, wire)
        model = RESPONSE_MODELS.get(name)
        if model is not None:
            parsed = model.model_validate(wire)
            assert parsed.model_dump(by_alias=True, mode="json") == wire, name

    assert set(checked) == set(OPERATIONS), sorted(set(OPERATIONS) - set(checked))
    assert checked["getTransactions"] > 2 and checked["getReports"] > 2  # next pages too
    assert checked["getOrdersByOrderDate"] > 1


def test_next_page_requests_carry_the_token_alone(
    recorded_client: tuple[AmazonBusinessClient, SandboxServer], recorder: Recorder
) -> None:
    client, _sandbox = recorded_client
    start, end = datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    list(client.reconciliation.iter_transactions(start, end, window=timedelta(days=365)))
    list(client.reporting.iter_orders(start, end, include_charges=True))
    next_pages: dict[str, int] = {}
    for request, _ in recorder.exchanges:
        name = operation_of(request)
        query = dict(parse_qsl(urlsplit(str(request.url)).query))
        if name in ("getTransactions", "getOrdersByOrderDate") and "nextPageToken" in query:
            assert list(query) == ["nextPageToken"], (name, query)
            next_pages[name] = next_pages.get(name, 0) + 1
    assert next_pages.keys() == {"getTransactions", "getOrdersByOrderDate"}


def test_a_line_item_request_body_is_exactly_amazons_example_shape() -> None:
    require_api_models()
    item = OrderLineItem(
        order_id="206-8697112-6522000", order_line_item_id="20764520160100", shipment_id="DCYHpTnpG"
    )
    body = {"orderLineItems": [item.model_dump(by_alias=True, mode="json")]}
    # Amazon's documented request example for getInvoiceDetailsByOrderLineItems:
    assert body == json.loads(
        '{"orderLineItems":[{"orderId":"206-8697112-6522000",'
        '"orderLineItemId":"20764520160100","shipmentId":"DCYHpTnpG"}]}'
    )
    schema = operation_spec("getInvoiceDetailsByOrderLineItems").parameters[0]["schema"]
    assert schema["$ref"].endswith("InvoiceDetailsByOrderLineItemsRequest")


def model_field_aliases(model: type[AmazonModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


#: abrecon's models and the definitions they mirror (by an operation of the declaring model).
MIRRORED: list[tuple[type[AmazonModel], str, str]] = [
    (TransactionsPage, "TransactionsResponse", "getTransactions"),
    (models.Transaction, "Transaction", "getTransactions"),
    (models.TransactionLineItem, "TransactionLineItem", "getTransactions"),
    (models.Money, "Money", "getTransactions"),
    (models.Customer, "Customer", "getTransactions"),
    (models.AssociatedTransactionDetail, "AssociatedTransactionDetail", "getTransactions"),
    (models.OrderLineItem, "OrderLineItem", "getTransactions"),
    (InvoiceDetailsResponse, "InvoiceDetailsByOrderLineItemsResponse", "getTransactions"),
    (models.InvoiceDetailsOfOrderLineItem, "InvoiceDetailsOfOrderLineItem", "getTransactions"),
    (models.InvoiceDetail, "InvoiceDetail", "getTransactions"),
    (models.TaxDetail, "TaxDetail", "getTransactions"),
    (models.TransactionDataItem, "TransactionDataItem", "getTransactions"),
    (models.LineItemLevelFeeDetail, "LineItemLevelFeeDetail", "getTransactions"),
    (models.InvoiceLevelFeeDetail, "InvoiceLevelFeeDetail", "getTransactions"),
    (models.PaymentDetails, "PaymentDetails", "getTransactions"),
    (InvoicePaymentDetailsResponse, "GetBatchInvoicePaymentDetailsResponse", "getTransactions"),
    (ReportsPage, "GetReportsResponse", "getReports"),
    (Report, "Report", "getReports"),
    (ReportDocument, "ReportDocument", "getReports"),
    (CreateReportResponse, "CreateReportResponse", "getReports"),
    (OrdersPage, "OrdersOutput", "getOrdersByOrderId"),
    (models.Order, "Order", "getOrdersByOrderId"),
    (models.ReportingLineItem, "LineItem", "getOrdersByOrderId"),
    (models.Shipment, "Shipment", "getOrdersByOrderId"),
    (models.Charge, "Charge", "getOrdersByOrderId"),
    (models.Seller, "Seller", "getOrdersByOrderId"),
    (models.DeliveryInformation, "DeliveryInformation", "getOrdersByOrderId"),
    (models.ReportingAddress, "Address", "getOrdersByOrderId"),
]


@pytest.mark.parametrize(
    ("model", "definition", "operation"), MIRRORED, ids=[d for _, d, _ in MIRRORED]
)
def test_model_field_names_are_amazons_wire_names(
    model: type[AmazonModel], definition: str, operation: str
) -> None:
    require_api_models()
    definitions = operation_spec(operation).document["definitions"]
    declared = set(definitions[definition]["properties"])
    assert model_field_aliases(model) == declared
