"""The wire models: exact money, exact round trips, UTC date-times and clear errors."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.amazon_business.errors import MalformedResponseError
from connectors.amazon_business.models import (
    InvoiceDetail,
    InvoiceType,
    Money,
    OrderLineItem,
    OrdersPage,
    ProcessingStatus,
    Report,
    ReportDocument,
    Transaction,
    TransactionsPage,
    TransactionType,
    format_amazon_datetime,
    parse_decimal_string,
    parse_response,
)

#: Amazon's own getTransactions example (Reconciliation model), trimmed to one line item.
AMAZON_TRANSACTION: dict[str, Any] = {
    "marketplaceId": "ATVPDKIKX0DER",
    "transactionDate": "2020-04-03T16:59:18.768Z",
    "feedDate": "2021-05-12T20:44:21.791Z",
    "transactionType": "CHARGE",
    "transactionId": "1x47pVc03Ffs71cjjCct",
    "chargeIdentifier": "RA5RE0N60",
    "shipTaxRate": "0.00",
    "giftWrapTaxRate": "0.00",
    "legalEntityName": "May ProdInv",
    "invoiceNumber": "JP218PV8HMOI",
    "amount": {"currencyCode": "USD", "amount": "5.99"},
    "paymentInstrumentType": "PayStation",
    "buyer": {"id": "amzn1.account.X", "name": "jared", "email": "jared@example.com"},
    "associatedTransactionDetails": [{"associatedTransactionId": "ONf39R7NmjIh9247YJ34"}],
    "transactionLineItems": [
        {
            "totalAmount": {"currencyCode": "USD", "amount": "5.99"},
            "principalAmount": {"currencyCode": "USD", "amount": "5.99"},
            "shippingCharge": {"currencyCode": "USD", "amount": "2.99"},
            "discount": {"currencyCode": "USD", "amount": "-2.99"},
            "tax": {"currencyCode": "USD", "amount": "0.0"},
            "taxRate": "0.00",
            "orderId": "114-1458190-2465828",
            "orderLineItemId": "31208275451321",
            "purchaseOrderNumber": "",
            "itemQuantity": 1,
            "shipmentId": "DhG3L9W23",
            "shipmentDate": "2020-04-03T16:59:21Z",
            "businessOrderInfo": {"GL code": "535-office", "Cost center": ""},
        }
    ],
}


def page(*transactions: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"transactions": list(transactions)}
    if token is not None:
        body["nextPageToken"] = token
    return body


# -- Money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.99", Decimal("5.99")),
        ("-2.99", Decimal("-2.99")),
        ("0.0", Decimal("0.0")),
        ("1751.00", Decimal("1751.00")),
        ("0.1", Decimal("0.1")),
        ("1E-7", Decimal("1E-7")),
        ("12345678901234567890.123456789", Decimal("12345678901234567890.123456789")),
    ],
)
def test_amount_is_the_exact_decimal(text: str, expected: Decimal) -> None:
    money = Money.model_validate({"currencyCode": "USD", "amount": text})
    assert money.amount == expected
    assert money.amount.as_tuple() == expected.as_tuple()  # same digits and exponent
    assert isinstance(money.amount, Decimal)


def test_amount_arithmetic_has_no_float_error() -> None:
    amounts = [Money.of(a, "USD").amount for a in ("0.1", "0.2", "-0.3")]
    assert sum(amounts, Decimal(0)) == Decimal("0.0")


@pytest.mark.parametrize("bad", [5.99, 0.1, float("nan"), float("inf"), True])
def test_amount_refuses_non_decimal_json_values(bad: object) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        parse_response(
            TransactionsPage,
            page({"transactionId": "t", "amount": {"currencyCode": "USD", "amount": bad}}),
            operation="getTransactions",
        )
    error = caught.value
    assert error.operation == "getTransactions"
    assert "transactions[0].amount.amount" in str(error)
    assert "decimal string" in str(error)


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-inf", "sNaN", "", " 5.99", "5,99", "1_000"])
def test_amount_refuses_strings_that_are_not_decimals(bad: str) -> None:
    with pytest.raises(ValueError, match="decimal string"):
        parse_decimal_string(bad)


def test_decimal_input_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        parse_decimal_string(Decimal("NaN"))
    assert parse_decimal_string(Decimal("1.50")) == Decimal("1.50")
    assert parse_decimal_string(7) == Decimal(7)


def test_money_round_trips_the_string_exactly() -> None:
    wire = {"currencyCode": "JPY", "amount": "1751.0"}
    money = Money.model_validate(wire)
    assert money.model_dump(by_alias=True, mode="json") == wire
    assert money.model_dump(mode="python")["amount"] == Decimal("1751.0")
    assert json.loads(money.model_dump_json(by_alias=True)) == wire


def test_money_made_in_python_is_written_in_plain_notation() -> None:
    money = Money(currency_code="USD", amount=Decimal("1E-7"))
    assert money.model_dump(by_alias=True, mode="json") == {
        "currencyCode": "USD",
        "amount": "0.0000001",
    }
    assert str(Money.of("-2.99", "USD")) == "-2.99 USD"


def test_money_equality_is_by_value_and_it_is_hashable() -> None:
    assert Money.of("5.99", "USD") == Money.of("5.990", "USD")
    assert Money.of("5.99", "USD") != Money.of("5.99", "EUR")
    assert len({Money.of("5.99", "USD"), Money.of("5.990", "USD")}) == 1
    with pytest.raises(Exception, match="frozen"):
        Money.of("1", "USD").amount = Decimal(2)  # type: ignore[misc]


def test_empty_currency_code_from_amazons_own_example_is_accepted() -> None:
    money = Money.model_validate({"currencyCode": "", "amount": "0"})
    assert money.currency_code == ""


# -- hypothesis: any decimal string round-trips, anything else is a clear error -------------

_digits = st.text(alphabet="0123456789", min_size=1, max_size=25)
decimal_strings = st.builds(
    lambda sign, whole, frac, exp: f"{sign}{whole}{frac}{exp}",
    st.sampled_from(["", "-", "+"]),
    _digits,
    st.one_of(st.just(""), st.just("."), _digits.map(lambda d: "." + d)),
    st.one_of(
        st.just(""),
        st.integers(-30, 30).map(lambda e: f"E{e:+d}"),
        st.integers(0, 30).map(lambda e: f"e{e}"),
    ),
) | _digits.map(lambda d: "." + d)


#: The grammar the strategy above generates: what counts as a decimal string on the wire.
DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@given(decimal_strings)
def test_any_decimal_string_round_trips_exactly(text: str) -> None:
    wire = {"currencyCode": "EUR", "amount": text}
    money = Money.model_validate(wire)
    assert money.amount == Decimal(text)
    assert money.amount.as_tuple() == Decimal(text).as_tuple()
    assert money.model_dump(by_alias=True, mode="json") == wire
    assert Money.model_validate_json(money.model_dump_json(by_alias=True)) == money


@given(st.text(max_size=30))
def test_any_other_string_is_a_clear_error(text: str) -> None:
    if DECIMAL_TEXT.fullmatch(text):
        return  # a decimal string: covered by the round-trip property
    with pytest.raises(MalformedResponseError) as caught:
        parse_response(
            Transaction, {"amount": {"currencyCode": "USD", "amount": text}}, operation="op"
        )
    assert caught.value.details == [
        {"field": "amount.amount", "problem": caught.value.details[0]["problem"]}
    ]
    assert "decimal string" in caught.value.details[0]["problem"]


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="decimal string"):
        parse_decimal_string(value)


# -- round trips of whole documents ---------------------------------------------------------


def test_transaction_page_round_trips_to_amazons_wire_format() -> None:
    wire = page(AMAZON_TRANSACTION, token="abc==")
    parsed = parse_response(TransactionsPage, copy.deepcopy(wire), operation="getTransactions")
    assert parsed.model_dump(by_alias=True, mode="json") == wire
    assert parsed.next_page_token == "abc=="
    transaction = parsed.transactions[0]
    assert transaction.transaction_type is TransactionType.CHARGE
    assert transaction.amount == Money.of("5.99", "USD")
    line = transaction.transaction_line_items[0]
    assert line.discount is not None and line.discount.amount == Decimal("-2.99")
    assert line.business_order_info == {"GL code": "535-office", "Cost center": ""}
    assert transaction.order_line_items() == [
        OrderLineItem(
            order_id="114-1458190-2465828",
            order_line_item_id="31208275451321",
            shipment_id="DhG3L9W23",
        )
    ]


def test_unknown_fields_are_kept_at_every_level() -> None:
    wire = page(
        {
            "transactionId": "t1",
            "newTopLevelField": {"nested": [1, 2]},
            "amount": {"currencyCode": "USD", "amount": "1.00", "precision": 2},
            "transactionLineItems": [{"orderId": "o", "carbonFootprint": "12kg"}],
        }
    )
    wire["pageInfo"] = {"size": 1}
    parsed = TransactionsPage.model_validate(copy.deepcopy(wire))
    assert parsed.model_dump(by_alias=True, mode="json") == wire
    assert parsed.transactions[0].model_extra == {"newTopLevelField": {"nested": [1, 2]}}


def test_explicit_null_is_kept_and_absent_stays_absent() -> None:
    wire = {"transactionId": "t1", "invoiceNumber": None}
    parsed = Transaction.model_validate(wire)
    assert parsed.model_dump(by_alias=True, mode="json") == wire


def test_snake_case_and_camel_case_are_both_accepted() -> None:
    by_alias = OrderLineItem.model_validate(
        {"orderId": "o", "orderLineItemId": "l", "shipmentId": "s"}
    )
    by_name = OrderLineItem(order_id="o", order_line_item_id="l", shipment_id="s")
    assert by_alias == by_name
    assert len({by_alias, by_name}) == 1
    assert by_name.model_dump(by_alias=True) == {
        "orderId": "o",
        "orderLineItemId": "l",
        "shipmentId": "s",
    }


def test_unknown_enum_values_are_kept_as_strings() -> None:
    parsed = Transaction.model_validate({"transactionType": "ADJUSTMENT"})
    assert parsed.transaction_type == "ADJUSTMENT"
    assert Transaction.model_validate({"transactionType": "REFUND"}).transaction_type is (
        TransactionType.REFUND
    )
    detail = InvoiceDetail.model_validate(
        {"invoiceNumber": "x", "invoiceDate": "2024-01-01T00:00:00Z", "invoiceType": "CREDIT_MEMO"}
    )
    assert detail.invoice_type is InvoiceType.CREDIT_MEMO and detail.is_credit_memo


# -- date-times -----------------------------------------------------------------------------


def test_datetimes_are_utc_aware_and_naive_ones_are_taken_as_utc() -> None:
    parsed = Transaction.model_validate(
        {
            "transactionDate": "2024-03-01T10:00:00",
            "feedDate": "2024-03-01T19:00:00+09:00",
        }
    )
    assert parsed.transaction_date == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert parsed.feed_date == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert parsed.feed_date is not None and parsed.feed_date.utcoffset() == timedelta(0)


def test_datetime_text_round_trips_and_python_values_use_amazons_style() -> None:
    wire = {"invoiceNumber": "x", "invoiceDate": "2022-03-30T15:30:22.000Z"}
    assert InvoiceDetail.model_validate(wire).model_dump(by_alias=True, mode="json") == wire
    made = InvoiceDetail(invoice_number="x", invoice_date=datetime(2022, 3, 30, 15, 30, 22))
    assert made.model_dump(by_alias=True, mode="json")["invoiceDate"] == "2022-03-30T15:30:22Z"
    made.invoice_date = datetime(2022, 3, 30, 17, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert made.model_dump(by_alias=True, mode="json")["invoiceDate"] == (
        "2022-03-30T15:00:00.123Z"
    )


def test_format_amazon_datetime() -> None:
    assert format_amazon_datetime(datetime(2023, 1, 1)) == "2023-01-01T00:00:00Z"
    assert format_amazon_datetime(datetime(2023, 1, 1, 0, 0, 0, 791000, UTC)) == (
        "2023-01-01T00:00:00.791Z"
    )


# -- malformed answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"transactions": "not a list"}, "transactions"),
        ({"transactions": {"0": {}}}, "transactions"),
        ({}, "transactions"),
        (None, "<body>"),
        ([], "<body>"),
        ({"transactions": [{"feedDate": "yesterday"}]}, "transactions[0].feedDate"),
        (
            {"transactions": [{"itemQuantity": 1, "transactionLineItems": 3}]},
            "transactions[0].transactionLineItems",
        ),
        (
            {"transactions": [{}, {"transactionLineItems": [{"tax": {"amount": "1"}}]}]},
            "transactions[1].transactionLineItems[0].tax.currencyCode",
        ),
        ({"transactions": [{"transactionType": 7}]}, "transactions[0].transactionType"),
    ],
)
def test_malformed_page_names_operation_and_field(body: Any, field: str) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        parse_response(TransactionsPage, body, operation="getTransactions", request_id="rid-1")
    error = caught.value
    assert error.operation == "getTransactions"
    assert error.request_id == "rid-1"
    assert error.status == 200
    fields = [problem["field"] for problem in error.details]
    assert field in fields
    assert str(error).startswith("getTransactions: HTTP 200")


def test_malformed_report_document_does_not_leak_its_url() -> None:
    url = "https://bucket.s3.amazonaws.com/doc?X-Amz-Signature=SECRET123"
    with pytest.raises(MalformedResponseError) as caught:
        parse_response(
            ReportDocument,
            {"url": url, "compressionAlgorithm": ["GZIP"]},
            operation="getReportDocument",
        )
    assert "SECRET123" not in str(caught.value)
    assert "SECRET123" not in repr(caught.value.details)


def test_report_document_repr_hides_the_signature() -> None:
    document = ReportDocument.model_validate(
        {
            "reportDocumentId": "d1",
            "url": "https://bucket.s3.amazonaws.com/doc.pdf?X-Amz-Signature=SECRET123&x=1",
        }
    )
    for shown in (repr(document), str(document), f"{document!r}"):
        assert "SECRET123" not in shown
        assert "https://bucket.s3.amazonaws.com/doc.pdf" in shown
    assert "SECRET123" in document.url  # still usable for the download


def test_report_status_is_strict_and_knows_final_states() -> None:
    wire = {
        "reportId": "r",
        "reportType": "GET_AB_INVOICE_PDF",
        "createdTime": "2024-01-01T00:00:00Z",
        "processingStatus": "IN_QUEUE",
    }
    assert not Report.model_validate(wire).is_terminal
    for status in ("DONE", "CANCELLED", "FATAL"):
        assert Report.model_validate({**wire, "processingStatus": status}).is_terminal
    assert ProcessingStatus.IN_PROGRESS.is_terminal is False
    with pytest.raises(MalformedResponseError, match="processingStatus"):
        parse_response(Report, {**wire, "processingStatus": "PAUSED"}, operation="getReport")


def test_orders_page_is_permissive_with_amazons_inconsistent_example() -> None:
    # Amazon's own example: an orderStatus outside the enum, a null address line, a token.
    wire = {
        "orders": [
            {
                "orderDate": "2020-12-01T01:55:00Z",
                "orderId": "112-1248174-0174665",
                "orderStatus": "CANCELLED",
                "orderNetTotal": {"currencyCode": "USD", "amount": "0"},
                "shipments": [
                    {
                        "shipmentStatus": "SHIPPED",
                        "shippingAddress": {"addressLine1": "x", "addressLine2": None},
                    }
                ],
                "charges": [
                    {"transactionId": "t", "amount": {"currencyCode": "USD", "amount": "0"}}
                ],
            }
        ],
        "nextPageToken": "",
        "size": 1,
    }
    parsed = OrdersPage.model_validate(copy.deepcopy(wire))
    assert parsed.orders[0].order_status == "CANCELLED"
    assert parsed.model_dump(by_alias=True, mode="json") == wire


def test_invoice_total_is_checked_and_parsed_exactly() -> None:
    detail = InvoiceDetail.model_validate(
        {"invoiceNumber": "x", "invoiceDate": "2024-01-01T00:00:00Z", "invoiceTotal": "1751.0"}
    )
    assert detail.invoice_total_amount == Decimal("1751.0")
    with pytest.raises(MalformedResponseError, match="invoiceTotal"):
        parse_response(
            InvoiceDetail,
            {"invoiceNumber": "x", "invoiceDate": "2024-01-01T00:00:00Z", "invoiceTotal": "1.2.3"},
            operation="getInvoiceDetailsByOrderLineItems",
        )
