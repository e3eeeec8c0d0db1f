"""beancount and hledger journals, checked by the real tools."""

from __future__ import annotations

import csv
import io
import zlib
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.formats.builders import CARD, EXPENSE, TAX, card_purchase, credit, debit, sample
from tests.formats.tools import bean_check, hledger
from worker.accounting.journal import JournalEntry, JournalError
from worker.formats import write_journal
from worker.formats.plaintext import beancount_account, hledger_account

ODD = (
    "6000 Bürobedarf",
    "Expenses: Straße & Co. (2024)",
    "=cmd|' /C calc'!A0",
    "accounts payable",
    "Liabilities::Card  1234 ",
    "费用:办公",
    "[virtual]",
    "; not a comment",
    "* cleared?",
    "Expenses",
)


def odd_entry(number: int, debit_account: str, credit_account: str) -> JournalEntry:
    return JournalEntry(
        f"AB-ODD-{number}",
        date(2025, 2, 1 + number),
        "EUR",
        (
            debit(debit_account, f"{number + 1}.25", memo='memo with "quotes", \\ and\nnewline'),
            credit(credit_account, f"{number + 1}.25", role="payment", party="Jane; Doe, Jr."),
        ),
        payee='Amazon "Business" | EU',
        narration="Narration; with | pipes\tand tabs",
        transaction_ids=("T/1 x", "ü-2", "T/1 x"),
        invoice_numbers=("INV,1",),
        pdf_paths=("documents/INV 1.pdf",),
        match_id="M-1",
        tags=("amazon business",),
    )


def odd_entries() -> list[JournalEntry]:
    return [odd_entry(n, ODD[n], ODD[-1 - n]) for n in range(len(ODD))]


# -- beancount ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "role", "expected"),
    [
        ("Expenses:Office Supplies", "expense", "Expenses:Office-Supplies"),
        ("expenses:office", "expense", "Expenses:Office"),
        ("Liabilities:CreditCard:1234", "payment", "Liabilities:CreditCard:1234"),
        ("Accounts Payable", "payment", "Liabilities:Accounts-Payable"),
        ("VAT input", "tax", "Assets:VAT-input"),
        ("6000 Bürobedarf", "expense", "Expenses:6000-Burobedarf"),
        ("Expenses: Straße & Co.", "expense", "Expenses:Strasse-Co"),
        ("Revenue:Rebates", "discount", "Income:Rebates"),
        ("Expense", "expense", "Expenses:General"),
        ("Liabilities::Card", "payment", "Liabilities:Card"),
        ("费用", "expense", f"Expenses:X{zlib.crc32('费用'.encode()):08X}"),
    ],
)
def test_beancount_account_names(account: str, role: str, expected: str) -> None:
    assert beancount_account(account, role) == expected


def test_beancount_transactions_metadata_and_opens(tmp_path: Path) -> None:
    out = tmp_path / "journal.beancount"
    result = write_journal("beancount", sample(), out)
    assert result.entries == 4 and result.lines == 11
    text = out.read_text()
    assert (
        '2025-03-14 * "Amazon Business" "Office chairs" ^T1\n'
        '  entry_id: "AB-T1"\n'
        '  kind: "charge"\n'
        '  transaction_id: "T1"\n'
        '  invoice: "DE5AB-INV-1"\n'
        '  order: "111-2223334-5556667"\n'
        f"  {EXPENSE}  100.00 EUR\n"
        '    memo: "2 chairs"\n'
        "  Assets:Tax:Recoverable  19.00 EUR\n"
        '    tax_code: "DE19"\n'
        f"  {CARD}  -119.00 EUR\n"
    ) in text
    opens = [line for line in text.splitlines() if " open " in line]
    assert opens == [  # at the end, sorted, dated the earliest entry
        "2025-03-14 open Assets:Tax:Recoverable",
        "2025-03-14 open Expenses:Office",
        "2025-03-14 open Income:Discounts",
        "2025-03-14 open Liabilities:AccountsPayable:Amazon",
        "2025-03-14 open Liabilities:CreditCard:1234",
        "2025-03-14 open Liabilities:EmployeePayable:Jane-Doe",
    ]
    assert text.index(" open ") > text.rindex(" * ")
    assert '  name: "Liabilities:EmployeePayable:Jane Doe"' in text
    bean_check(out)


def test_beancount_signs_balances_and_links(tmp_path: Path) -> None:
    from beancount import loader
    from beancount.core import data

    out = tmp_path / "journal.beancount"
    write_journal("beancount", odd_entries() + sample(), out)
    bean_check(out)
    entries, errors, _ = loader.load_file(str(out))
    assert errors == []
    transactions = [entry for entry in entries if isinstance(entry, data.Transaction)]
    assert len(transactions) == len(ODD) + 4
    purchase = next(t for t in transactions if t.meta["entry_id"] == "AB-T1")
    assert [(p.account, p.units and p.units.number) for p in purchase.postings] == [
        (EXPENSE, Decimal("100.00")),
        (TAX, Decimal("19.00")),
        (CARD, Decimal("-119.00")),
    ]
    odd = next(t for t in transactions if t.meta["entry_id"] == "AB-ODD-0")
    assert odd.links == frozenset({"T/1-x", "--2"})  # link-safe, duplicates dropped
    assert odd.meta["transaction_id"] == "T/1 x;ü-2;T/1 x"
    assert odd.payee == 'Amazon "Business" | EU'
    assert odd.narration == "Narration; with | pipes and tabs"
    assert (odd.postings[0].meta or {})["memo"] == 'memo with "quotes", \\ and newline'
    assert odd.tags == frozenset({"amazon-business"})


def test_beancount_refuses_a_currency_it_cannot_name(tmp_path: Path) -> None:
    entry = JournalEntry("X", date(2025, 1, 1), "usd", (debit("A", "1"), credit("B", "1")))
    with pytest.raises(JournalError, match="not a beancount commodity"):
        write_journal("beancount", [entry], tmp_path / "x.beancount")


def test_beancount_exchange_rate_metadata(tmp_path: Path) -> None:
    entry = card_purchase(currency="USD", company_currency="EUR", rate=Decimal("0.9"))
    out = tmp_path / "journal.beancount"
    write_journal("beancount", [entry], out)
    assert "\n  rate: 0.9 EUR\n" in out.read_text()
    bean_check(out)


# -- hledger -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("Expenses:Office Supplies", "Expenses:Office Supplies"),
        ("Liabilities::Card  1234 ", "Liabilities::Card 1234"),
        ("a\tb\nc", "a b c"),
        ("(virtual)", "_(virtual)"),
        ("[virtual]", "_[virtual]"),
        ("; comment", "_; comment"),
        ("* cleared", "_* cleared"),
        ("! pending", "_! pending"),
        ("   ", "_"),
    ],
)
def test_hledger_account_names(account: str, expected: str) -> None:
    assert hledger_account(account) == expected


def test_hledger_description_never_reads_as_a_code_or_comment(tmp_path: Path) -> None:
    entries = [
        card_purchase("AB-1", payee="", narration="(draft); see note"),
        card_purchase("AB-2", payee="(Amazon) | EU", narration="x"),
    ]
    out = tmp_path / "journal.journal"
    write_journal("hledger", entries, out)
    text = out.read_text()
    assert "2025-03-14 * _(draft), see note\n" in text
    assert "2025-03-14 * _(Amazon) / EU | x\n" in text
    hledger(out, "check", "--strict")


def test_hledger_journal_passes_strict_check(tmp_path: Path) -> None:
    out = tmp_path / "journal.journal"
    write_journal("hledger", sample(), out)
    text = out.read_text()
    assert (
        "2025-03-14 * Amazon Business | Office chairs\n"
        "    ; entry_id: AB-T1\n"
        "    ; kind: charge\n"
        "    ; transaction_id: T1\n"
        "    ; invoice: DE5AB-INV-1\n"
        "    ; order: 111-2223334-5556667\n"
        f"    {EXPENSE}  100.00 EUR  ; memo: 2 chairs\n"
        f"    {TAX}  19.00 EUR  ; tax_code: DE19\n"
        f"    {CARD}  -119.00 EUR\n"
    ) in text
    assert text.endswith("account Liabilities:EmployeePayable:Jane Doe\ncommodity 1000.00 EUR\n")
    hledger(out, "check", "--strict")


def test_hledger_balances_tags_and_odd_text(tmp_path: Path) -> None:
    out = tmp_path / "journal.journal"
    write_journal("hledger", odd_entries() + sample(), out)
    hledger(out, "check", "--strict")
    report = hledger(out, "balance", "--flat", "--no-total", "--empty", "-O", "csv")
    balances = {
        row[0]: Decimal(row[1].removesuffix(" EUR"))
        for row in csv.reader(io.StringIO(report))
        if row[0] != "account"
    }
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for entry in odd_entries() + sample():
        for line in entry.lines:
            expected[hledger_account(line.account)] += line.signed
    assert balances == expected
    assert balances[EXPENSE] == Decimal("292.00")  # 100 + 200 + 42 - 50
    assert balances[CARD] == Decimal("-59.50")  # -119 + 59.50
    assert balances["_[virtual]"] == Decimal("3.00")  # a real account, not a virtual posting
    invoices = hledger(out, "tags", "--values", "invoice").split()
    assert "INV;1" in invoices and "DE5AB-INV-1" in invoices
    payees = hledger(out, "payees")
    assert 'Amazon "Business" / EU' in payees


def test_hledger_declares_each_commodity_with_its_minor_units(tmp_path: Path) -> None:
    yen = JournalEntry("Y", date(2025, 1, 2), "JPY", (debit(EXPENSE, "1500"), credit(CARD, "1500")))
    dinar = JournalEntry("K", date(2025, 1, 3), "KWD", (debit(EXPENSE, "1.5"), credit(CARD, "1.5")))
    out = tmp_path / "journal.journal"
    write_journal("hledger", [dinar, yen], out)
    text = out.read_text()
    assert "commodity 1000. JPY\ncommodity 1000.000 KWD\n" in text
    assert f"    {EXPENSE}  1.500 KWD\n" in text
    hledger(out, "check", "--strict")
    assert "1.500 KWD" in hledger(out, "balance", EXPENSE)


def test_hledger_comment_text_with_brackets_is_not_read_as_a_date(tmp_path: Path) -> None:
    from dataclasses import replace

    from tests.formats.builders import card_purchase
    from tests.formats.tools import hledger

    entry = card_purchase()
    lines = tuple(replace(line, party="[0/]", memo="box [2020/1/1]") for line in entry.lines)
    out = tmp_path / "journal.journal"
    write_journal("hledger", [replace(entry, lines=lines)], out)
    hledger(out, "check", "--strict")
    assert "party: (0/)" in out.read_text()
