"""Property-based tests: random balanced entries, written and read back or checked by the tools.

The entries have accounts, texts and ids made of awkward characters (formula starts, quotes,
separators, tabs and line breaks, non-Latin letters), amounts in currencies with 0, 2 and 3
decimals, several debit and credit lines, and refunds. Example counts stay small: the tools run
as subprocesses.
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.formats.test_all_formats import NEGATIVE_NUMBER, cells
from tests.formats.test_datev import read, unquote
from tests.formats.tools import bean_check, hledger
from worker.accounting.journal import JournalEntry, JournalLine
from worker.formats import JOURNAL_EXTENSIONS, FormatOptions, write_journal
from worker.formats.cells import minor_units, neutralise

CURRENCIES = ("USD", "EUR", "JPY", "KWD", "GBP")
AWKWARD = list("abcXYZ0189 :-_.=+@'\"\\,;|()[]*!#&/\t\nüß€漢")
text = st.text(alphabet=st.sampled_from(AWKWARD), max_size=16)
account = st.text(alphabet=st.sampled_from(AWKWARD), min_size=1, max_size=24).filter(bool)
units = st.integers(min_value=1, max_value=10**9)
UMSATZ = re.compile(r"\d{1,10},\d{2}")


@st.composite
def entries(
    draw: st.DrawFn,
    number: int,
    currencies: tuple[str, ...] = CURRENCIES,
    first: date = date(2000, 1, 1),
    last: date = date(2099, 12, 31),
) -> JournalEntry:
    """A balanced entry: 1-4 expense-like lines against 1-2 payment lines (mirrored if a refund)."""
    currency = draw(st.sampled_from(currencies))
    places = minor_units(currency)

    def money(value: int) -> Decimal:
        return Decimal(value).scaleb(-places)

    costs = draw(st.lists(units, min_size=1, max_size=4))
    total = sum(costs)
    cut = draw(st.integers(min_value=0, max_value=total - 1)) if total > 1 else 0
    payments = [part for part in (total - cut, cut) if part]
    refund = draw(st.booleans())

    def line(amount: int, payment: bool) -> JournalLine:
        on_debit = payment == refund  # purchase: costs debited, payments credited
        value = money(amount)
        return JournalLine(
            draw(account),
            value if on_debit else Decimal(0),
            Decimal(0) if on_debit else value,
            role="payment" if payment else draw(st.sampled_from(["expense", "tax", "discount"])),
            memo=draw(text),
            party=draw(text),
        )

    lines = [line(cost, False) for cost in costs] + [line(part, True) for part in payments]
    return JournalEntry(
        f"E{number}",
        draw(st.dates(min_value=first, max_value=last)),
        currency,
        tuple(draw(st.permutations(lines))),
        kind="refund" if refund else "charge",
        payee=draw(text),
        narration=draw(text),
        transaction_ids=tuple(draw(st.lists(text, max_size=2))),
        invoice_numbers=tuple(draw(st.lists(text, max_size=2))),
        order_ids=tuple(draw(st.lists(text, max_size=2))),
        tags=tuple(draw(st.lists(text, max_size=2))),
    )


@st.composite
def journals(draw: st.DrawFn) -> list[JournalEntry]:
    count = draw(st.integers(min_value=1, max_value=6))
    return [draw(entries(number)) for number in range(count)]


@st.composite
def datev_journals(draw: st.DrawFn) -> list[JournalEntry]:
    """Entries of one fiscal year in one currency with at most two decimals (DATEV's batch)."""
    currency = draw(st.sampled_from(["EUR", "USD", "JPY"]))
    count = draw(st.integers(min_value=1, max_value=6))
    year = (date(2025, 1, 1), date(2025, 12, 31))
    return [draw(entries(number, (currency,), *year)) for number in range(count)]


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@settings(max_examples=40, deadline=None)
@given(journals())
def test_generic_csv_carries_every_line_and_each_entry_balances(
    journal: list[JournalEntry],
) -> None:
    with folder() as where:
        out = where / "journal.csv"
        write_journal("csv", journal, out)
        with out.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    by_entry: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_entry[row["entry_id"]].append(row)
    assert len(rows) == sum(len(entry.lines) for entry in journal)
    for entry in journal:
        mine = by_entry[entry.entry_id]
        assert [row["account"] for row in mine] == [neutralise(x.account) for x in entry.lines]
        assert [Decimal(row["debit"] or 0) for row in mine] == [x.debit for x in entry.lines]
        assert [Decimal(row["credit"] or 0) for row in mine] == [x.credit for x in entry.lines]
        assert sum(Decimal(row["debit"] or 0) - Decimal(row["credit"] or 0) for row in mine) == 0
        assert {row["date"] for row in mine} == {entry.date.isoformat()}


@settings(max_examples=20, deadline=None)
@given(journals())
def test_no_random_text_reaches_a_cell_as_a_formula(journal: list[JournalEntry]) -> None:
    with folder() as where:
        for fmt in ("csv", "qbo", "iif", "xero", "netsuite"):
            result = write_journal(fmt, journal, where / f"out-{fmt}{JOURNAL_EXTENSIONS[fmt]}")
            for cell in cells(fmt, result.files):
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (fmt, cell)
                assert not cell.startswith("-") or NEGATIVE_NUMBER.fullmatch(cell), (fmt, cell)


@settings(max_examples=12, deadline=None)
@given(journals())
def test_bean_check_accepts_a_random_journal(journal: list[JournalEntry]) -> None:
    with folder() as where:
        out = where / "journal.beancount"
        write_journal("beancount", journal, out)
        bean_check(out)


@settings(max_examples=15, deadline=None)
@given(journals())
def test_hledger_strict_check_accepts_a_random_journal(journal: list[JournalEntry]) -> None:
    with folder() as where:
        out = where / "journal.journal"
        write_journal("hledger", journal, out)
        hledger(out, "check", "--strict")


@settings(max_examples=30, deadline=None)
@given(datev_journals())
def test_datev_bookings_carry_each_line_with_its_direction(journal: list[JournalEntry]) -> None:
    accounts = dict.fromkeys(line.account for entry in journal for line in entry.lines)
    codes = {name: str(1000 + n) for n, name in enumerate(accounts)}
    with folder() as where:
        out = where / "extf.csv"
        write_journal("datev", journal, out, FormatOptions(account_codes=codes))
        _, _, rows = read(out)
    assert len(rows) == sum(len(entry.lines) - 1 for entry in journal)
    by_entry: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        assert UMSATZ.fullmatch(row["Umsatz (ohne Soll/Haben-Kz)"])
        by_entry[unquote(row["Beleginfo - Inhalt 3"])].append(row)
    for entry in journal:
        payment = next((x for x in entry.lines if x.role == "payment"), None)
        assert payment is not None
        mine = by_entry[entry.entry_id]
        assert {row["Gegenkonto (ohne BU-Schlüssel)"] for row in mine} == {codes[payment.account]}
        signed = Decimal(0)
        for row in mine:
            amount = Decimal(row["Umsatz (ohne Soll/Haben-Kz)"].replace(",", "."))
            signed += amount if unquote(row["Soll/Haben-Kennzeichen"]) == "S" else -amount
        assert signed == -payment.signed  # the bookings mirror the payment line
        others = sorted((codes[x.account], x.signed) for x in entry.lines if x is not payment)
        written = sorted(
            (
                row["Konto"],
                Decimal(row["Umsatz (ohne Soll/Haben-Kz)"].replace(",", "."))
                * (1 if unquote(row["Soll/Haben-Kennzeichen"]) == "S" else -1),
            )
            for row in mine
        )
        assert written == others
