"""Generated scenarios: reproducible, varied like real purchasing, and internally consistent."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from connectors.amazon_business.regions import REGIONS, Region
from connectors.sandbox.generator import (
    DEFAULT_START,
    LEDGER_HEADER,
    TRUTH_HEADER,
    LedgerRow,
    TruthLink,
    generate_scenario,
    read_ledger_csv,
    read_truth_csv,
    write_scenario,
)
from connectors.sandbox.pdf import render_invoice_pdf
from connectors.sandbox.scenario import Scenario, load_scenario
from tests.sandbox.test_scenario import schema_errors

ORDERS = 80
SEED = 20250106

Generated = tuple[Scenario, list[LedgerRow], list[TruthLink]]


@cache
def generated(region: Region = Region.NA, seed: int = SEED, orders: int = ORDERS) -> Generated:
    return generate_scenario(orders, seed, region=region)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _amount(money: dict[str, str]) -> Decimal:
    return Decimal(money["amount"])


def _by_id(scenario: Scenario) -> dict[str, dict[str, Any]]:
    return {t["transactionId"]: t for t in scenario.transactions}


def _order_of(txn: dict[str, Any]) -> str:
    (order_id,) = {item["orderId"] for item in txn["transactionLineItems"]}
    return str(order_id)


# --------------------------------------------------------------------------------------------
# Files and determinism


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = write_scenario(tmp_path / "a", 25, 7)
    second = write_scenario(tmp_path / "b", 25, 7)
    other = write_scenario(tmp_path / "c", 25, 8)
    assert set(first) == {"scenario", "ledger", "truth", "company"}
    json_files = {"scenario": "scenario.json", "company": "company.json"}
    for name in first:
        assert first[name].name == json_files.get(name, f"{name}.csv")
        assert first[name].read_bytes() == second[name].read_bytes()
        assert first[name].read_bytes() != other[name].read_bytes()


def test_written_files_are_canonical(tmp_path: Path) -> None:
    paths = write_scenario(tmp_path, 30, 3, region=Region.EU)
    scenario, rows, links = generate_scenario(30, 3, region=Region.EU)

    ledger = paths["ledger"].read_bytes()
    assert b"\r" not in ledger
    text = ledger.decode("utf-8")
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == LEDGER_HEADER
    assert [r[0] for r in table[1:]] == sorted(r[0] for r in table[1:])
    for record in table[1:]:
        date.fromisoformat(record[1])
        Decimal(record[2])
    assert read_ledger_csv(paths["ledger"]) == rows

    truth = paths["truth"].read_text(encoding="utf-8")
    assert truth.splitlines()[0] == ",".join(TRUTH_HEADER)
    assert read_truth_csv(paths["truth"]) == links
    assert [k.entry_id for k in links] == sorted(k.entry_id for k in links)

    assert load_scenario(paths["scenario"]) == scenario


def test_start_defaults_to_a_fixed_date() -> None:
    scenario, _, _ = generated()
    first = min(_dt(o["orderDate"]).date() for o in scenario.orders.values())
    last = max(_dt(o["orderDate"]).date() for o in scenario.orders.values())
    assert first >= DEFAULT_START and last < DEFAULT_START + timedelta(days=90)

    moved, _, _ = generate_scenario(10, 1, start=date(2023, 6, 1), days=10)
    for order in moved.orders.values():
        assert date(2023, 6, 1) <= _dt(order["orderDate"]).date() < date(2023, 6, 11)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="orders"):
        generate_scenario(0, 1)
    with pytest.raises(ValueError, match="days"):
        generate_scenario(1, 1, days=0)


# --------------------------------------------------------------------------------------------
# Amazon's side


@pytest.mark.parametrize("region", list(Region))
def test_generated_objects_follow_amazons_models(region: Region) -> None:
    scenario, _, _ = generated(region, orders=40)
    assert schema_errors(scenario) == []


@pytest.mark.parametrize(
    ("region", "currencies"),
    [(Region.NA, {"USD"}), (Region.EU, {"EUR", "GBP"}), (Region.FE, {"JPY", "AUD"})],
)
def test_marketplaces_and_currencies_of_the_region(region: Region, currencies: set[str]) -> None:
    scenario, rows, _ = generated(region)
    marketplaces = set(REGIONS[region].marketplaces.values())
    assert {t["marketplaceId"] for t in scenario.transactions} <= marketplaces
    assert {t["amount"]["currencyCode"] for t in scenario.transactions} == currencies
    assert {r.currency for r in rows} == currencies


def test_orders_have_several_lines_shipments_and_charges() -> None:
    scenario, _, _ = generated()
    orders = list(scenario.orders.values())
    assert len(orders) == ORDERS
    assert max(len(o["lineItems"]) for o in orders) >= 3
    assert max(len(o["shipments"]) for o in orders) >= 2
    for order in orders:
        charges = [c for c in order["charges"] if Decimal(c["amount"]["amount"]) > 0]
        assert len(charges) == len(order["shipments"])  # one CHARGE per shipment
    shipments_per_line = Counter((key[0], key[1]) for key in scenario.invoice_details)
    assert max(shipments_per_line.values()) >= 2  # some line ships in two parts


def test_transactions_carry_the_fields_a_reconciler_uses() -> None:
    scenario, _, _ = generated()
    line_fields = {
        "orderId",
        "orderLineItemId",
        "shipmentId",
        "purchaseOrderNumber",
        "asin",
        "productTitle",
        "unspsc",
        "itemQuantity",
        "unitPrice",
        "principalAmount",
        "tax",
        "shippingCharge",
        "discount",
        "totalAmount",
        "businessOrderInfo",
    }
    with_invoice = 0
    for txn in scenario.transactions:
        for name in ("chargeIdentifier", "legalEntityName", "purchasingCustomerGroupName"):
            assert txn[name]
        with_invoice += "invoiceNumber" in txn
        feed_delay = _dt(txn["feedDate"]) - _dt(txn["transactionDate"])
        assert timedelta(0) <= feed_delay <= timedelta(days=3)
        for item in txn["transactionLineItems"]:
            if txn["transactionType"] != "OVERREFUND":
                assert line_fields <= set(item), line_fields - set(item)
            assert "GL code" in item["businessOrderInfo"]
            if txn["transactionType"] == "CHARGE":
                assert "shipmentDate" in item
    assert 0.7 * len(scenario.transactions) <= with_invoice < len(scenario.transactions)


def test_amounts_add_up() -> None:
    scenario, _, _ = generated(Region.EU)
    for txn in scenario.transactions:
        items = txn["transactionLineItems"]
        for item in items:
            parts = ("principalAmount", "shippingCharge", "discount", "tax")
            assert _amount(item["totalAmount"]) == sum(
                (_amount(item[p]) for p in parts if p in item), Decimal(0)
            )
            if "unitPrice" in item and "itemQuantity" in item:
                assert (
                    _amount(item["principalAmount"]).copy_abs()
                    == _amount(item["unitPrice"]) * item["itemQuantity"]
                )
        assert _amount(txn["amount"]) == sum((_amount(i["totalAmount"]) for i in items), Decimal(0))
        if txn["transactionType"] == "CHARGE":
            assert _amount(txn["amount"]) > 0
        else:
            assert _amount(txn["amount"]) < 0
    for order in scenario.orders.values():
        total = sum(
            (
                _amount(order[name])
                for name in (
                    "orderSubTotal",
                    "orderShippingAndHandling",
                    "orderPromotion",
                    "orderTax",
                )
            ),
            Decimal(0),
        )
        assert total == _amount(order["orderNetTotal"])


def test_payment_variety() -> None:
    scenario, _, _ = generated()
    by_type = Counter(t["transactionType"] for t in scenario.transactions)
    assert by_type["CHARGE"] > by_type["REFUND"] > 0

    instruments = Counter(t["paymentInstrumentType"] for t in scenario.transactions)
    assert instruments["Pay by Invoice"] > 0
    for txn in scenario.transactions:
        if txn["paymentInstrumentType"] == "Pay by Invoice":
            assert "paymentInstrumentLast4Digits" not in txn
        else:
            assert len(txn["paymentInstrumentLast4Digits"]) == 4

    # Company cards are paid by the company account; personal cards by the employee who buys.
    company = [t for t in scenario.transactions if t["payer"]["name"] == "Accounts Payable"]
    personal = [t for t in scenario.transactions if t["payer"]["name"] != "Accounts Payable"]
    assert len({t["paymentInstrumentType"] for t in company} - {"Pay by Invoice"}) >= 2
    assert personal
    owners: dict[str, set[str]] = defaultdict(set)
    for txn in personal:
        assert txn["buyer"] == txn["payer"]
        assert {"id", "name", "email"} <= set(txn["buyer"])
        owners[txn["paymentInstrumentLast4Digits"]].add(txn["buyer"]["id"])
    assert all(len(ids) == 1 for ids in owners.values())  # one employee per personal card
    company_cards = {t.get("paymentInstrumentLast4Digits") for t in company} - {None}
    assert not company_cards & set(owners)


# --------------------------------------------------------------------------------------------
# The company's books


def test_truth_links_point_at_existing_rows_and_transactions() -> None:
    scenario, rows, links = generated()
    entry_ids = [r.entry_id for r in rows]
    assert entry_ids == sorted(entry_ids) and len(set(entry_ids)) == len(entry_ids)
    transactions = _by_id(scenario)
    assert {k.entry_id for k in links} <= set(entry_ids)
    assert {k.transaction_id for k in links} <= set(transactions)
    linked = Counter(k.transaction_id for k in links)
    assert max(linked.values()) == 1  # a transaction is booked at most once


def test_ledger_amounts_and_dates_match_the_transactions() -> None:
    scenario, rows, links = generated(Region.FE)
    transactions = _by_id(scenario)
    by_entry: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for link in links:
        by_entry[link.entry_id].append(transactions[link.transaction_id])
    for row in rows:
        booked = by_entry.get(row.entry_id)
        if not booked:
            continue
        assert row.amount == sum((_amount(t["amount"]) for t in booked), Decimal(0))
        assert {t["amount"]["currencyCode"] for t in booked} == {row.currency}
        latest = max(_dt(t["transactionDate"]).date() for t in booked)
        assert timedelta(0) <= row.posted_date - latest <= timedelta(days=5)


def test_ledger_variety() -> None:
    scenario, rows, links = generated()
    transactions = _by_id(scenario)
    links_of: dict[str, list[str]] = defaultdict(list)
    for link in links:
        links_of[link.entry_id].append(link.transaction_id)

    amazon_rows = [r for r in rows if r.entry_id in links_of]
    other_vendor_rows = [r for r in rows if r.entry_id not in links_of]
    assert len(other_vendor_rows) >= 2
    decoys = {r.amount for r in other_vendor_rows} & {
        _amount(t["amount"]) for t in scenario.transactions
    }
    assert decoys  # another vendor with the very amount of an Amazon charge

    references = {
        t["transactionId"]: (_order_of(t), t.get("invoiceNumber")) for t in transactions.values()
    }
    with_order = [
        r for r in amazon_rows if r.reference and r.reference in {o for o, _ in references.values()}
    ]
    with_invoice = [
        r for r in amazon_rows if r.reference and r.reference in {i for _, i in references.values()}
    ]
    bare = [r for r in amazon_rows if not r.reference]
    assert with_order and with_invoice and bare
    assert any(r.description.startswith("AMAZON MKTPL*") for r in bare)
    assert any(r.amount < 0 for r in amazon_rows)  # refunds are booked negative
    assert {r.card_last4 for r in amazon_rows} - {""}  # card digits where the books know them

    # One ledger line for several charges of the same order.
    multi = [ids for ids in links_of.values() if len(ids) > 1]
    assert multi
    for ids in multi:
        assert len({_order_of(transactions[i]) for i in ids}) == 1
        assert {transactions[i]["transactionType"] for i in ids} == {"CHARGE"}

    # Company-paid transactions the books never recorded, and personal cards mostly absent.
    booked = {k.transaction_id for k in links}
    company = [t for t in transactions.values() if t["payer"]["name"] == "Accounts Payable"]
    personal = [t for t in transactions.values() if t["payer"]["name"] != "Accounts Payable"]
    assert any(t["transactionId"] not in booked for t in company)
    assert sum(t["transactionId"] in booked for t in company) > 0.9 * len(company)
    assert sum(t["transactionId"] in booked for t in personal) < 0.5 * len(personal)


def test_documents_cover_every_invoice_number_and_render() -> None:
    scenario, _, _ = generated(orders=20)
    numbers = {t["invoiceNumber"] for t in scenario.transactions if "invoiceNumber" in t}
    assert numbers <= set(scenario.documents)
    for detail in scenario.invoice_details.values():
        for invoice in detail["invoiceDetails"]:
            doc = scenario.documents[invoice["invoiceNumber"]]
            kind = "Credits" if invoice["invoiceType"] == "CREDIT_MEMO" else "Invoice"
            assert doc.document_type == kind
    for doc in list(scenario.documents.values())[:5]:
        reader = PdfReader(io.BytesIO(render_invoice_pdf(doc)))
        text = reader.pages[0].extract_text()
        assert doc.invoice_number in text
        assert doc.total > 0


def test_company_cards_are_the_cards_the_company_pays(tmp_path: Path) -> None:
    paths = write_scenario(tmp_path, 120, 3)
    cards = set(json.loads(paths["company"].read_text(encoding="utf-8"))["company_cards"])
    transactions = json.loads(paths["scenario"].read_text(encoding="utf-8"))["transactions"]
    used = {
        t["paymentInstrumentLast4Digits"]
        for t in transactions
        if t.get("paymentInstrumentLast4Digits")
    }
    assert cards and cards <= used and used - cards, "company and personal cards both occur"
    for t in transactions:
        last4 = t.get("paymentInstrumentLast4Digits")
        if last4 and last4 not in cards:
            assert t["payer"] == t["buyer"], "a personal card is paid by the employee who bought"
        elif last4:
            assert t["payer"] != t["buyer"]
