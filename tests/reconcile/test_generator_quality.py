"""Matching quality on realistic books: the sandbox generator's purchases against its ledger.

``generate_scenario`` invents orders shipped in several charges, returns, goodwill credits,
company cards, Pay by Invoice and personal cards, and a ledger that books them imperfectly
(card-statement lines with no reference, lines quoting an order id or an invoice number, one
line for every shipment of an order, postings up to five days late, transactions never
booked, other vendors, one of them with the very amount of an Amazon charge). Its truth links
say which ledger line records which transaction. The matcher must find them with precision
>= 99.5 % and recall >= 98 % (links, not matches: a line booking three shipments is three
links), on several seeds and regions, with its default configuration: nothing here is tuned
to the generator.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import pytest

from connectors.amazon_business.regions import Region
from connectors.sandbox.generator import generate_scenario
from worker.reconcile import Entry, Txn, TxnKind, match

ORDERS = 2000

Links = set[tuple[str, str]]  # (ledger entry id, transaction id)


def to_txn(raw: dict[str, Any]) -> Txn:
    """A Reconciliation API transaction as the matcher's record."""
    references = {
        item[name]
        for item in raw.get("transactionLineItems") or []
        for name in ("orderId", "purchaseOrderNumber")
        if item.get(name)
    }
    references.update(raw[name] for name in ("invoiceNumber", "chargeIdentifier") if raw.get(name))
    return Txn(
        transaction_id=raw["transactionId"],
        date=datetime.fromisoformat(raw["transactionDate"].replace("Z", "+00:00")).date(),
        amount=Decimal(raw["amount"]["amount"]),
        currency=raw["amount"]["currencyCode"],
        card_last4=raw.get("paymentInstrumentLast4Digits") or "",
        references=frozenset(references),
        kind=TxnKind(raw["transactionType"]),
    )


@cache
def books(seed: int, region: Region = Region.NA) -> tuple[list[Txn], list[Entry], Links]:
    scenario, rows, truth = generate_scenario(ORDERS, seed, region=region)
    txns = [to_txn(raw) for raw in scenario.transactions]
    entries = [
        Entry(
            row.entry_id,
            row.posted_date,
            row.amount,
            row.currency,
            row.card_last4,
            f"{row.reference} {row.description}".upper(),
        )
        for row in rows
    ]
    return txns, entries, {(link.entry_id, link.transaction_id) for link in truth}


def quality(seed: int, region: Region = Region.NA) -> tuple[float, float, Counter[str]]:
    txns, entries, truth = books(seed, region)
    result = match(txns, entries)
    found = {(e, t) for m in result.matches for e in m.entry_ids for t in m.transaction_ids}
    right = len(found & truth)
    precision = right / len(found)
    recall = right / len(truth)
    rules = Counter(m.rule for m in result.matches)
    print(
        f"\nseed {seed} {region.value}: {len(txns)} transactions, {len(entries)} ledger lines, "
        f"{len(truth)} true links; precision {precision:.4%}, recall {recall:.4%}; "
        f"zones {dict(Counter(m.zone.value for m in result.matches))}; rules {dict(rules)}"
    )
    return precision, recall, rules


def test_the_generator_signs_both_sides_alike() -> None:
    """The sign convention the matcher relies on: a transaction and its ledger line carry the
    same sign (charge and spend positive, refund and credit negative)."""
    txns, entries, truth = books(20250106)
    amount_t = {t.transaction_id: t.amount for t in txns}
    amount_e = {e.entry_id: e.amount for e in entries}
    assert truth
    assert all((amount_t[t] > 0) == (amount_e[e] > 0) for e, t in truth)


def test_quality_on_2000_orders() -> None:
    precision, recall, rules = quality(20250106)
    assert precision >= 0.995
    assert recall >= 0.98
    # Every shape of booking the generator produces was recognised by its own rule.
    assert {"reference", "amount_date", "many_to_one", "refund_amount_date"} <= set(rules)


@pytest.mark.parametrize(
    ("seed", "region"),
    [(1, Region.NA), (7, Region.NA), (42, Region.EU), (99, Region.FE)],
)
def test_quality_on_other_seeds_and_regions(seed: int, region: Region) -> None:
    precision, recall, _ = quality(seed, region)
    assert precision >= 0.995
    assert recall >= 0.98
