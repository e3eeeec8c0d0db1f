"""Files made from the store: the transactions CSV, and the list of stored documents.

A CSV is written to a temporary file beside its destination and renamed over it once complete,
so a reader never sees half a file and a failed export leaves the previous file as it was.
Amounts are exact decimal strings (never floats, never exponent notation). A text cell that a
spreadsheet would run as a formula (one starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) is neutralised with a leading single quote; the amount column holds numbers only
and is left as it is, so a refund stays ``-12.50``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from worker.formats.atomic import atomic_text
from worker.formats.cells import (
    FORMULA_PREFIXES,
    THREE_DECIMAL_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    decimal_text,
    minor_units,
    neutralise,
)
from worker.store.tables import DocumentRow, TransactionLineItemRow, TransactionRow

# The cell rules (formula guard, exact amounts) live in worker.formats.cells and the atomic
# write in worker.formats.atomic; the names are re-exported for callers importing them here.
__all__ = [
    "FORMULA_PREFIXES",
    "ORDER_ID_SEPARATOR",
    "THREE_DECIMAL_CURRENCIES",
    "TRANSACTION_COLUMNS",
    "ZERO_DECIMAL_CURRENCIES",
    "DocumentListing",
    "decimal_text",
    "export_transactions",
    "iso_utc",
    "list_documents",
    "minor_units",
    "neutralise",
    "transaction_count",
    "transaction_rows",
    "write_csv_atomically",
]

#: The header of ``abrecon export transactions``.
TRANSACTION_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "transaction_date",
    "transaction_type",
    "amount",
    "currency",
    "payment_instrument_type",
    "payment_instrument_last4",
    "buyer_name",
    "buyer_email",
    "order_ids",
    "invoice_number",
)
#: Separator of the order ids in the ``order_ids`` cell.
ORDER_ID_SEPARATOR = ";"
#: Transactions read from the store per batch.
BATCH = 500


def iso_utc(moment: datetime | None) -> str:
    """ISO 8601 in UTC with a ``Z`` (``2025-01-31T12:00:00Z``, ``...:00.250Z``), or empty."""
    if moment is None:
        return ""
    utc = moment.astimezone(UTC)
    if not utc.microsecond:
        spec = "seconds"
    elif not utc.microsecond % 1000:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


def transaction_rows(engine: Engine, party: str) -> Iterator[list[str]]:
    """The CSV rows (header excluded) of the party's transactions, by date (undated last).

    The transactions are streamed in batches (a server-side cursor on PostgreSQL), and the order
    ids of each batch are read in one query, so memory stays flat however many there are.
    """
    query = (
        select(TransactionRow)
        .where(TransactionRow.party == party)
        .order_by(
            sa.nulls_last(col(TransactionRow.transaction_date).asc()),
            col(TransactionRow.transaction_id),
        )
        .execution_options(yield_per=BATCH)
    )
    with Session(engine) as session, Session(engine) as lookups:
        for batch in session.execute(query).scalars().partitions():
            orders = _order_ids(lookups, party, [t.transaction_id for t in batch])
            for txn in batch:
                yield _csv_row(txn, orders.get(txn.transaction_id, []))


def _order_ids(
    session: Session, party: str, transaction_ids: Sequence[str]
) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    line = TransactionLineItemRow
    for transaction_id, order_id in session.exec(
        select(line.transaction_id, line.order_id)
        .where(line.party == party, col(line.transaction_id).in_(transaction_ids))
        .order_by(col(line.transaction_id), col(line.position))
    ).all():
        ids = found.setdefault(transaction_id, [])
        if order_id and order_id not in ids:
            ids.append(order_id)
    return found


def _csv_row(txn: TransactionRow, order_ids: list[str]) -> list[str]:
    text = [
        txn.transaction_id,
        iso_utc(txn.transaction_date),
        txn.transaction_type,
    ]
    rest = [
        txn.currency,
        txn.payment_instrument_type,
        txn.payment_instrument_last4,
        txn.buyer_name,
        txn.buyer_email,
        ORDER_ID_SEPARATOR.join(order_ids),
        txn.invoice_number,
    ]
    return [
        *(neutralise(cell) for cell in text),
        decimal_text(txn.amount, txn.currency),
        *(neutralise(cell) for cell in rest),
    ]


def write_csv_atomically(out: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    """Write ``header`` and ``rows`` to ``out`` via a temporary file and a rename; row count.

    A reader never sees a half-written file: it finds the old file or the new one.
    """
    count = 0
    with atomic_text(out) as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def export_transactions(engine: Engine, party: str, out: Path) -> int:
    """Write the party's transactions to ``out`` as CSV, atomically; returns how many rows."""
    return write_csv_atomically(out, TRANSACTION_COLUMNS, transaction_rows(engine, party))


@dataclass(frozen=True)
class DocumentListing:
    """A stored document (or one abrecon wants), for ``abrecon documents list``."""

    invoice_number: str
    document_type: str
    state: str
    pages: int | None
    size: int | None
    path: str
    reason: str
    attempts: int


def list_documents(engine: Engine, party: str, state: str | None = None) -> list[DocumentListing]:
    """The party's documents by invoice number (of one state, when given)."""
    with Session(engine) as session:
        query = (
            select(DocumentRow)
            .where(DocumentRow.party == party)
            .order_by(col(DocumentRow.invoice_number), col(DocumentRow.document_type))
        )
        if state:
            query = query.where(DocumentRow.state == state)
        return [
            DocumentListing(
                invoice_number=row.invoice_number,
                document_type=row.document_type,
                state=row.state,
                pages=row.pdf_pages,
                size=row.pdf_bytes,
                path=row.pdf_path,
                reason=row.last_error,
                attempts=row.attempts,
            )
            for row in session.exec(query).all()
        ]


def transaction_count(engine: Engine, party: str) -> int:
    """How many transactions the party has in the store."""
    with Session(engine) as session:
        return int(
            session.exec(
                select(sa.func.count())
                .select_from(TransactionRow)
                .where(TransactionRow.party == party)
            ).one()
        )
