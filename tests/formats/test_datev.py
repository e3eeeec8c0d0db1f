"""DATEV Buchungsstapel: header, column row, Soll/Haben signs, decimal comma, CRLF, cp1252."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.formats.builders import (
    CARD,
    EXPENSE,
    OPTIONS,
    card_purchase,
    card_refund,
    credit,
    debit,
    employee_purchase,
    invoice_purchase,
    sample,
)
from worker.accounting.journal import JournalEntry, JournalError
from worker.formats import FormatOptions, write_journal
from worker.formats.datev import DATEV_COLUMNS, datev_amount, fiscal_year_start

UMSATZ = re.compile(r"^\d{1,10},\d{2}$")


def split(line: str) -> list[str]:
    """The fields of a DATEV line (no field written by abrecon holds a ``;`` unquoted)."""
    fields: list[str] = []
    current = ""
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            fields.append(current)
            current = ""
        else:
            current += char
    fields.append(current)
    return fields


def unquote(field: str) -> str:
    assert field.startswith('"') and field.endswith('"'), field
    return field[1:-1].replace('""', '"')


def read(path: Path) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """Header fields, column names and the bookings (column name -> raw field)."""
    data = path.read_bytes()
    text = data.decode("cp1252")
    lines = text.split("\r\n")
    assert lines[-1] == "" and all("\n" not in line and "\r" not in line for line in lines)
    header, columns, *rows = lines[:-1]
    names = columns.split(";")
    bookings = [dict(zip(names, split(row), strict=True)) for row in rows]
    return split(header), names, bookings


def booking(row: dict[str, str]) -> tuple[str, str, str, str]:
    """Umsatz, S/H, Konto, Gegenkonto."""
    return (
        row["Umsatz (ohne Soll/Haben-Kz)"],
        unquote(row["Soll/Haben-Kennzeichen"]),
        row["Konto"],
        row["Gegenkonto (ohne BU-Schlüssel)"],
    )


def test_header_row(tmp_path: Path) -> None:
    out = tmp_path / "EXTF_Buchungsstapel.csv"
    write_journal("datev", sample(), out, OPTIONS)
    header, _, _ = read(out)
    assert header == [
        '"EXTF"', "700", "21", '"Buchungsstapel"', "13",
        "20250320000000000",  # created: the latest entry date at 00:00:00.000
        "", '"RE"', '""', '""',
        "1001", "1",  # consultant, client
        "20250101", "4",  # fiscal year start, account length
        "20250314", "20250320",  # period
        '"abrecon"', '""', "1", "0", "0", '"EUR"',
        "", '""', "", "", '""', "", "", '""', '""',
    ]  # fmt: skip


def test_header_follows_the_options(tmp_path: Path) -> None:
    options = FormatOptions(
        account_codes=OPTIONS.account_codes,
        datev_consultant=29098,
        datev_client=55003,
        datev_fiscal_year_start_month=7,
        datev_account_length=5,
    )
    out = tmp_path / "extf.csv"
    entries = [card_purchase("AB-A", date(2025, 7, 1)), card_purchase("AB-B", date(2026, 6, 30))]
    write_journal("datev", entries, out, options)
    header, _, _ = read(out)
    assert header[10:16] == ["29098", "55003", "20250701", "5", "20250701", "20260630"]
    assert header[5] == "20260630000000000"


def test_column_row_names_the_125_fields(tmp_path: Path) -> None:
    out = tmp_path / "extf.csv"
    _, names, rows = read(write_journal("datev", sample(), out, OPTIONS).files[0])
    assert names == list(DATEV_COLUMNS) and len(names) == 125
    assert names[:14] == [
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
    ]
    assert names[36:38] == ["KOST1 - Kostenstelle", "KOST2 - Kostenstelle"]
    assert all(len(row) == 125 for row in rows)


def test_soll_haben_signs_against_the_payment_account(tmp_path: Path) -> None:
    out = tmp_path / "extf.csv"
    result = write_journal("datev", sample(), out, OPTIONS)
    _, _, rows = read(out)
    assert result.entries == 4 and result.lines == 11
    assert [booking(row) for row in rows] == [
        # card purchase: Dr expense, Dr tax / Cr card -> S on the expense and tax accounts
        ("100,00", "S", "4930", "1800"),
        ("19,00", "S", "1576", "1800"),
        # Pay by Invoice with a discount: Dr expense / Cr discount, Cr payable
        ("200,00", "S", "4930", "70000"),
        ("20,00", "H", "3736", "70000"),
        # employee paid: Dr expense / Cr employee payable
        ("42,00", "S", "4930", "79000"),
        # refund: Dr card / Cr expense, Cr tax -> H on the expense and tax accounts
        ("50,00", "H", "4930", "1800"),
        ("9,50", "H", "1576", "1800"),
    ]
    assert all(UMSATZ.match(row["Umsatz (ohne Soll/Haben-Kz)"]) for row in rows)


@pytest.mark.parametrize(
    "entry", [card_purchase(), card_refund(), invoice_purchase(), employee_purchase()]
)
def test_bookings_add_up_to_the_payment_line(tmp_path: Path, entry: JournalEntry) -> None:
    out = tmp_path / "extf.csv"
    write_journal("datev", [entry], out, OPTIONS)
    _, _, rows = read(out)
    # From the payment account's side (Gegenkonto), S on Konto is H on Gegenkonto.
    seen_from_payment = Decimal(0)
    for row in rows:
        amount = Decimal(row["Umsatz (ohne Soll/Haben-Kz)"].replace(",", "."))
        seen_from_payment += -amount if unquote(row["Soll/Haben-Kennzeichen"]) == "S" else amount
    payment = next(line for line in entry.lines if line.role == "payment")
    assert seen_from_payment == payment.signed


def test_fields_of_a_booking(tmp_path: Path) -> None:
    entry = card_purchase(
        narration='Bürostuhl "Ergo" ' + "x" * 80,
        invoice_numbers=("DE5AB-INV-1", "Nr. 2; =3"),
        transaction_ids=("T1", "T2"),
    )
    out = tmp_path / "extf.csv"
    write_journal("datev", [entry], out, OPTIONS)
    _, _, (expense, tax) = read(out)
    assert unquote(expense["WKZ Umsatz"]) == "EUR"
    assert expense["Kurs"] == expense["Basis-Umsatz"] == expense["WKZ Basis-Umsatz"] == ""
    assert expense["Belegdatum"] == "1403"
    assert unquote(expense["Belegfeld 1"]) == "DE5AB-INV-1/Nr23"  # DATEV characters only
    assert unquote(expense["Buchungstext"]) == "2 chairs"
    text = unquote(tax["Buchungstext"])
    assert text.startswith('Bürostuhl "Ergo" xxx') and len(text) == 60
    assert expense["BU-Schlüssel"] == "" and unquote(tax["BU-Schlüssel"]) == "9"
    assert unquote(expense["Beleginfo - Art 1"]) == "Amazon-Transaktion"
    assert unquote(expense["Beleginfo - Inhalt 1"]) == "T1;T2"
    assert unquote(expense["Beleginfo - Inhalt 2"]) == "111-2223334-5556667"
    assert unquote(expense["Beleginfo - Inhalt 3"]) == "AB-T1"
    assert "Bürostuhl".encode("cp1252") in out.read_bytes()


def test_belegfeld_1_is_cut_to_36_characters(tmp_path: Path) -> None:
    out = tmp_path / "extf.csv"
    write_journal("datev", [card_purchase(invoice_numbers=("A" * 50,))], out, OPTIONS)
    _, _, rows = read(out)
    assert unquote(rows[0]["Belegfeld 1"]) == "A" * 36


def test_characters_outside_windows_1252_are_replaced(tmp_path: Path) -> None:
    out = tmp_path / "extf.csv"
    write_journal("datev", [card_purchase(narration="Stühle → 椅子")], out, OPTIONS)
    _, _, rows = read(out)
    assert unquote(rows[1]["Buchungstext"]) == "Stühle ? ??"


def test_amounts_always_have_two_decimals_with_a_comma() -> None:
    assert datev_amount(Decimal("1500")) == "1500,00"  # JPY
    assert datev_amount(Decimal("-12.5")) == "12,50"
    assert datev_amount(Decimal("9999999999.99")) == "9999999999,99"
    with pytest.raises(JournalError, match="two decimals"):
        datev_amount(Decimal("1.005"))
    with pytest.raises(JournalError, match="10 digits"):
        datev_amount(Decimal("10000000000.00"))


def test_a_foreign_currency_fills_kurs_and_basis_umsatz_together(tmp_path: Path) -> None:
    entry = JournalEntry(
        "AB-USD",
        date(2025, 5, 2),
        "USD",
        (debit(EXPENSE, "100.00"), debit("Expenses:Fees", "0.05"), credit(CARD, "100.05")),
        company_currency="EUR",
        rate=Decimal("0.9"),
    )
    codes = {**OPTIONS.account_codes, "Expenses:Fees": "4970"}
    out = tmp_path / "extf.csv"
    write_journal("datev", [entry], out, FormatOptions(account_codes=codes))
    header, _, (big, small) = read(out)
    assert header[21] == '"EUR"'
    assert unquote(big["WKZ Umsatz"]) == "USD"
    assert big["Kurs"] == "1,111111"  # USD per EUR
    assert big["Basis-Umsatz"] == "90,00" and small["Basis-Umsatz"] == "0,05"  # half up
    assert unquote(big["WKZ Basis-Umsatz"]) == unquote(small["WKZ Basis-Umsatz"]) == "EUR"


def test_a_foreign_currency_without_a_rate_is_refused(tmp_path: Path) -> None:
    entry = card_purchase(currency="USD", company_currency="EUR")
    with pytest.raises(JournalError, match="no exchange rate"):
        write_journal("datev", [entry], tmp_path / "extf.csv", OPTIONS)


def test_a_yen_purchase_in_a_yen_company(tmp_path: Path) -> None:
    entry = JournalEntry(
        "AB-Y", date(2025, 5, 2), "JPY", (debit(EXPENSE, "1500"), credit(CARD, "1500"))
    )
    out = tmp_path / "extf.csv"
    write_journal("datev", [entry], out, OPTIONS)
    header, _, rows = read(out)
    assert header[21] == '"JPY"' and booking(rows[0]) == ("1500,00", "S", "4930", "1800")


@pytest.mark.parametrize("unmapped", ["konto", "gegenkonto"])
def test_accounts_must_be_numbers(tmp_path: Path, unmapped: str) -> None:
    codes = dict(OPTIONS.account_codes)
    del codes[EXPENSE if unmapped == "konto" else CARD]
    account = EXPENSE if unmapped == "konto" else CARD
    out = tmp_path / "extf.csv"
    out.write_bytes(b"previous")
    with pytest.raises(JournalError) as caught:
        write_journal("datev", sample(), out, FormatOptions(account_codes=codes))
    assert repr(account) in str(caught.value)
    assert "[formats.account_codes]" in str(caught.value)
    assert out.read_bytes() == b"previous"
    assert [path.name for path in tmp_path.iterdir()] == ["extf.csv"]


def test_one_fiscal_year_per_batch(tmp_path: Path) -> None:
    entries = [card_purchase("AB-A", date(2024, 12, 31)), card_purchase("AB-B", date(2025, 1, 1))]
    with pytest.raises(JournalError, match=r"AB-B.*fiscal year.*--start/--end"):
        write_journal("datev", entries, tmp_path / "extf.csv", OPTIONS)
    assert fiscal_year_start(date(2025, 6, 30), 7) == date(2024, 7, 1)
    assert fiscal_year_start(date(2025, 7, 1), 7) == date(2025, 7, 1)


def test_no_entries_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="at least one booking"):
        write_journal("datev", [], tmp_path / "extf.csv", OPTIONS)
    assert not list(tmp_path.iterdir())
