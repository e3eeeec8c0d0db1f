"""Readable journal entries for the format tests.

``card_purchase`` is the everyday case (Dr expense and recoverable tax, Cr the company card);
``card_refund`` its mirror; ``invoice_purchase`` a Pay-by-Invoice purchase with a discount
(a credit line that is not the payment); ``employee_purchase`` one an employee paid.
:data:`CODES` maps the accounts to DATEV/Xero numbers.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from worker.accounting.journal import JournalEntry, JournalLine
from worker.formats import FormatOptions

EXPENSE = "Expenses:Office"
TAX = "Assets:Tax:Recoverable"
DISCOUNT = "Income:Discounts"
CARD = "Liabilities:CreditCard:1234"
PAYABLE = "Liabilities:AccountsPayable:Amazon"
EMPLOYEE = "Liabilities:EmployeePayable:Jane Doe"
CODES = {
    EXPENSE: "4930",
    TAX: "1576",
    DISCOUNT: "3736",
    CARD: "1800",
    PAYABLE: "70000",
    EMPLOYEE: "79000",
}
OPTIONS = FormatOptions(account_codes=CODES, datev_tax_keys={"DE19": "9"})


def debit(account: str, amount: str, **fields: str) -> JournalLine:
    """A debit line of ``amount`` (a decimal string)."""
    return JournalLine(account, Decimal(amount), Decimal(0), **fields)


def credit(account: str, amount: str, **fields: str) -> JournalLine:
    """A credit line of ``amount`` (a decimal string)."""
    return JournalLine(account, Decimal(0), Decimal(amount), **fields)


def card_purchase(
    entry_id: str = "AB-T1",
    day: date = date(2025, 3, 14),
    net: str = "100.00",
    tax: str = "19.00",
    currency: str = "EUR",
    **fields: Any,
) -> JournalEntry:
    """Dr expense ``net``, Dr tax ``tax``, Cr card ``net + tax``."""
    total = str(Decimal(net) + Decimal(tax))
    values: dict[str, Any] = {
        "narration": "Office chairs",
        "transaction_ids": (entry_id.removeprefix("AB-"),),
        "order_ids": ("111-2223334-5556667",),
        "invoice_numbers": ("DE5AB-INV-1",),
        **fields,
    }
    return JournalEntry(
        entry_id,
        day,
        currency,
        (
            debit(EXPENSE, net, memo="2 chairs"),
            debit(TAX, tax, role="tax", tax_code="DE19"),
            credit(CARD, total, role="payment"),
        ),
        **values,
    )


def card_refund(
    entry_id: str = "AB-R1", day: date = date(2025, 3, 20), currency: str = "EUR"
) -> JournalEntry:
    """The mirror of a card purchase: Dr card 59.50, Cr expense 50.00, Cr tax 9.50."""
    return JournalEntry(
        entry_id,
        day,
        currency,
        (
            debit(CARD, "59.50", role="payment"),
            credit(EXPENSE, "50.00", memo="returned chair"),
            credit(TAX, "9.50", role="tax", tax_code="DE19"),
        ),
        kind="refund",
        narration="Refund chair",
        transaction_ids=("R1",),
    )


def invoice_purchase(entry_id: str = "AB-P1", day: date = date(2025, 3, 15)) -> JournalEntry:
    """Pay by Invoice with a discount: Dr expense 200, Cr discount 20, Cr payable 180."""
    return JournalEntry(
        entry_id,
        day,
        "EUR",
        (
            debit(EXPENSE, "200.00"),
            credit(DISCOUNT, "20.00", role="discount"),
            credit(PAYABLE, "180.00", role="payment", party="Amazon"),
        ),
        narration="Toner",
        transaction_ids=("P1",),
        invoice_numbers=("INV-9",),
    )


def employee_purchase(entry_id: str = "AB-M1", day: date = date(2025, 3, 16)) -> JournalEntry:
    """An employee paid with a personal card: Dr expense, Cr the employee payable."""
    return JournalEntry(
        entry_id,
        day,
        "EUR",
        (
            debit(EXPENSE, "42.00"),
            credit(EMPLOYEE, "42.00", role="payment", party="Jane Doe"),
        ),
        narration="Cables",
        employee="Jane Doe",
        transaction_ids=("M1",),
    )


def sample() -> list[JournalEntry]:
    """One of each kind of entry, in date order."""
    return [card_purchase(), invoice_purchase(), employee_purchase(), card_refund()]
