"""Helpers shared by the ledger tests: write a file, read it, and check the error it gives."""

from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from connectors.ledger import LedgerEntry, LedgerError, Mapping, read_ledger

#: The canonical header line.
HEADER = "entry_id,posted_date,amount,currency,description,reference,card_last4"


def write(directory: Path, content: str | bytes, name: str = "ledger.csv") -> Path:
    """Write ``content`` (dedented text as UTF-8, or bytes as they are) to ``directory/name``."""
    path = directory / name
    if isinstance(content, str):
        content = textwrap.dedent(content).encode("utf-8")
    path.write_bytes(content)
    return path


def canonical(*rows: str) -> str:
    """A canonical ledger file: the header, then ``rows`` (one line each)."""
    return "\n".join((HEADER, *rows)) + "\n"


def csv_line(cells: Sequence[str], *, delimiter: str = ",", terminator: str = "\n") -> str:
    """One CSV record as :mod:`csv` writes it, every cell quoted when one holds a lone CR.

    (Python's writer leaves a ``"\\r"`` unquoted when the line terminator is ``"\\n"``, which
    no reader can read back.)
    """
    out = io.StringIO()
    if any("\r" in cell for cell in cells):
        writer = csv.writer(
            out, delimiter=delimiter, lineterminator=terminator, quoting=csv.QUOTE_ALL
        )
    else:
        writer = csv.writer(out, delimiter=delimiter, lineterminator=terminator)
    writer.writerow(cells)
    return out.getvalue()


def read(path: Path, mapping: Mapping | None = None) -> list[LedgerEntry]:
    return read_ledger(path, mapping)


def expect_error(
    path: Path,
    mapping: Mapping | None = None,
    *,
    line: int | None,
    column: str | None,
    value: str | None,
    reason: str = "",
    value_in_message: bool = True,
) -> LedgerError:
    """Read ``path``, expect a LedgerError with exactly this location, and return it.

    The message must name the file, the line, the column and (for cell errors) the value as
    ``repr(value)``, and contain ``reason``.
    """
    with pytest.raises(LedgerError) as caught:
        read_ledger(path, mapping)
    error = caught.value
    assert (error.file, error.line, error.column, error.value) == (
        str(path),
        line,
        column,
        value,
    ), str(error)
    message = str(error)
    where = str(path)
    if line is not None:
        where += f" line {line}"
    if column is not None:
        where += f", column {column}" if line is not None else f" column {column}"
    assert message.startswith(where + ": "), message
    if value and value_in_message:
        assert repr(value) in message or f"'{value}'" in message, message
    assert reason in message, message
    return error
