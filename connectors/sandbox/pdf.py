"""A small, dependency-free writer of PDF invoices and credit memos for the sandbox.

The Document API (``GET_AB_INVOICE_PDF`` reports) hands out the PDF of an invoice or a credit
memo. The sandbox needs real PDFs so that the worker's download, storage and text-extraction
paths run against the same kind of bytes as in production, but it must not pull in a PDF
library. This module therefore writes PDF 1.4 by hand:

* the two standard Type 1 fonts Helvetica and Helvetica-Bold with ``WinAnsiEncoding`` (no font
  embedding; every PDF reader ships them), so text is Windows-1252 / Latin-1; characters outside
  that repertoire are written as ``?``;
* one uncompressed content stream per page, literal strings escaped (``\\``, ``(``, ``)`` and
  every byte outside printable ASCII as an octal escape);
* a classic cross-reference table with exact byte offsets, and no timestamps or random file
  ids, so the same document always renders to the same bytes.

Layout: a heading block (seller, document title, number, date, order id, bill-to, currency),
a table of lines (description, quantity, unit price, amount) and the total. Descriptions that do
not fit the description column get their own full-width row, slightly smaller or word-wrapped
when very long. Lines that overflow a page continue on the next page, and each page carries a
"Page i of n" footer.

Amounts are printed with :func:`format_amount`: the currency's minor units (2, or 0 for JPY and
other zero-decimal currencies) without thousands separators, so ``str(amount)`` of a normal
amount appears verbatim in the extracted text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

__all__ = [
    "DOCUMENT_TYPES",
    "InvoiceDocument",
    "InvoiceLine",
    "format_amount",
    "minor_units",
    "render_invoice_pdf",
]

#: The ``documentType`` values of the Document API's ``reportOptions`` that the sandbox renders.
DOCUMENT_TYPES: tuple[str, ...] = ("Invoice", "Credits")

#: ISO 4217 currencies without minor units (the ones Amazon Business marketplaces use).
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "CLP", "VND"})


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line of an invoice or credit memo.

    ``amount`` is the line total as billed (on a credit memo: the amount credited, positive).
    """

    description: str
    quantity: int
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """The content of one invoice (``document_type="Invoice"``) or credit memo ("Credits").

    ``invoice_number`` is the number Amazon prints on the document and reports as
    ``invoiceNumber`` in the Reconciliation API; ``total`` is the document total (positive for
    credit memos too).
    """

    invoice_number: str
    invoice_date: date
    document_type: str  # "Invoice" or "Credits"
    order_id: str
    seller: str
    buyer: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    total: Decimal


def minor_units(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit: 0 for JPY and similar, else 2."""
    return 0 if currency.upper() in _ZERO_DECIMAL_CURRENCIES else 2


def format_amount(amount: Decimal, currency: str = "") -> str:
    """``amount`` as printed on a document: the currency's minor units, no separators.

    Extra precision is never rounded away: ``Decimal("1.005")`` prints as ``1.005``.
    """
    places = minor_units(currency)
    if amount.is_zero():
        amount = abs(amount)  # never print "-0.00"
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return f"{amount:f}"
    return f"{amount.quantize(Decimal(1).scaleb(-places)):f}"


# --------------------------------------------------------------------------------------------
# Fonts and text encoding

# Advance widths (1/1000 em) of Helvetica for the WinAnsiEncoding codes 32..255, taken from
# Adobe's Core 14 AFM metrics (Helvetica.afm: Copyright (c) 1985, 1987, 1989, 1990, 1997 Adobe
# Systems Incorporated. All Rights Reserved. Helvetica is a trademark of Linotype-Hell AG and/or
# its subsidiaries). Undefined codes are 0; the encoder never emits them.
_HELVETICA_WIDTHS: tuple[int, ...] = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0,
    556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
    0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667,
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
)  # fmt: skip

# Helvetica-Bold is wider; it is only used for left-aligned headings, so a factor is enough to
# keep a heading inside the page.
_BOLD_FACTOR = 1.08

_REPLACEMENT = ord("?")


def _encode(text: str) -> bytes:
    """``text`` as WinAnsiEncoding bytes: whitespace becomes a space, the rest becomes ``?``.

    Only codes with a Helvetica glyph are produced (printable ASCII and the defined cp1252 codes
    128..255), so every byte has a width in ``_HELVETICA_WIDTHS``.
    """
    out = bytearray()
    for char in text:
        if char.isspace():
            out.append(0x20)
            continue
        try:
            encoded = char.encode("cp1252")
        except UnicodeEncodeError:
            out.append(_REPLACEMENT)
            continue
        code = encoded[0]
        if code < 0x20 or code == 0x7F or _HELVETICA_WIDTHS[code - 32] == 0:
            out.append(_REPLACEMENT)
        else:
            out.append(code)
    return bytes(out)


def _printable(text: str) -> str:
    """``text`` reduced to what a page can show (see :func:`_encode`), as a ``str``."""
    return _encode(text).decode("cp1252")


def _width(text: str, size: float, *, bold: bool = False) -> float:
    """The advance width of ``text`` in points at font ``size``."""
    units = sum(_HELVETICA_WIDTHS[code - 32] for code in _encode(text))
    return units * size / 1000.0 * (_BOLD_FACTOR if bold else 1.0)


def _escape(raw: bytes) -> bytes:
    """``raw`` as the body of a PDF literal string (ISO 32000-1, 7.3.4.2)."""
    out = bytearray()
    for code in raw:
        if code in (0x5C, 0x28, 0x29):  # \ ( )
            out += b"\\" + bytes([code])
        elif 0x20 <= code <= 0x7E:
            out.append(code)
        else:
            out += b"\\%03o" % code
    return bytes(out)


def _wrap(text: str, size: float, max_width: float) -> list[str]:
    """Greedy word wrap of ``text`` into lines of at most ``max_width`` points."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if _width(candidate, size) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        # A word wider than a whole line is cut into pieces.
        current = ""
        for char in word:
            if current and _width(current + char, size) > max_width:
                lines.append(current)
                current = ""
            current += char
    if current or not lines:
        lines.append(current)
    return lines


# --------------------------------------------------------------------------------------------
# Layout

_PAGE_WIDTH = 612.0  # US Letter
_PAGE_HEIGHT = 792.0
_LEFT = 50.0
_RIGHT = _PAGE_WIDTH - 50.0
_TOP = _PAGE_HEIGHT - 50.0
_BOTTOM = 60.0  # lowest baseline of body text; the footer sits below it
_QTY_RIGHT = 392.0
_UNIT_RIGHT = 472.0
_DESC_COLUMN = _QTY_RIGHT - 40.0 - _LEFT  # width of the description column
_BODY_SIZE = 9.0
_ROW = 13.0  # line height of table rows
_MIN_SHRUNK_SIZE = 7.0


@dataclass(frozen=True, slots=True)
class _Text:
    x: float
    y: float
    text: str
    size: float = _BODY_SIZE
    bold: bool = False


@dataclass(frozen=True, slots=True)
class _Rule:
    y: float


_Item = _Text | _Rule


@dataclass(frozen=True, slots=True)
class _Block:
    """Items laid out relative to the block top (``y`` offsets are <= 0) and its height."""

    items: tuple[_Item, ...]
    height: float


def _right(x_right: float, y: float, text: str, size: float = _BODY_SIZE) -> _Text:
    return _Text(x_right - _width(text, size), y, text, size)


def _titles(doc: InvoiceDocument) -> tuple[str, str]:
    if doc.document_type == "Credits":
        return "CREDIT MEMO", "Credit memo"
    return "INVOICE", "Invoice"


def _heading(doc: InvoiceDocument) -> _Block:
    title, noun = _titles(doc)
    items: list[_Item] = [
        _Text(_LEFT, -16.0, title, 18.0, bold=True),
        _Text(_LEFT, -36.0, doc.seller, 11.0, bold=True),
    ]
    fields = [
        (f"{noun} number:", doc.invoice_number),
        (f"{noun} date:", doc.invoice_date.isoformat()),
        ("Order ID:", doc.order_id),
        ("Bill to:", doc.buyer),
        ("Currency:", doc.currency),
    ]
    y = -54.0
    for label, value in fields:
        items.append(_Text(_LEFT, y, label, 10.0, bold=True))
        for i, part in enumerate(_wrap(_printable(value), 10.0, _RIGHT - _LEFT - 110.0)):
            items.append(_Text(_LEFT + 110.0, y - 13.0 * i, part, 10.0))
            if i:
                y -= 13.0
        y -= 14.0
    return _Block(tuple(items), -y + 6.0)


def _continuation_heading(doc: InvoiceDocument) -> _Block:
    _, noun = _titles(doc)
    text = f"{noun} {_printable(doc.invoice_number)} (continued)"
    return _Block((_Text(_LEFT, -12.0, text, 11.0, bold=True),), 24.0)


def _table_header(currency: str) -> _Block:
    items: tuple[_Item, ...] = (
        _Text(_LEFT, -10.0, "Description", bold=True),
        _right(_QTY_RIGHT, -10.0, "Qty"),
        _right(_UNIT_RIGHT, -10.0, "Unit price"),
        _right(_RIGHT, -10.0, f"Amount ({_printable(currency)})"),
        _Rule(-14.0),
    )
    return _Block(items, 20.0)


def _line_block(line: InvoiceLine, currency: str) -> _Block:
    description = " ".join(_printable(line.description).split())
    numbers = (
        str(line.quantity),
        format_amount(line.unit_price, currency),
        format_amount(line.amount, currency),
    )
    items: list[_Item] = []
    if _width(description, _BODY_SIZE) <= _DESC_COLUMN:
        y = -_BODY_SIZE
        items.append(_Text(_LEFT, y, description))
    else:
        # Too long for the column: full-width row(s) first, the numbers on the row below.
        full = _RIGHT - _LEFT
        size = _BODY_SIZE
        while size > _MIN_SHRUNK_SIZE and _width(description, size) > full:
            size -= 0.5
        parts = [description] if _width(description, size) <= full else None
        if parts is None:
            size = _BODY_SIZE
            parts = _wrap(description, size, full)
        y = -_BODY_SIZE
        for part in parts:
            items.append(_Text(_LEFT, y, part, size))
            y -= _ROW
    items += [
        _right(_QTY_RIGHT, y, numbers[0]),
        _right(_UNIT_RIGHT, y, numbers[1]),
        _right(_RIGHT, y, numbers[2]),
    ]
    return _Block(tuple(items), -y + _ROW - _BODY_SIZE)


def _total_block(doc: InvoiceDocument) -> _Block:
    label = "Total credit" if doc.document_type == "Credits" else "Total"
    amount = f"{format_amount(doc.total, doc.currency)} {_printable(doc.currency)}".strip()
    width = _width(amount, 11.0, bold=True)
    items: tuple[_Item, ...] = (
        _Rule(-4.0),
        _Text(_UNIT_RIGHT - 60.0, -20.0, label, 11.0, bold=True),
        _Text(_RIGHT - width, -20.0, amount, 11.0, bold=True),
    )
    return _Block(items, 30.0)


def _paginate(doc: InvoiceDocument) -> list[list[_Item]]:
    """Place every block on pages; returns each page's items in absolute coordinates."""
    pages: list[list[_Item]] = []
    page: list[_Item] = []
    y = _TOP

    def place(block: _Block) -> None:
        nonlocal y
        for item in block.items:
            if isinstance(item, _Text):
                page.append(_Text(item.x, y + item.y, item.text, item.size, item.bold))
            else:
                page.append(_Rule(y + item.y))
        y -= block.height

    def new_page() -> None:
        nonlocal page, y
        pages.append(page)
        page = []
        y = _TOP
        place(_continuation_heading(doc))
        place(_table_header(doc.currency))

    place(_heading(doc))
    place(_table_header(doc.currency))
    total = _total_block(doc)
    line_blocks = [_line_block(line, doc.currency) for line in doc.lines]
    for i, block in enumerate(line_blocks):
        # The last line must leave room for the total, so that the total never sits alone.
        needed = block.height + (total.height if i == len(line_blocks) - 1 else 0.0)
        if y - needed < _BOTTOM:
            new_page()
        place(block)
    if y - total.height < _BOTTOM:
        new_page()
    place(total)
    pages.append(page)
    return pages


# --------------------------------------------------------------------------------------------
# Serialisation


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _content_stream(items: Iterable[_Item], footer: str) -> bytes:
    out = bytearray()
    for item in items:
        if isinstance(item, _Rule):
            out += (
                f"0.5 w {_num(_LEFT)} {_num(item.y)} m {_num(_RIGHT)} {_num(item.y)} l S\n".encode()
            )
            continue
        font = "F2" if item.bold else "F1"
        out += f"BT /{font} {_num(item.size)} Tf {_num(item.x)} {_num(item.y)} Td (".encode()
        out += _escape(_encode(item.text)) + b") Tj ET\n"
    x = (_PAGE_WIDTH - _width(footer, 8.0)) / 2
    out += f"BT /F1 8 Tf {_num(x)} 30 Td (".encode() + _escape(_encode(footer)) + b") Tj ET\n"
    return bytes(out)


def _serialise(objects: list[bytes]) -> bytes:
    """A complete PDF file from the bodies of objects 1..n (object 1 is the catalog)."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def render_invoice_pdf(doc: InvoiceDocument) -> bytes:
    """Render ``doc`` as a PDF 1.4 file; the same document always gives the same bytes.

    Raises ``ValueError`` for a ``document_type`` other than ``"Invoice"`` or ``"Credits"``.
    """
    if doc.document_type not in DOCUMENT_TYPES:
        raise ValueError(
            f"document_type must be one of {', '.join(DOCUMENT_TYPES)}, not {doc.document_type!r}"
        )
    pages = _paginate(doc)
    first_page = 6  # objects 1-5: catalog, page tree, two fonts, document info
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(len(pages)))
    _, noun = _titles(doc)
    # The info dictionary uses PDFDocEncoding, so the title is kept to ASCII.
    title = _escape(f"{noun} {doc.invoice_number}".encode("ascii", "replace"))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title (" + title + b") /Producer (abrecon sandbox) >>",
    ]
    for i, items in enumerate(pages):
        content = first_page + 2 * i + 1
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>" % content
        )
        objects.append(_stream(_content_stream(items, f"Page {i + 1} of {len(pages)}")))
    return _serialise(objects)
