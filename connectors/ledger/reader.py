"""Read a ledger file, canonical or mapped, into :class:`~connectors.ledger.model.LedgerEntry`.

The **canonical layout** is what abrecon itself writes (the sandbox generator's
``ledger.csv``) and what the documentation asks a company to export::

    entry_id,posted_date,amount,currency,description,reference,card_last4
    GL-000001,2025-01-11,40.20,USD,Amazon.com Services LLC invoice NMTY-T7BR-M878,NMTY-T7BR-M878,
    GL-000006,2025-01-16,1412.17,USD,AMAZON MKTPL*90WLZCJS7,,3972
    GL-000013,2025-02-18,-5.46,USD,Amazon credit memo WF0J-H8LV-JY1U,WF0J-H8LV-JY1U,5514

Comma-separated, UTF-8 (a byte order mark is allowed), exactly that header, ISO 8601 dates
(``YYYY-MM-DD``), amounts as plain decimal strings with ``.`` (a leading sign, at most four
decimal places, no thousands separators, no exponent), positive for money spent; an ISO 4217
currency code; ``reference`` and ``card_last4`` (four digits) may be empty. The description is
kept exactly as written; the other cells are read without surrounding spaces.

Any other layout is read through a :class:`~connectors.ledger.mapping.Mapping` (see
:mod:`connectors.ledger.mapping` for the mapping file format).

The rules are the same for every layout:

* **All or nothing.** The first line that cannot be read raises
  :class:`~connectors.ledger.model.LedgerError` naming the file, the line, the column and the
  value; no partial list is ever returned, so an import never stores half a file.
* **Exact money.** Amounts become :class:`~decimal.Decimal` from their text, never through a
  float; ``NaN``, infinities, exponents, more than :data:`MAX_DECIMAL_PLACES` decimal places
  and more than :data:`MAX_INTEGER_DIGITS` integer digits are errors.
* **Text is text.** The file is decoded in the configured encoding with no silent fallback: a
  byte that is not valid there (a Latin-1 ``ü`` in a UTF-8 file, say) or a NUL byte (a binary
  or UTF-16 file) is an error naming its line, column and byte offset.
* **Ids are unique.** A second line with the same ``entry_id`` in one file is an error (two
  lines cannot both be the natural key's owner).
* Lines whose cells are all blank are skipped (exports often end with one); they are not data.

The file is streamed through :mod:`csv` line by line; only the entries are kept.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, NoReturn, TypeVar

from connectors.ledger.mapping import Columns, Mapping
from connectors.ledger.model import LedgerEntry, LedgerError

__all__ = [
    "CANONICAL_HEADER",
    "MAX_DECIMAL_PLACES",
    "MAX_INTEGER_DIGITS",
    "read_ledger",
]

#: The canonical ledger CSV header, in order.
CANONICAL_HEADER: tuple[str, ...] = (
    "entry_id",
    "posted_date",
    "amount",
    "currency",
    "description",
    "reference",
    "card_last4",
)
#: Decimal places an amount may have (card and bank amounts have 0 to 3; 4 leaves room).
MAX_DECIMAL_PLACES = 4
#: Integer digits an amount may have (far beyond any purchase; the store keeps 26).
MAX_INTEGER_DIGITS = 18

#: The canonical layout expressed as a mapping; :func:`read_ledger` adds the exact-header rule.
_CANONICAL = Mapping(
    columns=Columns(
        entry_id="entry_id",
        posted_date="posted_date",
        amount="amount",
        currency="currency",
        description=("description",),
        reference="reference",
        card_last4="card_last4",
    ),
    currency=None,
)

_T = TypeVar("_T")
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NOT_FINITE = re.compile(r"[+-]?(?:s?nan[0-9]*|inf|infinity)", re.IGNORECASE)
#: What :mod:`csv` leaves in a cell for an undecodable byte (``surrogateescape``) or a NUL.
_BAD_CHARACTER = re.compile("[\udc80-\udcff\x00]")


def read_ledger(path: Path, mapping: Mapping | None = None) -> list[LedgerEntry]:
    """Read every entry of the ledger file at ``path``, in file order.

    Without ``mapping`` the file must be in the canonical layout (see the module doc); with
    one, it is read as the mapping describes. Raises
    :class:`~connectors.ledger.model.LedgerError` for the first line (or header, or byte) that
    cannot be read, and :class:`OSError` when the file cannot be opened.
    """
    return _Reader(Path(path), mapping).read()


class _Bad(Exception):
    """A cell's text is not what its field needs; the reader adds file, line and column."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _BadText:
    """The first byte of a physical line that is not text in the file's encoding.

    ``kind`` is ``"decode"`` (not valid in the encoding), ``"nul"`` (a NUL byte: binary or
    UTF-16 data) or ``"utf16"`` (the file starts with a UTF-16 byte order mark).
    """

    offset: int
    byte: int
    kind: str
    encoding: str

    def reason(self, shown: str | None) -> str:
        """What is wrong, quoting the cell that holds the byte as ``shown`` (if known)."""
        in_cell = f" in '{shown}'" if shown is not None else ""
        if self.kind == "utf16":
            return (
                "the file starts with a UTF-16 byte order mark: it is UTF-16 text; save it as UTF-8"
            )
        if self.kind == "nul":
            return (
                f"NUL byte at byte offset {self.offset}{in_cell}: the file is binary or "
                f"UTF-16, not text"
            )
        hint = (
            "; if the file is Latin-1 or Windows-1252, say so in a mapping (encoding = "
            '"latin-1" or "cp1252")'
            if self.encoding == "UTF-8"
            else ""
        )
        return (
            f"byte 0x{self.byte:02x} at byte offset {self.offset}{in_cell} is not "
            f"{self.encoding} text{hint}"
        )


class _Lines:
    """The file's physical lines as text, remembering where bytes were not valid text.

    Undecodable bytes are kept as lone surrogates (``surrogateescape``) so that :mod:`csv` can
    still split the record and the reader can tell which cell holds them.
    """

    def __init__(self, handle: BinaryIO, encoding: str) -> None:
        self._handle = handle
        self._codec = "utf-8" if encoding in ("utf-8", "utf-8-sig") else encoding
        self._name = {"utf-8": "UTF-8", "latin-1": "Latin-1", "cp1252": "Windows-1252"}[self._codec]
        self.bad: dict[int, _BadText] = {}

    def __iter__(self) -> Iterator[str]:
        offset = 0
        for number, raw in enumerate(self._handle, start=1):
            start = offset
            offset += len(raw)
            if number == 1:
                if raw.startswith(_UTF16_BOMS):
                    self.bad[1] = _BadText(0, raw[0], "utf16", self._name)
                elif self._codec == "utf-8" and raw.startswith(_UTF8_BOM):
                    raw = raw[len(_UTF8_BOM) :]
                    start += len(_UTF8_BOM)
            try:
                text = raw.decode(self._codec)
            except UnicodeDecodeError as error:
                at = error.start
                self.bad.setdefault(number, _BadText(start + at, raw[at], "decode", self._name))
                text = raw.decode(self._codec, "surrogateescape")
            nul = raw.find(b"\x00")
            if nul >= 0:
                self.bad.setdefault(number, _BadText(start + nul, 0, "nul", self._name))
            yield text

    def escaped(self, cell: str) -> str:
        """``cell`` with its undecodable bytes shown as ``\\xNN`` (and NUL as ``\\x00``)."""
        raw = cell.encode(self._codec, "surrogateescape")
        return raw.decode(self._codec, "backslashreplace").replace("\x00", "\\x00")


@dataclass(frozen=True, slots=True)
class _Field:
    """A mapped column resolved against the file: where it is and what to call it."""

    index: int
    label: str


class _Reader:
    def __init__(self, path: Path, mapping: Mapping | None) -> None:
        self.path = path
        self.canonical = mapping is None
        self.mapping = _CANONICAL if mapping is None else mapping
        self.header: list[str] | None = None
        self.amount = _amount_parser(
            self.mapping.decimal_separator,
            self.mapping.thousands_separator,
            lenient_signs=not self.canonical,
        )

    # -- errors -------------------------------------------------------------------------------

    def fail(
        self, line: int | None, column: str | None, value: str | None, reason: str
    ) -> NoReturn:
        raise LedgerError(self.path, line, column, value, reason)

    def label(self, index: int) -> str:
        """How an error names the cell at 0-based ``index``: its header name, or position."""
        if self.header is not None and index < len(self.header) and self.header[index]:
            return self.header[index]
        return str(index + 1)

    # -- the file -----------------------------------------------------------------------------

    def read(self) -> list[LedgerEntry]:
        with self.path.open("rb") as handle:
            lines = _Lines(handle, self.mapping.encoding)
            return list(self.entries(lines))

    def records(self, lines: _Lines) -> Iterator[tuple[int, list[str]]]:
        """``(first line, cells)`` for every CSV record, raising on bad text or bad quoting."""
        reader = csv.reader(
            lines, delimiter=self.mapping.delimiter, quotechar='"', doublequote=True, strict=True
        )
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                self.check_text(lines, start, reader.line_num, None)
                return
            except csv.Error as error:
                self.check_text(lines, start, reader.line_num, None)
                self.fail(
                    start,
                    None,
                    None,
                    f"not a well-formed CSV record ({error}, at line {reader.line_num}); "
                    f"is a quote unbalanced?",
                )
            self.check_text(lines, start, reader.line_num, row)
            yield start, row

    def check_text(self, lines: _Lines, first: int, last: int, row: list[str] | None) -> None:
        """Raise if a physical line of this record held bytes that are not text."""
        for number in range(first, last + 1):
            bad = lines.bad.get(number)
            if bad is None:
                continue
            for index, cell in enumerate(row or ()):
                if _BAD_CHARACTER.search(cell):
                    shown = lines.escaped(cell)
                    self.fail(number, self.label(index), shown, bad.reason(shown))
            self.fail(number, None, None, bad.reason(None))

    def entries(self, lines: _Lines) -> Iterator[LedgerEntry]:
        records = self.records(lines)
        skipped = 0
        while skipped < self.mapping.skip_rows:
            if next(records, None) is None:
                self.fail(
                    None,
                    None,
                    None,
                    f"the file ends after {skipped} lines, before the "
                    f"{'header' if self.mapping.header else 'data'} "
                    f"(skip_rows = {self.mapping.skip_rows})",
                )
            skipped += 1
        fields = self.resolve(records) if self.mapping.header else self.positions()
        builder = _RowBuilder(self, fields)
        for line, row in records:
            if all(not cell.strip() for cell in row):
                continue
            yield builder.build(line, row)

    # -- the header ---------------------------------------------------------------------------

    def resolve(self, records: Iterator[tuple[int, list[str]]]) -> dict[str, list[_Field]]:
        first = next(records, None)
        if first is None:
            expected = ",".join(CANONICAL_HEADER) if self.canonical else "the header"
            self.fail(None, None, None, f"the file is empty; expected {expected}")
        line, row = first
        shown = self.mapping.delimiter.join(row)
        if self.canonical:
            self.check_canonical_header(line, row, shown)
            self.header = list(row)
        else:
            self.header = [cell.strip() for cell in row]
        positions: dict[str, list[int]] = {}
        for index, name in enumerate(self.header):
            positions.setdefault(name, []).append(index)
        fields: dict[str, list[_Field]] = {}
        for key, column in self.mapping.columns.named():
            if isinstance(column, int):
                index = column - 1
                if index >= len(self.header):
                    self.fail(
                        line,
                        str(column),
                        shown,
                        f"the header has {len(self.header)} columns, so there is no column "
                        f"{column} (columns.{key} in the mapping)",
                    )
            else:
                name = column.strip()
                found = positions.get(name, [])
                if not found:
                    self.fail(
                        line,
                        name,
                        shown,
                        f"the header has no column {name!r} (columns.{key} in the mapping)"
                        f"{self.header_hint(name)}",
                    )
                if len(found) > 1:
                    self.fail(
                        line,
                        name,
                        shown,
                        f"the header has {len(found)} columns named {name!r}; name the one "
                        f"for columns.{key} by its position",
                    )
                index = found[0]
            fields.setdefault(key, []).append(_Field(index, self.label(index)))
        return fields

    def header_hint(self, name: str) -> str:
        assert self.header is not None
        if len(self.header) == 1 and any(sep in self.header[0] for sep in ",;\t|"):
            delimiter = self.mapping.delimiter
            return f"; the header is one single column: is the delimiter not {delimiter!r}?"
        close = difflib.get_close_matches(name, self.header, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""

    def check_canonical_header(self, line: int, row: list[str], shown: str) -> None:
        if tuple(row) == CANONICAL_HEADER:
            return
        expected = ",".join(CANONICAL_HEADER)
        for name in CANONICAL_HEADER:
            if name not in row:
                hint = self.header_hint_canonical(row)
                self.fail(
                    line,
                    name,
                    shown,
                    f"the header has no column {name!r}; expected exactly {expected}{hint}",
                )
        for index, name in enumerate(row):
            if name not in CANONICAL_HEADER:
                self.fail(
                    line, name, shown, f"unexpected column {name!r}; expected exactly {expected}"
                )
            if row.index(name) != index:
                self.fail(
                    line, name, shown, f"column {name!r} appears twice; expected exactly {expected}"
                )
        self.fail(line, None, shown, f"the columns are out of order; expected exactly {expected}")

    def header_hint_canonical(self, row: list[str]) -> str:
        if len(row) == 1 and any(sep in row[0] for sep in ";\t|"):
            return " (separated by commas; read other layouts with a mapping)"
        return ""

    def positions(self) -> dict[str, list[_Field]]:
        fields: dict[str, list[_Field]] = {}
        for key, column in self.mapping.columns.named():
            assert isinstance(column, int)  # Mapping refuses names when there is no header
            fields.setdefault(key, []).append(_Field(column - 1, str(column)))
        return fields


class _RowBuilder:
    """Turns one CSV record into a :class:`LedgerEntry`, or a :class:`LedgerError`."""

    def __init__(self, reader: _Reader, fields: dict[str, list[_Field]]) -> None:
        self.reader = reader
        self.mapping = reader.mapping
        self.fields = fields
        self.width = 1 + max(f.index for group in fields.values() for f in group)
        self.seen: dict[str, int] = {}
        self.derived: dict[str, int] = {}
        self.parse_date: Callable[[str], date] = (
            _iso_date if reader.canonical else _date_parser(self.mapping.date_formats)
        )

    def one(self, key: str) -> _Field | None:
        group = self.fields.get(key)
        return group[0] if group else None

    def parse(self, line: int, row: Sequence[str], field: _Field, parse: Callable[[str], _T]) -> _T:
        text = row[field.index]
        try:
            return parse(text)
        except _Bad as bad:
            self.reader.fail(line, field.label, text, bad.reason)

    def build(self, line: int, row: list[str]) -> LedgerEntry:
        reader = self.reader
        if reader.canonical and len(row) != len(CANONICAL_HEADER):
            self.wrong_width(line, row, len(CANONICAL_HEADER))
        if len(row) < self.width:
            self.wrong_width(line, row, self.width)
        posted_date_field = self.one("posted_date")
        assert posted_date_field is not None
        posted_date = self.parse(line, row, posted_date_field, self.parse_date)
        amount = self.amount(line, row)
        currency_field = self.one("currency")
        if currency_field is None:
            assert self.mapping.currency is not None
            currency = self.mapping.currency
        else:
            currency = self.parse(line, row, currency_field, _currency)
        description = self.description(row)
        reference_field = self.one("reference")
        reference = row[reference_field.index].strip() if reference_field else ""
        card_last4 = ""
        card_field = self.one("card_last4")
        if card_field is not None:
            card_last4 = self.parse(line, row, card_field, _card_last4)
        number_field = self.one("card_number")
        if number_field is not None:
            card_last4 = self.parse(line, row, number_field, _card_number)
        id_field = self.one("entry_id")
        if id_field is not None:
            entry_id = self.parse(line, row, id_field, _entry_id)
            first = self.seen.setdefault(entry_id, line)
            if first != line:
                reader.fail(
                    line,
                    id_field.label,
                    row[id_field.index],
                    f"duplicate entry id {row[id_field.index]!r} (first on line {first})",
                )
        else:
            entry_id = self.derive_id(posted_date, amount, currency, description, reference)
        return LedgerEntry(
            entry_id=entry_id,
            posted_date=posted_date,
            amount=amount,
            currency=currency,
            description=description,
            reference=reference,
            card_last4=card_last4,
            line=line,
        )

    def wrong_width(self, line: int, row: list[str], expected: int) -> NoReturn:
        reader = self.reader
        if len(row) < expected:
            missing = reader.label(len(row))
            reader.fail(
                line,
                missing,
                None,
                f"the line has {len(row)} cells, so column {missing!r} is missing (expected "
                f"{expected}; is a delimiter missing or a quote unbalanced?)",
            )
        reader.fail(
            line,
            str(expected + 1),
            row[expected],
            f"the line has {len(row)} cells, expected {expected}: unexpected "
            f"{row[expected]!r} after the last column (is a value not quoted?)",
        )

    def amount(self, line: int, row: Sequence[str]) -> Decimal:
        mapping = self.mapping
        amount_field = self.one("amount")
        if amount_field is not None:
            value = self.parse(line, row, amount_field, self.reader.amount)
        else:
            debit_field, credit_field = self.one("debit"), self.one("credit")
            assert debit_field is not None and credit_field is not None
            debit = self.parse(line, row, debit_field, self.optional_amount)
            credit = self.parse(line, row, credit_field, self.optional_amount)
            spent, back = (debit, credit) if mapping.spent == "debit" else (credit, debit)
            spent_field, back_field = (
                (debit_field, credit_field)
                if mapping.spent == "debit"
                else (credit_field, debit_field)
            )
            if spent is None and back is None:
                self.reader.fail(
                    line,
                    spent_field.label,
                    row[spent_field.index],
                    f"neither {debit_field.label!r} nor {credit_field.label!r} has an amount",
                )
            if spent and back:
                self.reader.fail(
                    line,
                    back_field.label,
                    row[back_field.index],
                    f"both {debit_field.label!r} ({row[debit_field.index]!r}) and "
                    f"{credit_field.label!r} ({row[credit_field.index]!r}) have an amount; "
                    f"one line is either money spent or money back",
                )
            if spent:
                value = spent.copy_abs()
            elif back:
                value = _negate(back.copy_abs())
            else:  # a zero in one column, nothing (or another zero) in the other
                value = next(v for v in (spent, back) if v is not None).copy_abs()
        return _negate(value) if mapping.invert_sign else value

    def optional_amount(self, text: str) -> Decimal | None:
        return self.reader.amount(text) if text.strip() else None

    def description(self, row: Sequence[str]) -> str:
        group = self.fields.get("description", [])
        if self.reader.canonical:
            return row[group[0].index]
        parts = (row[f.index].strip() for f in group)
        return self.mapping.description_separator.join(part for part in parts if part)

    def derive_id(
        self, posted: date, amount: Decimal, currency: str, description: str, reference: str
    ) -> str:
        digest = hashlib.sha256(f"{description}\x1f{reference}".encode()).hexdigest()[:8]
        key = f"{posted.isoformat()}:{amount:f}:{currency}:{digest}"
        count = self.derived.get(key, 0) + 1
        self.derived[key] = count
        return f"{key}:{count}"


# -- cell parsers: text → value, or _Bad(reason) ------------------------------------------------


def _empty(what: str, text: str) -> str:
    return f"the {what} is empty" + (f" (only spaces: {text!r})" if text else "")


def _negate(value: Decimal) -> Decimal:
    """``-value`` exactly (no context rounding), and never a negative zero."""
    return value.copy_negate() if value else value.copy_abs()


def _amount_parser(
    decimal_separator: str, thousands_separator: str, *, lenient_signs: bool
) -> Callable[[str], Decimal]:
    """A parser for amounts written with these separators.

    The canonical layout allows a leading sign only; mapped layouts also read a trailing minus
    (``12,30-``, SAP and some German banks) and accounting parentheses (``(12.30)``).
    """
    dec = re.escape(decimal_separator)
    if thousands_separator:
        sep = re.escape(thousands_separator)
        integer = rf"[0-9]{{1,3}}(?:{sep}[0-9]{{3}})+|[0-9]+"
    else:
        integer = r"[0-9]+"
    number = re.compile(rf"(?P<int>{integer})(?:{dec}(?P<frac>[0-9]+))?")
    other = "," if decimal_separator == "." else "."

    def parse(text: str) -> Decimal:
        body = text.strip()
        if not body:
            raise _Bad(_empty("amount", text))
        if _NOT_FINITE.fullmatch(body):
            raise _Bad(f"{text!r} is not a finite amount")
        negative = False
        if lenient_signs and body.startswith("(") and body.endswith(")"):
            negative, body = True, body[1:-1].strip()
        elif body[0] in "+-":
            negative, body = body[0] == "-", body[1:]
        elif lenient_signs and body.endswith("-"):
            negative, body = True, body[:-1]
        match = number.fullmatch(body)
        if match is None:
            hint = ""
            if not thousands_separator and re.fullmatch(rf"[0-9]+{re.escape(other)}[0-9]+", body):
                hint = f" (the decimal separator is {decimal_separator!r})"
            raise _Bad(f"{text!r} is not an amount{hint}")
        digits = (
            match["int"].replace(thousands_separator, "") if thousands_separator else match["int"]
        )
        fraction = match["frac"] or ""
        if len(fraction) > MAX_DECIMAL_PLACES:
            raise _Bad(f"{text!r} has more than {MAX_DECIMAL_PLACES} decimal places")
        if len(digits.lstrip("0")) > MAX_INTEGER_DIGITS:
            raise _Bad(f"{text!r} is too large for an amount (over {MAX_INTEGER_DIGITS} digits)")
        value = Decimal(f"{digits}.{fraction}" if fraction else digits)
        return _negate(value) if negative else value

    return parse


def _iso_date(text: str) -> date:
    body = text.strip()
    if not body:
        raise _Bad(_empty("date", text))
    if _ISO_DATE.fullmatch(body):
        try:
            return date.fromisoformat(body)
        except ValueError:
            pass
    raise _Bad(f"{text!r} is not a date (expected YYYY-MM-DD)")


def _date_parser(formats: tuple[str, ...]) -> Callable[[str], date]:
    shown = " or ".join(repr(pattern) for pattern in formats)

    def parse(text: str) -> date:
        body = text.strip()
        if not body:
            raise _Bad(_empty("date", text))
        for pattern in formats:
            try:
                return datetime.strptime(body, pattern).date()
            except ValueError:
                continue
        raise _Bad(f"{text!r} is not a date in the format {shown}")

    return parse


def _currency(text: str) -> str:
    body = text.strip()
    if not body:
        raise _Bad(_empty("currency", text))
    if len(body) != 3 or not body.isascii() or not body.isalpha():
        raise _Bad(f"{text!r} is not an ISO 4217 currency code (three letters, such as 'EUR')")
    return body.upper()


def _entry_id(text: str) -> str:
    body = text.strip()
    if not body:
        raise _Bad(_empty("entry id", text))
    return body


def _card_last4(text: str) -> str:
    body = text.strip()
    if body and not (len(body) == 4 and body.isascii() and body.isdigit()):
        raise _Bad(f"{text!r} is not the last four digits of a card")
    return body


def _card_number(text: str) -> str:
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if 0 < len(digits) < 4:
        raise _Bad(f"{text!r} has fewer than four digits, so no card's last four")
    return digits[-4:]
