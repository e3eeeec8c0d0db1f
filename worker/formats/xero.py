"""Xero manual journals: the CSV of Xero's "Import manual journals" template.

Columns, as Xero's template spells them (the asterisk marks a mandatory column)::

    *Narration,*Date,Description,*AccountCode,*TaxRate,*Amount,
    TrackingName1,TrackingOption1,TrackingName2,TrackingOption2

Rows with the same Narration and Date become one journal, so the narration starts with the
entry id (``E-1 Office chairs``) and no two entries merge. ``*Date`` is ``dd/mm/yyyy``;
``*Amount`` is signed (positive debit, negative credit); ``*AccountCode`` is the account's code
from ``[formats.account_codes]`` (Xero wants the code, ``200``, not the name), else the name;
``*TaxRate`` is ``FormatOptions.xero_tax_rate`` on every line (Xero requires a tax-rate name
from the organisation's tax settings). Journals import as drafts.

Xero imports at most 300 lines per file (``FormatOptions.xero_max_lines``). When the entries
need more, the export writes ``<stem>-001<suffix>``, ``<stem>-002<suffix>``, ... beside ``out``
(``out`` itself is then not written); an entry is never split between two files, and an entry
with more lines than the limit is refused. When everything fits, the file is ``out``. All parts
are staged and renamed only once the last one is complete.

Manual journals are in the organisation's base currency: an entry in another currency than the
company's is refused.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from worker.accounting.journal import JournalEntry, JournalError
from worker.formats.atomic import StagedFile, publish
from worker.formats.cells import decimal_text, neutralise
from worker.formats.common import (
    ExportResult,
    Tally,
    account_code,
    line_text,
    require_book_currency,
)
from worker.formats.options import FormatOptions

__all__ = ["XERO_COLUMNS", "part_path", "write_xero"]

XERO_COLUMNS: tuple[str, ...] = (
    "*Narration",
    "*Date",
    "Description",
    "*AccountCode",
    "*TaxRate",
    "*Amount",
    "TrackingName1",
    "TrackingOption1",
    "TrackingName2",
    "TrackingOption2",
)


def part_path(out: Path, number: int) -> Path:
    """The path of part ``number`` (from 1) of a split export: ``journal-001.csv``."""
    return out.with_name(f"{out.stem}-{number:03d}{out.suffix}")


def xero_date(day: date) -> str:
    """``dd/mm/yyyy``, one of the two date forms Xero's import reads."""
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def write_xero(entries: Iterable[JournalEntry], out: Path, options: FormatOptions) -> ExportResult:
    """Write ``entries`` to ``out`` as Xero manual-journal CSV, split into 300-line parts."""
    limit = options.xero_max_lines
    if limit < 2:
        raise ValueError("xero_max_lines must allow at least one two-line journal")
    tally = Tally()
    finished: list[Path] = []  # temporary files of the complete parts
    current: StagedFile | None = None
    try:
        writer = None
        used = 0
        for entry in tally.each(entries):
            require_book_currency(entry, "xero")
            size = len(entry.lines)
            if size > limit:
                raise JournalError(
                    f"entry {entry.entry_id}: {size} lines, more than Xero imports in one file"
                    f" ({limit}); Xero cannot take this journal in one piece"
                )
            if current is None or writer is None or used + size > limit:
                if current is not None:
                    current.finish()
                    finished.append(current.temp)
                current = StagedFile(out)
                writer = csv.writer(current.stream, lineterminator="\n")
                writer.writerow(XERO_COLUMNS)
                used = 0
            narration = neutralise(f"{entry.entry_id} {entry.narration}".strip())
            day = xero_date(entry.date)
            writer.writerows(
                (
                    narration,
                    day,
                    neutralise(line_text(entry, line)),
                    neutralise(account_code(line.account, options)),
                    neutralise(options.xero_tax_rate),
                    decimal_text(line.signed, entry.currency),
                    "",
                    "",
                    "",
                    "",
                )
                for line in entry.lines
            )
            used += size
        if current is None:  # no entries: a file with the header only
            current = StagedFile(out)
            csv.writer(current.stream, lineterminator="\n").writerow(XERO_COLUMNS)
        current.finish()
        finished.append(current.temp)
        current = None
        if len(finished) == 1:
            files = [publish(finished[0], out)]
        else:
            files = [publish(temp, part_path(out, n)) for n, temp in enumerate(finished, 1)]
    except BaseException:
        if current is not None:
            current.discard()
        for temp in finished:
            temp.unlink(missing_ok=True)
        raise
    return tally.result(*files)
