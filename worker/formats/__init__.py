"""Journal export formats: the balanced entries in the form an accountant's system imports.

:func:`write_journal` writes an iterator of :class:`~worker.accounting.journal.JournalEntry`
in one of :data:`JOURNAL_FORMATS`:

==============  ==========================================================  ===============
format          for                                                         module
==============  ==========================================================  ===============
``csv``         any spreadsheet or script (one row per line)                ``generic_csv``
``qbo``         QuickBooks Online journal import                            ``quickbooks``
``iif``         QuickBooks Desktop (IIF)                                    ``quickbooks``
``xero``        Xero manual journals (300-line parts)                       ``xero``
``netsuite``    NetSuite journal-entry CSV import                           ``netsuite``
``datev``       DATEV Buchungsstapel (EXTF), German tax advisers            ``datev``
``beancount``   beancount ledger                                            ``plaintext``
``hledger``     hledger journal                                             ``plaintext``
==============  ==========================================================  ===============

All writers stream (memory does not grow with the number of entries), are deterministic (the
same entries give the same bytes), write amounts exactly in the currency's minor units, guard
every text cell of the CSV-like formats against formula injection, and replace their output
atomically (:mod:`worker.formats.atomic`): a failed export leaves the previous file untouched.
A :class:`~worker.accounting.journal.JournalError` says which entry a format cannot take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from worker.accounting.journal import JournalEntry
from worker.formats.common import ExportResult
from worker.formats.datev import write_datev
from worker.formats.generic_csv import write_generic_csv
from worker.formats.netsuite import write_netsuite
from worker.formats.options import FormatOptions
from worker.formats.plaintext import write_beancount, write_hledger
from worker.formats.quickbooks import write_iif, write_qbo
from worker.formats.xero import write_xero

__all__ = [
    "JOURNAL_EXTENSIONS",
    "JOURNAL_FORMATS",
    "ExportResult",
    "FormatOptions",
    "write_journal",
]

Writer = Callable[[Iterable[JournalEntry], Path, FormatOptions], ExportResult]

_WRITERS: dict[str, Writer] = {
    "csv": write_generic_csv,
    "qbo": write_qbo,
    "iif": write_iif,
    "xero": write_xero,
    "netsuite": write_netsuite,
    "datev": write_datev,
    "beancount": write_beancount,
    "hledger": write_hledger,
}
#: The journal formats, in the order the CLI lists them.
JOURNAL_FORMATS: tuple[str, ...] = tuple(_WRITERS)
#: The usual file suffix of each format (DATEV files are conventionally named ``EXTF_*.csv``).
JOURNAL_EXTENSIONS: dict[str, str] = {
    "csv": ".csv",
    "qbo": ".csv",
    "iif": ".iif",
    "xero": ".csv",
    "netsuite": ".csv",
    "datev": ".csv",
    "beancount": ".beancount",
    "hledger": ".journal",
}


def write_journal(
    fmt: str,
    entries: Iterable[JournalEntry],
    out: Path,
    options: FormatOptions | None = None,
) -> ExportResult:
    """Write ``entries`` to ``out`` in format ``fmt``; what was written.

    ``entries`` is consumed once, as it comes (an iterator of any length). Xero may write
    several files beside ``out`` (see :mod:`worker.formats.xero`); the result lists them.
    Raises :class:`ValueError` for an unknown format and
    :class:`~worker.accounting.journal.JournalError` for an entry the format cannot hold (the
    previous output is then left untouched).
    """
    writer = _WRITERS.get(fmt)
    if writer is None:
        known = ", ".join(JOURNAL_FORMATS)
        raise ValueError(f"unknown journal format {fmt!r}; known formats: {known}")
    return writer(entries, out, options if options is not None else FormatOptions())
