"""Ledger files in every layout become exact entries; anything else is an error naming its place.

Each layout is shown as the file a person would see, inline. Every error kind is checked for the
four things a person needs to fix it: the file, the line, the column and the value.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import pickle
import re
import string
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ledger import (
    CANONICAL_HEADER,
    Columns,
    LedgerEntry,
    LedgerError,
    Mapping,
    read_ledger,
)
from connectors.ledger.reader import MAX_DECIMAL_PLACES
from connectors.sandbox.generator import generate_scenario, write_scenario
from tests.ledger.support import HEADER, canonical, csv_line, expect_error, read, write

# -- the canonical layout -------------------------------------------------------------------

CANONICAL = '''\
    entry_id,posted_date,amount,currency,description,reference,card_last4
    GL-0001,2025-01-11,40.20,USD,Amazon.com Services LLC invoice NMTY-T7BR-M878,NMTY-T7BR-M878,
    GL-0002,2025-01-16,1412.17,USD,AMAZON MKTPL*90WLZCJS7,,3972
    GL-0003,2025-02-18,-5.46,USD,"Amazon credit memo, ""goodwill""",WF0J-H8LV-JY1U,5514
    GL-0004,2025-02-19,1200,JPY,"Two lines:
    office chairs",,
    GL-0005,2025-02-20,0.1234,EUR,Rounding,,
    '''


def test_canonical_file_reads_every_field_exactly(tmp_path: Path) -> None:
    entries = read(write(tmp_path, CANONICAL))
    assert entries == [
        LedgerEntry(
            "GL-0001",
            date(2025, 1, 11),
            Decimal("40.20"),
            "USD",
            "Amazon.com Services LLC invoice NMTY-T7BR-M878",
            "NMTY-T7BR-M878",
            "",
            2,
        ),
        LedgerEntry(
            "GL-0002",
            date(2025, 1, 16),
            Decimal("1412.17"),
            "USD",
            "AMAZON MKTPL*90WLZCJS7",
            "",
            "3972",
            3,
        ),
        LedgerEntry(
            "GL-0003",
            date(2025, 2, 18),
            Decimal("-5.46"),
            "USD",
            'Amazon credit memo, "goodwill"',
            "WF0J-H8LV-JY1U",
            "5514",
            4,
        ),
        LedgerEntry(
            "GL-0004",
            date(2025, 2, 19),
            Decimal("1200"),
            "JPY",
            "Two lines:\noffice chairs",
            "",
            "",
            5,
        ),
        LedgerEntry("GL-0005", date(2025, 2, 20), Decimal("0.1234"), "EUR", "Rounding", "", "", 7),
    ]
    # Exact decimals, digits as written: never a float on the way.
    assert [e.amount.as_tuple().exponent for e in entries] == [-2, -2, -2, 0, -4]
    assert all(type(e.amount) is Decimal for e in entries)


def test_entries_are_immutable(tmp_path: Path) -> None:
    entry = read(write(tmp_path, CANONICAL))[0]
    with pytest.raises(AttributeError):
        entry.amount = Decimal(0)  # type: ignore[misc]


def test_crlf_line_ends_bom_and_blank_trailing_lines_are_accepted(tmp_path: Path) -> None:
    text = canonical("A-1,2025-03-01,+9.99,usd,Cable,112-1,0042", ",,,,,,", "") + "\n"
    path = write(tmp_path, b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert read(path) == [
        LedgerEntry("A-1", date(2025, 3, 1), Decimal("9.99"), "USD", "Cable", "112-1", "0042", 2)
    ]


def test_header_only_is_an_empty_ledger(tmp_path: Path) -> None:
    assert read(write(tmp_path, HEADER + "\n")) == []


def test_description_is_verbatim_and_other_cells_are_trimmed(tmp_path: Path) -> None:
    path = write(
        tmp_path, canonical("  A-1 , 2025-03-01 , 9.99 , EUR ,  two  spaces  , R-7 , 1234 ")
    )
    [entry] = read(path)
    assert entry == LedgerEntry(
        "A-1", date(2025, 3, 1), Decimal("9.99"), "EUR", "  two  spaces  ", "R-7", "1234", 2
    )


def test_the_generators_ledger_reads_back_exactly(tmp_path: Path) -> None:
    paths = write_scenario(tmp_path, 60, 20250106)
    _, rows, _ = generate_scenario(60, 20250106)
    entries = read_ledger(paths["ledger"])
    assert len(entries) == len(rows) > 60
    for number, (entry, row) in enumerate(
        zip(entries, sorted(rows, key=lambda r: r.entry_id), strict=True)
    ):
        assert entry == LedgerEntry(
            row.entry_id,
            row.posted_date,
            row.amount,
            row.currency,
            row.description,
            row.reference,
            row.card_last4,
            number + 2,
        )
        assert entry.amount.as_tuple() == row.amount.as_tuple()
    assert any(e.amount < 0 for e in entries) and any(e.card_last4 for e in entries)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_ledgers_of_other_seeds_and_regions_read_back(tmp_path: Path, seed: int) -> None:
    from connectors.amazon_business.regions import Region

    region = [Region.NA, Region.EU, Region.FE][seed - 1]
    paths = write_scenario(tmp_path, 30, seed, region=region)
    _, rows, _ = generate_scenario(30, seed, region=region)
    assert [(e.entry_id, e.amount, e.currency) for e in read_ledger(paths["ledger"])] == [
        (r.entry_id, r.amount, r.currency) for r in sorted(rows, key=lambda r: r.entry_id)
    ]


# -- canonical errors: every kind names file, line, column and value ------------------------

GOOD = ["GL-9", "2025-01-11", "40.20", "USD", "Desk", "112-1", "3972"]


def with_cell(column: str, value: str) -> str:
    """The good row with one cell replaced (quoted when it needs to be)."""
    cells = list(GOOD)
    cells[CANONICAL_HEADER.index(column)] = value
    return ",".join(f'"{c}"' if "," in c or '"' in c else c for c in cells)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("amount", "12,3x", "is not an amount"),
        ("amount", "12,30", "is not an amount (the decimal separator is '.')"),
        ("amount", "", "the amount is empty"),
        ("amount", "   ", "the amount is empty"),
        ("amount", "NaN", "is not a finite amount"),
        ("amount", "-Infinity", "is not a finite amount"),
        ("amount", "inf", "is not a finite amount"),
        ("amount", "sNaN", "is not a finite amount"),
        ("amount", "1e3", "is not an amount"),
        ("amount", "1_000", "is not an amount"),
        ("amount", "1,000.00", "is not an amount"),
        ("amount", "12.", "is not an amount"),
        ("amount", ".5", "is not an amount"),
        ("amount", "(12.30)", "is not an amount"),
        ("amount", "12.30-", "is not an amount"),
        ("amount", "$12.30", "is not an amount"),
        ("amount", "١٢", "is not an amount"),  # Arabic-Indic digits are not ASCII digits
        ("amount", "12.34567", "has more than 4 decimal places"),
        ("amount", "1" * 19, "is too large for an amount"),
        ("posted_date", "2025-02-30", "is not a date (expected YYYY-MM-DD)"),
        ("posted_date", "06.01.2025", "is not a date (expected YYYY-MM-DD)"),
        ("posted_date", "2025-1-6", "is not a date"),
        ("posted_date", "20250106", "is not a date"),
        ("posted_date", "2025-01-06T10:00:00", "is not a date"),
        ("posted_date", "", "the date is empty"),
        ("currency", "US", "is not an ISO 4217 currency code"),
        ("currency", "U5D", "is not an ISO 4217 currency code"),
        ("currency", "€UR", "is not an ISO 4217 currency code"),
        ("currency", "", "the currency is empty"),
        ("card_last4", "123", "is not the last four digits of a card"),
        ("card_last4", "12345", "is not the last four digits of a card"),
        ("card_last4", "x972", "is not the last four digits of a card"),
        ("entry_id", "", "the entry id is empty"),
        ("entry_id", "  ", "the entry id is empty"),
    ],
)
def test_a_bad_cell_names_file_line_column_and_value(
    tmp_path: Path, column: str, value: str, reason: str
) -> None:
    good = "GL-1,2025-01-10,1.00,USD,Pens,,"
    path = write(tmp_path, canonical(good, good.replace("GL-1", "GL-2"), with_cell(column, value)))
    error = expect_error(path, line=4, column=column, value=value, reason=reason)
    assert isinstance(error, ValueError)


def test_the_message_reads_as_documented(tmp_path: Path) -> None:
    rows = [f"GL-{n},2025-01-10,1.00,USD,Pens,," for n in range(1, 16)]
    path = write(tmp_path, canonical(*rows, 'GL-16,2025-01-10,"12,3x",USD,Pens,,'))
    with pytest.raises(LedgerError) as caught:
        read_ledger(path)
    assert str(caught.value) == f"{path} line 17, column amount: '12,3x' is not an amount"


def test_duplicate_entry_id_names_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        canonical(
            "GL-1,2025-01-10,1.00,USD,Pens,,",
            "GL-2,2025-01-10,2.00,USD,Ink,,",
            " GL-1 ,2025-01-11,3.00,USD,Paper,,",
        ),
    )
    expect_error(
        path,
        line=4,
        column="entry_id",
        value=" GL-1 ",
        reason="duplicate entry id ' GL-1 ' (first on line 2)",
    )


@pytest.mark.parametrize(
    ("header", "column", "reason"),
    [
        (
            "entry_id,posted_date,amount,description,reference,card_last4",
            "currency",
            "the header has no column 'currency'; expected exactly entry_id,",
        ),
        (HEADER.replace("amount", "Amount"), "amount", "the header has no column 'amount'"),
        (HEADER + ",memo", "memo", "unexpected column 'memo'"),
        (HEADER + ",amount", "amount", "column 'amount' appears twice"),
        (
            HEADER.replace("amount,currency", "currency,amount"),
            None,
            "the columns are out of order",
        ),
        (
            HEADER.replace(",", ";"),
            "entry_id",
            "(separated by commas; read other layouts with a mapping)",
        ),
    ],
)
def test_a_bad_header_names_the_column(
    tmp_path: Path, header: str, column: str | None, reason: str
) -> None:
    path = write(tmp_path, header + "\nGL-1,2025-01-10,1.00,USD,Pens,,\n")
    expect_error(path, line=1, column=column, value=header, reason=reason, value_in_message=False)


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    expect_error(
        write(tmp_path, b""),
        line=None,
        column=None,
        value=None,
        reason="the file is empty; expected entry_id,posted_date,amount",
    )


def test_a_short_line_names_the_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, canonical("GL-1,2025-01-10,1.00,USD,Pens,"))
    expect_error(
        path,
        line=2,
        column="card_last4",
        value=None,
        reason="the line has 6 cells, so column 'card_last4' is missing",
    )


def test_a_long_line_names_the_extra_cell(tmp_path: Path) -> None:
    path = write(tmp_path, canonical("GL-1,2025-01-10,1,00,USD,Pens,,"))
    expect_error(path, line=2, column="8", value="", reason="the line has 8 cells, expected 7")


def test_an_unbalanced_quote_names_the_line_where_it_opens(tmp_path: Path) -> None:
    rows = ["GL-1,2025-01-10,1.00,USD,Pens,,", 'GL-2,2025-01-10,1.00,USD,"Pens,,']
    path = write(tmp_path, canonical(*rows, *rows[:1] * 5))
    expect_error(
        path,
        line=3,
        column=None,
        value=None,
        reason="not a well-formed CSV record (unexpected end of data, at line 8)",
    )


def test_text_after_a_closing_quote_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, canonical('GL-1,2025-01-10,1.00,USD,"Pens" and ink,,'))
    expect_error(path, line=2, column=None, value=None, reason="not a well-formed CSV record")


def test_all_or_nothing_a_bad_last_line_loses_the_whole_file(tmp_path: Path) -> None:
    rows = [f"GL-{n},2025-01-10,{n}.00,USD,Pens,," for n in range(1, 2001)]
    path = write(tmp_path, canonical(*rows, "GL-2001,2025-01-10,oops,USD,Pens,,"))
    expect_error(path, line=2002, column="amount", value="oops", reason="is not an amount")


def test_errors_pickle_whole(tmp_path: Path) -> None:
    error = LedgerError("ledger.csv", 17, "amount", "12,3x", "'12,3x' is not an amount")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.file, copy.line, copy.column, copy.value, copy.reason, str(copy)) == (
        "ledger.csv",
        17,
        "amount",
        "12,3x",
        "'12,3x' is not an amount",
        "ledger.csv line 17, column amount: '12,3x' is not an amount",
    )


# -- bytes that are not text -----------------------------------------------------------------


def test_a_latin1_byte_in_a_utf8_file_names_line_column_and_offset(tmp_path: Path) -> None:
    content = canonical("GL-1,2025-01-10,1.00,EUR,Pens,,", "GL-2,2025-01-10,2.00,EUR,MÜLLER,,")
    data = content.encode("latin-1")
    offset = data.index(b"\xdc")
    path = write(tmp_path, data)
    error = expect_error(
        path,
        line=3,
        column="description",
        value="M\\xdcLLER",
        reason=f"byte 0xdc at byte offset {offset} in 'M\\xdcLLER' is not UTF-8 text; if the "
        'file is Latin-1 or Windows-1252, say so in a mapping (encoding = "latin-1"',
    )
    assert error.reason.startswith("byte 0xdc")


def test_a_bad_byte_in_the_header_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.encode().replace(b"amount", b"amo\xffunt"))
    expect_error(path, line=1, column="3", value="amo\\xffunt", reason="byte 0xff at byte offset")


def test_a_nul_byte_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, canonical("GL-1,2025-01-10,1.00,EUR,Pe\x00ns,,").encode())
    expect_error(
        path,
        line=2,
        column="description",
        value="Pe\\x00ns",
        reason=f"NUL byte at byte offset {len(HEADER) + 1 + 27} in 'Pe\\x00ns': the file is "
        "binary or UTF-16",
    )


def test_a_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    path = write(tmp_path, canonical("GL-1,2025-01-10,1.00,EUR,Pens,,").encode("utf-16"))
    with pytest.raises(LedgerError) as caught:
        read_ledger(path)
    assert (caught.value.line, caught.value.column) == (1, "1")
    assert caught.value.value is not None and caught.value.value.startswith("\\xff\\xfee\\x00")
    assert str(caught.value) == (
        f"{path} line 1, column 1: the file starts with a UTF-16 byte order mark: it is UTF-16 "
        "text; save it as UTF-8"
    )


def test_a_truncated_character_at_the_end_of_the_file_is_an_error(tmp_path: Path) -> None:
    data = canonical("GL-1,2025-01-10,1.00,EUR,Caf\u00e9,,").encode()[:-4]  # cut inside é
    path = write(tmp_path, data)
    expect_error(path, line=2, column="description", value="Caf\\xc3", reason="byte 0xc3")


def test_a_latin1_mapping_reads_the_same_bytes(tmp_path: Path) -> None:
    content = canonical("GL-1,2025-01-10,1.00,EUR,MÜLLER Bürobedarf,,")
    path = write(tmp_path, content.encode("latin-1"))
    mapping = Mapping(
        columns=Columns(
            entry_id="entry_id",
            posted_date="posted_date",
            amount="amount",
            currency="currency",
            description=("description",),
        ),
        encoding="latin-1",
    )
    assert read(path, mapping)[0].description == "MÜLLER Bürobedarf"


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_ledger(tmp_path / "nowhere.csv")


# -- hypothesis: round trips, bad bytes and mutated cells ---------------------------------------
#
# The properties every layout keeps: a valid ledger reads back exactly (Decimal amounts equal,
# digits as written), and any damage to it (a byte that is not text, a cell that is not what its
# column needs, a broken record) is a LedgerError at the damaged place: never another exception
# and never a partial list.

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_/.#", min_size=1, max_size=12)
_amounts = st.builds(
    lambda units, places: Decimal(units).scaleb(-places),
    st.integers(-(10**16), 10**16),
    st.integers(0, MAX_DECIMAL_PLACES),
)
_any_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    max_size=30,
)
_references = st.text(alphabet=string.ascii_uppercase + string.digits + "-", max_size=19)
_last4 = st.one_of(st.just(""), st.from_regex(r"[0-9]{4}", fullmatch=True))
_currencies = st.one_of(
    st.sampled_from(["USD", "EUR", "GBP", "JPY", "CAD", "INR"]),
    st.text(alphabet=string.ascii_uppercase, min_size=3, max_size=3),
)


@st.composite
def ledgers(draw: st.DrawFn, descriptions: st.SearchStrategy[str] = _any_text) -> list[LedgerEntry]:
    """Valid entries with unique ids (``line`` is filled in when the file is written)."""
    ids = draw(st.lists(_ids, max_size=8, unique=True))
    return [
        LedgerEntry(
            entry_id,
            draw(st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31))),
            draw(_amounts),
            draw(_currencies),
            draw(descriptions),
            draw(_references),
            draw(_last4),
            0,
        )
        for entry_id in ids
    ]


def canonical_bytes(
    entries: list[LedgerEntry], *, terminator: str = "\n", bom: bool = False
) -> tuple[bytes, list[LedgerEntry]]:
    """The canonical file for ``entries`` and the entries with the lines they start on."""
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerow(CANONICAL_HEADER)
    placed: list[LedgerEntry] = []
    line = 2
    for entry in entries:
        cells = [
            entry.entry_id,
            entry.posted_date.isoformat(),
            format(entry.amount, "f"),
            entry.currency,
            entry.description,
            entry.reference,
            entry.card_last4,
        ]
        row = csv_line(cells, terminator=terminator)
        out.write(row)
        placed.append(dataclasses.replace(entry, line=line))
        line += row.count("\n")
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8"), placed


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file that each hypothesis example overwrites."""
    return tmp_path_factory.mktemp("ledger") / "ledger.csv"


@PROPERTY
@given(ledgers(), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_any_valid_canonical_ledger_round_trips_exactly(
    scratch: Path, entries: list[LedgerEntry], terminator: str, bom: bool
) -> None:
    data, expected = canonical_bytes(entries, terminator=terminator, bom=bom)
    scratch.write_bytes(data)
    got = read_ledger(scratch)
    assert got == expected
    assert [e.amount.as_tuple() for e in got] == [e.amount.as_tuple() for e in expected]


_BAD_BYTES = st.sampled_from(
    [b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80", b"\x00"]
)


@PROPERTY
@given(ledgers(), _BAD_BYTES, st.data())
def test_any_byte_that_is_not_utf8_text_is_an_error_at_its_line(
    scratch: Path, entries: list[LedgerEntry], bad: bytes, data: st.DataObject
) -> None:
    good, _ = canonical_bytes(entries)
    at = data.draw(st.integers(0, len(good)), label="insert at")
    damaged = good[:at] + bad + good[at:]
    scratch.write_bytes(damaged)
    with pytest.raises(LedgerError) as caught:
        read_ledger(scratch)
    error = caught.value
    assert error.line == damaged[:at].count(b"\n") + 1, str(error)
    offset = int(re.search(r"byte offset (\d+)", error.reason).group(1))  # type: ignore[union-attr]
    # Within the character the byte was put into (it may complete it, orphaning the next).
    assert abs(offset - at) <= 3, str(error)
    assert str(error).startswith(f"{scratch} line {error.line}")


@PROPERTY
@given(st.binary(max_size=400))
def test_any_bytes_give_entries_or_a_ledger_error_never_another_exception(
    scratch: Path, data: bytes
) -> None:
    scratch.write_bytes(data)
    try:
        entries = read_ledger(scratch)
    except LedgerError as error:
        assert error.file == str(scratch) and error.reason
    else:
        assert isinstance(entries, list)


@PROPERTY
@given(ledgers(), st.binary(max_size=200))
def test_a_valid_file_with_any_bytes_appended_never_raises_anything_else(
    scratch: Path, entries: list[LedgerEntry], tail: bytes
) -> None:
    good, _ = canonical_bytes(entries)
    scratch.write_bytes(good + tail)
    try:
        read_ledger(scratch)
    except LedgerError as error:
        assert error.line is None or error.line >= 1


# What a cell of each column must never be read as: invalid text, drawn without reusing the
# reader's own patterns (an independent statement of the canonical grammar).
_DIGITS = set(string.digits)


def _valid_amount(text: str) -> bool:
    match = re.fullmatch(r"([+-]?)([0-9]+)(?:\.([0-9]{1,4}))?", text.strip(), re.ASCII)
    return match is not None and len(match.group(2).lstrip("0")) <= 18


def _valid_date(text: str) -> bool:
    body = text.strip()
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", body, re.ASCII):
        return False
    try:
        date(int(body[:4]), int(body[5:7]), int(body[8:]))
    except ValueError:
        return False
    return True


_BAD_CELLS: dict[str, st.SearchStrategy[str]] = {
    "entry_id": st.sampled_from(["", " ", "\t", "  \n "]),
    "posted_date": st.one_of(
        st.sampled_from(["", "2025-02-30", "2025-13-01", "06.01.2025", "2025-1-6", "20250106"]),
        _any_text.filter(lambda t: not _valid_date(t)),
    ),
    "amount": st.one_of(
        st.sampled_from(["", "NaN", "-inf", "1e3", "12,30", "1_000", "12.34567", "1" * 19, "--1"]),
        _any_text.filter(lambda t: not _valid_amount(t)),
    ),
    "currency": _any_text.filter(
        lambda t: not (len(t.strip()) == 3 and t.strip().isascii() and t.strip().isalpha())
    ),
    "card_last4": _any_text.filter(
        lambda t: bool(t.strip()) and not (len(t.strip()) == 4 and set(t.strip()) <= _DIGITS)
    ),
}


@PROPERTY
@given(
    ledgers(descriptions=st.text(alphabet=string.ascii_letters + ' ,"\n', max_size=20)).filter(
        bool
    ),
    st.sampled_from(sorted(_BAD_CELLS)),
    st.data(),
)
def test_any_mutated_cell_is_an_error_naming_line_column_and_value(
    scratch: Path, entries: list[LedgerEntry], column: str, data: st.DataObject
) -> None:
    _, placed = canonical_bytes(entries)
    index = data.draw(st.integers(0, len(entries) - 1), label="row")
    bad = data.draw(_BAD_CELLS[column], label="bad value")
    rows = [
        [
            e.entry_id,
            e.posted_date.isoformat(),
            format(e.amount, "f"),
            e.currency,
            e.description,
            e.reference,
            e.card_last4,
        ]
        for e in entries
    ]
    rows[index][CANONICAL_HEADER.index(column)] = bad
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(CANONICAL_HEADER)
    writer.writerows(rows)
    scratch.write_bytes(out.getvalue().encode("utf-8"))
    # The mutated row starts where it did, plus the line breaks the new value brings in.
    line = placed[index].line
    with pytest.raises(LedgerError) as caught:
        read_ledger(scratch)
    error = caught.value
    assert (error.line, error.column, error.value) == (line, column, bad), str(error)
    assert str(error).startswith(f"{scratch} line {line}, column {column}: ")


@PROPERTY
@given(
    ledgers(descriptions=st.text(alphabet=string.ascii_letters + " ", max_size=20)).filter(bool),
    st.sampled_from(["drop a delimiter", "add a cell", "open a quote"]),
    st.data(),
)
def test_any_broken_record_is_an_error_at_its_line(
    scratch: Path, entries: list[LedgerEntry], damage: str, data: st.DataObject
) -> None:
    good, placed = canonical_bytes(entries)
    lines = good.decode().split("\n")
    index = data.draw(st.integers(0, len(entries) - 1), label="row")
    row = lines[index + 1]
    if damage == "drop a delimiter":
        cut = data.draw(st.sampled_from([i for i, ch in enumerate(row) if ch == ","]))
        row = row[:cut] + row[cut + 1 :]
    elif damage == "add a cell":
        row += ",extra"
    else:
        starts = [0] + [i + 1 for i, ch in enumerate(row) if ch == ","]
        at = data.draw(st.sampled_from(starts))
        row = row[:at] + '"' + row[at:]
    lines[index + 1] = row
    scratch.write_bytes("\n".join(lines).encode())
    with pytest.raises(LedgerError) as caught:
        read_ledger(scratch)
    assert caught.value.line == placed[index].line, str(caught.value)
