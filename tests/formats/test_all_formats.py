"""Rules every journal format keeps: formula guard, same bytes twice, all-or-nothing, streaming."""

from __future__ import annotations

import csv
import re
import tracemalloc
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.formats.builders import OPTIONS, card_purchase, credit, debit, sample
from tests.formats.test_datev import split, unquote
from worker.accounting.journal import JournalEntry, JournalError
from worker.formats import JOURNAL_EXTENSIONS, JOURNAL_FORMATS, FormatOptions, write_journal

CSV_LIKE = ("csv", "qbo", "iif", "xero", "netsuite", "datev")
#: A cell may start with "-" only when it is a number (a negative amount).
NEGATIVE_NUMBER = re.compile(r"-\d+(\.\d+)?")
INJECTIONS = ('=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR")


def test_the_formats_and_their_suffixes() -> None:
    assert JOURNAL_FORMATS == (
        "csv", "qbo", "iif", "xero", "netsuite", "datev", "beancount", "hledger",
    )  # fmt: skip
    assert set(JOURNAL_EXTENSIONS) == set(JOURNAL_FORMATS)
    assert all(suffix.startswith(".") for suffix in JOURNAL_EXTENSIONS.values())


def test_an_unknown_format_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown journal format 'sap'.*csv, qbo, iif, xero"):
        write_journal("sap", [], tmp_path / "x")


# -- formula injection -------------------------------------------------------------------------


def injected_entries() -> list[JournalEntry]:
    """Entries whose every text starts like a spreadsheet formula."""
    return [
        JournalEntry(
            f"{text}-{n}",
            date(2025, 4, 1 + n),
            "EUR",
            (
                debit(f"{text} expense", "10.00", memo=text, party=text),
                credit(f"{text} card", "10.00", role="payment", party=text),
            ),
            payee=text,
            narration=text,
            transaction_ids=(text,),
            order_ids=(text,),
            invoice_numbers=(text,),
        )
        for n, text in enumerate(INJECTIONS)
    ]


def cells(fmt: str, paths: tuple[Path, ...]) -> Iterator[str]:
    """Every cell of the written files, unquoted."""
    for path in paths:
        if fmt == "iif":
            for line in path.read_bytes().decode("cp1252").split("\r\n"):
                yield from line.split("\t")
        elif fmt == "datev":
            for line in path.read_bytes().decode("cp1252").split("\r\n"):
                for field in split(line):
                    yield unquote(field) if field.startswith('"') else field
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                for row in csv.reader(handle):
                    yield from row


@pytest.mark.parametrize("fmt", CSV_LIKE)
def test_no_cell_starts_like_a_formula(tmp_path: Path, fmt: str) -> None:
    codes = {}
    if fmt == "datev":  # DATEV needs numbers for the accounts
        codes = {f"{text} expense": "4930" for text in INJECTIONS}
        codes |= {f"{text} card": "1800" for text in INJECTIONS}
    out = tmp_path / f"out{JOURNAL_EXTENSIONS[fmt]}"
    result = write_journal(fmt, injected_entries(), out, FormatOptions(account_codes=codes))
    seen = list(cells(fmt, result.files))
    assert any("HYPERLINK" in cell for cell in seen)  # the text is there, made inert
    for cell in seen:
        assert not cell.startswith(("=", "+", "@", "\t", "\r")), (fmt, cell)
        assert not cell.startswith("-") or NEGATIVE_NUMBER.fullmatch(cell), (fmt, cell)


@pytest.mark.parametrize("fmt", ["xero", "netsuite"])
def test_mapped_account_codes_are_guarded_too(tmp_path: Path, fmt: str) -> None:
    options = FormatOptions(account_codes={"Expenses:Office": "=1+1"})
    out = tmp_path / "out.csv"
    write_journal(fmt, [card_purchase()], out, options)
    assert "'=1+1" in list(cells(fmt, (out,)))


# -- determinism -----------------------------------------------------------------------------


def many_entries() -> list[JournalEntry]:
    yen = JournalEntry(
        "AB-Y", date(2025, 3, 1), "EUR", (debit("Expenses:Office", "7"), credit("Cash", "7"))
    )
    return [*sample(), *injected_entries(), yen]


@pytest.mark.parametrize("fmt", JOURNAL_FORMATS)
def test_the_same_entries_give_the_same_bytes(tmp_path: Path, fmt: str) -> None:
    codes = dict(OPTIONS.account_codes, Cash="1000")
    codes |= {f"{text} expense": "4930" for text in INJECTIONS}
    codes |= {f"{text} card": "1800" for text in INJECTIONS}
    options = FormatOptions(account_codes=codes, xero_max_lines=8)
    written = []
    for run in ("first", "second"):
        folder = tmp_path / run
        folder.mkdir()
        result = write_journal(fmt, iter(many_entries()), folder / f"journal{run[0]}.out", options)
        written.append([(path.name[8:], path.read_bytes()) for path in result.files])
    assert written[0] == written[1] and written[0][0][1]


# -- atomic output ---------------------------------------------------------------------------


def failing(after: int, error: BaseException) -> Iterator[JournalEntry]:
    """Entries that raise ``error`` after ``after`` good ones, like a failing database cursor."""
    yield from [card_purchase(f"AB-{n}") for n in range(after)]
    raise error


@pytest.mark.parametrize("fmt", JOURNAL_FORMATS)
@pytest.mark.parametrize("error", [RuntimeError("cursor lost"), KeyboardInterrupt()])
def test_a_failure_midway_leaves_the_previous_file(
    tmp_path: Path, fmt: str, error: BaseException
) -> None:
    out = tmp_path / f"journal{JOURNAL_EXTENSIONS[fmt]}"
    out.write_bytes(b"the previous export\n")
    options = FormatOptions(account_codes=OPTIONS.account_codes, xero_max_lines=3)
    with pytest.raises(type(error)):
        write_journal(fmt, failing(5, error), out, options)
    assert out.read_bytes() == b"the previous export\n"
    assert [path.name for path in tmp_path.iterdir()] == [out.name]  # no temporary file left


def refused(fmt: str) -> JournalEntry:
    """An entry ``fmt`` cannot hold (the generic CSV takes every balanced entry)."""
    day = date(2025, 3, 14)
    office = "Expenses:Office"
    if fmt == "netsuite":  # more than 10 digits before the decimal point
        huge = "1" + "0" * 12
        return JournalEntry("AB-BAD", day, "EUR", (debit(office, huge), credit("Cash", huge)))
    if fmt == "datev":  # an account without a number
        return JournalEntry("AB-BAD", day, "EUR", (debit(office, "1"), credit("Cash", "1")))
    currency = {"beancount": "us$", "hledger": 'U"S'}.get(fmt, "USD")
    return JournalEntry(  # for qbo, iif and xero: not in the company currency
        "AB-BAD",
        day,
        currency,
        (debit(office, "1"), credit("Cash", "1")),
        company_currency="EUR",
        rate=Decimal("0.9"),
    )


@pytest.mark.parametrize("fmt", [fmt for fmt in JOURNAL_FORMATS if fmt != "csv"])
def test_a_refused_entry_leaves_the_previous_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"journal{JOURNAL_EXTENSIONS[fmt]}"
    out.write_bytes(b"the previous export\n")
    with pytest.raises(JournalError, match="AB-BAD"):
        write_journal(fmt, [*sample()[:2], refused(fmt)], out, OPTIONS)
    assert out.read_bytes() == b"the previous export\n"
    assert [path.name for path in tmp_path.iterdir()] == [out.name]


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    for fmt in JOURNAL_FORMATS:
        with pytest.raises(FileNotFoundError):
            write_journal(fmt, sample(), tmp_path / "missing" / "out", OPTIONS)


# -- streaming -------------------------------------------------------------------------------


def stream_of(count: int) -> Iterator[JournalEntry]:
    start = date(2025, 1, 1)
    for n in range(count):
        yield card_purchase(f"AB-{n:06d}", start + timedelta(days=n % 365))


def traced_peak(fmt: str, count: int, out: Path) -> int:
    tracemalloc.start()
    try:
        result = write_journal(fmt, stream_of(count), out, OPTIONS)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert result.entries == count


@pytest.mark.parametrize("fmt", JOURNAL_FORMATS)
def test_memory_does_not_grow_with_the_number_of_entries(tmp_path: Path, fmt: str) -> None:
    small = traced_peak(fmt, 300, tmp_path / "small.out")
    large = traced_peak(fmt, 3000, tmp_path / "large.out")
    assert large < small + 256 * 1024, (small, large)


def test_entries_are_read_once_as_they_come(tmp_path: Path) -> None:
    seen: list[str] = []

    def entries() -> Iterator[JournalEntry]:
        for entry in sample():
            seen.append(entry.entry_id)
            yield entry

    for fmt in JOURNAL_FORMATS:
        seen.clear()
        write_journal(fmt, entries(), tmp_path / f"x{JOURNAL_EXTENSIONS[fmt]}", OPTIONS)
        assert seen == [entry.entry_id for entry in sample()]
