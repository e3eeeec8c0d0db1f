"""The scenario a sandbox serves: one business account's Amazon Business purchase history.

A scenario file is JSON in Amazon's own wire shapes, so a sandbox response is a slice of it:

``transactions`` (required)
    ``Transaction`` objects of the Reconciliation API (``Reconciliation_API.json``): one per
    payment event. A ``CHARGE`` is money taken for a shipment, a ``REFUND`` (or an additional
    ``OVERREFUND``) money given back; every ``Money`` carries its amount as a decimal string.
    Each transaction lists ``transactionLineItems`` that name the order line they pay for by
    ``(orderId, orderLineItemId, shipmentId)``, the key that ``getInvoiceDetailsByOrderLineItems``
    and the Document API use.
``orders`` (optional)
    ``Order`` objects of the Reporting API (``Reporting_API_v2021_01_08.json``). An entry may
    be partial (for instance only ``orderId``, ``orderDate`` and ``orderStatus``): every field
    it lacks is derived from the transactions.
``invoiceDetails`` (optional)
    ``InvoiceDetailsOfOrderLineItem`` objects of the Reconciliation API. A line item key listed
    here is served exactly as given; every other key is derived.

Keys starting with ``_`` and ``description`` are free for comments.

Derivation from the transaction line items:

* **Invoice numbers.** A line item's invoice (or credit memo) number is its transaction's
  ``invoiceNumber``; without one, a number given in ``invoiceDetails`` for the key, and
  otherwise a deterministic ``XXXX-XXXX-XXXX`` number computed from the transaction id (see
  :func:`derived_invoice_number`), so one transaction maps to one document.
* **Invoice details** per distinct key: ``STANDARD`` for ``CHARGE`` line items, ``CREDIT_MEMO``
  for ``REFUND``/``OVERREFUND`` ones, so a returned item's key lists both its invoice and its
  credit memo. ``invoiceDate`` is the line item's ``shipmentDate`` or else the transaction's
  ``transactionDate``; a credit memo is dated by its refund's ``transactionDate``.
* **Orders** per ``orderId`` with every field the ``Order`` model requires, plus
  ``lineItems`` (one per ``orderLineItemId``, listing its ``transactionIds``), ``shipments``
  (one per ``shipmentId`` of the charged items) and ``charges`` (one per transaction touching
  the order; ``transactionId`` links back, refunds appear with negative amounts). Order money
  totals sum the charged line items; ``orderPromotion`` keeps the sign of the line items'
  ``discount`` (negative, as in Amazon's examples), so ``orderNetTotal = orderSubTotal +
  orderShippingAndHandling + orderPromotion + orderTax``.
* **Documents** (:class:`~connectors.sandbox.pdf.InvoiceDocument`) per invoice number, one line
  per order line item and shipment, amounts from ``totalAmount``; credit memos show positive
  amounts and ``document_type="Credits"``.

Money is ``Decimal`` internally and a decimal string on the wire; derived date-times are ISO
8601 in UTC with a ``Z`` suffix. Bad input raises :class:`ScenarioError` naming the offending
transaction and field.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connectors.amazon_business.regions import Region, region_of_marketplace
from connectors.sandbox.pdf import (
    DOCUMENT_TYPES,
    InvoiceDocument,
    InvoiceLine,
    format_amount,
    minor_units,
)

__all__ = [
    "CREDIT_TRANSACTION_TYPES",
    "ORDER_STATUSES",
    "TRANSACTION_TYPES",
    "LineItemKey",
    "Scenario",
    "ScenarioError",
    "derived_invoice_number",
    "format_datetime",
    "load_scenario",
    "parse_datetime",
    "parse_money",
]

LineItemKey = tuple[str, str, str]
"""``(orderId, orderLineItemId, shipmentId)``: Amazon's ``OrderLineItem`` identifiers."""

#: ``Transaction.transactionType`` values of the Reconciliation model.
TRANSACTION_TYPES: tuple[str, ...] = ("CHARGE", "REFUND", "OVERREFUND")
#: Transaction types that give money back and are documented by a credit memo.
CREDIT_TRANSACTION_TYPES = frozenset({"REFUND", "OVERREFUND"})
#: ``Order.orderStatus`` values of the Reporting model.
ORDER_STATUSES: tuple[str, ...] = (
    "Pending Approval",
    "Payment Confirmed",
    "Pending Fulfillment",
    "Pending",
    "Cancelled",
    "Closed",
)
_INVOICE_TYPES = ("STANDARD", "CREDIT_MEMO")
_ORDER_REQUIRED = (
    "orderDate",
    "orderId",
    "purchaseOrderNumber",
    "orderQuantity",
    "orderStatus",
    "lastOrderApproverName",
    "buyingCustomer",
    "buyerGroupName",
    "orderSubTotal",
    "orderShippingAndHandling",
    "orderPromotion",
    "orderTax",
    "orderNetTotal",
    "businessOrderInfo",
)
#: The parts of a line's ``totalAmount``, which is their sum when a file leaves it out.
_LINE_TOTAL_PARTS = (
    "principalAmount",
    "shippingCharge",
    "regulatoryFee",
    "giftWrappingCharge",
    "discount",
    "tax",
)
_LINE_MONEY_FIELDS = ("totalAmount", *_LINE_TOTAL_PARTS, "unitPrice")
_LINE_STRING_FIELDS = (
    "refundReason",
    "taxRate",
    "orderId",
    "unspsc",
    "orderLineItemId",
    "purchaseOrderNumber",
    "purchaseOrderLineItemId",
    "asin",
    "productTitle",
    "shipmentId",
    "merchantLegalName",
    "budgetId",
)
_TRANSACTION_STRING_FIELDS = (
    "marketplaceId",
    "chargeIdentifier",
    "shipTaxRate",
    "giftWrapTaxRate",
    "legalEntityName",
    "purchasingCustomerGroupName",
    "invoiceNumber",
    "paymentInstrumentType",
    "paymentInstrumentLast4Digits",
)
_DEFAULT_SELLER = {
    Region.NA: "Amazon.com Services LLC",
    Region.EU: "Amazon EU S.à r.l.",
    Region.FE: "Amazon Japan G.K.",
}
# First two digits of a UNSPSC code (its segment) -> the Reporting API's productCategory.
_UNSPSC_CATEGORIES = {
    "14": "Paper Products",
    "24": "Industrial & Scientific",
    "25": "Automotive",
    "26": "Electrical",
    "27": "Tools & Home Improvement",
    "31": "Industrial & Scientific",
    "39": "Lighting",
    "41": "Lab & Scientific",
    "42": "Medical Supplies",
    "43": "Computers & Accessories",
    "44": "Office Products",
    "46": "Safety & Security",
    "47": "Janitorial & Sanitation",
    "48": "Food Service",
    "50": "Grocery",
    "52": "Home & Kitchen",
    "53": "Apparel",
    "55": "Books",
    "56": "Furniture",
    "60": "Education Supplies",
}
_ALLOWED_TOP_LEVEL = frozenset({"transactions", "orders", "invoiceDetails", "description"})
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_ZERO = Decimal(0)


class ScenarioError(ValueError):
    """A scenario file (or a request against it) that cannot be served as it is."""


# --------------------------------------------------------------------------------------------
# Wire-format helpers


def parse_datetime(value: object, where: str = "date-time") -> datetime:
    """Parse an ISO 8601 date-time with a time zone (``Z`` or an offset) into aware UTC."""
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: expected an ISO 8601 date-time string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ScenarioError(f"{where}: {value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None or "T" not in value:
        raise ScenarioError(
            f"{where}: {value!r} needs a time and a time zone, e.g. 2024-01-05T10:30:00Z"
        )
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """``value`` as Amazon writes date-times: ISO 8601 in UTC with ``Z`` (milliseconds if any).

    A naive datetime is taken to be UTC.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def parse_money(value: object, where: str = "money") -> tuple[Decimal, str]:
    """Parse a ``Money`` object ``{"currencyCode": "USD", "amount": "5.99"}``.

    The amount must be a decimal *string*: a JSON number would have passed through a binary
    float on the way, which is exactly what money must never do.
    """
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a Money object, got {value!r}")
    currency = value.get("currencyCode")
    amount = value.get("amount")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise ScenarioError(f"{where}.currencyCode: expected an ISO 4217 code, got {currency!r}")
    if not isinstance(amount, str):
        raise ScenarioError(f"{where}.amount: expected a decimal string, got {amount!r}")
    try:
        parsed = Decimal(amount.strip())
    except InvalidOperation:
        raise ScenarioError(f"{where}.amount: {amount!r} is not a decimal number") from None
    if not parsed.is_finite():
        raise ScenarioError(f"{where}.amount: {amount!r} is not a finite amount")
    return parsed, currency


def _copy_json(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists and scalars); much faster than ``deepcopy``."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"currencyCode": currency, "amount": format_amount(amount, currency)}


def derived_invoice_number(transaction_id: str, credit: bool) -> str:
    """The invoice (or credit memo) number the sandbox assigns to a transaction without one.

    Deterministic: a ``XXXX-XXXX-XXXX`` rendering of a hash of the transaction id, in the shape
    of Amazon's North American invoice numbers.
    """
    kind = "credit" if credit else "invoice"
    digest = hashlib.sha256(f"{kind}:{transaction_id}".encode()).digest()
    text = base64.b32encode(digest).decode("ascii")[:12]
    return f"{text[0:4]}-{text[4:8]}-{text[8:12]}"


def _digits(seed: str, count: int) -> str:
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return str(value % 10**count).zfill(count)


# --------------------------------------------------------------------------------------------
# Parsed views of the input (internal)


@dataclass(frozen=True, slots=True)
class _Txn:
    raw: dict[str, Any]
    transaction_id: str
    transaction_type: str
    transaction_date: datetime
    feed_date: datetime
    amount: Decimal
    currency: str
    invoice_number: str | None
    lines: tuple[_Line, ...]

    @property
    def credit(self) -> bool:
        return self.transaction_type in CREDIT_TRANSACTION_TYPES


@dataclass(frozen=True, slots=True)
class _Line:
    raw: dict[str, Any]
    index: int
    order_id: str | None
    order_line_item_id: str | None
    shipment_id: str | None
    quantity: int | None
    shipment_date: datetime | None
    amounts: dict[str, Decimal]  # the line's Money fields that are present

    @property
    def key(self) -> LineItemKey | None:
        if self.order_id and self.order_line_item_id and self.shipment_id:
            return (self.order_id, self.order_line_item_id, self.shipment_id)
        return None

    def get(self, name: str) -> Decimal:
        return self.amounts.get(name, _ZERO)

    @property
    def total(self) -> Decimal:
        """``totalAmount``, or the sum of the components when the file leaves it out."""
        if "totalAmount" in self.amounts:
            return self.amounts["totalAmount"]
        return sum((self.get(name) for name in _LINE_TOTAL_PARTS), _ZERO)


def _optional_str(obj: Mapping[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScenarioError(f"{where}.{name}: expected a string, got {value!r}")
    return value


def _customer(value: object, where: str) -> None:
    if not isinstance(value, Mapping) or not isinstance(value.get("id"), str):
        raise ScenarioError(f"{where}: expected a Customer object with a string 'id'")
    for name in ("name", "email"):
        _optional_str(value, name, where)


def _parse_line(raw: object, index: int, currency: str, where: str) -> _Line:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a TransactionLineItem object, got {raw!r}")
    for name in _LINE_STRING_FIELDS:
        _optional_str(raw, name, where)
    amounts: dict[str, Decimal] = {}
    for name in _LINE_MONEY_FIELDS:
        if name in raw:
            amount, line_currency = parse_money(raw[name], f"{where}.{name}")
            if line_currency != currency:
                raise ScenarioError(
                    f"{where}.{name}: currency {line_currency} differs from the "
                    f"transaction's {currency}"
                )
            amounts[name] = amount
    quantity = raw.get("itemQuantity")
    if quantity is not None and (
        not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0
    ):
        raise ScenarioError(f"{where}.itemQuantity: expected a non-negative integer")
    shipment_date = None
    if "shipmentDate" in raw:
        shipment_date = parse_datetime(raw["shipmentDate"], f"{where}.shipmentDate")
    info = raw.get("businessOrderInfo")
    if info is not None and (
        not isinstance(info, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in info.items())
    ):
        raise ScenarioError(f"{where}.businessOrderInfo: expected an object of strings")
    return _Line(
        raw=raw,
        index=index,
        order_id=raw.get("orderId") or None,
        order_line_item_id=raw.get("orderLineItemId") or None,
        shipment_id=raw.get("shipmentId") or None,
        quantity=quantity,
        shipment_date=shipment_date,
        amounts=amounts,
    )


def _parse_transaction(raw: object, position: int) -> _Txn:
    if not isinstance(raw, dict):
        raise ScenarioError(f"transactions[{position}]: expected a Transaction object")
    transaction_id = raw.get("transactionId")
    if not isinstance(transaction_id, str) or not transaction_id:
        raise ScenarioError(f"transactions[{position}]: missing transactionId")
    where = f"transaction {transaction_id}"
    transaction_type = raw.get("transactionType")
    if transaction_type not in TRANSACTION_TYPES:
        raise ScenarioError(
            f"{where}.transactionType: expected one of {', '.join(TRANSACTION_TYPES)}, "
            f"got {transaction_type!r}"
        )
    for name in ("transactionDate", "feedDate", "amount"):
        if name not in raw:
            raise ScenarioError(f"{where}: missing {name}")
    transaction_date = parse_datetime(raw["transactionDate"], f"{where}.transactionDate")
    feed_date = parse_datetime(raw["feedDate"], f"{where}.feedDate")
    amount, currency = parse_money(raw["amount"], f"{where}.amount")
    for name in _TRANSACTION_STRING_FIELDS:
        _optional_str(raw, name, where)
    for name in ("buyer", "payer"):
        if name in raw:
            _customer(raw[name], f"{where}.{name}")
    associated = raw.get("associatedTransactionDetails", [])
    if not isinstance(associated, list) or not all(
        isinstance(a, Mapping) and isinstance(a.get("associatedTransactionId"), str)
        for a in associated
    ):
        raise ScenarioError(
            f"{where}.associatedTransactionDetails: expected a list of "
            "{'associatedTransactionId': ...} objects"
        )
    raw_lines = raw.get("transactionLineItems", [])
    if not isinstance(raw_lines, list):
        raise ScenarioError(f"{where}.transactionLineItems: expected a list")
    lines = tuple(
        _parse_line(line, i, currency, f"{where}.transactionLineItems[{i}]")
        for i, line in enumerate(raw_lines)
    )
    return _Txn(
        raw=raw,
        transaction_id=transaction_id,
        transaction_type=transaction_type,
        transaction_date=transaction_date,
        feed_date=feed_date,
        amount=amount,
        currency=currency,
        invoice_number=raw.get("invoiceNumber") or None,
        lines=lines,
    )


def _parse_given_invoice_details(raw: object) -> dict[LineItemKey, dict[str, Any]]:
    if not isinstance(raw, list):
        raise ScenarioError("invoiceDetails: expected a list of InvoiceDetailsOfOrderLineItem")
    given: dict[LineItemKey, dict[str, Any]] = {}
    for i, entry in enumerate(raw):
        where = f"invoiceDetails[{i}]"
        if not isinstance(entry, dict):
            raise ScenarioError(f"{where}: expected an InvoiceDetailsOfOrderLineItem object")
        item = entry.get("orderLineItem")
        if not isinstance(item, Mapping):
            raise ScenarioError(f"{where}: missing orderLineItem")
        parts = [item.get(name) for name in ("orderId", "orderLineItemId", "shipmentId")]
        if not all(isinstance(part, str) and part for part in parts):
            raise ScenarioError(
                f"{where}.orderLineItem: orderId, orderLineItemId and shipmentId are required"
            )
        key: LineItemKey = (str(parts[0]), str(parts[1]), str(parts[2]))
        if key in given:
            raise ScenarioError(f"{where}: line item {key} is listed twice")
        details = entry.get("invoiceDetails")
        if not isinstance(details, list):
            raise ScenarioError(f"{where}: missing the invoiceDetails list")
        for j, detail in enumerate(details):
            at = f"{where}.invoiceDetails[{j}]"
            if not isinstance(detail, Mapping):
                raise ScenarioError(f"{at}: expected an InvoiceDetail object")
            if not isinstance(detail.get("invoiceNumber"), str) or not detail["invoiceNumber"]:
                raise ScenarioError(f"{at}: missing invoiceNumber")
            parse_datetime(detail.get("invoiceDate"), f"{at}.invoiceDate")
            if detail.get("invoiceType", "STANDARD") not in _INVOICE_TYPES:
                raise ScenarioError(f"{at}.invoiceType: expected STANDARD or CREDIT_MEMO")
        given[key] = _copy_json(entry)
    return given


def _parse_given_orders(raw: object) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, list):
        raise ScenarioError("orders: expected a list of Order objects")
    given: dict[str, dict[str, Any]] = {}
    for i, order in enumerate(raw):
        if not isinstance(order, dict):
            raise ScenarioError(f"orders[{i}]: expected an Order object")
        order_id = order.get("orderId")
        if not isinstance(order_id, str) or not order_id:
            raise ScenarioError(f"orders[{i}]: missing orderId")
        if order_id in given:
            raise ScenarioError(f"orders[{i}]: order {order_id} is listed twice")
        if "orderDate" in order:
            parse_datetime(order["orderDate"], f"order {order_id}.orderDate")
        status = order.get("orderStatus")
        if status is not None and status not in ORDER_STATUSES:
            raise ScenarioError(
                f"order {order_id}.orderStatus: expected one of {', '.join(ORDER_STATUSES)}"
            )
        given[order_id] = _copy_json(order)
    return given


# --------------------------------------------------------------------------------------------
# Derivation (internal)


def _invoice_number_of(
    txn: _Txn, line: _Line | None, given: Mapping[LineItemKey, dict[str, Any]]
) -> str:
    """The invoice or credit memo number that documents ``line`` of ``txn``."""
    if txn.invoice_number:
        return txn.invoice_number
    derived = derived_invoice_number(txn.transaction_id, txn.credit)
    key = line.key if line is not None else None
    if key is not None and key in given:
        wanted = "CREDIT_MEMO" if txn.credit else "STANDARD"
        numbers = [
            d["invoiceNumber"]
            for d in given[key]["invoiceDetails"]
            if d.get("invoiceType", "STANDARD") == wanted
        ]
        if derived in numbers:
            return derived
        if numbers:
            return str(numbers[0])
    return derived


def _invoice_date_of(txn: _Txn, line: _Line) -> datetime:
    if not txn.credit and line.shipment_date is not None:
        return line.shipment_date
    return txn.transaction_date


def _derive_invoice_details(
    txns: Iterable[_Txn], given: Mapping[LineItemKey, dict[str, Any]]
) -> dict[LineItemKey, dict[str, Any]]:
    found: dict[LineItemKey, dict[str, tuple[datetime, str]]] = {}
    for txn in txns:
        for line in txn.lines:
            key = line.key
            if key is None or key in given:
                continue
            number = _invoice_number_of(txn, line, given)
            per_key = found.setdefault(key, {})
            invoice_type = "CREDIT_MEMO" if txn.credit else "STANDARD"
            if number not in per_key:
                per_key[number] = (_invoice_date_of(txn, line), invoice_type)
    result: dict[LineItemKey, dict[str, Any]] = {}
    for key in sorted(set(found) | set(given)):
        if key in given:
            result[key] = given[key]
            continue
        ordered = sorted(found[key].items(), key=lambda item: (item[1][0], item[0]))
        result[key] = {
            "orderLineItem": {"orderId": key[0], "orderLineItemId": key[1], "shipmentId": key[2]},
            "invoiceDetails": [
                {"invoiceNumber": number, "invoiceDate": format_datetime(when), "invoiceType": kind}
                for number, (when, kind) in ordered
            ],
        }
    return result


def _default_seller(txn: _Txn) -> str:
    region = region_of_marketplace(str(txn.raw.get("marketplaceId", "")))
    return _DEFAULT_SELLER.get(region, "Amazon") if region is not None else "Amazon"


def _description(txn: _Txn, line: _Line | None) -> str:
    if line is None:
        return f"Amazon Business {txn.transaction_type.lower()} {txn.transaction_id}"
    for name in ("productTitle", "asin"):
        if line.raw.get(name):
            return str(line.raw[name])
    if line.order_line_item_id:
        return f"Order line item {line.order_line_item_id}"
    return f"Item {line.index + 1} of transaction {txn.transaction_id}"


def _quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up to ``currency``'s minor unit."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), ROUND_HALF_UP)


@dataclass(slots=True)
class _DraftLine:
    description: str
    quantity: int
    unit_price: Decimal
    amount: Decimal


@dataclass(slots=True)
class _DocumentDraft:
    number: str
    credit: bool
    currency: str
    issued: datetime
    seller: str
    buyer: str
    order_ids: list[str] = field(default_factory=list)
    lines: dict[tuple[str, ...], _DraftLine] = field(default_factory=dict)
    keys: set[LineItemKey] = field(default_factory=set)


def _derive_documents(
    txns: Iterable[_Txn], given: Mapping[LineItemKey, dict[str, Any]]
) -> tuple[dict[str, InvoiceDocument], dict[str, frozenset[LineItemKey]]]:
    drafts: dict[str, _DocumentDraft] = {}
    for txn in txns:
        entries: list[_Line | None] = list(txn.lines)
        if not entries:
            if not txn.invoice_number:
                continue  # nothing to describe and nobody can ask for it
            entries = [None]
        for line in entries:
            number = _invoice_number_of(txn, line, given)
            when = _invoice_date_of(txn, line) if line is not None else txn.transaction_date
            draft = drafts.get(number)
            if draft is None:
                seller = (line.raw.get("merchantLegalName") if line else None) or _default_seller(
                    txn
                )
                buyer = txn.raw.get("legalEntityName") or txn.raw.get("buyer", {}).get("name")
                draft = drafts[number] = _DocumentDraft(
                    number, txn.credit, txn.currency, when, str(seller), str(buyer or "")
                )
            if draft.credit != txn.credit:
                raise ScenarioError(
                    f"transaction {txn.transaction_id}: invoice number {number} is used for "
                    "both an invoice and a credit memo"
                )
            if draft.currency != txn.currency:
                raise ScenarioError(
                    f"transaction {txn.transaction_id}: invoice {number} mixes currencies "
                    f"{draft.currency} and {txn.currency}"
                )
            draft.issued = min(draft.issued, when)
            sign = Decimal(-1) if txn.credit else Decimal(1)
            if line is None:
                slot: tuple[str, ...] = ("txn", txn.transaction_id)
                amount, quantity, unit = sign * txn.amount, 1, sign * txn.amount
            else:
                if line.order_id and line.order_id not in draft.order_ids:
                    draft.order_ids.append(line.order_id)
                draft.keys.add(
                    (line.order_id or "", line.order_line_item_id or "", line.shipment_id or "")
                )
                slot = (
                    ("line", *line.key)
                    if line.key
                    else ("txn", txn.transaction_id, str(line.index))
                )
                quantity = line.quantity or 1
                amount = sign * line.total
                if "unitPrice" in line.amounts:
                    unit = abs(line.amounts["unitPrice"])
                elif "principalAmount" in line.amounts:
                    unit = _quantize(abs(line.amounts["principalAmount"]) / quantity, txn.currency)
                else:
                    unit = _quantize(abs(amount) / quantity, txn.currency)
            merged = draft.lines.get(slot)
            if merged is not None:  # the same item paid by several transactions
                merged.quantity = max(merged.quantity, quantity)
                merged.amount += amount
            else:
                draft.lines[slot] = _DraftLine(_description(txn, line), quantity, unit, amount)
    documents: dict[str, InvoiceDocument] = {}
    keys: dict[str, frozenset[LineItemKey]] = {}
    for number in sorted(drafts):
        draft = drafts[number]
        lines = tuple(
            InvoiceLine(line.description, line.quantity, line.unit_price, line.amount)
            for line in draft.lines.values()
        )
        documents[number] = InvoiceDocument(
            invoice_number=number,
            invoice_date=draft.issued.date(),
            document_type="Credits" if draft.credit else "Invoice",
            order_id=", ".join(draft.order_ids),
            seller=draft.seller,
            buyer=draft.buyer,
            currency=draft.currency,
            lines=lines,
            total=sum((line.amount for line in lines), _ZERO),
        )
        keys[number] = frozenset(draft.keys)
    return documents, keys


def _tracking_number(order_id: str, shipment_id: str) -> str:
    return "TBA" + _digits(f"tracking:{order_id}:{shipment_id}", 12)


def _derive_order(order_id: str, entries: list[tuple[_Txn, _Line]]) -> dict[str, Any]:
    """A Reporting API ``Order`` for ``order_id`` from its transaction line items."""
    currencies = {txn.currency for txn, _ in entries}
    if len(currencies) > 1:
        raise ScenarioError(f"order {order_id}: line items in several currencies {currencies}")
    currency = currencies.pop()
    charged = [(txn, line) for txn, line in entries if not txn.credit]
    first_txn = (charged or entries)[0][0]

    def total(name: str, pairs: Iterable[tuple[_Txn, _Line]]) -> dict[str, str]:
        return _money(sum((line.get(name) for _, line in pairs), _ZERO), currency)

    def net(pairs: Iterable[tuple[_Txn, _Line]]) -> dict[str, str]:
        return _money(sum((line.total for _, line in pairs), _ZERO), currency)

    def handling(pairs: Iterable[tuple[_Txn, _Line]]) -> dict[str, str]:
        fees = ("shippingCharge", "giftWrappingCharge", "regulatoryFee")
        return _money(sum((line.get(name) for _, line in pairs for name in fees), _ZERO), currency)

    def first_str(name: str, default: str = "") -> str:
        for _, line in entries:
            if line.raw.get(name):
                return str(line.raw[name])
        return default

    dates = [txn.transaction_date for txn, _ in entries]
    dates += [line.shipment_date for _, line in entries if line.shipment_date is not None]
    buyer = first_txn.raw.get("buyer")
    seller_default = _default_seller(first_txn)

    # Shipments of the charged items, with deterministic tracking numbers.
    shipments: dict[str, list[tuple[_Txn, _Line]]] = {}
    for txn, line in charged:
        if line.shipment_id:
            shipments.setdefault(line.shipment_id, []).append((txn, line))
    shipment_json: list[dict[str, Any]] = []
    tracking: dict[str, str] = {}
    for shipment_id, pairs in shipments.items():
        shipped = min(line.shipment_date or txn.transaction_date for txn, line in pairs)
        tracking[shipment_id] = _tracking_number(order_id, shipment_id)
        shipment_json.append(
            {
                "shipmentDate": format_datetime(shipped),
                "shipmentStatus": "Shipped",
                "carrierTracking": tracking[shipment_id],
                "deliveryInformation": {
                    "expectedDeliveryDate": format_datetime(shipped + timedelta(days=3)),
                    "deliveryStatus": "DELIVERED",
                },
                "shipmentQuantity": sum(line.quantity or 1 for _, line in pairs),
                "shipmentSubTotal": total("principalAmount", pairs),
                "shipmentShippingAndHandling": handling(pairs),
                "shipmentPromotion": total("discount", pairs),
                "shipmentTax": total("tax", pairs),
                "shipmentNetTotal": net(pairs),
                "carrierName": "Amazon Logistics",
            }
        )
    shipment_json.sort(key=lambda s: (s["shipmentDate"], s["carrierTracking"]))

    # Line items, one per orderLineItemId (a line may ship in several shipments).
    by_line: dict[str, list[tuple[_Txn, _Line]]] = {}
    for txn, line in entries:
        by_line.setdefault(line.order_line_item_id or f"#{line.raw.get('asin', '')}", []).append(
            (txn, line)
        )
    line_json: list[dict[str, Any]] = []
    for pairs in by_line.values():
        charged_pairs = [(txn, line) for txn, line in pairs if not txn.credit]
        sample = (charged_pairs or pairs)[0][1]
        quantity = sum(line.quantity or 1 for _, line in charged_pairs)
        if "unitPrice" in sample.amounts:
            unit = abs(sample.amounts["unitPrice"])
        else:
            principal = sum((line.get("principalAmount") for _, line in charged_pairs), _ZERO)
            unit = _quantize(abs(principal) / quantity, currency) if quantity else _ZERO
        transaction_ids = sorted(
            {txn.transaction_id: txn.transaction_date for txn, _ in pairs}.items(),
            key=lambda item: (item[1], item[0]),
        )
        unspsc = str(sample.raw.get("unspsc", ""))
        line_json.append(
            {
                "productCategory": _UNSPSC_CATEGORIES.get(unspsc[:2], "Business Supplies"),
                "asin": str(sample.raw.get("asin", "")),
                "title": str(sample.raw.get("productTitle", "")),
                "unspsc": unspsc,
                "productCondition": "New",
                "listedPricePerUnit": _money(unit, currency),
                "purchasedPricePerUnit": _money(unit, currency),
                "itemQuantity": quantity,
                "itemSubTotal": total("principalAmount", charged_pairs),
                "itemShippingAndHandling": handling(charged_pairs),
                "itemPromotion": total("discount", charged_pairs),
                "itemTax": total("tax", charged_pairs),
                "itemNetTotal": net(charged_pairs),
                "purchaseOrderLineItem": str(sample.raw.get("purchaseOrderLineItemId", "")),
                "taxExemptionApplied": False,
                "taxExemptionType": "",
                "taxExemptOptOut": False,
                "discountProgram": "",
                "discountType": "",
                "discountAmount": _money(_ZERO, currency),
                "discountRatio": "0",
                "seller": {
                    "sellerName": str(sample.raw.get("merchantLegalName") or seller_default)
                },
                "sellerCredentials": [],
                "sellerCredentialDetails": [],
                "brandCode": "",
                "brandName": "",
                "manufacturerName": "",
                "transactionIds": [transaction_id for transaction_id, _ in transaction_ids],
                "carrierTrackingNumbers": sorted(
                    {
                        tracking[line.shipment_id]
                        for _, line in pairs
                        if line.shipment_id in tracking
                    }
                ),
            }
        )

    # Charges: one per transaction that touches the order.
    per_txn: dict[str, tuple[_Txn, Decimal]] = {}
    for txn, line in entries:
        previous = per_txn.get(txn.transaction_id, (txn, _ZERO))[1]
        per_txn[txn.transaction_id] = (txn, previous + line.total)
    charge_json: list[dict[str, Any]] = []
    for txn, amount in sorted(
        per_txn.values(), key=lambda item: (item[0].transaction_date, item[0].transaction_id)
    ):
        if all(line.order_id == order_id for line in txn.lines):
            amount = txn.amount  # the whole transaction pays for this order
        charge_json.append(
            {
                "transactionDate": format_datetime(txn.transaction_date),
                "transactionId": txn.transaction_id,
                "amount": _money(amount, currency),
                "paymentInstrumentType": str(txn.raw.get("paymentInstrumentType", "")),
                "paymentInstrumentLast4Digits": str(
                    txn.raw.get("paymentInstrumentLast4Digits", "")
                ),
            }
        )

    info = next(
        (
            dict(line.raw["businessOrderInfo"])
            for _, line in entries
            if "businessOrderInfo" in line.raw
        ),
        {},
    )
    return {
        "orderDate": format_datetime(min(dates)),
        "orderId": order_id,
        "purchaseOrderNumber": first_str("purchaseOrderNumber"),
        "orderQuantity": sum(line.quantity or 1 for _, line in charged),
        "orderStatus": "Closed",
        "lastOrderApproverName": str(buyer.get("name", "")) if isinstance(buyer, dict) else "",
        "buyingCustomer": _copy_json(buyer) if isinstance(buyer, dict) else {"id": "unknown"},
        "buyerGroupName": str(first_txn.raw.get("purchasingCustomerGroupName", "")),
        "orderSubTotal": total("principalAmount", charged),
        "orderShippingAndHandling": handling(charged),
        "orderPromotion": total("discount", charged),
        "orderTax": total("tax", charged),
        "orderNetTotal": net(charged),
        "businessOrderInfo": info,
        "lineItems": line_json,
        "shipments": shipment_json,
        "charges": charge_json,
    }


def _derive_orders(
    txns: Iterable[_Txn], given: Mapping[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    entries: dict[str, list[tuple[_Txn, _Line]]] = {}
    for txn in txns:
        for line in txn.lines:
            if line.order_id:
                entries.setdefault(line.order_id, []).append((txn, line))
    orders: dict[str, dict[str, Any]] = {}
    for order_id in set(entries) | set(given):
        derived = _derive_order(order_id, entries[order_id]) if order_id in entries else {}
        derived.update(_copy_json(given.get(order_id, {})))
        missing = [name for name in _ORDER_REQUIRED if name not in derived]
        if missing:
            raise ScenarioError(
                f"order {order_id} has no transactions to derive it from and lacks "
                f"{', '.join(missing)}"
            )
        parse_datetime(derived["orderDate"], f"order {order_id}.orderDate")
        orders[order_id] = derived
    return dict(
        sorted(
            orders.items(),
            key=lambda item: (parse_datetime(item[1]["orderDate"]), item[0]),
        )
    )


# --------------------------------------------------------------------------------------------
# The scenario


@dataclass
class Scenario:
    """Everything a sandbox serves, in Amazon's wire shapes.

    Build it with :meth:`from_json` (or :func:`load_scenario`): that validates the input and
    derives whatever the file leaves out. The fields are the served data, keyed the way the
    sandbox looks them up.
    """

    transactions: list[dict[str, Any]]
    """Reconciliation ``Transaction`` objects, sorted by ``feedDate`` then ``transactionId``."""
    invoice_details: dict[LineItemKey, dict[str, Any]]
    """``InvoiceDetailsOfOrderLineItem`` per ``(orderId, orderLineItemId, shipmentId)``."""
    orders: dict[str, dict[str, Any]]
    """Reporting ``Order`` objects (with lineItems, shipments, charges) by ``orderId``."""
    documents: dict[str, InvoiceDocument]
    """Every invoice and credit memo the Document API can render, by invoice number."""
    _document_keys: dict[str, frozenset[LineItemKey]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scenario:
        """Validate a scenario document and derive what it leaves out (see module docs)."""
        if not isinstance(data, dict):
            raise ScenarioError("a scenario must be a JSON object")
        unknown = [k for k in data if k not in _ALLOWED_TOP_LEVEL and not k.startswith("_")]
        if unknown:
            raise ScenarioError(
                f"unknown scenario key(s) {', '.join(sorted(unknown))}; expected "
                "transactions, orders, invoiceDetails"
            )
        raw_transactions = data.get("transactions")
        if not isinstance(raw_transactions, list):
            raise ScenarioError("a scenario needs a 'transactions' list")
        txns = [_parse_transaction(_copy_json(raw), i) for i, raw in enumerate(raw_transactions)]
        seen: set[str] = set()
        for txn in txns:
            if txn.transaction_id in seen:
                raise ScenarioError(f"transaction {txn.transaction_id} is listed twice")
            seen.add(txn.transaction_id)
        txns.sort(key=lambda t: (t.feed_date, t.transaction_id))

        given_details = _parse_given_invoice_details(data.get("invoiceDetails", []))
        given_orders = _parse_given_orders(data.get("orders", []))
        documents, document_keys = _derive_documents(txns, given_details)
        scenario = cls(
            transactions=[txn.raw for txn in txns],
            invoice_details=_derive_invoice_details(txns, given_details),
            orders=_derive_orders(txns, given_orders),
            documents=documents,
        )
        scenario._document_keys = document_keys
        return scenario

    def to_json(self) -> dict[str, Any]:
        """The scenario as a JSON document; :meth:`from_json` of it gives the same scenario."""
        return {
            "transactions": _copy_json(self.transactions),
            "orders": _copy_json(list(self.orders.values())),
            "invoiceDetails": _copy_json(list(self.invoice_details.values())),
        }

    def transactions_in_feed_window(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Transactions whose ``feedDate`` lies in ``[start, end]``, as ``getTransactions``
        filters them, in ``feedDate`` order. Naive datetimes are taken to be UTC."""
        low, high = _as_utc(start), _as_utc(end)
        return [txn for txn in self.transactions if low <= parse_datetime(txn["feedDate"]) <= high]

    def orders_in_date_window(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Orders whose ``orderDate`` lies in ``[start, end]`` (``getOrdersByOrderDate``), in
        ``orderDate`` order. Naive datetimes are taken to be UTC."""
        low, high = _as_utc(start), _as_utc(end)
        return [
            order
            for order in self.orders.values()
            if low <= parse_datetime(order["orderDate"]) <= high
        ]

    def documents_for(self, report_options: Mapping[str, str]) -> list[InvoiceDocument]:
        """Every document matching a ``GET_AB_INVOICE_PDF`` report's ``reportOptions``.

        * ``{"invoiceId": ..., "documentType": "Invoice" | "Credits"}``: that document, if its
          type matches (``documentType`` may be left out).
        * ``{"orderId": ..., "orderLineItemId"?: ..., "shipmentId"?: ..., "documentType"?}``:
          the documents covering that order (narrowed to the line item and shipment when
          given), invoices before credit memos, then by date and number.

        Raises :class:`ScenarioError` when the options name neither ``invoiceId`` nor
        ``orderId`` (the real API answers such a request with HTTP 400).
        """
        document_type = report_options.get("documentType")
        if document_type is not None and document_type not in DOCUMENT_TYPES:
            return []
        invoice_id = report_options.get("invoiceId")
        order_id = report_options.get("orderId")
        if invoice_id:
            doc = self.documents.get(invoice_id)
            if doc is None or document_type not in (None, doc.document_type):
                return []
            return [doc]
        if not order_id:
            raise ScenarioError("reportOptions need an invoiceId or an orderId")
        line_item_id = report_options.get("orderLineItemId")
        shipment_id = report_options.get("shipmentId")
        matches: list[InvoiceDocument] = []
        for number, doc in self.documents.items():
            if document_type not in (None, doc.document_type):
                continue
            keys = self._document_keys.get(number)
            if keys is None:  # built without from_json: match on the printed order id
                keys = frozenset((o, "", "") for o in doc.order_id.split(", "))
                if line_item_id or shipment_id:
                    continue
            if any(
                key[0] == order_id
                and line_item_id in (None, "", key[1])
                and shipment_id in (None, "", key[2])
                for key in keys
            ):
                matches.append(doc)
        matches.sort(key=lambda d: (d.document_type != "Invoice", d.invoice_date, d.invoice_number))
        return matches

    def document_for(self, report_options: Mapping[str, str]) -> InvoiceDocument | None:
        """The document a ``GET_AB_INVOICE_PDF`` report with ``report_options`` renders: the
        first of :meth:`documents_for`, or ``None`` when there is none (a report that the
        real API would end as ``CANCELLED``, "no data")."""
        matches = self.documents_for(report_options)
        return matches[0] if matches else None


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def load_scenario(path: Path) -> Scenario:
    """Read a scenario JSON file (UTF-8); errors name the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc}") from exc
    try:
        return Scenario.from_json(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
