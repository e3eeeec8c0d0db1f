"""The generic journal CSV: one row per journal line, readable by any spreadsheet or script.

Columns (UTF-8, ``\\n`` line ends, RFC 4180 quoting)::

    entry_id,date,account,debit,credit,currency,description,transaction_id,invoice_number

``date`` is ISO 8601 (``2025-01-31``); exactly one of ``debit`` and ``credit`` holds the line's
amount (the other cell is empty); ``description`` is the line's memo, else the entry's
narration; ``transaction_id`` and ``invoice_number`` list the entry's Amazon transactions and
invoices, joined with ``;``. Rows of one entry are consecutive and balance.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from worker.accounting.journal import JournalEntry
from worker.formats.atomic import atomic_text
from worker.formats.cells import decimal_text, neutralise
from worker.formats.common import ExportResult, Tally, line_text
from worker.formats.options import FormatOptions

__all__ = ["CSV_COLUMNS", "write_generic_csv"]

CSV_COLUMNS: tuple[str, ...] = (
    "entry_id",
    "date",
    "account",
    "debit",
    "credit",
    "currency",
    "description",
    "transaction_id",
    "invoice_number",
)


def write_generic_csv(
    entries: Iterable[JournalEntry], out: Path, options: FormatOptions
) -> ExportResult:
    """Write ``entries`` to ``out`` as the generic journal CSV (atomically, streaming)."""
    del options  # the generic CSV writes account names as the posting rules made them
    tally = Tally()
    with atomic_text(out) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for entry in tally.each(entries):
            entry_id = neutralise(entry.entry_id)
            day = entry.date.isoformat()
            currency = neutralise(entry.currency)
            transactions = neutralise(";".join(entry.transaction_ids))
            invoices = neutralise(entry.invoice_number)
            writer.writerows(
                (
                    entry_id,
                    day,
                    neutralise(line.account),
                    decimal_text(line.debit, entry.currency) if line.debit else "",
                    decimal_text(line.credit, entry.currency) if line.credit else "",
                    currency,
                    neutralise(line_text(entry, line)),
                    transactions,
                    invoices,
                )
                for line in entry.lines
            )
    return tally.result(out)
