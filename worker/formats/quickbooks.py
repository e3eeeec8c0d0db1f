"""QuickBooks: the Online journal-entry CSV and the Desktop IIF file.

**QuickBooks Online** imports journal entries from a CSV with the columns ``Journal No.,
Journal Date, Account Name, Debits, Credits, Description, Name``. Rows sharing a Journal No.
form one entry and must balance; the date is ``MM/DD/YYYY``; ``Name`` (the line's party) is
required on accounts-payable lines. The Journal No. is the entry id, so QuickBooks' duplicate
journal number warning catches a re-import. Account names must match the chart of accounts
(sub-accounts as ``Parent:Sub``).

**QuickBooks Desktop** reads IIF: tab-separated, no quoting, header rows ``!TRNS``, ``!SPL``
and ``!ENDTRNS``, then per transaction one ``TRNS`` row, its ``SPL`` rows and ``ENDTRNS``.
Amounts are signed (debit positive, credit negative) and each block sums to zero. The
``TRNS`` row is the entry's payment line (the card, payable or employee side; the first credit
line if no line has the ``payment`` role); the other lines are the splits. Columns written:
``TRNSTYPE, DATE (MM/DD/YYYY), ACCNT, NAME, AMOUNT, DOCNUM (the entry id), MEMO``; no
``TRNSID``/``SPLID`` (QuickBooks assigns its own). Text loses tabs and line breaks (IIF cannot
quote them) and double quotes become single quotes (QuickBooks strips quotes). The file is
written in Windows-1252 with CRLF, as QuickBooks Desktop expects (unmappable characters become
``?``).

The IIF transaction type follows the payment side (:func:`iif_type`):

========================================  ==============  ===============
payment line                              charge          refund
========================================  ==============  ===============
credit-card account (``credit card`` /    ``CREDIT CARD`` ``CCARD REFUND``
``creditcard`` in the name)
accounts payable (``accounts payable`` /  ``BILL``        ``BILL REFUND``
``A/P`` in the name), not an employee
anything else, or an employee's purchase  ``GENERAL JOURNAL``
========================================  ==============  ===============

Neither format has a currency column: an entry in another currency than the company's is
refused (:func:`worker.formats.common.require_book_currency`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from worker.accounting.journal import JournalEntry
from worker.formats.atomic import atomic_text
from worker.formats.cells import decimal_text, neutralise, one_line
from worker.formats.common import (
    ExportResult,
    Tally,
    line_text,
    payment_index,
    payment_line,
    require_book_currency,
)
from worker.formats.options import FormatOptions

__all__ = [
    "IIF_COLUMNS",
    "QBO_COLUMNS",
    "iif_type",
    "write_iif",
    "write_qbo",
]

QBO_COLUMNS: tuple[str, ...] = (
    "Journal No.",
    "Journal Date",
    "Account Name",
    "Debits",
    "Credits",
    "Description",
    "Name",
)
#: The IIF columns after the row kind (``TRNS``/``SPL``).
IIF_COLUMNS: tuple[str, ...] = ("TRNSTYPE", "DATE", "ACCNT", "NAME", "AMOUNT", "DOCNUM", "MEMO")

_CARD = re.compile(r"credit\W*card", re.IGNORECASE)
_PAYABLE = re.compile(r"accounts?\W*payable|\bA/P\b", re.IGNORECASE)


def us_date(day: date) -> str:
    """``MM/DD/YYYY``, the date QuickBooks (US) reads."""
    return f"{day.month:02d}/{day.day:02d}/{day.year:04d}"


def write_qbo(entries: Iterable[JournalEntry], out: Path, options: FormatOptions) -> ExportResult:
    """Write ``entries`` to ``out`` as a QuickBooks Online journal CSV (atomically)."""
    del options  # QuickBooks matches accounts by name
    tally = Tally()
    with atomic_text(out) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(QBO_COLUMNS)
        for entry in tally.each(entries):
            require_book_currency(entry, "qbo")
            number = neutralise(entry.entry_id)
            day = us_date(entry.date)
            writer.writerows(
                (
                    number,
                    day,
                    neutralise(line.account),
                    decimal_text(line.debit, entry.currency) if line.debit else "",
                    decimal_text(line.credit, entry.currency) if line.credit else "",
                    neutralise(line_text(entry, line)),
                    neutralise(line.party),
                )
                for line in entry.lines
            )
    return tally.result(out)


def iif_type(entry: JournalEntry) -> str:
    """The IIF ``TRNSTYPE`` of an entry, from its payment line and kind (see the module).

    An entry posted by abrecon names how it was paid in its tags (``company-card``,
    ``pay-by-invoice``, ``personal-card``); without such a tag the payment account's name
    decides.
    """
    head = payment_line(entry)
    refund = entry.kind == "refund"
    if "company-card" in entry.tags:
        return "CCARD REFUND" if refund else "CREDIT CARD"
    if "pay-by-invoice" in entry.tags:
        return "BILL REFUND" if refund else "BILL"
    if "personal-card" in entry.tags or "other" in entry.tags:
        return "GENERAL JOURNAL"
    if _CARD.search(head.account):
        return "CCARD REFUND" if refund else "CREDIT CARD"
    if _PAYABLE.search(head.account) and not entry.employee:
        return "BILL REFUND" if refund else "BILL"
    return "GENERAL JOURNAL"


def _iif_text(text: str) -> str:
    return neutralise(one_line(text).replace('"', "'"))


def write_iif(entries: Iterable[JournalEntry], out: Path, options: FormatOptions) -> ExportResult:
    """Write ``entries`` to ``out`` as a QuickBooks Desktop IIF file (atomically)."""
    del options  # QuickBooks matches accounts by name
    tally = Tally()
    with atomic_text(out, encoding="cp1252", errors="replace") as stream:
        columns = "\t".join(IIF_COLUMNS)
        stream.write(f"!TRNS\t{columns}\r\n!SPL\t{columns}\r\n!ENDTRNS\r\n")
        for entry in tally.each(entries):
            require_book_currency(entry, "iif")
            at = payment_index(entry)
            head = entry.lines[at]
            kind = iif_type(entry)
            day = us_date(entry.date)
            number = _iif_text(entry.entry_id)
            rows = [
                (
                    "TRNS",
                    head,
                    head.party or entry.payee,
                    head.memo or entry.narration,
                )
            ]
            rows.extend(
                ("SPL", line, line.party, line_text(entry, line))
                for index, line in enumerate(entry.lines)
                if index != at
            )
            for row_kind, line, name, memo in rows:
                cells = (
                    row_kind,
                    kind,
                    day,
                    _iif_text(line.account),
                    _iif_text(name),
                    decimal_text(line.signed, entry.currency),
                    number,
                    _iif_text(memo),
                )
                stream.write("\t".join(cells) + "\r\n")
            stream.write("ENDTRNS\r\n")
    return tally.result(out)
