"""Journal entries: the double-entry form of what Amazon charged, refunded and invoiced.

A :class:`JournalEntry` is one balanced posting: a date, a description and two or more
:class:`JournalLine` s whose debits equal their credits, in one currency. Each line has exactly
one side: ``debit`` or ``credit`` is positive and the other is zero (the export formats turn
that into signed amounts, S/H flags or two columns as they need).

An entry remembers where it came from (transactions, orders, invoice numbers, PDF paths and the
match that tied it to the ledger), so that an accountant reading any export can get back to the
Amazon transaction and its invoice. Entries are built by :mod:`worker.accounting.posting` and
never constructed unbalanced: :meth:`JournalEntry.__post_init__` refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

__all__ = [
    "EmptyExport",
    "JournalEntry",
    "JournalError",
    "JournalLine",
    "UnbalancedEntry",
]


class JournalError(ValueError):
    """An entry that cannot be built or written (it names the entry and the reason)."""


class EmptyExport(JournalError):
    """A format that cannot write a file without entries (DATEV's header needs their dates)."""


class UnbalancedEntry(JournalError):
    """Debits and credits of an entry differ: such an entry is never written."""


@dataclass(frozen=True, slots=True)
class JournalLine:
    """One posting: an account debited or credited by a non-negative amount.

    ``role`` says what the line is for (``expense``, ``tax``, ``shipping``, ``gift_wrap``,
    ``regulatory_fee``, ``discount``, ``payment``, ``rounding``), so formats that treat the
    payment side specially (IIF's ``TRNS`` line, DATEV's Gegenkonto) can find it. ``party`` is
    the counterparty a payable or liability line belongs to (the employee on an employee
    payable, ``Amazon`` on accounts payable); ``tax_code`` is the tax rate the line's amount
    carries, for formats that want a tax code per line (Xero, DATEV).
    """

    account: str
    debit: Decimal
    credit: Decimal
    role: str = "expense"
    memo: str = ""
    party: str = ""
    tax_code: str = ""

    def __post_init__(self) -> None:
        if self.debit < 0 or self.credit < 0:
            raise JournalError(f"line on {self.account}: debit and credit must not be negative")
        if (self.debit > 0) == (self.credit > 0):
            raise JournalError(f"line on {self.account}: exactly one of debit and credit is set")
        if not self.account:
            raise JournalError("a journal line needs an account")

    @property
    def signed(self) -> Decimal:
        """Debit positive, credit negative (beancount, hledger, IIF and Xero amounts)."""
        return self.debit - self.credit


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A balanced journal entry, linked to the Amazon records it posts.

    ``entry_id`` is stable (built from the transaction or match id), so exporting the same data
    again gives the same ids and a target system can refuse duplicates. ``company_currency``
    and ``rate`` are set when the company books in another currency than the transaction's:
    one unit of ``currency`` is worth ``rate`` units of ``company_currency``. ``tags`` name how
    the entry was paid (a :class:`~worker.accounting.posting.PaymentKind` value such as
    ``company-card`` or ``pay-by-invoice``), for formats with a transaction type per payment.
    """

    entry_id: str
    date: date
    currency: str
    lines: tuple[JournalLine, ...]
    kind: str = "charge"
    payee: str = "Amazon Business"
    narration: str = ""
    transaction_ids: tuple[str, ...] = ()
    order_ids: tuple[str, ...] = ()
    invoice_numbers: tuple[str, ...] = ()
    pdf_paths: tuple[str, ...] = ()
    match_id: str = ""
    employee: str = ""
    company_currency: str = ""
    rate: Decimal | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.lines) < 2:
            raise UnbalancedEntry(f"entry {self.entry_id}: needs at least two lines")
        debits = sum((line.debit for line in self.lines), Decimal(0))
        credits = sum((line.credit for line in self.lines), Decimal(0))
        if debits != credits:
            raise UnbalancedEntry(
                f"entry {self.entry_id}: debits {debits} and credits {credits} differ"
                f" by {debits - credits}"
            )
        if self.rate is not None and self.rate <= 0:
            raise JournalError(f"entry {self.entry_id}: exchange rate must be positive")

    @property
    def total(self) -> Decimal:
        """The sum of the debits (equal to the sum of the credits)."""
        return sum((line.debit for line in self.lines), Decimal(0))

    @property
    def transaction_id(self) -> str:
        """The first transaction the entry posts (the only one unless entries are per match)."""
        return self.transaction_ids[0] if self.transaction_ids else ""

    @property
    def invoice_number(self) -> str:
        """The invoice numbers the entry posts, joined with ``;`` (one cell in CSV formats)."""
        return ";".join(self.invoice_numbers)
