"""Reimbursement records in the store: computed from the journal, exported, marked paid.

The personal-card purchases of the journal (see :mod:`worker.accounting.reimbursements`) are
grouped per employee, currency and period, and each group is kept as a
:class:`~worker.store.tables.ReimbursementRow` whose ``status`` moves from open to exported
(when a reimbursement export writes it) to paid (``abrecon reimbursements paid ID``). The
totals are recomputed from the transactions every time, so a refund that arrives after an
export lowers what is owed; a paid record keeps the total it was paid at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from worker.accounting.reimbursements import (
    Reimbursement,
    ReimbursementItem,
    group_reimbursements,
)
from worker.accounting.rules import PostingRules
from worker.formats import ExportResult
from worker.formats.reimbursements import REIMBURSEMENT_FORMATS, write_reimbursements
from worker.services.journal import (
    Problems,
    finish_batch,
    posted_entries,
    posting_rules,
    record_exported,
    start_batch,
)
from worker.settings import Settings
from worker.store.tables import ReimbursementRow, TransactionRow
from worker.store.upsert import upsert

__all__ = [
    "ReimbursementExport",
    "compute_reimbursements",
    "export_reimbursements",
    "list_reimbursements",
    "mark_paid",
]


def compute_reimbursements(
    session: Session, settings: Settings, rules: PostingRules, problems: Problems | None = None
) -> list[Reimbursement]:
    """The party's reimbursements, from every personal-card transaction in the store."""
    problems = problems or Problems()
    cards = settings.company_cards
    card_paid = (col(TransactionRow.payment_instrument_last4) != "") & (
        col(TransactionRow.payment_instrument_last4).not_in(list(cards))
        if cards
        else col(TransactionRow.payment_instrument_last4) != ""
    )
    items = []
    for posted in posted_entries(session, settings.party, rules, cards, problems, where=card_paid):
        entry, payment = posted.entry, posted.payment
        if not entry.employee:
            continue
        owed = -sum((line.signed for line in entry.lines if line.role == "payment"), Decimal(0))
        items.append(
            ReimbursementItem(
                transaction_id=entry.transaction_id,
                date=entry.date,
                amount=owed,
                currency=entry.currency,
                employee_id=payment.employee_id,
                employee_name=payment.employee_name,
                employee_email=payment.employee_email,
                order_ids=entry.order_ids,
                invoice_numbers=entry.invoice_numbers,
                pdf_paths=entry.pdf_paths,
                entry_id=entry.entry_id,
                entry=entry,
            )
        )
    return group_reimbursements(items, settings.reimbursement_period)


def _store(session: Session, party: str, records: list[Reimbursement], now: datetime) -> None:
    upsert(
        session,
        ReimbursementRow,
        [
            {
                "party": party,
                "reimbursement_id": r.reimbursement_id,
                "employee_id": r.employee_id,
                "employee_name": r.employee_name,
                "employee_email": r.employee_email,
                "period_start": r.period_start,
                "period_end": r.period_end,
                "currency": r.currency,
                "total": r.total,
                "transactions": len(r.items),
                "updated_at": now,
            }
            for r in records
        ],
        key=("party", "reimbursement_id"),
    )


def list_reimbursements(engine: Engine, party: str) -> list[ReimbursementRow]:
    """The stored reimbursements, by period and employee."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(ReimbursementRow)
                .where(ReimbursementRow.party == party)
                .order_by(
                    col(ReimbursementRow.period_start),
                    col(ReimbursementRow.employee_name),
                    col(ReimbursementRow.reimbursement_id),
                )
            )
        )


@dataclass(frozen=True, slots=True)
class ReimbursementExport:
    """What a reimbursement export wrote."""

    result: ExportResult
    records: list[Reimbursement]
    statuses: dict[str, str]
    problems: Problems


def export_reimbursements(
    engine: Engine,
    settings: Settings,
    fmt: str,
    out: Path,
    *,
    clock: datetime | None = None,
) -> ReimbursementExport:
    """Write every reimbursement to ``out`` (csv or json); open ones become exported."""
    if fmt not in REIMBURSEMENT_FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(REIMBURSEMENT_FORMATS)})")
    now = clock or datetime.now(UTC)
    rules = posting_rules(settings)
    problems = Problems()
    with Session(engine) as session:
        records = compute_reimbursements(session, settings, rules, problems)
        _store(session, settings.party, records, now)
        rows = {
            row.reimbursement_id: row
            for row in session.exec(
                select(ReimbursementRow).where(ReimbursementRow.party == settings.party)
            )
        }
        written = {r.reimbursement_id for r in records}
        for row in rows.values():
            if row.status == "open" and row.reimbursement_id in written:
                row.status = "exported"
                row.exported_at = now
                session.add(row)
        statuses = {rid: row.status for rid, row in rows.items()}
        batch = start_batch(
            session,
            settings.party,
            "reimbursements",
            fmt,
            out,
            since_last=False,
            window=(None, None),
            clock=now,
        )
        try:
            result = write_reimbursements(fmt, records, statuses, out)
        except BaseException:
            session.rollback()
            raise
        record_exported(session, batch, "reimbursements", [r.reimbursement_id for r in records])
        finish_batch(session, batch, result)
        session.commit()
    return ReimbursementExport(result, records, statuses, problems)


def mark_paid(
    engine: Engine, party: str, reimbursement_id: str, clock: datetime
) -> ReimbursementRow:
    """Mark a reimbursement paid (at its current total); LookupError when there is none."""
    with Session(engine, expire_on_commit=False) as session:
        row = session.exec(
            select(ReimbursementRow).where(
                ReimbursementRow.party == party,
                ReimbursementRow.reimbursement_id == reimbursement_id,
            )
        ).first()
        if row is None:
            raise LookupError(
                f"no reimbursement {reimbursement_id!r} (abrecon reimbursements list shows them)"
            )
        row.status = "paid"
        row.paid_at = clock
        row.paid_total = row.total
        session.add(row)
        session.commit()
        return row
