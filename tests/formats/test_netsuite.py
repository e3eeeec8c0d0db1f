"""NetSuite journal-entry CSV: externalId per entry, M/D/YYYY, the 10-digit limit."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.formats.builders import CARD, EXPENSE, OPTIONS, card_purchase, credit, debit
from worker.accounting.journal import JournalEntry, JournalError
from worker.formats import FormatOptions, write_journal
from worker.formats.netsuite import NETSUITE_COLUMNS


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_columns_external_id_and_dates(tmp_path: Path) -> None:
    out = tmp_path / "netsuite.csv"
    write_journal("netsuite", [card_purchase(day=date(2025, 1, 5))], out, OPTIONS)
    rows = read_rows(out)
    assert (
        rows[0]
        == list(NETSUITE_COLUMNS)
        == [
            "externalId",
            "Date",
            "Currency",
            "Exchange Rate",
            "Subsidiary",
            "Memo",
            "Account",
            "Debit",
            "Credit",
            "Line Memo",
            "Name",
        ]
    )
    assert rows[1:] == [
        ["AB-T1", "1/5/2025", "EUR", "", "", "Office chairs", "4930", "100.00", "", "2 chairs", ""],
        ["AB-T1", "1/5/2025", "EUR", "", "", "Office chairs", "1576", "19.00", "", "", ""],
        ["AB-T1", "1/5/2025", "EUR", "", "", "Office chairs", "1800", "", "119.00", "", ""],
    ]


def test_currency_rate_subsidiary_and_names(tmp_path: Path) -> None:
    entry = JournalEntry(
        "AB-F1",
        date(2025, 11, 30),
        "USD",
        (debit(EXPENSE, "10.00"), credit(CARD, "10.00", role="payment", party="Amex")),
        company_currency="EUR",
        rate=Decimal("0.9123"),
    )
    out = tmp_path / "netsuite.csv"
    write_journal("netsuite", [entry], out, FormatOptions(netsuite_subsidiary="Acme GmbH"))
    rows = read_rows(out)[1:]
    assert {tuple(row[:5]) for row in rows} == {
        ("AB-F1", "11/30/2025", "USD", "0.9123", "Acme GmbH")
    }
    assert rows[1][6:] == [CARD, "", "10.00", "", "Amex"]


def test_ten_digits_before_the_decimal_point_at_most(tmp_path: Path) -> None:
    def entry(amount: str) -> JournalEntry:
        return JournalEntry(
            "AB-BIG", date(2025, 1, 1), "EUR", (debit(EXPENSE, amount), credit(CARD, amount))
        )

    out = tmp_path / "netsuite.csv"
    write_journal("netsuite", [entry("9999999999.99")], out)
    assert read_rows(out)[1][7] == "9999999999.99"
    with pytest.raises(JournalError, match=r"AB-BIG.*10 digits"):
        write_journal("netsuite", [entry("10000000000.00")], out)
    assert read_rows(out)[1][7] == "9999999999.99"  # the previous export is untouched
