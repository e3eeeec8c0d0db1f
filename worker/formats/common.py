"""What every journal format needs: the result type, counting while streaming, the payment side.

The writers take entries as an iterator and never hold more than one entry at a time (plus small
per-account or per-currency sets), so memory stays flat for a million lines. :class:`Tally`
counts what went through while the writer consumes the iterator.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from worker.accounting.journal import JournalEntry, JournalError, JournalLine
from worker.formats.options import FormatOptions

__all__ = [
    "ExportResult",
    "Tally",
    "account_code",
    "line_text",
    "payment_index",
    "payment_line",
    "require_book_currency",
]


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What a journal export wrote: the files (usually one), entries and journal lines.

    ``lines`` counts the :class:`JournalLine` s of the exported entries, whatever the format
    makes of them (DATEV writes one row per non-payment line, IIF one row per line).
    """

    files: tuple[Path, ...]
    entries: int
    lines: int


class Tally:
    """Counts the entries and lines a writer consumes from the iterator."""

    __slots__ = ("entries", "lines")

    def __init__(self) -> None:
        self.entries = 0
        self.lines = 0

    def each(self, entries: Iterable[JournalEntry]) -> Iterator[JournalEntry]:
        """Yield ``entries`` one by one, counting them and their lines."""
        for entry in entries:
            self.entries += 1
            self.lines += len(entry.lines)
            yield entry

    def result(self, *files: Path) -> ExportResult:
        """The :class:`ExportResult` of the files written."""
        return ExportResult(files=tuple(files), entries=self.entries, lines=self.lines)


def payment_index(entry: JournalEntry) -> int:
    """The position of the line that pays for the entry: the first ``payment`` line, else the
    first credit line.

    This is the card, payable or employee side: IIF's ``TRNS`` line and DATEV's Gegenkonto.
    """
    for index, line in enumerate(entry.lines):
        if line.role == "payment":
            return index
    for index, line in enumerate(entry.lines):
        if line.credit > 0:
            return index
    return 0  # unreachable for a balanced entry: it has a credit line


def payment_line(entry: JournalEntry) -> JournalLine:
    """The line that pays for the entry (see :func:`payment_index`)."""
    return entry.lines[payment_index(entry)]


def line_text(entry: JournalEntry, line: JournalLine) -> str:
    """A line's description: its own memo, else the entry's narration."""
    return line.memo or entry.narration


def account_code(account: str, options: FormatOptions) -> str:
    """The code a target system knows the account by (``[formats.account_codes]``), or its name."""
    return options.account_codes.get(account, account)


def require_book_currency(entry: JournalEntry, fmt: str) -> None:
    """Refuse an entry in a foreign currency for a format that has no currency column.

    QuickBooks journal CSV, IIF and Xero manual journals are booked in the company's own
    currency: writing a EUR amount into a USD company would silently book the wrong value.
    """
    if entry.company_currency and entry.company_currency != entry.currency:
        raise JournalError(
            f"entry {entry.entry_id}: the {fmt} format books amounts in the company currency"
            f" ({entry.company_currency}) but the entry is in {entry.currency}; export it"
            " as csv, netsuite, datev, beancount or hledger, which carry the currency"
        )
