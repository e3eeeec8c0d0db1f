"""QuickBooks Online CSV and QuickBooks Desktop IIF."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.formats.builders import (
    CARD,
    EXPENSE,
    PAYABLE,
    TAX,
    card_purchase,
    card_refund,
    credit,
    debit,
    employee_purchase,
    invoice_purchase,
    sample,
)
from worker.accounting.journal import JournalEntry, JournalError
from worker.formats import write_journal
from worker.formats.quickbooks import QBO_COLUMNS, iif_type


def read_qbo(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def read_iif(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    lines = data.decode("cp1252").split("\r\n")
    assert lines[-1] == "" and all("\n" not in line for line in lines)
    return [line.split("\t") for line in lines[:-1]]


# -- QuickBooks Online -------------------------------------------------------------------------


def test_qbo_columns_dates_and_names(tmp_path: Path) -> None:
    out = tmp_path / "qbo.csv"
    write_journal("qbo", [card_purchase(), invoice_purchase()], out)
    rows = read_qbo(out)
    assert (
        rows[0]
        == list(QBO_COLUMNS)
        == [
            "Journal No.",
            "Journal Date",
            "Account Name",
            "Debits",
            "Credits",
            "Description",
            "Name",
        ]
    )
    assert rows[1:4] == [
        ["AB-T1", "03/14/2025", EXPENSE, "100.00", "", "2 chairs", ""],
        ["AB-T1", "03/14/2025", TAX, "19.00", "", "Office chairs", ""],
        ["AB-T1", "03/14/2025", CARD, "", "119.00", "Office chairs", ""],
    ]
    assert rows[6] == ["AB-P1", "03/15/2025", PAYABLE, "", "180.00", "Toner", "Amazon"]


def test_qbo_date_is_month_first_with_leading_zeros(tmp_path: Path) -> None:
    out = tmp_path / "qbo.csv"
    write_journal("qbo", [card_purchase(day=date(2025, 1, 5))], out)
    assert {row[1] for row in read_qbo(out)[1:]} == {"01/05/2025"}


def test_qbo_refuses_an_entry_in_a_foreign_currency(tmp_path: Path) -> None:
    foreign = card_purchase(currency="USD", company_currency="EUR", rate=Decimal("0.9"))
    with pytest.raises(JournalError, match=r"AB-T1.*company currency \(EUR\).*USD"):
        write_journal("qbo", [foreign], tmp_path / "qbo.csv")
    assert not list(tmp_path.iterdir())


# -- IIF -------------------------------------------------------------------------------------


def blocks(rows: list[list[str]]) -> list[list[list[str]]]:
    """The transactions of an IIF file (TRNS ... ENDTRNS), header rows checked and dropped."""
    header = ["TRNSTYPE", "DATE", "ACCNT", "NAME", "AMOUNT", "DOCNUM", "MEMO"]
    assert rows[:3] == [["!TRNS", *header], ["!SPL", *header], ["!ENDTRNS"]]
    found: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for row in rows[3:]:
        if row[0] == "TRNS":
            assert current is None, "TRNS inside a transaction"
            current = [row]
        elif row[0] == "SPL":
            assert current is not None, "SPL outside a transaction"
            current.append(row)
        else:
            assert row == ["ENDTRNS"] and current is not None
            found.append(current)
            current = None
    assert current is None, "transaction without ENDTRNS"
    return found


def test_iif_blocks_sum_to_zero_with_the_payment_line_first(tmp_path: Path) -> None:
    out = tmp_path / "journal.iif"
    result = write_journal("iif", sample(), out)
    transactions = blocks(read_iif(out))
    assert len(transactions) == result.entries == 4
    assert sum(len(block) for block in transactions) == result.lines
    for block, entry in zip(transactions, sample(), strict=True):
        assert sum(Decimal(row[5]) for row in block) == 0
        assert [row[0] for row in block] == ["TRNS"] + ["SPL"] * (len(block) - 1)
        assert {row[6] for row in block} == {entry.entry_id}  # DOCNUM
        assert {row[2] for row in block} == {entry.date.strftime("%m/%d/%Y")}
    purchase, bill, employee, refund = transactions
    assert purchase[0][1:] == [
        "CREDIT CARD", "03/14/2025", CARD, "Amazon Business", "-119.00", "AB-T1", "Office chairs",
    ]  # fmt: skip
    assert [(row[3], row[5]) for row in purchase[1:]] == [(EXPENSE, "100.00"), (TAX, "19.00")]
    assert bill[0][1:7] == ["BILL", "03/15/2025", PAYABLE, "Amazon", "-180.00", "AB-P1"]
    assert [(row[3], row[5]) for row in bill[1:]] == [
        (EXPENSE, "200.00"),
        ("Income:Discounts", "-20.00"),
    ]
    assert employee[0][1] == "GENERAL JOURNAL" and employee[0][4] == "Jane Doe"
    assert refund[0][1:7] == [
        "CCARD REFUND",
        "03/20/2025",
        CARD,
        "Amazon Business",
        "59.50",
        "AB-R1",
    ]
    assert [row[5] for row in refund[1:]] == ["-50.00", "-9.50"]


def test_iif_transaction_types() -> None:
    assert iif_type(card_purchase()) == "CREDIT CARD"
    assert iif_type(card_refund()) == "CCARD REFUND"
    assert iif_type(invoice_purchase()) == "BILL"
    bill_refund = JournalEntry(
        "X",
        date(2025, 1, 1),
        "USD",
        (debit("Accounts Payable", "5", role="payment"), credit(EXPENSE, "5")),
        kind="refund",
    )
    assert iif_type(bill_refund) == "BILL REFUND"
    assert iif_type(employee_purchase()) == "GENERAL JOURNAL"
    bank = JournalEntry(
        "B", date(2025, 1, 1), "USD", (debit(EXPENSE, "5"), credit("Assets:Bank", "5"))
    )
    assert iif_type(bank) == "GENERAL JOURNAL"


def test_iif_text_cannot_break_the_layout(tmp_path: Path) -> None:
    entry = card_purchase(narration='Line one\nline\ttwo\r"quoted" €')
    out = tmp_path / "journal.iif"
    write_journal("iif", [entry], out)
    data = out.read_bytes()
    assert b"\r\n" in data and data.replace(b"\r\n", b"").count(b"\n") == 0
    rows = read_iif(out)
    assert all(len(row) == 8 for row in rows[3:] if row[0] in ("TRNS", "SPL"))
    assert rows[3][7] == "Line one line two 'quoted' €"
    assert "€".encode("cp1252") in data  # Windows-1252, as QuickBooks Desktop reads it


def test_iif_type_follows_the_payment_kind_abrecon_tagged_whatever_the_account_name() -> None:
    from dataclasses import replace

    from tests.formats.builders import credit, debit

    amex = replace(
        card_purchase(),
        lines=(
            debit("Expenses:Office", "10.00"),
            credit("Liabilities:Amex", "10.00", role="payment"),
        ),
        tags=("company-card",),
    )
    assert iif_type(amex) == "CREDIT CARD"
    assert iif_type(replace(amex, kind="refund")) == "CCARD REFUND"
    assert iif_type(replace(amex, tags=("pay-by-invoice",))) == "BILL"
    assert iif_type(replace(amex, tags=("personal-card",))) == "GENERAL JOURNAL"
