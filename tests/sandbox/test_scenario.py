"""Scenario loading and derivation: what the sandbox serves for a small, readable history.

The inline scenario below is two orders of a company that buys on Amazon Business:

* order 111-0000001-0000001, one shipment (S1) paid by invoice with invoice INV-0001: two boxes
  of pencils (L1) and a case of paper with shipping and a discount (L2); one box of pencils
  is returned later (credit memo CM-0001);
* order 112-0000002-0000002, a monitor (L3) paid by Visa, with no invoice number on the
  transaction, so the sandbox invents a deterministic one.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, FormatChecker

from connectors.sandbox.pdf import InvoiceDocument, InvoiceLine
from connectors.sandbox.scenario import (
    Scenario,
    ScenarioError,
    derived_invoice_number,
    load_scenario,
)

API_MODELS = Path(__file__).resolve().parents[2] / ".." / "shared" / "api-models"
RECONCILIATION = "Reconciliation_API.json"
REPORTING = "Reporting_API_v2021_01_08.json"

ORDER_1 = "111-0000001-0000001"
ORDER_2 = "112-0000002-0000002"
PENCILS = "Ticonderoga Pencils, 18-Count"
PAPER = "Copy Paper, 8 Ream Case"
MONITOR = 'Dell 27" 4K Monitor'


def usd(amount: str) -> dict[str, str]:
    return {"currencyCode": "USD", "amount": amount}


BUYER = {"id": "amzn1.account.ANN", "name": "Ann Lee", "email": "ann@northwind.example"}

SCENARIO: dict[str, Any] = {
    "description": "two orders, one return",
    "transactions": [
        {
            "transactionId": "T-REFUND-1",
            "transactionType": "REFUND",
            "transactionDate": "2024-03-15T10:00:00Z",
            "feedDate": "2024-03-16T00:00:00Z",
            "marketplaceId": "ATVPDKIKX0DER",
            "invoiceNumber": "CM-0001",
            "legalEntityName": "Northwind Traders Inc.",
            "amount": usd("-6.49"),
            "paymentInstrumentType": "Pay by Invoice",
            "buyer": BUYER,
            "transactionLineItems": [
                {
                    "orderId": ORDER_1,
                    "orderLineItemId": "L1",
                    "shipmentId": "S1",
                    "productTitle": PENCILS,
                    "itemQuantity": 1,
                    "unitPrice": usd("5.99"),
                    "principalAmount": usd("-5.99"),
                    "tax": usd("-0.50"),
                    "totalAmount": usd("-6.49"),
                    "refundReason": "No longer needed",
                }
            ],
        },
        {
            "transactionId": "T-CHARGE-1",
            "transactionType": "CHARGE",
            "transactionDate": "2024-03-01T15:00:00.250Z",
            "feedDate": "2024-03-02T00:00:00Z",
            "marketplaceId": "ATVPDKIKX0DER",
            "invoiceNumber": "INV-0001",
            "legalEntityName": "Northwind Traders Inc.",
            "purchasingCustomerGroupName": "Facilities",
            "amount": usd("62.15"),
            "paymentInstrumentType": "Pay by Invoice",
            "buyer": BUYER,
            "transactionLineItems": [
                {
                    "orderId": ORDER_1,
                    "orderLineItemId": "L1",
                    "shipmentId": "S1",
                    "shipmentDate": "2024-03-01T12:00:00Z",
                    "purchaseOrderNumber": "PO-77",
                    "asin": "B07T8K1HJG",
                    "productTitle": PENCILS,
                    "unspsc": "44121700",
                    "itemQuantity": 2,
                    "unitPrice": usd("5.99"),
                    "principalAmount": usd("11.98"),
                    "shippingCharge": usd("0.00"),
                    "discount": usd("0.00"),
                    "tax": usd("0.99"),
                    "totalAmount": usd("12.97"),
                    "businessOrderInfo": {"GL code": "6100-office"},
                },
                {
                    "orderId": ORDER_1,
                    "orderLineItemId": "L2",
                    "shipmentId": "S1",
                    "shipmentDate": "2024-03-01T12:00:00Z",
                    "purchaseOrderNumber": "PO-77",
                    "productTitle": PAPER,
                    "unspsc": "14111507",
                    "itemQuantity": 1,
                    "unitPrice": usd("42.49"),
                    "principalAmount": usd("42.49"),
                    "shippingCharge": usd("4.99"),
                    "discount": usd("-2.00"),
                    "tax": usd("3.70"),
                    "totalAmount": usd("49.18"),
                    "businessOrderInfo": {"GL code": "6100-office"},
                },
            ],
        },
        {
            "transactionId": "T-CHARGE-2",
            "transactionType": "CHARGE",
            "transactionDate": "2024-03-05T09:30:00Z",
            "feedDate": "2024-03-05T12:00:00Z",
            "marketplaceId": "ATVPDKIKX0DER",
            "amount": usd("627.84"),
            "paymentInstrumentType": "Visa",
            "paymentInstrumentLast4Digits": "4242",
            "buyer": BUYER,
            "transactionLineItems": [
                {
                    "orderId": ORDER_2,
                    "orderLineItemId": "L3",
                    "shipmentId": "S2",
                    "productTitle": MONITOR,
                    "itemQuantity": 1,
                    "unitPrice": usd("579.99"),
                    "principalAmount": usd("579.99"),
                    "tax": usd("47.85"),
                    "totalAmount": usd("627.84"),
                }
            ],
        },
    ],
}

DERIVED_2 = derived_invoice_number("T-CHARGE-2", credit=False)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario.from_json(SCENARIO)


# --------------------------------------------------------------------------------------------
# Derivation


def test_transactions_are_served_as_given_in_feed_date_order(scenario: Scenario) -> None:
    ids = [t["transactionId"] for t in scenario.transactions]
    assert ids == ["T-CHARGE-1", "T-CHARGE-2", "T-REFUND-1"]
    assert scenario.transactions[0] == SCENARIO["transactions"][1]
    assert scenario.transactions[0] is not SCENARIO["transactions"][1]  # a copy


def test_invoice_details_per_line_item(scenario: Scenario) -> None:
    assert scenario.invoice_details == {
        (ORDER_1, "L1", "S1"): {
            "orderLineItem": {"orderId": ORDER_1, "orderLineItemId": "L1", "shipmentId": "S1"},
            "invoiceDetails": [
                {
                    "invoiceNumber": "INV-0001",
                    "invoiceDate": "2024-03-01T12:00:00Z",
                    "invoiceType": "STANDARD",
                },
                {
                    "invoiceNumber": "CM-0001",
                    "invoiceDate": "2024-03-15T10:00:00Z",
                    "invoiceType": "CREDIT_MEMO",
                },
            ],
        },
        (ORDER_1, "L2", "S1"): {
            "orderLineItem": {"orderId": ORDER_1, "orderLineItemId": "L2", "shipmentId": "S1"},
            "invoiceDetails": [
                {
                    "invoiceNumber": "INV-0001",
                    "invoiceDate": "2024-03-01T12:00:00Z",
                    "invoiceType": "STANDARD",
                }
            ],
        },
        (ORDER_2, "L3", "S2"): {
            "orderLineItem": {"orderId": ORDER_2, "orderLineItemId": "L3", "shipmentId": "S2"},
            "invoiceDetails": [
                {
                    "invoiceNumber": DERIVED_2,
                    "invoiceDate": "2024-03-05T09:30:00Z",  # no shipmentDate: transactionDate
                    "invoiceType": "STANDARD",
                }
            ],
        },
    }


def test_derived_invoice_numbers_are_deterministic() -> None:
    assert re.fullmatch(r"[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}", DERIVED_2)
    assert derived_invoice_number("T-CHARGE-2", credit=False) == DERIVED_2
    assert derived_invoice_number("T-CHARGE-2", credit=True) != DERIVED_2


def test_orders_are_derived_with_totals_lines_shipments_and_charges(scenario: Scenario) -> None:
    assert list(scenario.orders) == [ORDER_1, ORDER_2]  # by order date
    order = scenario.orders[ORDER_1]
    assert order["orderDate"] == "2024-03-01T12:00:00Z"
    assert order["purchaseOrderNumber"] == "PO-77"
    assert order["orderQuantity"] == 3
    assert order["orderStatus"] == "Closed"
    assert order["buyingCustomer"] == BUYER
    assert order["buyerGroupName"] == "Facilities"
    assert order["businessOrderInfo"] == {"GL code": "6100-office"}
    assert order["orderSubTotal"] == usd("54.47")
    assert order["orderShippingAndHandling"] == usd("4.99")
    assert order["orderPromotion"] == usd("-2.00")
    assert order["orderTax"] == usd("4.69")
    assert order["orderNetTotal"] == usd("62.15")

    pencils, paper = order["lineItems"]
    assert (pencils["title"], pencils["asin"], pencils["itemQuantity"]) == (
        PENCILS,
        "B07T8K1HJG",
        2,
    )
    assert pencils["productCategory"] == "Office Products"
    assert pencils["purchasedPricePerUnit"] == usd("5.99")
    assert pencils["itemNetTotal"] == usd("12.97")
    assert pencils["transactionIds"] == ["T-CHARGE-1", "T-REFUND-1"]
    assert paper["transactionIds"] == ["T-CHARGE-1"]
    assert paper["productCategory"] == "Paper Products"

    (shipment,) = order["shipments"]
    assert shipment["shipmentDate"] == "2024-03-01T12:00:00Z"
    assert shipment["shipmentQuantity"] == 3
    assert shipment["shipmentNetTotal"] == usd("62.15")
    assert pencils["carrierTrackingNumbers"] == [shipment["carrierTracking"]]

    assert order["charges"] == [
        {
            "transactionDate": "2024-03-01T15:00:00.250Z",
            "transactionId": "T-CHARGE-1",
            "amount": usd("62.15"),
            "paymentInstrumentType": "Pay by Invoice",
            "paymentInstrumentLast4Digits": "",
        },
        {
            "transactionDate": "2024-03-15T10:00:00Z",
            "transactionId": "T-REFUND-1",
            "amount": usd("-6.49"),
            "paymentInstrumentType": "Pay by Invoice",
            "paymentInstrumentLast4Digits": "",
        },
    ]
    assert scenario.orders[ORDER_2]["charges"][0]["paymentInstrumentLast4Digits"] == "4242"


def test_documents_per_invoice_number(scenario: Scenario) -> None:
    assert scenario.documents == {
        "CM-0001": InvoiceDocument(
            invoice_number="CM-0001",
            invoice_date=date(2024, 3, 15),
            document_type="Credits",
            order_id=ORDER_1,
            seller="Amazon.com Services LLC",
            buyer="Northwind Traders Inc.",
            currency="USD",
            lines=(InvoiceLine(PENCILS, 1, Decimal("5.99"), Decimal("6.49")),),
            total=Decimal("6.49"),
        ),
        "INV-0001": InvoiceDocument(
            invoice_number="INV-0001",
            invoice_date=date(2024, 3, 1),
            document_type="Invoice",
            order_id=ORDER_1,
            seller="Amazon.com Services LLC",
            buyer="Northwind Traders Inc.",
            currency="USD",
            lines=(
                InvoiceLine(PENCILS, 2, Decimal("5.99"), Decimal("12.97")),
                InvoiceLine(PAPER, 1, Decimal("42.49"), Decimal("49.18")),
            ),
            total=Decimal("62.15"),
        ),
        DERIVED_2: InvoiceDocument(
            invoice_number=DERIVED_2,
            invoice_date=date(2024, 3, 5),
            document_type="Invoice",
            order_id=ORDER_2,
            seller="Amazon.com Services LLC",
            buyer="Ann Lee",  # no legalEntityName: the buyer's name
            currency="USD",
            lines=(InvoiceLine(MONITOR, 1, Decimal("579.99"), Decimal("627.84")),),
            total=Decimal("627.84"),
        ),
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"invoiceId": "INV-0001", "documentType": "Invoice"}, "INV-0001"),
        ({"invoiceId": "INV-0001"}, "INV-0001"),
        ({"invoiceId": "INV-0001", "documentType": "Credits"}, None),
        ({"invoiceId": "CM-0001", "documentType": "Credits"}, "CM-0001"),
        ({"invoiceId": DERIVED_2, "documentType": "Invoice"}, DERIVED_2),
        ({"invoiceId": "NOPE", "documentType": "Invoice"}, None),
        ({"invoiceId": "INV-0001", "documentType": "OrderSummary"}, None),
        ({"orderId": ORDER_1}, "INV-0001"),  # invoices before credit memos
        ({"orderId": ORDER_1, "documentType": "Credits"}, "CM-0001"),
        ({"orderId": ORDER_1, "orderLineItemId": "L2", "shipmentId": "S1"}, "INV-0001"),
        ({"orderId": ORDER_1, "orderLineItemId": "L2", "documentType": "Credits"}, None),
        ({"orderId": ORDER_1, "shipmentId": "S2"}, None),
        ({"orderId": ORDER_2, "orderLineItemId": "L3", "shipmentId": "S2"}, DERIVED_2),
        ({"orderId": "999-0000000-0000000"}, None),
    ],
)
def test_document_for_report_options(
    scenario: Scenario, options: dict[str, str], expected: str | None
) -> None:
    doc = scenario.document_for(options)
    assert (doc.invoice_number if doc else None) == expected


def test_documents_for_lists_every_match(scenario: Scenario) -> None:
    numbers = [d.invoice_number for d in scenario.documents_for({"orderId": ORDER_1})]
    assert numbers == ["INV-0001", "CM-0001"]


def test_report_options_without_invoice_or_order_are_an_error(scenario: Scenario) -> None:
    with pytest.raises(ScenarioError, match="invoiceId or an orderId"):
        scenario.document_for({"documentType": "Invoice"})


def test_feed_and_order_date_windows_are_inclusive(scenario: Scenario) -> None:
    window = scenario.transactions_in_feed_window(
        _utc("2024-03-02T00:00:00Z"), _utc("2024-03-05T12:00:00Z")
    )
    assert [t["transactionId"] for t in window] == ["T-CHARGE-1", "T-CHARGE-2"]
    naive = scenario.transactions_in_feed_window(datetime(2024, 3, 16), datetime(2024, 3, 17))
    assert [t["transactionId"] for t in naive] == ["T-REFUND-1"]
    orders = scenario.orders_in_date_window(
        _utc("2024-03-01T00:00:00Z"), _utc("2024-03-01T12:00:00Z")
    )
    assert [o["orderId"] for o in orders] == [ORDER_1]
    assert (
        scenario.orders_in_date_window(_utc("2025-01-01T00:00:00Z"), _utc("2025-02-01T00:00:00Z"))
        == []
    )


def test_to_json_round_trips(scenario: Scenario) -> None:
    data = scenario.to_json()
    assert set(data) == {"transactions", "orders", "invoiceDetails"}
    again = Scenario.from_json(json.loads(json.dumps(data)))
    assert again == scenario
    assert again.documents == scenario.documents


def test_given_orders_and_invoice_details_win_over_derivation() -> None:
    data = json.loads(json.dumps(SCENARIO))
    data["orders"] = [
        {"orderId": ORDER_2, "orderStatus": "Pending", "orderDate": "2024-03-04T08:00:00Z"}
    ]
    data["invoiceDetails"] = [
        {
            "orderLineItem": {"orderId": ORDER_2, "orderLineItemId": "L3", "shipmentId": "S2"},
            "invoiceDetails": [
                {
                    "invoiceNumber": "GIVEN-1",
                    "invoiceDate": "2024-03-06T00:00:00Z",
                    "consolidatedInvoiceDetails": {"invoiceNumber": "Pending"},
                }
            ],
        }
    ]
    scenario = Scenario.from_json(data)

    order = scenario.orders[ORDER_2]
    assert order["orderStatus"] == "Pending"
    assert order["orderDate"] == "2024-03-04T08:00:00Z"
    assert order["orderNetTotal"] == usd("627.84")  # still derived
    assert scenario.invoice_details[(ORDER_2, "L3", "S2")] == data["invoiceDetails"][0]
    # The transaction has no invoice number, so its document takes the given one.
    assert DERIVED_2 not in scenario.documents
    assert scenario.documents["GIVEN-1"].total == Decimal("627.84")


def test_load_scenario(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(SCENARIO), encoding="utf-8")
    assert load_scenario(path) == Scenario.from_json(SCENARIO)

    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ScenarioError, match=re.escape(str(path))):
        load_scenario(path)


# --------------------------------------------------------------------------------------------
# Bad input


def _with(change: dict[str, Any], index: int = 1) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(SCENARIO))
    data["transactions"][index].update(change)
    return data


def _with_line(change: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(SCENARIO))
    data["transactions"][1]["transactionLineItems"][0].update(change)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "'transactions' list"),
        ({"transactions": [], "transaction": []}, "unknown scenario key"),
        (_with({"transactionId": ""}), r"transactions\[1\]: missing transactionId"),
        (_with({"amount": usd("12,50")}), "T-CHARGE-1.amount.amount: '12,50' is not a decimal"),
        (_with({"amount": {"currencyCode": "USD", "amount": 12.5}}), "expected a decimal string"),
        (_with({"amount": usd("NaN")}), "not a finite amount"),
        (_with({"amount": {"currencyCode": "usd", "amount": "1"}}), "ISO 4217"),
        (_with({"transactionType": "PAYMENT"}), "transactionType"),
        (_with({"feedDate": "2024-03-02"}), "needs a time and a time zone"),
        (_with({"feedDate": "2024-03-02T00:00:00"}), "needs a time and a time zone"),
        (_with({"transactionDate": "yesterday"}), "not an ISO 8601 date-time"),
        (_with({"buyer": {"name": "no id"}}), "Customer"),
        (_with({"transactionId": "T-CHARGE-2"}), "T-CHARGE-2 is listed twice"),
        (_with({"invoiceNumber": "CM-0001"}), "both an invoice and a credit memo"),
        (_with_line({"tax": {"currencyCode": "EUR", "amount": "0.99"}}), "differs from"),
        (_with_line({"itemQuantity": "2"}), "itemQuantity"),
        (_with_line({"businessOrderInfo": {"GL code": 6100}}), "businessOrderInfo"),
        ({"transactions": [], "orders": [{"orderId": "X-1"}]}, "lacks orderDate"),
        (
            {"transactions": [], "orders": [{"orderId": "X-1", "orderStatus": "CANCELLED"}]},
            "orderStatus",
        ),
        ({"transactions": [], "invoiceDetails": [{"orderLineItem": {"orderId": "X"}}]}, "required"),
    ],
)
def test_bad_input_is_rejected_clearly(data: Any, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_json(data)


def test_scenario_error_is_a_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)


# --------------------------------------------------------------------------------------------
# Amazon's models


def _strip_extensions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_extensions(v) for k, v in value.items() if not k.startswith("x-")}
    if isinstance(value, list):
        return [_strip_extensions(v) for v in value]
    return value


_AMAZON_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z")
_FORMATS = FormatChecker()


@_FORMATS.checks("date-time")
def _is_amazon_date_time(value: object) -> bool:
    """Amazon's date-times: ISO 8601 in UTC with 'Z' (what the sandbox must serve)."""
    return not isinstance(value, str) or _AMAZON_DATE_TIME.fullmatch(value) is not None


@cache
def schema_validator(model_file: str, definition: str) -> Draft4Validator:
    """A validator for ``#/definitions/<definition>`` of one of Amazon's swagger models."""
    path = API_MODELS / model_file
    if not path.is_file():
        pytest.skip(f"Amazon's API models are not available at {API_MODELS.resolve()}")
    document = _strip_extensions(json.loads(path.read_text(encoding="utf-8")))
    schema = {"$ref": f"#/definitions/{definition}", "definitions": document["definitions"]}
    return Draft4Validator(schema, format_checker=_FORMATS)


def schema_errors(scenario: Scenario) -> list[str]:
    """Every way the scenario's served objects differ from Amazon's models."""
    checks = [
        (schema_validator(RECONCILIATION, "Transaction"), scenario.transactions),
        (
            schema_validator(RECONCILIATION, "InvoiceDetailsOfOrderLineItem"),
            list(scenario.invoice_details.values()),
        ),
        (schema_validator(REPORTING, "Order"), list(scenario.orders.values())),
    ]
    return [
        f"{validator.schema['$ref']} {list(error.absolute_path)}: {error.message}"
        for validator, objects in checks
        for obj in objects
        for error in validator.iter_errors(obj)
    ]


def test_served_objects_follow_amazons_models(scenario: Scenario) -> None:
    assert schema_errors(scenario) == []


def test_the_model_check_catches_mistakes(scenario: Scenario) -> None:
    broken = Scenario.from_json(SCENARIO)
    broken.orders[ORDER_1]["orderStatus"] = "CANCELLED"  # Amazon's sandbox example, not the enum
    broken.transactions[0]["feedDate"] = "2024-03-02T00:00:00+00:00"
    errors = schema_errors(broken)
    assert len(errors) == 2, errors
