"""Xero manual-journal CSV: template columns, signed amounts, 300-line parts."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.formats.builders import (
    CARD,
    EXPENSE,
    OPTIONS,
    TAX,
    card_purchase,
    card_refund,
    credit,
    debit,
)
from worker.accounting.journal import JournalEntry, JournalError
from worker.formats import FormatOptions, write_journal
from worker.formats.xero import XERO_COLUMNS


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def wide_entry(number: int, lines: int) -> JournalEntry:
    """An entry of ``lines`` lines: ``lines - 1`` debits of 1.00 and one credit."""
    day = date(2025, 1, 1) + timedelta(days=number % 300)
    debits = tuple(debit(f"Expenses:Item{k}", "1.00") for k in range(lines - 1))
    return JournalEntry(
        f"E{number:04d}",
        day,
        "EUR",
        (*debits, credit(CARD, f"{lines - 1}.00", role="payment")),
        narration="Bulk",
    )


def test_template_columns_dates_codes_and_signed_amounts(tmp_path: Path) -> None:
    out = tmp_path / "xero.csv"
    result = write_journal("xero", [card_purchase(), card_refund()], out, OPTIONS)
    assert result.files == (out,)
    rows = read_rows(out)
    assert (
        rows[0]
        == list(XERO_COLUMNS)
        == [
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
        ]
    )
    assert [row[:6] for row in rows[1:]] == [
        ["AB-T1 Office chairs", "14/03/2025", "2 chairs", "4930", "Tax Exempt", "100.00"],
        ["AB-T1 Office chairs", "14/03/2025", "Office chairs", "1576", "Tax Exempt", "19.00"],
        ["AB-T1 Office chairs", "14/03/2025", "Office chairs", "1800", "Tax Exempt", "-119.00"],
        ["AB-R1 Refund chair", "20/03/2025", "Refund chair", "1800", "Tax Exempt", "59.50"],
        ["AB-R1 Refund chair", "20/03/2025", "returned chair", "4930", "Tax Exempt", "-50.00"],
        ["AB-R1 Refund chair", "20/03/2025", "Refund chair", "1576", "Tax Exempt", "-9.50"],
    ]
    assert all(row[6:] == ["", "", "", ""] for row in rows[1:])


def test_accounts_without_a_code_keep_their_name_and_the_tax_rate_is_configurable(
    tmp_path: Path,
) -> None:
    out = tmp_path / "xero.csv"
    options = FormatOptions(xero_tax_rate="15% GST on Expenses")
    write_journal("xero", [card_purchase()], out, options)
    rows = read_rows(out)[1:]
    assert [row[3] for row in rows] == [EXPENSE, TAX, CARD]
    assert {row[4] for row in rows} == {"15% GST on Expenses"}


def test_narrations_are_unique_per_entry(tmp_path: Path) -> None:
    twins = [card_purchase("AB-T1"), card_purchase("AB-T2")]  # same date and narration
    out = tmp_path / "xero.csv"
    write_journal("xero", twins, out)
    journals = {(row[0], row[1]) for row in read_rows(out)[1:]}
    assert journals == {
        ("AB-T1 Office chairs", "14/03/2025"),
        ("AB-T2 Office chairs", "14/03/2025"),
    }


def test_more_than_300_lines_are_split_into_numbered_parts(tmp_path: Path) -> None:
    out = tmp_path / "xero.csv"
    result = write_journal("xero", (wide_entry(n, 3) for n in range(120)), out)
    first, second = tmp_path / "xero-001.csv", tmp_path / "xero-002.csv"
    assert result.files == (first, second) and not out.exists()
    assert (result.entries, result.lines) == (120, 360)
    sizes = [len(read_rows(path)) - 1 for path in result.files]
    assert sizes == [300, 60]
    assert all(read_rows(path)[0] == list(XERO_COLUMNS) for path in result.files)


def test_an_entry_is_never_split_between_two_files(tmp_path: Path) -> None:
    out = tmp_path / "xero.csv"
    result = write_journal("xero", (wide_entry(n, 7) for n in range(43)), out)  # 301 lines
    parts = [read_rows(path)[1:] for path in result.files]
    assert [len(rows) for rows in parts] == [294, 7]
    narrations = [{row[0] for row in rows} for rows in parts]
    assert not narrations[0] & narrations[1]
    for rows in parts:  # every journal in a file balances on its own
        for narration in {row[0] for row in rows}:
            assert sum(Decimal(row[5]) for row in rows if row[0] == narration) == 0


def test_exactly_300_lines_stay_in_one_file_named_out(tmp_path: Path) -> None:
    out = tmp_path / "xero.csv"
    result = write_journal("xero", (wide_entry(n, 3) for n in range(100)), out)
    assert result.files == (out,) and len(read_rows(out)) == 301
    assert sorted(path.name for path in tmp_path.iterdir()) == ["xero.csv"]


def test_an_entry_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "xero.csv"
    out.write_text("previous\n")
    with pytest.raises(JournalError, match=r"E0001: 301 lines.*\(300\)"):
        write_journal("xero", [wide_entry(0, 3), wide_entry(1, 301)], out)
    assert out.read_text() == "previous\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["xero.csv"]


def test_the_line_limit_comes_from_the_options(tmp_path: Path) -> None:
    out = tmp_path / "xero.csv"
    options = FormatOptions(xero_max_lines=6)
    result = write_journal("xero", (wide_entry(n, 3) for n in range(5)), out, options)
    assert [path.name for path in result.files] == ["xero-001.csv", "xero-002.csv", "xero-003.csv"]


def test_xero_refuses_an_entry_in_a_foreign_currency(tmp_path: Path) -> None:
    foreign = card_purchase(currency="USD", company_currency="NZD", rate=Decimal("1.7"))
    with pytest.raises(JournalError, match="company currency"):
        write_journal("xero", [foreign], tmp_path / "xero.csv")
    assert not list(tmp_path.iterdir())
