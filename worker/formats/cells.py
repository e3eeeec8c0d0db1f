"""Text and numbers as they go into a cell of an export: inert, exact, on one line.

These rules are shared by every file abrecon writes for an accountant (the transactions CSV and
the journal formats):

* A text cell that a spreadsheet would run as a formula (one starting with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return) is neutralised with a leading single quote
  (:func:`neutralise`). Amount columns hold numbers only and are left as they are, so a refund
  stays ``-12.50``.
* Amounts are exact decimal strings (never floats, never exponent notation) with at least the
  currency's minor units (:func:`decimal_text`): ``100.00`` USD, ``100`` JPY, ``1.500`` KWD.
* Formats that cannot quote (IIF, the description line of a plain-text journal) get text on one
  line (:func:`one_line`).
"""

from __future__ import annotations

from decimal import Decimal

__all__ = [
    "FORMULA_PREFIXES",
    "THREE_DECIMAL_CURRENCIES",
    "ZERO_DECIMAL_CURRENCIES",
    "decimal_text",
    "minor_units",
    "neutralise",
    "one_line",
]

#: Cells starting with one of these would be evaluated by a spreadsheet.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: ISO 4217 currencies without minor units, and those with three decimal places.
ZERO_DECIMAL_CURRENCIES = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL_CURRENCIES = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])

#: Control characters (C0, DEL, C1: tabs, line feeds, NUL, ESC, NEL ...) and the Unicode line
#: and paragraph separators, each turned into a space by :func:`one_line`.
_CONTROLS = str.maketrans(dict.fromkeys([*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029], " "))


def neutralise(cell: str) -> str:
    """``cell`` made inert for spreadsheets: a formula-like start gets a leading quote."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def one_line(text: str) -> str:
    """``text`` on one line: tabs, line breaks and other control characters become spaces."""
    return text.translate(_CONTROLS)


def decimal_text(amount: Decimal | None, currency: str = "") -> str:
    """An exact decimal string without exponent, with at least the currency's minor units.

    ``Decimal('1E+2')`` is ``100.00`` in USD and ``100`` in JPY; a value with more places than
    the currency has keeps them all (nothing is ever rounded). Padding to the minor units makes
    the text the same whichever database stored it (PostgreSQL's NUMERIC gives back ``154.3``
    where SQLite gives back the ``154.30`` Amazon sent).
    """
    if amount is None:
        return ""
    places = minor_units(currency)
    exponent = amount.as_tuple().exponent  # a letter only for NaN and infinity
    if isinstance(exponent, int) and exponent > -places:
        amount = amount.quantize(Decimal(1).scaleb(-places))
    return format(amount, "f")


def minor_units(currency: str) -> int:
    """The decimal places of an ISO 4217 currency (2 unless it is known to differ)."""
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2
