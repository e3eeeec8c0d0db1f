"""DATEV Buchungsstapel (EXTF CSV): the batch of bookings a German tax adviser imports.

Layout (DATEV format description "Buchungsstapel", header version 700, format version 13):

* Windows-1252 text (characters it lacks become ``?``), ``;`` between fields, CRLF line ends,
  text fields in double quotes (a quote inside is doubled), numbers unquoted, decimal comma,
  no thousands separators.
* Row 1, the header: ``"EXTF";700;21;"Buchungsstapel";13;<created>;;"RE";"";"";<Berater>;
  <Mandant>;<WJ-Beginn>;<Sachkontenlänge>;<Datum vom>;<Datum bis>;"abrecon";"";1;0;0;
  "<WKZ>";;"";;;"";;;"";""``. ``created`` is derived from the data (the latest entry date at
  00:00:00.000) so the same entries give the same file; ``WJ-Beginn`` is the start of the fiscal
  year (``FormatOptions.datev_fiscal_year_start_month``); ``Datum vom``/``bis`` are the first
  and last entry dates; ``WKZ`` is the company's currency.
* Row 2: the 125 column names of format version 13.
* Then one booking per journal line other than the payment line, booked against the payment
  line's account as Gegenkonto. ``Umsatz`` is the line's amount, always positive, with exactly
  two decimals (``1234,50``); the direction is the Soll/Haben flag relative to ``Konto`` (the
  line's account): ``S`` when the line is a debit, ``H`` when it is a credit. A card purchase
  (Dr expense, Cr card) thus books ``Umsatz 100,00 S Konto 4930 Gegenkonto 1800``, its refund
  ``H``. The payment account's bookings sum to the payment line, as the entry balances.

Every Konto and Gegenkonto must be an account number (``[formats.account_codes]`` maps account
names to numbers, up to 9 digits); a name without a number is refused with a message naming it.
A batch lies within one fiscal year: entries of two fiscal years are refused (export per year
with ``--start``/``--end``; DATEV even recommends one file per booking period).

Other fields: ``WKZ Umsatz`` is the entry's currency. When it differs from the company
currency the entry must carry its rate, and ``Kurs``, ``Basis-Umsatz`` and ``WKZ Basis-Umsatz``
are filled together: ``Basis-Umsatz`` = Umsatz x rate rounded half-up to cents, ``Kurs`` the
rate as DATEV quotes it, units of foreign currency per unit of company currency (``1 / rate``,
6 decimals; DATEV's pattern asks for 1 to 9999, which a currency much stronger or weaker than
the company's falls outside of). ``BU-Schlüssel`` comes from ``FormatOptions.datev_tax_keys``
for the line's tax code. ``Belegdatum`` is ``DDMM`` (DATEV takes the year from the header's
period). ``Belegfeld 1`` holds the invoice numbers joined with ``/``, reduced to the characters
DATEV allows there (letters, digits, ``$ & % * + - /``, no leading ``+``/``-``) and cut to 36
characters. ``Buchungstext`` is the line's memo or the entry's narration, cut to 60
characters. The Amazon references travel in ``Beleginfo``: the transaction ids, the order ids
and the entry id.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TextIO

from worker.accounting.journal import EmptyExport, JournalEntry, JournalError, JournalLine
from worker.formats.atomic import BUFFER, StagedFile
from worker.formats.cells import neutralise, one_line
from worker.formats.common import ExportResult, Tally, account_code, line_text, payment_index
from worker.formats.options import FormatOptions

__all__ = [
    "DATEV_COLUMNS",
    "datev_amount",
    "fiscal_year_start",
    "write_datev",
]

ENCODING = "cp1252"
CRLF = "\r\n"

#: Column names of the Buchungsstapel, format version 13 (row 2 of the file).
DATEV_COLUMNS: tuple[str, ...] = (
    "Umsatz (ohne Soll/Haben-Kz)",
    "Soll/Haben-Kennzeichen",
    "WKZ Umsatz",
    "Kurs",
    "Basis-Umsatz",
    "WKZ Basis-Umsatz",
    "Konto",
    "Gegenkonto (ohne BU-Schlüssel)",
    "BU-Schlüssel",
    "Belegdatum",
    "Belegfeld 1",
    "Belegfeld 2",
    "Skonto",
    "Buchungstext",
    "Postensperre",
    "Diverse Adressnummer",
    "Geschäftspartnerbank",
    "Sachverhalt",
    "Zinssperre",
    "Beleglink",
    *(f"Beleginfo - {kind} {n}" for n in range(1, 9) for kind in ("Art", "Inhalt")),
    "KOST1 - Kostenstelle",
    "KOST2 - Kostenstelle",
    "Kost-Menge",
    "EU-Land u. UStID",
    "EU-Steuersatz",
    "Abw. Versteuerungsart",
    "Sachverhalt L+L",
    "Funktionsergänzung L+L",
    "BU 49 Hauptfunktionstyp",
    "BU 49 Hauptfunktionsnummer",
    "BU 49 Funktionsergänzung",
    *(f"Zusatzinformation - {kind} {n}" for n in range(1, 21) for kind in ("Art", "Inhalt")),
    "Stück",
    "Gewicht",
    "Zahlweise",
    "Forderungsart",
    "Veranlagungsjahr",
    "Zugeordnete Fälligkeit",
    "Skontotyp",
    "Auftragsnummer",
    "Buchungstyp",
    "USt-Schlüssel (Anzahlungen)",
    "EU-Land (Anzahlungen)",
    "Sachverhalt L+L (Anzahlungen)",
    "EU-Steuersatz (Anzahlungen)",
    "Erlöskonto (Anzahlungen)",
    "Herkunft-Kz",
    "Leerfeld",
    "KOST-Datum",
    "SEPA-Mandatsreferenz",
    "Skontosperre",
    "Gesellschaftername",
    "Beteiligtennummer",
    "Identifikationsnummer",
    "Zeichnernummer",
    "Postensperre bis",
    "Bezeichnung SoBil-Sachverhalt",
    "Kennzeichen SoBil-Buchung",
    "Festschreibung",
    "Leistungsdatum",
    "Datum Zuord. Steuerperiode",
    "Fälligkeit",
    "Generalumkehr (GU)",
    "Steuersatz",
    "Land",
    "Abrechnungsreferenz",
    "BVV-Position",
    "EU-Land u. UStID (Ursprung)",
    "EU-Steuersatz (Ursprung)",
    "Abw. Skontokonto",
)
_COLUMN = {name: index for index, name in enumerate(DATEV_COLUMNS)}
_UMSATZ = _COLUMN["Umsatz (ohne Soll/Haben-Kz)"]
_SH = _COLUMN["Soll/Haben-Kennzeichen"]
_WKZ = _COLUMN["WKZ Umsatz"]
_KURS = _COLUMN["Kurs"]
_BASIS = _COLUMN["Basis-Umsatz"]
_WKZ_BASIS = _COLUMN["WKZ Basis-Umsatz"]
_KONTO = _COLUMN["Konto"]
_GEGENKONTO = _COLUMN["Gegenkonto (ohne BU-Schlüssel)"]
_BU = _COLUMN["BU-Schlüssel"]
_BELEGDATUM = _COLUMN["Belegdatum"]
_BELEGFELD1 = _COLUMN["Belegfeld 1"]
_TEXT = _COLUMN["Buchungstext"]
_INFO = _COLUMN["Beleginfo - Art 1"]

_MAX_AMOUNT = Decimal(10) ** 10
#: Characters copied at a time from the bookings to the output.
_COPY_CHUNK = 1 << 16
_CENT = Decimal("0.01")
_KURS_PLACES = Decimal("0.000001")
_BELEGFELD_DISALLOWED = re.compile(r"[^A-Za-z0-9$&%*+\-/]")
_ACCOUNT_NUMBER = re.compile(r"[0-9]{1,9}")


def datev_amount(amount: Decimal, entry_id: str = "") -> str:
    """``amount`` as DATEV writes it: no sign, exactly two decimals, decimal comma.

    An amount that two decimals cannot hold exactly, or with more than 10 digits before the
    decimal point, is refused (DATEV's pattern is ``^\\d{1,10},\\d{2}$``).
    """
    value = abs(amount)
    cents = value.quantize(_CENT)
    if cents != value:
        raise JournalError(f"entry {entry_id}: {amount} has more than two decimals for DATEV")
    if cents >= _MAX_AMOUNT:
        raise JournalError(f"entry {entry_id}: {amount} has more than 10 digits for DATEV")
    return format(cents, "f").replace(".", ",")


def fiscal_year_start(day: date, first_month: int) -> date:
    """The first day of the fiscal year ``day`` lies in (fiscal years start on the 1st)."""
    year = day.year if day.month >= first_month else day.year - 1
    return date(year, first_month, 1)


def _text(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _belegfeld(invoices: tuple[str, ...]) -> str:
    kept = _BELEGFELD_DISALLOWED.sub("", "/".join(invoices)).lstrip("+-/")
    return kept[:36]


@dataclass
class _Batch:
    """What the header needs, gathered while the bookings stream by."""

    first: date | None = None
    last: date | None = None
    fiscal_year: date | None = None
    currency: str = ""


def write_datev(entries: Iterable[JournalEntry], out: Path, options: FormatOptions) -> ExportResult:
    """Write ``entries`` to ``out`` as a DATEV Buchungsstapel (atomically, streaming).

    The header needs the period, which is only known at the end: the bookings go to an
    anonymous temporary file first, then the header and the bookings are copied to the staged
    output (two sequential passes over the file, constant memory).
    """
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out.parent} is not a folder")
    tally = Tally()
    batch = _Batch()
    with tempfile.TemporaryFile(
        "w+", dir=out.parent, encoding=ENCODING, errors="replace", newline="", buffering=BUFFER
    ) as body:
        for entry in tally.each(entries):
            _check_batch(entry, batch, options)
            _write_bookings(body, entry, options, batch.currency)
        first, last, fiscal_year = batch.first, batch.last, batch.fiscal_year
        if first is None or last is None or fiscal_year is None:
            raise EmptyExport("no entries to export: a DATEV batch needs at least one booking")
        body.flush()
        body.seek(0)
        staged = StagedFile(out, encoding=ENCODING, errors="replace")
        try:
            staged.stream.write(_header(first, last, fiscal_year, batch.currency, options))
            staged.stream.write(";".join(DATEV_COLUMNS) + CRLF)
            shutil.copyfileobj(body, staged.stream, _COPY_CHUNK)
            staged.commit()
        except BaseException:
            staged.discard()
            raise
    return tally.result(out)


def _check_batch(entry: JournalEntry, batch: _Batch, options: FormatOptions) -> None:
    """Track the period; refuse a second fiscal year or a second company currency."""
    year = fiscal_year_start(entry.date, options.datev_fiscal_year_start_month)
    book = entry.company_currency or entry.currency
    if batch.fiscal_year is None:
        batch.fiscal_year = year
        batch.currency = book
    elif year != batch.fiscal_year:
        raise JournalError(
            f"entry {entry.entry_id} ({entry.date}) lies in the fiscal year starting {year},"
            f" other entries in the one starting {batch.fiscal_year}: a DATEV batch holds one"
            " fiscal year, export each year separately (--start/--end)"
        )
    elif book != batch.currency:
        raise JournalError(
            f"entry {entry.entry_id}: base currency {book} differs from {batch.currency}"
            " of the other entries; a DATEV batch has one base currency"
        )
    if batch.first is None or entry.date < batch.first:
        batch.first = entry.date
    if batch.last is None or entry.date > batch.last:
        batch.last = entry.date


def _account_number(entry: JournalEntry, line: JournalLine, options: FormatOptions) -> str:
    code = account_code(line.account, options)
    if not _ACCOUNT_NUMBER.fullmatch(code):
        raise JournalError(
            f"entry {entry.entry_id}: account {line.account!r} has no DATEV account number"
            f" ({code!r} is not 1-9 digits); map it to its number in [formats.account_codes]"
        )
    return code


def _write_bookings(body: TextIO, entry: JournalEntry, options: FormatOptions, book: str) -> None:
    at = payment_index(entry)
    counter = _account_number(entry, entry.lines[at], options)
    row = [""] * len(DATEV_COLUMNS)
    row[_WKZ] = _text(entry.currency)
    row[_GEGENKONTO] = counter
    row[_BELEGDATUM] = f"{entry.date.day:02d}{entry.date.month:02d}"
    row[_BELEGFELD1] = _text(_belegfeld(entry.invoice_numbers))
    references = (
        ("Amazon-Transaktion", ";".join(entry.transaction_ids)),
        ("Amazon-Bestellung", ";".join(entry.order_ids)),
        ("abrecon-Buchung", entry.entry_id),
    )
    for n, (kind, content) in enumerate(references):
        if content:
            row[_INFO + 2 * n] = _text(kind)
            row[_INFO + 2 * n + 1] = _text(neutralise(one_line(content))[:210])
    rate = entry.rate if entry.currency != book else None
    if entry.currency != book:
        if entry.rate is None:
            raise JournalError(
                f"entry {entry.entry_id}: in {entry.currency}, company currency {book}, but no"
                " exchange rate: DATEV needs Kurs and Basis-Umsatz for a foreign-currency booking"
            )
        kurs = (1 / entry.rate).quantize(_KURS_PLACES, ROUND_HALF_UP)
        row[_KURS] = format(kurs, "f").replace(".", ",")
        row[_WKZ_BASIS] = _text(book)
    for index, line in enumerate(entry.lines):
        if index == at:
            continue
        amount = line.debit or line.credit
        row[_UMSATZ] = datev_amount(amount, entry.entry_id)
        row[_SH] = '"S"' if line.debit else '"H"'
        row[_KONTO] = _account_number(entry, line, options)
        key = options.datev_tax_keys.get(line.tax_code, "") if line.tax_code else ""
        row[_BU] = _text(key) if key else ""
        row[_TEXT] = _text(neutralise(one_line(line_text(entry, line)))[:60])
        if rate is not None:
            base = (amount * rate).quantize(_CENT, ROUND_HALF_UP)
            row[_BASIS] = datev_amount(base, entry.entry_id)
        body.write(";".join(row) + CRLF)


def _header(
    first: date, last: date, fiscal_year: date, currency: str, options: FormatOptions
) -> str:
    fields = (
        '"EXTF"',  # written by a program other than DATEV
        "700",  # header version
        "21",  # data category: Buchungsstapel
        '"Buchungsstapel"',
        "13",  # format version
        f"{last:%Y%m%d}000000000",  # created (derived from the data, not the clock)
        "",  # imported
        '"RE"',  # origin
        '""',  # exported by
        '""',  # imported by
        str(options.datev_consultant),
        str(options.datev_client),
        f"{fiscal_year:%Y%m%d}",
        str(options.datev_account_length),
        f"{first:%Y%m%d}",
        f"{last:%Y%m%d}",
        '"abrecon"',  # batch label
        '""',  # dictation code
        "1",  # booking type: financial accounting
        "0",  # accounting purpose
        "0",  # not locked (Festschreibung)
        _text(currency),
        "",  # reserved
        '""',  # derivative code
        "",  # reserved
        "",  # reserved
        '""',  # chart of accounts (SKR), left to the adviser's ledger
        "",  # industry solution id
        "",  # reserved
        '""',  # reserved
        '""',  # application info
    )
    return ";".join(fields) + CRLF
