"""The sandbox's hand-written PDF invoices: readable by pypdf, faithful text, stable bytes."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from connectors.sandbox.pdf import (
    InvoiceDocument,
    InvoiceLine,
    format_amount,
    render_invoice_pdf,
)

PENCILS = "Ticonderoga Neon Pencils, #2 Pre-Sharpened Wood Pencils with Erasers, 18-Count, 13018"
MONITOR = 'Dell 27" UltraSharp U2723QE 4K USB-C Hub Monitor'


def _doc(
    lines: tuple[InvoiceLine, ...],
    *,
    number: str = "1XQX-T4VG-9939",
    document_type: str = "Invoice",
    currency: str = "USD",
    buyer: str = "Northwind Traders Inc.",
) -> InvoiceDocument:
    return InvoiceDocument(
        invoice_number=number,
        invoice_date=date(2025, 1, 9),
        document_type=document_type,
        order_id="113-3855035-1821056",
        seller="Amazon.com Services LLC",
        buyer=buyer,
        currency=currency,
        lines=lines,
        total=sum((line.amount for line in lines), Decimal(0)),
    )


def _text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_invoice_shows_number_date_lines_and_total() -> None:
    doc = _doc(
        (
            InvoiceLine(PENCILS, 2, Decimal("5.99"), Decimal("12.97")),
            InvoiceLine(MONITOR, 1, Decimal("579.99"), Decimal("627.84")),
        )
    )
    pdf = render_invoice_pdf(doc)

    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n")
    pages, text = _text(pdf)
    assert pages == 1
    assert "INVOICE" in text
    assert "1XQX-T4VG-9939" in text
    assert "2025-01-09" in text
    assert "113-3855035-1821056" in text
    for line in doc.lines:
        assert line.description in text  # verbatim, not wrapped
        assert str(line.amount) in text
    assert "640.81" in text  # the total


def test_credit_memo_is_titled_as_such() -> None:
    doc = _doc(
        (InvoiceLine(PENCILS, 1, Decimal("5.99"), Decimal("6.49")),),
        number="CM-0001",
        document_type="Credits",
    )
    _, text = _text(render_invoice_pdf(doc))
    assert "CREDIT MEMO" in text
    assert "CM-0001" in text
    assert "6.49" in text


def test_same_document_same_bytes() -> None:
    lines = (InvoiceLine("Stapler", 1, Decimal("29.79"), Decimal("32.25")),)
    assert render_invoice_pdf(_doc(lines)) == render_invoice_pdf(_doc(lines))
    assert render_invoice_pdf(_doc(lines)) != render_invoice_pdf(_doc(lines, number="OTHER-1"))


def test_cross_reference_table_points_at_every_object() -> None:
    pdf = render_invoice_pdf(
        _doc(tuple(InvoiceLine(f"Item {i}", 1, Decimal(1), Decimal(1)) for i in range(90)))
    )
    found = re.search(rb"startxref\n(\d+)\n%%EOF\n$", pdf)
    assert found is not None
    startxref = int(found.group(1))
    assert pdf[startxref:].startswith(b"xref\n0 ")
    header = pdf[startxref:].split(b"\n")
    count = int(header[1].split()[1])
    entries = header[2 : 2 + count]
    assert entries[0] == b"0000000000 65535 f "
    for number, entry in enumerate(entries[1:], start=1):
        assert len(entry) + 1 == 20  # each entry is exactly 20 bytes with its newline
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number)


def test_long_invoices_continue_on_further_pages() -> None:
    lines = tuple(
        InvoiceLine(f"Line {i:03d} {PENCILS}", i + 1, Decimal("5.99"), Decimal("5.99") * (i + 1))
        for i in range(120)
    )
    pages, text = _text(render_invoice_pdf(_doc(lines)))
    assert pages >= 3
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    assert "(continued)" in text
    for line in lines:
        assert line.description in text
        assert str(line.amount) in text
    assert str(sum(line.amount for line in lines)) in text


def test_very_long_descriptions_wrap_at_word_boundaries() -> None:
    description = " ".join(["Heavy-duty extra-long description"] * 12)
    _, text = _text(
        render_invoice_pdf(_doc((InvoiceLine(description, 1, Decimal(1), Decimal(1)),)))
    )
    assert _squash(description) in _squash(text)


def test_text_outside_latin_1_becomes_question_marks() -> None:
    lines = (InvoiceLine("コピー用紙 A4", 1, Decimal(500), Decimal(500)),)
    _, text = _text(render_invoice_pdf(_doc(lines, currency="JPY")))
    assert "????? A4" in text
    assert "500" in text and "500.00" not in text  # yen have no minor unit


def test_unknown_document_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="document_type"):
        render_invoice_pdf(_doc((), document_type="OrderSummary"))


def test_an_invoice_without_lines_still_renders() -> None:
    pages, text = _text(render_invoice_pdf(_doc(())))
    assert pages == 1 and "1XQX-T4VG-9939" in text


@pytest.mark.parametrize(
    ("amount", "currency", "printed"),
    [
        (Decimal("5.99"), "USD", "5.99"),
        (Decimal("5.5"), "EUR", "5.50"),
        (Decimal("12"), "GBP", "12.00"),
        (Decimal("-6.49"), "USD", "-6.49"),
        (Decimal("-0"), "USD", "0.00"),
        (Decimal("1.005"), "USD", "1.005"),
        (Decimal("1751"), "JPY", "1751"),
        (Decimal("1234567.80"), "USD", "1234567.80"),
    ],
)
def test_format_amount(amount: Decimal, currency: str, printed: str) -> None:
    assert format_amount(amount, currency) == printed


# Printable Latin-1 (no C0/C1 controls), with the PDF string delimiters well represented.
_LATIN_1 = st.characters(codec="latin-1", exclude_categories=("Cc", "Cs", "Co", "Cn"))
_ODD_TEXT = st.text(
    st.one_of(_LATIN_1, st.sampled_from("()\\ ()\\")), min_size=1, max_size=140
).filter(lambda s: s.strip() != "")
_AMOUNTS = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    number=st.text(st.sampled_from("ABC123-()\\/ "), min_size=1, max_size=16).filter(
        lambda s: s.strip() != ""
    ),
    buyer=_ODD_TEXT,
    lines=st.lists(
        st.tuples(_ODD_TEXT, st.integers(1, 999), _AMOUNTS, _AMOUNTS), min_size=0, max_size=45
    ),
)
def test_odd_text_survives_the_round_trip(
    number: str, buyer: str, lines: list[tuple[str, int, Decimal, Decimal]]
) -> None:
    doc = _doc(tuple(InvoiceLine(d, q, u, a) for d, q, u, a in lines), number=number, buyer=buyer)
    pdf = render_invoice_pdf(doc)
    pages, text = _text(pdf)

    assert pages >= 1
    assert render_invoice_pdf(doc) == pdf
    squashed = _squash(text)
    assert _squash(number) in squashed
    assert "2025-01-09" in text
    for line in doc.lines:
        assert _squash(line.description) in squashed
        assert format_amount(line.amount, doc.currency) in text
    assert format_amount(doc.total, doc.currency) in text
