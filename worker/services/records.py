"""Amazon's wire objects as store rows: pure mappings, no IO."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.amazon_business.models import (
    InvoiceDetailsOfOrderLineItem,
    Order,
    Transaction,
)

WIRE: dict[str, Any] = {"by_alias": True, "mode": "json", "exclude_unset": True}


def plain_json(value: Any) -> bool:
    """Whether ``value`` is made of JSON's own types only (no Decimal from a parsed number)."""
    if isinstance(value, dict):
        return all(plain_json(v) for v in value.values())
    if isinstance(value, list):
        return all(plain_json(v) for v in value)
    return value is None or isinstance(value, str | bool | int)


def transaction_row(
    party: str, txn: Transaction, now: datetime, wire: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``transactions`` row of one transaction (``wire``: the object as Amazon sent it)."""
    buyer = txn.buyer
    return {
        "party": party,
        "transaction_id": txn.transaction_id or "",
        "transaction_type": str(txn.transaction_type or ""),
        "transaction_date": txn.transaction_date,
        "feed_date": txn.feed_date,
        "amount": txn.amount.amount if txn.amount else None,
        "currency": txn.amount.currency_code if txn.amount else "",
        "payment_instrument_type": txn.payment_instrument_type or "",
        "payment_instrument_last4": txn.payment_instrument_last4_digits or "",
        "buyer_id": buyer.id if buyer else "",
        "buyer_name": (buyer.name or "") if buyer else "",
        "buyer_email": (buyer.email or "") if buyer else "",
        "invoice_number": txn.invoice_number or "",
        "charge_identifier": txn.charge_identifier or "",
        "marketplace_id": txn.marketplace_id or "",
        "raw": wire if wire is not None and plain_json(wire) else txn.model_dump(**WIRE),
        "updated_at": now,
    }


def line_item_rows(
    party: str, txn: Transaction, raw: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The ``transaction_line_items`` rows of one transaction (one per distinct line key).

    ``raw`` is the transaction's wire document when the caller has it already (the ``raw`` of
    :func:`transaction_row`): its ``transactionLineItems`` are the items' wire documents, so they
    are taken from there instead of being serialised a second time.
    """
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    wire = raw.get("transactionLineItems") if raw is not None else None
    if not isinstance(wire, list) or len(wire) != len(txn.transaction_line_items):
        wire = None
    for position, item in enumerate(txn.transaction_line_items):
        key = (item.order_id or "", item.order_line_item_id or "", item.shipment_id or "")
        total = item.total_amount
        rows.setdefault(
            key,
            {
                "party": party,
                "transaction_id": txn.transaction_id or "",
                "position": position,
                "order_id": key[0],
                "order_line_item_id": key[1],
                "shipment_id": key[2],
                "purchase_order_number": item.purchase_order_number or "",
                "asin": item.asin or "",
                "product_title": (item.product_title or "")[:1024],
                "quantity": item.item_quantity,
                "total_amount": total.amount if total else None,
                "currency": total.currency_code if total else "",
                "raw": wire[position] if wire is not None else item.model_dump(**WIRE),
            },
        )
    return list(rows.values())


def order_line_item_keys(txn: Transaction) -> set[tuple[str, str, str]]:
    """The complete (order, line item, shipment) keys of a transaction: invoice-detail units."""
    return {
        (item.order_id, item.order_line_item_id, item.shipment_id)
        for item in txn.transaction_line_items
        if item.order_id and item.order_line_item_id and item.shipment_id
    }


def invoice_detail_rows(party: str, details: InvoiceDetailsOfOrderLineItem) -> list[dict[str, Any]]:
    """The ``invoice_details`` rows Amazon gave for one order line item."""
    key = details.order_line_item
    rows = []
    for detail in details.invoice_details:
        consolidated = detail.consolidated_invoice_details
        rows.append(
            {
                "party": party,
                "order_id": key.order_id,
                "order_line_item_id": key.order_line_item_id,
                "shipment_id": key.shipment_id,
                "invoice_number": detail.invoice_number,
                "invoice_type": str(detail.invoice_type or "STANDARD"),
                "invoice_date": detail.invoice_date,
                "consolidated_invoice_number": consolidated.invoice_number if consolidated else "",
                "raw": detail.model_dump(**WIRE),
            }
        )
    return rows


def order_row(party: str, order: Order, now: datetime) -> dict[str, Any]:
    """The ``orders`` row of an order fetched from the Reporting API."""
    total = order.order_net_total
    return {
        "party": party,
        "order_id": order.order_id,
        "fetch_state": "done",
        "order_date": order.order_date,
        "order_status": str(order.order_status or ""),
        "purchase_order_number": order.purchase_order_number or "",
        "buyer_group_name": order.buyer_group_name or "",
        "net_total": total.amount if total else None,
        "currency": total.currency_code if total else "",
        "raw": order.model_dump(**WIRE),
        "fetched_at": now,
        "error": "",
    }
