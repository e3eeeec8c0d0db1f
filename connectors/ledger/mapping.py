r"""Mapping files: how to read a ledger export that is not in the canonical layout.

Banks, card issuers and accounting systems each export their books in their own CSV dialect:
semicolons and decimal commas in Germany, month-first dates in the US, separate debit and
credit columns instead of a signed amount, a few lines of account details before the header,
Latin-1 instead of UTF-8. A *mapping file* (TOML, read with :mod:`tomllib`) tells
:func:`connectors.ledger.reader.read_ledger` where each :class:`~connectors.ledger.model.
LedgerEntry` field is and how its text is written, so the same strict rules (exact decimals,
real dates, all or nothing) apply to every layout.

The format
----------

Top-level keys (all optional) describe the file; the ``[columns]`` table says where each field
is. A column is named by its header text (surrounding spaces ignored) or, always possible and
required when ``header = false``, by its 1-based position (an integer).

``delimiter``
    ``","`` (default), ``";"``, ``"\t"`` (or ``"tab"``), ``"|"``, or any single character
    other than a quote or a line break.
``encoding``
    ``"utf-8"`` (default) and ``"utf-8-sig"`` both read UTF-8 with or without a byte order
    mark; ``"latin-1"`` (ISO 8859-1) and ``"cp1252"`` (Windows-1252, Latin-1 plus ``€`` and
    typographic quotes) read Western European exports. Nothing falls back silently: a byte that
    is not valid in the configured encoding is an error naming its line and byte offset.
``header``
    ``true`` (default) when the first row after ``skip_rows`` names the columns.
``skip_rows``
    Lines before the header (or before the data when there is no header): the account
    details and blank lines many bank exports start with. Default 0.
``date_formats``
    One :func:`~datetime.datetime.strptime` pattern or a list of them, tried in order; the
    first that matches the whole cell wins (so never list ``%d/%m/%Y`` and ``%m/%d/%Y``
    together). Each must name a day, a month and a year. Default ``"%Y-%m-%d"``.
``decimal_separator``
    ``"."`` (default) or ``","``.
``thousands_separator``
    ``""`` (default: none), ``","``, ``"."``, ``" "``, ``"'"``, or a (narrow) no-break space.
    Groups are checked (``1.234,56`` is read with ``"."``, ``12.34,5`` is an error), which also
    catches a mapping whose separators are the wrong way round.
``currency``
    A fixed ISO 4217 code for every line (``"EUR"``), for exports without a currency column.
    Exactly one of this and ``columns.currency`` is required.
``spent``
    With debit and credit columns: which of them holds money spent, ``"debit"`` (default) or
    ``"credit"``. On a card or bank statement money spent is usually the debit (German:
    *Soll*); the other column holds refunds and credits, which become negative amounts.
``invert_sign``
    ``true`` when the export's signed amounts are negative for money spent (most bank
    statements); every amount is negated. Default ``false``: positive means money spent.
``description_separator``
    What joins several description columns. Default ``" "``.

``[columns]``:

``posted_date`` (required)
    The booking date.
``amount``, or ``debit`` and ``credit`` (one or the other is required)
    A signed amount, or two unsigned columns of which one is filled on each line. A sign in a
    debit or credit cell is ignored (some banks print debits as negative numbers); a line with
    both filled (and neither zero) or neither is an error.
``entry_id``
    The line's unique id in the export. Many bank exports have none: without this key the id
    is derived from the line's content, ``<date>:<amount>:<currency>:<digest>:<n>``, where
    ``digest`` is eight hex digits of a SHA-256 of the description and reference and ``n``
    counts identical lines (1, 2, ...), so re-importing the same or an overlapping export gives
    the same ids (the scheme YNAB uses for its import ids).
``currency``
    A column holding the ISO 4217 code (alternative to the top-level ``currency``).
``description``
    One column or a list of columns, joined with ``description_separator`` (empty parts are
    left out). Optional.
``reference``
    An order id, invoice number or end-to-end reference. Optional.
``card_last4``, or ``card_number``
    A column holding the card's last four digits (four digits or empty), or a column holding a
    card number in any masked form (``4871 **** **** 1234``, ``XXXX-1234``) whose last four
    digits are taken. Optional.

Example: a German bank export (Latin-1, semicolons, decimal commas, ``DD.MM.YYYY``, *Soll* and
*Haben* columns, four lines of account details before the header)::

    Kontoinhaber;Beispiel GmbH
    IBAN;DE02120300000000202051
    Zeitraum;01.01.2025 - 31.01.2025

    Buchungstag;Valuta;Auftraggeber/Empfänger;Verwendungszweck;Kundenreferenz;Soll;Haben;Währung
    06.01.2025;06.01.2025;AMAZON EU S.A R.L.;302-1234567-1234567 Bürobedarf;A1B2C3;1.234,56;;EUR
    09.01.2025;09.01.2025;AMAZON EU S.A R.L.;Erstattung 302-1234567-1234567;A1B2C4;;12,30;EUR

.. code-block:: toml

    delimiter = ";"
    encoding = "latin-1"
    skip_rows = 4
    date_formats = "%d.%m.%Y"
    decimal_separator = ","
    thousands_separator = "."
    spent = "debit"            # Soll: money leaving the account

    [columns]
    posted_date = "Buchungstag"
    debit = "Soll"
    credit = "Haben"
    currency = "Währung"
    description = ["Auftraggeber/Empfänger", "Verwendungszweck"]
    reference = "Kundenreferenz"
    # no entry_id column: ids are derived from each line's content

gives ``1234.56 EUR`` spent on 2025-01-06 and a ``-12.30 EUR`` refund on 2025-01-09.

Example: a US card export (UTF-8, ``MM/DD/YYYY``, *Debit* for charges, *Credit* for refunds
and payments, thousands commas, a masked card number)::

    Transaction Date,Posted Date,Card No.,Description,Reference,Debit,Credit
    01/06/2025,01/07/2025,XXXX-XXXX-XXXX-3972,AMAZON MKTPL*2K4AB12C3,240071234,"1,412.17",
    01/20/2025,01/21/2025,XXXX-XXXX-XXXX-3972,AMAZON MKTPL*2K4AB12C3 REFUND,240075678,,40.20

.. code-block:: toml

    date_formats = ["%m/%d/%Y"]
    thousands_separator = ","
    currency = "USD"

    [columns]
    entry_id = "Reference"
    posted_date = "Posted Date"
    debit = "Debit"
    credit = "Credit"
    description = "Description"
    card_number = "Card No."

gives ``1412.17 USD`` spent on 2025-01-07 and a ``-40.20 USD`` refund on 2025-01-21, both on
the card ending ``3972``.
"""

from __future__ import annotations

import codecs
import difflib
import re
import tomllib
from dataclasses import dataclass, fields
from datetime import date, datetime
from os import PathLike
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DECIMAL_SEPARATORS",
    "ENCODINGS",
    "THOUSANDS_SEPARATORS",
    "Column",
    "Columns",
    "Mapping",
    "MappingError",
    "load_mapping",
    "parse_mapping",
]

#: A column: its header text, or its 1-based position.
Column = str | int

#: Encodings a mapping may name (any spelling :func:`codecs.lookup` knows) → the label kept.
ENCODINGS: dict[str, str] = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "iso8859-1": "latin-1",
    "cp1252": "cp1252",
}
#: Decimal separators a mapping may name.
DECIMAL_SEPARATORS: tuple[str, ...] = (".", ",")
#: Thousands separators a mapping may name ("" for none).
THOUSANDS_SEPARATORS: tuple[str, ...] = ("", ",", ".", " ", "'", "\u00a0", "\u202f")

#: A date every ``date_formats`` pattern must render and read back unchanged.
_PROBE_DATE = date(2031, 12, 28)


class MappingError(ValueError):
    """A mapping file (or a :class:`Mapping` built in code) that does not describe a layout.

    ``file`` is the mapping file (``None`` for a mapping built in code), ``key`` the dotted key
    at fault (``"columns.debit"``; ``None`` for a file that is not TOML), ``value`` the
    offending value and ``reason`` what is wrong. The message reads like
    ``bank.toml: columns.debit: expected a column name or a 1-based position, not 2.5``.
    """

    def __init__(self, file: str | None, key: str | None, value: object, reason: str) -> None:
        self.file = file
        self.key = key
        self.value = value
        self.reason = reason
        super().__init__(": ".join(part for part in (file, key, reason) if part is not None))

    def in_file(self, file: str | PathLike[str]) -> MappingError:
        """The same error, naming the mapping file it comes from."""
        return MappingError(str(file), self.key, self.value, self.reason)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.file, self.key, self.value, self.reason))


@dataclass(frozen=True, slots=True)
class Columns:
    """Where each :class:`~connectors.ledger.model.LedgerEntry` field is (see the module doc)."""

    posted_date: Column
    amount: Column | None = None
    debit: Column | None = None
    credit: Column | None = None
    entry_id: Column | None = None
    currency: Column | None = None
    description: tuple[Column, ...] = ()
    reference: Column | None = None
    card_last4: Column | None = None
    card_number: Column | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            for column in value if isinstance(value, tuple) else (value,):
                if column is not None:
                    _check_column(f"columns.{item.name}", column)
        if self.amount is not None and (self.debit is not None or self.credit is not None):
            raise MappingError(
                None, "columns.amount", self.amount, "give amount, or debit and credit, not both"
            )
        if self.amount is None and (self.debit is None or self.credit is None):
            missing = "columns.credit" if self.debit is not None else "columns.debit"
            if self.debit is None and self.credit is None:
                missing = "columns.amount"
            raise MappingError(
                None, missing, None, "missing: give amount, or both debit and credit"
            )
        if self.card_last4 is not None and self.card_number is not None:
            raise MappingError(
                None,
                "columns.card_number",
                self.card_number,
                "give card_last4 or card_number, not both",
            )

    def named(self) -> list[tuple[str, Column]]:
        """Every mapped ``(field, column)`` pair, description columns included."""
        pairs: list[tuple[str, Column]] = []
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, tuple):
                pairs.extend((item.name, column) for column in value)
            elif value is not None:
                pairs.append((item.name, value))
        return pairs


@dataclass(frozen=True, slots=True)
class Mapping:
    """A ledger layout: where each field is and how it is written (see the module doc).

    Construction checks everything :func:`load_mapping` checks, so a mapping built in code is
    as safe as one read from a file; a bad one raises :class:`MappingError`.
    """

    columns: Columns
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True
    skip_rows: int = 0
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    decimal_separator: str = "."
    thousands_separator: str = ""
    currency: str | None = None
    spent: Literal["debit", "credit"] = "debit"
    invert_sign: bool = False
    description_separator: str = " "

    def __post_init__(self) -> None:
        if self.delimiter == "tab":
            object.__setattr__(self, "delimiter", "\t")
        if (
            not isinstance(self.delimiter, str)
            or len(self.delimiter) != 1
            or self.delimiter in '"\r\n'
        ):
            raise MappingError(
                None,
                "delimiter",
                self.delimiter,
                f"expected one character other than a quote or a line break, not "
                f"{self.delimiter!r}",
            )
        object.__setattr__(self, "encoding", _encoding(self.encoding))
        for key in ("header", "invert_sign"):
            if not isinstance(getattr(self, key), bool):
                raise MappingError(
                    None,
                    key,
                    getattr(self, key),
                    f"expected true or false, not {getattr(self, key)!r}",
                )
        if (
            not isinstance(self.skip_rows, int)
            or isinstance(self.skip_rows, bool)
            or self.skip_rows < 0
        ):
            raise MappingError(
                None,
                "skip_rows",
                self.skip_rows,
                f"expected a number of lines (0 or more), not {self.skip_rows!r}",
            )
        if not self.date_formats:
            raise MappingError(None, "date_formats", self.date_formats, "no date format given")
        for pattern in self.date_formats:
            _check_date_format(pattern)
        if self.decimal_separator not in DECIMAL_SEPARATORS:
            raise MappingError(
                None,
                "decimal_separator",
                self.decimal_separator,
                f"expected '.' or ',', not {self.decimal_separator!r}",
            )
        if self.thousands_separator not in THOUSANDS_SEPARATORS:
            raise MappingError(
                None,
                "thousands_separator",
                self.thousands_separator,
                f"expected one of {', '.join(map(repr, THOUSANDS_SEPARATORS))}, not "
                f"{self.thousands_separator!r}",
            )
        if self.thousands_separator == self.decimal_separator:
            raise MappingError(
                None,
                "thousands_separator",
                self.thousands_separator,
                "the thousands separator must differ from the decimal separator",
            )
        if self.spent not in ("debit", "credit"):
            raise MappingError(
                None, "spent", self.spent, f"expected 'debit' or 'credit', not {self.spent!r}"
            )
        if self.currency is not None and self.columns.currency is not None:
            raise MappingError(
                None, "currency", self.currency, "give currency or columns.currency, not both"
            )
        if self.currency is None and self.columns.currency is None:
            raise MappingError(
                None,
                "currency",
                None,
                'missing: give a fixed currency (currency = "EUR") or columns.currency',
            )
        if self.currency is not None:
            if not (
                isinstance(self.currency, str)
                and len(self.currency) == 3
                and self.currency.isascii()
                and self.currency.isalpha()
            ):
                raise MappingError(
                    None,
                    "currency",
                    self.currency,
                    f"expected an ISO 4217 code such as 'EUR', not {self.currency!r}",
                )
            object.__setattr__(self, "currency", self.currency.upper())
        if not isinstance(self.description_separator, str):
            raise MappingError(
                None,
                "description_separator",
                self.description_separator,
                f"expected a string, not {self.description_separator!r}",
            )
        if not self.header:
            for name, column in self.columns.named():
                if isinstance(column, str):
                    raise MappingError(
                        None,
                        f"columns.{name}",
                        column,
                        f"the file has no header (header = false), so name the column by "
                        f"its 1-based position, not {column!r}",
                    )


def load_mapping(path: str | PathLike[str]) -> Mapping:
    """Read and check the mapping file at ``path`` (TOML, see the module doc).

    Raises :class:`MappingError` naming the file and the key for anything that does not
    describe a layout (TOML syntax, unknown keys, wrong types, impossible combinations), and
    :class:`OSError` when the file cannot be read.
    """
    raw = Path(path).read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise MappingError(
            str(path),
            None,
            None,
            f"not UTF-8 text (byte offset {error.start}); TOML files are always UTF-8",
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise MappingError(str(path), None, None, f"not valid TOML: {error}") from None
    try:
        return parse_mapping(data)
    except MappingError as error:
        raise error.in_file(path) from None


def parse_mapping(data: dict[str, Any]) -> Mapping:
    """Build a :class:`Mapping` from the parsed TOML document ``data`` (see the module doc)."""
    top = {item.name for item in fields(Mapping)} - {"columns"}
    for key in data:
        if key not in top and key != "columns":
            raise MappingError(None, key, data[key], f"unknown key {key!r}{_suggest(key, top)}")
    table = data.get("columns")
    if table is None:
        raise MappingError(
            None, "columns", table, "missing: a [columns] table saying where each field is"
        )
    if not isinstance(table, dict):
        raise MappingError(None, "columns", table, f"expected a [columns] table, not {table!r}")
    known = {item.name for item in fields(Columns)}
    for key in table:
        if key not in known:
            raise MappingError(
                None,
                f"columns.{key}",
                table[key],
                f"unknown field {key!r}{_suggest(key, known)}",
            )
    if "posted_date" not in table:
        raise MappingError(None, "columns.posted_date", None, "missing: the booking date column")
    column_args: dict[str, Any] = dict(table)
    description = column_args.get("description")
    if description is not None:
        column_args["description"] = (
            tuple(description) if isinstance(description, list) else (description,)
        )
    args: dict[str, Any] = {key: value for key, value in data.items() if key != "columns"}
    formats = args.get("date_formats")
    if formats is not None:
        if isinstance(formats, str):
            args["date_formats"] = (formats,)
        elif isinstance(formats, list):
            args["date_formats"] = tuple(formats)
        else:
            raise MappingError(
                None,
                "date_formats",
                formats,
                f"expected a pattern or a list of patterns, not {formats!r}",
            )
    for key in ("delimiter", "decimal_separator", "thousands_separator", "spent"):
        if key in args and not isinstance(args[key], str):
            raise MappingError(None, key, args[key], f"expected a string, not {args[key]!r}")
    return Mapping(columns=Columns(**column_args), **args)


def _check_column(key: str, column: object) -> None:
    if isinstance(column, bool) or not isinstance(column, str | int):
        raise MappingError(
            None,
            key,
            column,
            f"expected a column name or a 1-based position, not {column!r}",
        )
    if isinstance(column, int) and column < 1:
        raise MappingError(None, key, column, f"positions start at 1, not {column}")
    if isinstance(column, str) and not column.strip():
        raise MappingError(None, key, column, "a column name cannot be empty")


def _encoding(label: object) -> str:
    if isinstance(label, str):
        try:
            name = codecs.lookup(label).name
        except LookupError:
            name = ""
        if name in ENCODINGS:
            return ENCODINGS[name]
    raise MappingError(
        None,
        "encoding",
        label,
        f"expected 'utf-8', 'utf-8-sig', 'latin-1' or 'cp1252', not {label!r}",
    )


def _check_date_format(pattern: object) -> None:
    if not isinstance(pattern, str) or not pattern.strip():
        raise MappingError(
            None, "date_formats", pattern, f"expected a strptime pattern, not {pattern!r}"
        )
    probe = datetime.combine(_PROBE_DATE, datetime.min.time())
    try:
        parsed = datetime.strptime(probe.strftime(pattern), pattern).date()
    except (ValueError, re.error) as error:  # re.error: a directive given twice ("%Y%Y")
        raise MappingError(
            None, "date_formats", pattern, f"{pattern!r} is not a usable date pattern ({error})"
        ) from None
    if parsed != _PROBE_DATE:
        raise MappingError(
            None,
            "date_formats",
            pattern,
            f"{pattern!r} does not name a day, a month and a year (it reads "
            f"{_PROBE_DATE.isoformat()} as {parsed.isoformat()})",
        )


def _suggest(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(known))}"
