"""What a line of the company's books is, and what a bad line is.

A *ledger* here is the company's own record of money going out: the card-statement lines, the
bank debits and the accounts-payable postings that abrecon matches against Amazon Business
transactions. Whatever layout the books arrive in (the canonical CSV, a German bank export, a
US card export), each line becomes one :class:`LedgerEntry` with the same meaning:

* ``amount`` is a :class:`~decimal.Decimal` in ``currency``, **positive for money spent** (a
  purchase, a card charge) and **negative for money coming back** (a refund, a credit memo, a
  goodwill credit). This is the sign of an Amazon ``CHARGE`` (positive) and ``REFUND``
  (negative), so a ledger line and the transaction it records carry the same number;
* ``entry_id`` is the line's natural key, unique within one source. It is what makes a second
  import of the same file (or of an overlapping export) recognise lines it has already seen;
* ``reference`` is whatever identifier the books quote (an order id, an invoice number), and
  ``card_last4`` the last four digits of the card that paid; either may be empty;
* ``line`` is the physical line of the source file where the entry starts, so that anyone can
  open the file and find it.

A line that cannot be read is a :class:`LedgerError` naming the file, the line, the column and
the offending value. An import is all or nothing: a reader raises on the first bad line and
never returns part of a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from os import PathLike
from typing import Any

__all__ = ["LedgerEntry", "LedgerError"]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One line of the company's books, in the canonical meaning whatever its source layout.

    ``amount`` is positive for money spent and negative for a refund or credit; ``currency`` is
    an upper-case ISO 4217 code; ``reference`` and ``card_last4`` (four digits) may be empty;
    ``line`` is the 1-based line of the source file where the entry starts.
    """

    entry_id: str
    posted_date: date
    amount: Decimal
    currency: str
    description: str
    reference: str
    card_last4: str
    line: int


class LedgerError(ValueError):
    """A ledger file (or one of its lines) that cannot be read; nothing of the file is imported.

    ``file`` is the path as given; ``line`` the 1-based physical line (``None`` when the
    problem is the file as a whole, an empty file say); ``column`` the column's name as the
    file's header spells it, or its 1-based position when the file has no header (``None`` when
    no single column is at fault); ``value`` the offending text (``None`` when there is none);
    ``reason`` what is wrong with it. The message reads like
    ``ledger.csv line 17, column amount: '12,3x' is not an amount``.
    """

    def __init__(
        self,
        file: str | PathLike[str],
        line: int | None,
        column: str | None,
        value: str | None,
        reason: str,
    ) -> None:
        self.file = str(file)
        self.line = line
        self.column = column
        self.value = value
        self.reason = reason
        super().__init__(self._message())

    def _message(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.column is not None:
            where += (
                f", column {self.column}" if self.line is not None else f" column {self.column}"
            )
        return f"{where}: {self.reason}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as ``cls(*self.args)`` by default, which does not fit __init__;
        # Celery and multiprocessing pickle errors, so keep them whole.
        return (type(self), (self.file, self.line, self.column, self.value, self.reason))
