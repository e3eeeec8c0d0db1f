"""NetSuite: the journal-entry CSV for NetSuite's Import Assistant (Transactions > Journal).

One row per line; rows sharing ``externalId`` form one journal entry. Columns::

    externalId,Date,Currency,Exchange Rate,Subsidiary,Memo,Account,Debit,Credit,Line Memo,Name

* ``externalId`` is the entry id: NetSuite refuses a second record with the same external id,
  which makes a re-export idempotent (map it to External ID in the import's field mapping).
* ``Date`` is ``M/D/YYYY`` (``1/5/2025``), NetSuite's default date preference; an account
  whose user preference differs must set the import's date format accordingly.
* ``Currency`` is the entry's currency; ``Exchange Rate`` the entry's rate to the company
  currency when known, else empty (NetSuite then applies its own rate).
* ``Subsidiary`` is ``FormatOptions.netsuite_subsidiary`` (OneWorld accounts need one).
* ``Account`` is the code from ``[formats.account_codes]`` (the account number when account
  numbers are on), else the name.
* ``Debit``/``Credit``: one is set per row. NetSuite accepts at most 10 digits before the
  decimal point; a larger amount is refused.
* ``Memo`` is the entry's narration, ``Line Memo`` the line's memo, ``Name`` the line's party
  (the vendor or employee of a payable line).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

from worker.accounting.journal import JournalEntry, JournalError
from worker.formats.atomic import atomic_text
from worker.formats.cells import decimal_text, neutralise
from worker.formats.common import ExportResult, Tally, account_code
from worker.formats.options import FormatOptions

__all__ = ["NETSUITE_COLUMNS", "NETSUITE_MAX_INTEGER_DIGITS", "write_netsuite"]

NETSUITE_COLUMNS: tuple[str, ...] = (
    "externalId",
    "Date",
    "Currency",
    "Exchange Rate",
    "Subsidiary",
    "Memo",
    "Account",
    "Debit",
    "Credit",
    "Line Memo",
    "Name",
)
#: Digits NetSuite accepts before the decimal point of a Debit or Credit.
NETSUITE_MAX_INTEGER_DIGITS = 10
_LIMIT = Decimal(10) ** NETSUITE_MAX_INTEGER_DIGITS


def netsuite_date(day: date) -> str:
    """``M/D/YYYY`` without leading zeros (NetSuite's default date format)."""
    return f"{day.month}/{day.day}/{day.year:04d}"


def _amount(entry: JournalEntry, amount: Decimal) -> str:
    if not amount:
        return ""
    if amount >= _LIMIT:
        raise JournalError(
            f"entry {entry.entry_id}: amount {amount} has more than"
            f" {NETSUITE_MAX_INTEGER_DIGITS} digits before the decimal point, more than"
            " NetSuite accepts"
        )
    return decimal_text(amount, entry.currency)


def write_netsuite(
    entries: Iterable[JournalEntry], out: Path, options: FormatOptions
) -> ExportResult:
    """Write ``entries`` to ``out`` as a NetSuite journal-entry import CSV (atomically)."""
    tally = Tally()
    subsidiary = neutralise(options.netsuite_subsidiary)
    with atomic_text(out) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(NETSUITE_COLUMNS)
        for entry in tally.each(entries):
            external_id = neutralise(entry.entry_id)
            day = netsuite_date(entry.date)
            currency = neutralise(entry.currency)
            rate = format(entry.rate, "f") if entry.rate is not None else ""
            memo = neutralise(entry.narration)
            writer.writerows(
                (
                    external_id,
                    day,
                    currency,
                    rate,
                    subsidiary,
                    memo,
                    neutralise(account_code(line.account, options)),
                    _amount(entry, line.debit),
                    _amount(entry, line.credit),
                    neutralise(line.memo),
                    neutralise(line.party),
                )
                for line in entry.lines
            )
    return tally.result(out)
