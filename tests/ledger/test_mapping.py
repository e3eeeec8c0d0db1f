"""Mapping files: other banks' and card issuers' layouts read with the same strict rules.

Each layout is the export as a person would see it, with the mapping file that reads it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import string
import textwrap
import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors.ledger.mapping as mapping_module
from connectors.ledger import (
    Columns,
    LedgerEntry,
    LedgerError,
    Mapping,
    MappingError,
    load_mapping,
    parse_mapping,
    read_ledger,
)
from tests.ledger.support import csv_line, expect_error, write


def mapping_file(directory: Path, toml: str, name: str = "layout.toml") -> Mapping:
    path = directory / name
    path.write_text(textwrap.dedent(toml), encoding="utf-8")
    return load_mapping(path)


# -- a German bank export: Latin-1, semicolons, decimal commas, DD.MM.YYYY, Soll/Haben -------

GERMAN_EXPORT = """\
    Kontoinhaber;Beispiel GmbH
    IBAN;DE02120300000000202051
    Zeitraum;01.01.2025 - 31.01.2025

    Buchungstag;Valuta;Auftraggeber/Empfänger;Verwendungszweck;Kundenreferenz;Soll;Haben;Währung
    06.01.2025;06.01.2025;AMAZON EU S.A R.L.;302-1234567-1234567 Bürobedarf;A1B2C3;1.234,56;;EUR
    09.01.2025;09.01.2025;AMAZON EU S.A R.L.;Erstattung 302-1234567-1234567;A1B2C4;;12,30;EUR
    10.01.2025;10.01.2025;Müller & Söhne;"Rechnung 17; Stühle";;-89,90;;EUR
    ;;;;;;;
    """

GERMAN_MAPPING = """\
    delimiter = ";"
    encoding = "latin-1"
    skip_rows = 4
    date_formats = "%d.%m.%Y"
    decimal_separator = ","
    thousands_separator = "."
    spent = "debit"            # Soll: money leaving the account

    [columns]
    posted_date = "Buchungstag"
    debit = "Soll"
    credit = "Haben"
    currency = "Währung"
    description = ["Auftraggeber/Empfänger", "Verwendungszweck"]
    reference = "Kundenreferenz"
    """


def german(tmp_path: Path) -> tuple[Path, Mapping]:
    path = write(tmp_path, textwrap.dedent(GERMAN_EXPORT).encode("latin-1"), "umsaetze.csv")
    return path, mapping_file(tmp_path, GERMAN_MAPPING)


def test_german_bank_export(tmp_path: Path) -> None:
    path, mapping = german(tmp_path)
    entries = read_ledger(path, mapping)
    assert [
        (e.posted_date, e.amount, e.currency, e.description, e.reference, e.line) for e in entries
    ] == [
        (
            date(2025, 1, 6),
            Decimal("1234.56"),
            "EUR",
            "AMAZON EU S.A R.L. 302-1234567-1234567 Bürobedarf",
            "A1B2C3",
            6,
        ),
        (
            date(2025, 1, 9),
            Decimal("-12.30"),
            "EUR",
            "AMAZON EU S.A R.L. Erstattung 302-1234567-1234567",
            "A1B2C4",
            7,
        ),
        # A debit printed as a negative number is still money spent.
        (date(2025, 1, 10), Decimal("89.90"), "EUR", "Müller & Söhne Rechnung 17; Stühle", "", 8),
    ]
    # No id column: each id is derived from the line's content, and is stable.
    assert (
        entries[0].entry_id == "2025-01-06:1234.56:EUR:" + entries[0].entry_id.split(":")[3] + ":1"
    )
    assert read_ledger(path, mapping) == entries


def test_german_export_read_as_utf8_names_the_byte(tmp_path: Path) -> None:
    path, mapping = german(tmp_path)
    utf8 = Mapping(**{**_fields(mapping), "encoding": "utf-8"})
    offset = path.read_bytes().index(b"Empf\xe4nger") + 4
    error = expect_error(
        path,
        utf8,
        line=5,
        column="3",  # the header row itself: its names are not known yet
        value="Auftraggeber/Empf\\xe4nger",
        reason=f"byte 0xe4 at byte offset {offset} in 'Auftraggeber/Empf\\xe4nger' is "
        "not UTF-8 text; if the file is Latin-1 or Windows-1252, say so in a mapping",
    )
    assert error.line == 5


def test_german_export_errors_name_the_files_own_column(tmp_path: Path) -> None:
    _, mapping = german(tmp_path)
    export = textwrap.dedent(GERMAN_EXPORT).replace("1.234,56", "1.234,5x")
    path = write(tmp_path, export.encode("latin-1"), "umsaetze.csv")
    expect_error(path, mapping, line=6, column="Soll", value="1.234,5x", reason="is not an amount")
    export = textwrap.dedent(GERMAN_EXPORT).replace("09.01.2025;09", "2025-01-09;09")
    path = write(tmp_path, export.encode("latin-1"), "umsaetze.csv")
    expect_error(
        path,
        mapping,
        line=7,
        column="Buchungstag",
        value="2025-01-09",
        reason="is not a date in the format '%d.%m.%Y'",
    )


def test_both_or_neither_of_debit_and_credit_is_an_error(tmp_path: Path) -> None:
    _, mapping = german(tmp_path)
    export = textwrap.dedent(GERMAN_EXPORT).replace(";A1B2C4;;12,30;", ";A1B2C4;1,00;12,30;")
    path = write(tmp_path, export.encode("latin-1"), "umsaetze.csv")
    expect_error(
        path,
        mapping,
        line=7,
        column="Haben",
        value="12,30",
        reason="both 'Soll' ('1,00') and 'Haben' ('12,30') have an amount",
    )
    export = textwrap.dedent(GERMAN_EXPORT).replace(";A1B2C4;;12,30;", ";A1B2C4;;;")
    path = write(tmp_path, export.encode("latin-1"), "umsaetze.csv")
    expect_error(
        path,
        mapping,
        line=7,
        column="Soll",
        value="",
        reason="neither 'Soll' nor 'Haben' has an amount",
    )


def test_a_zero_in_the_other_column_is_not_an_amount_there(tmp_path: Path) -> None:
    _, mapping = german(tmp_path)
    export = textwrap.dedent(GERMAN_EXPORT).replace(";A1B2C4;;12,30;", ";A1B2C4;0,00;12,30;")
    path = write(tmp_path, export.encode("latin-1"), "umsaetze.csv")
    assert read_ledger(path, mapping)[1].amount == Decimal("-12.30")


def test_a_missing_header_column_names_it_and_suggests(tmp_path: Path) -> None:
    _, mapping = german(tmp_path)
    export = (
        textwrap.dedent(GERMAN_EXPORT).replace(";Soll;", ";Soll ;").replace(";Haben;", ";Habn;")
    )
    path = write(tmp_path, export.encode("latin-1"), "umsaetze.csv")
    expect_error(
        path,
        mapping,
        line=5,
        column="Haben",
        value=export.splitlines()[4],
        reason="the header has no column 'Haben' (columns.credit in the mapping); did you mean "
        "'Habn'?",
        value_in_message=False,
    )


def test_the_wrong_delimiter_is_named(tmp_path: Path) -> None:
    _, mapping = german(tmp_path)
    export = textwrap.dedent(GERMAN_EXPORT).replace(";", ",")
    path = write(tmp_path, export.encode("latin-1"), "umsaetze.csv")
    error = expect_error(
        path,
        mapping,
        line=5,
        column="Buchungstag",
        value=export.splitlines()[4],
        reason="the header is one single column: is the delimiter not ';'?",
        value_in_message=False,
    )
    assert "Buchungstag" in str(error)


def test_a_file_shorter_than_its_preamble_is_an_error(tmp_path: Path) -> None:
    _, mapping = german(tmp_path)
    path = write(tmp_path, b"Kontoinhaber;Beispiel GmbH\n", "umsaetze.csv")
    expect_error(
        path,
        mapping,
        line=None,
        column=None,
        value=None,
        reason="the file ends after 1 lines, before the header (skip_rows = 4)",
    )


# -- a US card export: MM/DD/YYYY, Debit/Credit, thousands commas, masked card numbers --------

US_EXPORT = """\
    Transaction Date,Posted Date,Card No.,Description,Reference,Debit,Credit
    01/06/2025,01/07/2025,XXXX-XXXX-XXXX-3972,AMAZON MKTPL*2K4AB12C3,240071234,"1,412.17",
    01/20/2025,01/21/2025,XXXX-XXXX-XXXX-3972,AMAZON MKTPL*2K4AB12C3 REFUND,240075678,,40.20
    01/22/2025,01/23/2025,,AUTOPAY PAYMENT - THANK YOU,240079999,,"2,000.00"
    """

US_MAPPING = """\
    date_formats = ["%m/%d/%Y"]
    thousands_separator = ","
    currency = "USD"

    [columns]
    entry_id = "Reference"
    posted_date = "Posted Date"
    debit = "Debit"
    credit = "Credit"
    description = "Description"
    card_number = "Card No."
    """


def test_us_card_export(tmp_path: Path) -> None:
    path = write(tmp_path, US_EXPORT, "activity.csv")
    entries = read_ledger(path, mapping_file(tmp_path, US_MAPPING))
    assert entries == [
        LedgerEntry(
            "240071234",
            date(2025, 1, 7),
            Decimal("1412.17"),
            "USD",
            "AMAZON MKTPL*2K4AB12C3",
            "",
            "3972",
            2,
        ),
        LedgerEntry(
            "240075678",
            date(2025, 1, 21),
            Decimal("-40.20"),
            "USD",
            "AMAZON MKTPL*2K4AB12C3 REFUND",
            "",
            "3972",
            3,
        ),
        LedgerEntry(
            "240079999",
            date(2025, 1, 23),
            Decimal("-2000.00"),
            "USD",
            "AUTOPAY PAYMENT - THANK YOU",
            "",
            "",
            4,
        ),
    ]


def test_us_export_errors(tmp_path: Path) -> None:
    mapping = mapping_file(tmp_path, US_MAPPING)
    bad_group = textwrap.dedent(US_EXPORT).replace('"1,412.17"', '"14,12.17"')
    path = write(tmp_path, bad_group, "activity.csv")
    expect_error(path, mapping, line=2, column="Debit", value="14,12.17", reason="not an amount")
    short_card = textwrap.dedent(US_EXPORT).replace(
        "XXXX-XXXX-XXXX-3972,AMAZON MKTPL*2K4AB12C3,", "XX-72,AMAZON MKTPL*2K4AB12C3,"
    )
    path = write(tmp_path, short_card, "activity.csv")
    expect_error(
        path, mapping, line=2, column="Card No.", value="XX-72", reason="has fewer than four digits"
    )
    duplicate = textwrap.dedent(US_EXPORT).replace("240075678", "240071234")
    path = write(tmp_path, duplicate, "activity.csv")
    expect_error(
        path,
        mapping,
        line=3,
        column="Reference",
        value="240071234",
        reason="duplicate entry id '240071234' (first on line 2)",
    )


def test_spent_can_be_the_credit_column(tmp_path: Path) -> None:
    # An accounts-payable export from the supplier's side: Credit is what the company owes.
    path = write(
        tmp_path,
        """\
        id,date,Debit,Credit,memo
        AP-1,2025-03-01,,99.00,Amazon invoice 1R8T-VX03-XWUZ
        AP-2,2025-03-09,10.00,,Credit memo WF0J-H8LV-JY1U
        """,
    )
    mapping = parse_mapping(
        {
            "currency": "eur",
            "spent": "credit",
            "columns": {
                "entry_id": "id",
                "posted_date": "date",
                "debit": "Debit",
                "credit": "Credit",
                "description": "memo",
            },
        }
    )
    assert [(e.entry_id, e.amount, e.currency) for e in read_ledger(path, mapping)] == [
        ("AP-1", Decimal("99.00"), "EUR"),
        ("AP-2", Decimal("-10.00"), "EUR"),
    ]


# -- tab-delimited, signed amounts negative for money spent -------------------------------------

TAB_EXPORT = (
    "Transaction ID\tBooking date\tAmount\tCurrency\tPayee\tMemo\tCard\n"
    "T-1001\t2025-04-01\t-1,234.50\tgbp\tAmazon.co.uk\tOrder 205-1111111-2222222\t**** 4242\n"
    "T-1002\t2025-04-03\t15.00\tGBP\tAmazon.co.uk\tRefund 205-1111111-2222222\t**** 4242\n"
    "T-1003\t2025-04-04\t(7.25)\tGBP\tTrainline\t\t\n"
    "T-1004\t2025-04-05\t0.00\tGBP\tCard check\t\t\n"
)

TAB_MAPPING = """\
    delimiter = "\\t"
    thousands_separator = ","
    invert_sign = true
    description_separator = " / "

    [columns]
    entry_id = "Transaction ID"
    posted_date = "Booking date"
    amount = "Amount"
    currency = "Currency"
    description = ["Payee", "Memo"]
    card_number = "Card"
    """


def test_tab_delimited_export_with_inverted_signs(tmp_path: Path) -> None:
    path = write(tmp_path, TAB_EXPORT.encode(), "export.tsv")
    mapping = mapping_file(tmp_path, TAB_MAPPING)
    entries = read_ledger(path, mapping)
    assert [(e.entry_id, e.amount, e.currency, e.description, e.card_last4) for e in entries] == [
        ("T-1001", Decimal("1234.50"), "GBP", "Amazon.co.uk / Order 205-1111111-2222222", "4242"),
        ("T-1002", Decimal("-15.00"), "GBP", "Amazon.co.uk / Refund 205-1111111-2222222", "4242"),
        ("T-1003", Decimal("7.25"), "GBP", "Trainline", ""),
        ("T-1004", Decimal("0.00"), "GBP", "Card check", ""),
    ]
    assert not entries[3].amount.is_signed()  # inverting zero never gives -0.00


def test_tab_is_also_spelled_tab(tmp_path: Path) -> None:
    mapping = parse_mapping(
        {"delimiter": "tab", "currency": "EUR", "columns": {"posted_date": 1, "amount": 2}}
    )
    assert mapping.delimiter == "\t"


# -- UTF-8 with a byte order mark, thousands separators, trailing minus, several date formats ---


def test_utf8_bom_before_a_mapped_header(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffDate,Amount,Text\n2025-05-01,3.50,Kaffee für alle\n".encode())
    mapping = parse_mapping(
        {
            "currency": "EUR",
            "columns": {"posted_date": "Date", "amount": "Amount", "description": "Text"},
        }
    )
    [entry] = read_ledger(path, mapping)
    assert (entry.posted_date, entry.amount, entry.description) == (
        date(2025, 5, 1),
        Decimal("3.50"),
        "Kaffee für alle",
    )


@pytest.mark.parametrize(
    ("decimal_separator", "thousands_separator", "text", "expected"),
    [
        (",", ".", "1.234.567,89", "1234567.89"),
        (".", ",", "1,234,567.89", "1234567.89"),
        (",", " ", "1 234 567,89", "1234567.89"),
        (".", "'", "1'234'567.89", "1234567.89"),
        (",", "\u00a0", "1\u00a0234,5", "1234.5"),
        (",", "\u202f", "12\u202f345", "12345"),
        (",", ".", "1234567,89", "1234567.89"),  # grouping is optional
        (",", ".", "12,30-", "-12.30"),  # trailing minus (SAP, some German banks)
        (".", ",", "(1,000.00)", "-1000.00"),  # accounting parentheses
        (".", ",", "+7", "7"),
    ],
)
def test_thousands_separators_and_signs(
    tmp_path: Path, decimal_separator: str, thousands_separator: str, text: str, expected: str
) -> None:
    path = write(tmp_path, f'2025-05-01\t"{text}"\n'.encode())
    mapping = Mapping(
        columns=Columns(posted_date=1, amount=2),
        header=False,
        delimiter="\t",
        currency="CHF",
        decimal_separator=decimal_separator,
        thousands_separator=thousands_separator,
    )
    [entry] = read_ledger(path, mapping)
    assert entry.amount == Decimal(expected)
    assert entry.amount.as_tuple() == Decimal(expected).as_tuple()


@pytest.mark.parametrize(
    ("thousands_separator", "text"),
    [
        (".", "12.34,5"),  # a group of two
        (".", "1.2345,00"),  # a group of four
        (".", ".234,00"),
        (",", "12,30"),  # decimal comma where the mapping says thousands comma
        (",", "1,234.56789"),
        ("", "1.234,56"),
    ],
)
def test_bad_grouping_is_an_error(tmp_path: Path, thousands_separator: str, text: str) -> None:
    path = write(tmp_path, f'2025-05-01;"{text}"\n'.encode())
    mapping = Mapping(
        columns=Columns(posted_date=1, amount=2),
        header=False,
        delimiter=";",
        currency="EUR",
        decimal_separator="." if thousands_separator == "," else ",",
        thousands_separator=thousands_separator,
    )
    with pytest.raises(LedgerError) as caught:
        read_ledger(path, mapping)
    assert (caught.value.line, caught.value.column, caught.value.value) == (1, "2", text)


def test_several_date_formats_are_tried_in_order(tmp_path: Path) -> None:
    path = write(tmp_path, b"2025-05-01;1\n02.05.2025;2\n03.05.25;3\n2025/05/04;4\n")
    mapping = Mapping(
        columns=Columns(posted_date=1, amount=2),
        header=False,
        delimiter=";",
        currency="EUR",
        date_formats=("%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y"),
    )
    with pytest.raises(LedgerError) as caught:
        read_ledger(path, mapping)
    assert caught.value.line == 4
    assert caught.value.column == "1"
    assert caught.value.reason == (
        "'2025/05/04' is not a date in the format '%Y-%m-%d' or '%d.%m.%Y' or '%d.%m.%y'"
    )
    path.write_bytes(b"2025-05-01;1\n02.05.2025;2\n03.05.25;3\n")
    assert [e.posted_date.day for e in read_ledger(path, mapping)] == [1, 2, 3]


def test_no_header_positions_and_a_short_line(tmp_path: Path) -> None:
    mapping = Mapping(
        columns=Columns(entry_id=1, posted_date=2, amount=4, description=(3,), card_last4=5),
        header=False,
        currency="USD",
    )
    path = write(tmp_path, "X1,2025-06-01,Toner,19.99,1234\nX2,2025-06-02,Paper,5.00\n")
    expect_error(
        path,
        mapping,
        line=2,
        column="5",
        value=None,
        reason="the line has 4 cells, so column '5' is missing",
    )
    path = write(tmp_path, "X1,2025-06-01,Toner,19.99,1234,extra,cells\n")
    assert read_ledger(path, mapping) == [
        LedgerEntry("X1", date(2025, 6, 1), Decimal("19.99"), "USD", "Toner", "", "1234", 1)
    ]


def test_a_position_beyond_the_header(tmp_path: Path) -> None:
    mapping = Mapping(columns=Columns(posted_date=1, amount=9), currency="USD")
    path = write(tmp_path, "Date,Amount\n2025-06-01,1\n")
    expect_error(
        path,
        mapping,
        line=1,
        column="9",
        value="Date,Amount",
        reason="the header has 2 columns, so there is no column 9 (columns.amount in the mapping)",
        value_in_message=False,
    )


def test_a_column_named_twice_in_the_header_must_be_given_by_position(tmp_path: Path) -> None:
    mapping = Mapping(columns=Columns(posted_date="Date", amount="Betrag"), currency="EUR")
    path = write(tmp_path, "Date,Betrag,Betrag\n2025-06-01,1,2\n")
    expect_error(
        path,
        mapping,
        line=1,
        column="Betrag",
        value="Date,Betrag,Betrag",
        reason="the header has 2 columns named 'Betrag'; name the one for columns.amount by its "
        "position",
        value_in_message=False,
    )
    by_position = Mapping(columns=Columns(posted_date="Date", amount=3), currency="EUR")
    assert read_ledger(path, by_position)[0].amount == Decimal(2)


def test_windows_1252_reads_the_euro_sign_and_refuses_undefined_bytes(tmp_path: Path) -> None:
    mapping = Mapping(
        columns=Columns(posted_date=1, amount=2, description=(3,)),
        header=False,
        delimiter=";",
        currency="EUR",
        encoding="windows-1252",
    )
    assert mapping.encoding == "cp1252"
    path = write(tmp_path, "2025-06-01;5;Gebühr 5 €\n".encode("cp1252"))
    assert read_ledger(path, mapping)[0].description == "Gebühr 5 €"
    path = write(tmp_path, b"2025-06-01;5;Geb\x81hr\n")
    expect_error(
        path,
        mapping,
        line=1,
        column="3",
        value="Geb\\x81hr",
        reason="byte 0x81 at byte offset 16 in 'Geb\\x81hr' is not Windows-1252 text",
    )


def test_derived_ids_count_identical_lines_and_survive_reordering(tmp_path: Path) -> None:
    mapping = Mapping(
        columns=Columns(posted_date=1, amount=2, description=(3,)), header=False, currency="EUR"
    )
    lines = ["2025-06-01,5.00,Kaffee", "2025-06-01,5.00,Kaffee", "2025-06-01,5.00,Tee"]
    first = read_ledger(write(tmp_path, "\n".join(lines) + "\n"), mapping)
    ids = [e.entry_id for e in first]
    assert len(set(ids)) == 3
    assert ids[0].endswith(":1") and ids[1].endswith(":2") and ids[2].endswith(":1")
    assert ids[0].startswith("2025-06-01:5.00:EUR:")
    reordered = read_ledger(write(tmp_path, "\n".join(lines[::-1]) + "\n"), mapping)
    assert {e.entry_id for e in reordered} == set(ids)


# -- the module's own documented examples work as documented ----------------------------------


def documented_examples() -> list[tuple[str, str]]:
    doc = mapping_module.__doc__ or ""
    exports = re.findall(r"::\n\n((?:    .*\n|\n)+?)\n\.\. code-block:: toml", doc)
    tomls = re.findall(r"\.\. code-block:: toml\n\n((?:    .*\n|\n)+)", doc)
    assert len(exports) == len(tomls) == 2
    return [(textwrap.dedent(e), textwrap.dedent(t)) for e, t in zip(exports, tomls, strict=True)]


def test_the_documented_examples_read_as_documented(tmp_path: Path) -> None:
    (german_csv, german_toml), (us_csv, us_toml) = documented_examples()
    german_map = mapping_file(tmp_path, german_toml, "german.toml")
    path = write(tmp_path, german_csv.encode("latin-1"), "german.csv")
    assert [(e.posted_date, e.amount, e.currency) for e in read_ledger(path, german_map)] == [
        (date(2025, 1, 6), Decimal("1234.56"), "EUR"),
        (date(2025, 1, 9), Decimal("-12.30"), "EUR"),
    ]
    us_map = mapping_file(tmp_path, us_toml, "us.toml")
    path = write(tmp_path, us_csv.encode(), "us.csv")
    assert [(e.posted_date, e.amount, e.card_last4) for e in read_ledger(path, us_map)] == [
        (date(2025, 1, 7), Decimal("1412.17"), "3972"),
        (date(2025, 1, 21), Decimal("-40.20"), "3972"),
    ]


# -- bad mapping files ---------------------------------------------------------------------------

MINIMAL: dict[str, Any] = {
    "currency": "EUR",
    "columns": {"posted_date": "Date", "amount": "Amount"},
}


def test_a_minimal_mapping_has_the_documented_defaults() -> None:
    mapping = parse_mapping(MINIMAL)
    assert (mapping.delimiter, mapping.encoding, mapping.header, mapping.skip_rows) == (
        ",",
        "utf-8",
        True,
        0,
    )
    assert (mapping.date_formats, mapping.decimal_separator, mapping.thousands_separator) == (
        ("%Y-%m-%d",),
        ".",
        "",
    )
    assert (mapping.spent, mapping.invert_sign, mapping.description_separator) == (
        "debit",
        False,
        " ",
    )


def with_(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {**MINIMAL, "columns": dict(MINIMAL["columns"])}
    for key, value in changes.items():
        if key.startswith("columns_"):
            name = key.removeprefix("columns_")
            if value is None:
                data["columns"].pop(name, None)
            else:
                data["columns"][name] = value
        elif value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    ("data", "key", "reason"),
    [
        (with_(delimeter=";"), "delimeter", "unknown key 'delimeter' (did you mean 'delimiter'?)"),
        (with_(columns_amout="X"), "columns.amout", "unknown field 'amout' (did you mean 'amount'"),
        ({"currency": "EUR"}, "columns", "missing: a [columns] table"),
        (with_(columns_posted_date=None), "columns.posted_date", "missing: the booking date"),
        (with_(columns_debit="Soll"), "columns.amount", "give amount, or debit and credit, not"),
        (
            with_(columns_amount=None, columns_debit="Soll"),
            "columns.credit",
            "missing: give amount, or both debit and credit",
        ),
        (with_(columns_amount=None), "columns.amount", "missing: give amount, or both debit"),
        (with_(currency=None), "currency", "missing: give a fixed currency"),
        (with_(columns_currency="Cur"), "currency", "give currency or columns.currency, not both"),
        (with_(currency="EURO"), "currency", "expected an ISO 4217 code such as 'EUR'"),
        (with_(currency=978), "currency", "expected an ISO 4217 code"),
        (with_(encoding="utf-16"), "encoding", "expected 'utf-8', 'utf-8-sig', 'latin-1' or"),
        (with_(encoding="klingon"), "encoding", "expected 'utf-8'"),
        (with_(delimiter=";;"), "delimiter", "expected one character other than a quote"),
        (with_(delimiter='"'), "delimiter", "expected one character other than a quote"),
        (with_(delimiter=59), "delimiter", "expected a string, not 59"),
        (with_(decimal_separator=";"), "decimal_separator", "expected '.' or ','"),
        (with_(thousands_separator="_"), "thousands_separator", "expected one of"),
        (
            with_(thousands_separator="."),
            "thousands_separator",
            "must differ from the decimal separator",
        ),
        (with_(date_formats="%d.%m"), "date_formats", "does not name a day, a month and a year"),
        (with_(date_formats=["%Y-%m-%d", "%m/%Y"]), "date_formats", "does not name a day"),
        (with_(date_formats=[]), "date_formats", "no date format given"),
        (with_(date_formats=7), "date_formats", "expected a pattern or a list of patterns"),
        (with_(date_formats=["%Y-%m-%d", 7]), "date_formats", "expected a strptime pattern"),
        (with_(date_formats="%Y-%m-%q"), "date_formats", "is not a usable date pattern"),
        (with_(date_formats="%Y%Y-%m-%d"), "date_formats", "is not a usable date pattern"),
        (with_(columns=["Date"]), "columns", "expected a [columns] table, not ['Date']"),
        (with_(skip_rows=-1), "skip_rows", "expected a number of lines (0 or more)"),
        (with_(skip_rows=True), "skip_rows", "expected a number of lines"),
        (with_(header="yes"), "header", "expected true or false"),
        (with_(invert_sign=1), "invert_sign", "expected true or false"),
        (with_(spent="out"), "spent", "expected 'debit' or 'credit'"),
        (with_(description_separator=1), "description_separator", "expected a string"),
        (with_(columns_amount=0), "columns.amount", "positions start at 1, not 0"),
        (with_(columns_amount=2.5), "columns.amount", "expected a column name or a 1-based"),
        (with_(columns_amount=" "), "columns.amount", "a column name cannot be empty"),
        (with_(columns_description=["A", {}]), "columns.description", "expected a column name"),
        (with_(header=False), "columns.posted_date", "name the column by its 1-based position"),
        (
            with_(columns_card_last4="L4", columns_card_number="No"),
            "columns.card_number",
            "give card_last4 or card_number, not both",
        ),
    ],
)
def test_a_bad_mapping_names_file_key_and_problem(
    tmp_path: Path, data: dict[str, Any], key: str, reason: str
) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping(data)
    assert caught.value.key == key and caught.value.file is None
    assert reason in caught.value.reason, caught.value.reason
    # The same problem in a file names the file too.
    path = tmp_path / "bad.toml"
    path.write_text(_toml(data), encoding="utf-8")
    with pytest.raises(MappingError) as in_file:
        load_mapping(path)
    assert in_file.value.file == str(path) and in_file.value.key == key
    assert str(in_file.value).startswith(f"{path}: {key}: ")


def test_a_file_that_is_not_toml_names_the_place(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('delimiter = ";"\n[columns\nposted_date = "Date"\n', encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert str(caught.value).startswith(f"{path}: not valid TOML: ")
    assert "line 2" in str(caught.value)


def test_a_mapping_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes('currency = "EUR"\n[columns]\nposted_date = "Währung"\n'.encode("latin-1"))
    with pytest.raises(MappingError, match=r"not UTF-8 text \(byte offset 43\)"):
        load_mapping(path)


def test_a_mapping_built_in_code_is_checked_too() -> None:
    with pytest.raises(MappingError, match=r"^decimal_separator: expected '\.' or ','"):
        Mapping(columns=Columns(posted_date=1, amount=2), currency="EUR", decimal_separator="")


# -- hypothesis: any TOML-shaped document is a Mapping or a MappingError, nothing else --------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "",
            ",",
            ";",
            "\t",
            "tab",
            ".",
            "'",
            '"',
            "EUR",
            "eur",
            "%d.%m.%Y",
            "%Y",
            "utf-8",
            "latin-1",
            "debit",
            "credit",
            "Date",
            "Amount",
        ]
    ),
    st.text(max_size=6),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=6,
)
_top_keys = st.sampled_from(
    [
        "delimiter",
        "encoding",
        "header",
        "skip_rows",
        "date_formats",
        "decimal_separator",
        "thousands_separator",
        "currency",
        "spent",
        "invert_sign",
        "description_separator",
        "x",
    ]
)
_column_keys = st.sampled_from(
    [
        "entry_id",
        "posted_date",
        "amount",
        "debit",
        "credit",
        "currency",
        "description",
        "reference",
        "card_last4",
        "card_number",
        "y",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(_top_keys, _values.filter(lambda v: v is not None), max_size=6),
    st.one_of(
        st.none(),
        st.dictionaries(_column_keys, _values.filter(lambda v: v is not None), max_size=6),
    ),
)
def test_any_document_is_a_mapping_or_a_mapping_error(
    top: dict[str, Any], columns: dict[str, Any] | None
) -> None:
    data = dict(top)
    if columns is not None:
        data["columns"] = columns
    try:
        mapping = parse_mapping(data)
    except MappingError as error:
        assert error.reason and str(error)
    else:
        assert isinstance(mapping, Mapping)


def _fields(mapping: Mapping) -> dict[str, Any]:
    return {name: getattr(mapping, name) for name in mapping.__dataclass_fields__}


def _toml(data: dict[str, Any]) -> str:
    """A tiny TOML writer for the test documents (strings, numbers, booleans, lists)."""

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, str):
            return '"' + item.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'
        if isinstance(item, int | float):
            return repr(item)
        if isinstance(item, list):
            return "[" + ", ".join(value(i) for i in item) + "]"
        if isinstance(item, dict):
            return "{" + ", ".join(f"{k} = {value(v)}" for k, v in item.items()) + "}"
        raise TypeError(item)

    table = isinstance(data.get("columns"), dict)
    lines = [f"{k} = {value(v)}" for k, v in data.items() if k != "columns" or not table]
    if table:
        lines.append("[columns]")
        lines += [f"{k} = {value(v)}" for k, v in data["columns"].items()]
    text = "\n".join(lines) + "\n"
    assert tomllib.loads(text) == data
    return text


# -- hypothesis: any valid ledger, written in any supported layout, reads back exactly ---------

_NAMES = {
    "entry_id": "Buchungsnr",
    "posted_date": "Datum",
    "amount": "Betrag",
    "debit": "Soll",
    "credit": "Haben",
    "currency": "Währung",
    "description": "Verwendungszweck",
    "reference": "Referenz",
    "card": "Karte",
    "extra": "Notiz",
}
_WESTERN = "".join(chr(c) for c in range(0x20, 0x100) if not 0x7F <= c <= 0x9F) + "\n\r"
_ALPHABETS = {
    "utf-8": st.characters(codec="utf-8", exclude_characters="\x00"),
    "utf-8-sig": st.characters(codec="utf-8", exclude_characters="\x00"),
    "latin-1": st.sampled_from(_WESTERN),
    "cp1252": st.sampled_from(_WESTERN + "€‚„…‘’“”–—™Œœ"),
}
_SEPARATORS = [(".", ""), (".", ","), (",", "."), (",", " "), (".", "'"), (",", "\u00a0")]
_DATE_FORMATS = ["%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%d/%m/%Y", "%Y%m%d", "%d.%m.%y"]


@dataclass(frozen=True)
class Layout:
    """How the test writes a file; the Mapping that reads it is derived from it."""

    delimiter: str
    separators: tuple[str, str]
    date_format: str
    encoding: str
    bom: bool
    header: bool
    by_position: bool
    preamble: tuple[str, ...]
    debit_credit: bool
    spent: str
    invert: bool
    negative_style: str
    group: bool
    signed_debits: bool
    zero_fill: bool
    fixed_currency: str | None
    with_ids: bool
    card_number: bool
    order: tuple[str, ...]


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    debit_credit = draw(st.booleans())
    columns = ["posted_date", "description", "reference", "card", "extra"]
    columns += ["debit", "credit"] if debit_credit else ["amount"]
    with_ids = draw(st.booleans())
    fixed_currency = draw(st.one_of(st.none(), st.sampled_from(["EUR", "USD", "JPY"])))
    columns += ["entry_id"] if with_ids else []
    columns += [] if fixed_currency else ["currency"]
    header = draw(st.booleans())
    encoding = draw(st.sampled_from(sorted(_ALPHABETS)))
    return Layout(
        delimiter=draw(st.sampled_from([",", ";", "\t", "|"])),
        separators=draw(st.sampled_from(_SEPARATORS)),
        date_format=draw(st.sampled_from(_DATE_FORMATS)),
        encoding=encoding,
        bom=encoding.startswith("utf-8") and draw(st.booleans()),
        header=header,
        by_position=not header or draw(st.booleans()),
        preamble=tuple(
            draw(st.lists(st.text(alphabet=string.ascii_letters + " :0123456789"), max_size=3))
        ),
        debit_credit=debit_credit,
        spent=draw(st.sampled_from(["debit", "credit"])),
        invert=draw(st.booleans()),
        negative_style=draw(st.sampled_from(["leading", "trailing", "parens"])),
        group=draw(st.booleans()),
        signed_debits=draw(st.booleans()),
        zero_fill=draw(st.booleans()),
        fixed_currency=fixed_currency,
        with_ids=with_ids,
        card_number=draw(st.booleans()),
        order=tuple(draw(st.permutations(columns))),
    )


def mapping_for(layout: Layout) -> Mapping:
    def column(field: str) -> str | int:
        return layout.order.index(field) + 1 if layout.by_position else _NAMES[field]

    card = column("card")
    return Mapping(
        columns=Columns(
            entry_id=column("entry_id") if layout.with_ids else None,
            posted_date=column("posted_date"),
            amount=None if layout.debit_credit else column("amount"),
            debit=column("debit") if layout.debit_credit else None,
            credit=column("credit") if layout.debit_credit else None,
            currency=None if layout.fixed_currency else column("currency"),
            description=(column("description"),),
            reference=column("reference"),
            card_last4=None if layout.card_number else card,
            card_number=card if layout.card_number else None,
        ),
        delimiter=layout.delimiter,
        encoding=layout.encoding,
        header=layout.header,
        skip_rows=len(layout.preamble),
        date_formats=(layout.date_format,),
        decimal_separator=layout.separators[0],
        thousands_separator=layout.separators[1],
        currency=layout.fixed_currency,
        spent="credit" if layout.spent == "credit" else "debit",
        invert_sign=layout.invert,
    )


def number(value: Decimal, layout: Layout) -> str:
    """``abs(value)`` as the layout writes numbers."""
    decimal_separator, thousands_separator = layout.separators
    whole, _, fraction = format(abs(value), "f").partition(".")
    if layout.group and thousands_separator:
        head = len(whole) % 3 or 3
        whole = thousands_separator.join(
            [whole[:head]] + [whole[i : i + 3] for i in range(head, len(whole), 3)]
        )
    return whole + (decimal_separator + fraction if fraction else "")


def cells_for(entry: LedgerEntry, layout: Layout) -> dict[str, str]:
    in_file = entry.amount.copy_negate() if layout.invert else entry.amount
    cells = {
        "entry_id": entry.entry_id,
        "posted_date": entry.posted_date.strftime(layout.date_format),
        "currency": entry.currency.lower() if entry.line % 2 else entry.currency,
        "description": entry.description,
        "reference": entry.reference,
        "card": (f"XXXX-XXXX-XXXX-{entry.card_last4}" if entry.card_last4 else "")
        if layout.card_number
        else entry.card_last4,
        "extra": "anything at all",
    }
    if not layout.debit_credit:
        text = number(in_file, layout)
        if in_file < 0:
            text = {"leading": f"-{text}", "trailing": f"{text}-", "parens": f"({text})"}[
                layout.negative_style
            ]
        cells["amount"] = text
    else:
        spent, back = ("debit", "credit") if layout.spent == "debit" else ("credit", "debit")
        zero = number(Decimal("0.00"), layout) if layout.zero_fill else ""
        if in_file >= 0:
            sign = "-" if layout.signed_debits and in_file else ""
            cells[spent], cells[back] = sign + number(in_file, layout), zero
        else:
            cells[spent], cells[back] = zero, number(in_file, layout)
    return cells


def write_layout(entries: list[LedgerEntry], layout: Layout) -> tuple[bytes, list[LedgerEntry]]:
    out = io.StringIO()
    for text in layout.preamble:
        out.write(text + "\n")
    line = len(layout.preamble) + 1
    if layout.header:
        csv.writer(out, delimiter=layout.delimiter, lineterminator="\n").writerow(
            [_NAMES[field] for field in layout.order]
        )
        line += 1
    expected = []
    for number_, entry in enumerate(entries):
        entry = dataclasses.replace(entry, line=number_)  # only to vary the currency's case
        cells = cells_for(entry, layout)
        row = [cells[field] for field in layout.order]
        record = csv_line(row, delimiter=layout.delimiter)
        out.write(record)
        expected.append(
            dataclasses.replace(
                entry,
                currency=layout.fixed_currency or entry.currency,
                description=entry.description.strip(),
                line=line,
            )
        )
        line += record.count("\n")
    data = out.getvalue().encode("utf-8" if layout.encoding.startswith("utf") else layout.encoding)
    return (b"\xef\xbb\xbf" if layout.bom else b"") + data, expected


@st.composite
def mapped_ledgers(draw: st.DrawFn) -> tuple[Layout, list[LedgerEntry]]:
    layout = draw(layouts())
    ids = draw(
        st.lists(
            st.text(string.ascii_letters + string.digits + "-", min_size=1), max_size=6, unique=True
        )
    )
    entries = [
        LedgerEntry(
            entry_id,
            draw(st.dates(min_value=date(1969, 1, 1), max_value=date(2068, 12, 31))),
            Decimal(draw(st.integers(-(10**15), 10**15))).scaleb(-draw(st.integers(0, 4))),
            draw(st.sampled_from(["EUR", "USD", "CHF", "JPY"])),
            draw(st.text(alphabet=_ALPHABETS[layout.encoding], max_size=25)),
            draw(st.text(alphabet=string.ascii_uppercase + string.digits + "-", max_size=12)),
            draw(st.one_of(st.just(""), st.from_regex(r"[0-9]{4}", fullmatch=True))),
            0,
        )
        for entry_id in ids
    ]
    return layout, entries


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mapped") / "export.csv"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mapped_ledgers())
def test_any_valid_ledger_in_any_layout_round_trips_exactly(
    scratch: Path, case: tuple[Layout, list[LedgerEntry]]
) -> None:
    layout, entries = case
    data, expected = write_layout(entries, layout)
    scratch.write_bytes(data)
    got = read_ledger(scratch, mapping_for(layout))
    if layout.with_ids:
        assert got == expected
    else:
        assert len({e.entry_id for e in got}) == len(got)
        assert [dataclasses.replace(e, entry_id="") for e in got] == [
            dataclasses.replace(e, entry_id="") for e in expected
        ]
    assert [e.amount.as_tuple() for e in got] == [e.amount.as_tuple() for e in expected]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mapped_ledgers(), st.binary(min_size=1, max_size=40), st.data())
def test_any_damage_to_a_mapped_file_is_a_ledger_error_or_a_full_read(
    scratch: Path, case: tuple[Layout, list[LedgerEntry]], junk: bytes, data: st.DataObject
) -> None:
    layout, entries = case
    good, _ = write_layout(entries, layout)
    at = data.draw(st.integers(0, len(good)), label="insert at")
    scratch.write_bytes(good[:at] + junk + good[at:])
    try:
        got = read_ledger(scratch, mapping_for(layout))
    except LedgerError as error:
        assert error.file == str(scratch) and error.reason
    else:  # the junk happened to be valid text in a valid place: a whole file, never a part
        assert all(isinstance(e, LedgerEntry) for e in got)
