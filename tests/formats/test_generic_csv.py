"""The generic journal CSV: one row per line, exact columns, exact amounts."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

from tests.formats.builders import CARD, EXPENSE, TAX, card_purchase, credit, debit, sample
from worker.accounting.journal import JournalEntry
from worker.formats import write_journal
from worker.formats.generic_csv import CSV_COLUMNS


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_columns_and_rows_of_a_card_purchase(tmp_path: Path) -> None:
    out = tmp_path / "journal.csv"
    result = write_journal("csv", iter([card_purchase()]), out)
    assert result.files == (out,) and result.entries == 1 and result.lines == 3
    assert read_rows(out) == [
        list(CSV_COLUMNS),
        ["AB-T1", "2025-03-14", EXPENSE, "100.00", "", "EUR", "2 chairs", "T1", "DE5AB-INV-1"],
        ["AB-T1", "2025-03-14", TAX, "19.00", "", "EUR", "Office chairs", "T1", "DE5AB-INV-1"],
        ["AB-T1", "2025-03-14", CARD, "", "119.00", "EUR", "Office chairs", "T1", "DE5AB-INV-1"],
    ]
    assert CSV_COLUMNS == (
        "entry_id",
        "date",
        "account",
        "debit",
        "credit",
        "currency",
        "description",
        "transaction_id",
        "invoice_number",
    )


def test_utf8_with_newline_line_ends(tmp_path: Path) -> None:
    out = tmp_path / "journal.csv"
    entry = card_purchase(narration="Bürostühle, „ergonomisch“")
    write_journal("csv", [entry], out)
    data = out.read_bytes()
    assert b"\r\n" not in data and data.count(b"\n") == 4
    assert "Bürostühle, „ergonomisch“" in data.decode("utf-8")


def test_amounts_keep_each_currency_s_minor_units(tmp_path: Path) -> None:
    yen = JournalEntry("Y", date(2025, 1, 2), "JPY", (debit(EXPENSE, "1500"), credit(CARD, "1500")))
    dinar = JournalEntry(
        "K", date(2025, 1, 2), "KWD", (debit(EXPENSE, "1.5"), credit(CARD, "1.500"))
    )
    out = tmp_path / "journal.csv"
    write_journal("csv", [yen, dinar], out)
    amounts = [(row[3], row[4]) for row in read_rows(out)[1:]]
    assert amounts == [("1500", ""), ("", "1500"), ("1.500", ""), ("", "1.500")]


def test_several_transactions_and_invoices_share_one_cell(tmp_path: Path) -> None:
    entry = card_purchase(transaction_ids=("T1", "T2"), invoice_numbers=("INV-1", "INV-2"))
    out = tmp_path / "journal.csv"
    write_journal("csv", [entry], out)
    assert {(row[7], row[8]) for row in read_rows(out)[1:]} == {("T1;T2", "INV-1;INV-2")}


def test_every_entry_balances_and_rows_stay_together(tmp_path: Path) -> None:
    out = tmp_path / "journal.csv"
    result = write_journal("csv", (entry for entry in sample()), out)
    rows = read_rows(out)[1:]
    assert result.entries == 4 and result.lines == len(rows) == 11
    order = [row[0] for row in rows]
    assert order == sorted(order, key=order.index)  # each entry's rows are consecutive
    for entry in sample():
        mine = [row for row in rows if row[0] == entry.entry_id]
        debits = sum(Decimal(row[3] or 0) for row in mine)
        credits = sum(Decimal(row[4] or 0) for row in mine)
        assert debits == credits == entry.total and len(mine) == len(entry.lines)


def test_no_entries_gives_the_header_only(tmp_path: Path) -> None:
    out = tmp_path / "journal.csv"
    result = write_journal("csv", iter(()), out)
    assert read_rows(out) == [list(CSV_COLUMNS)] and (result.entries, result.lines) == (0, 0)
