"""Ledger import: a ledger file into the store, all or nothing, idempotent, with history.

The reader (:mod:`connectors.ledger.reader`) parses the whole file first and refuses it whole on
the first bad row, so nothing of a bad file is ever stored. The rows are then written in one
transaction keyed by ``entry_id``: a new id is inserted, an unchanged row is left alone (so
importing the same file again is a no-op), and a changed row is updated with its previous
version kept in ``ledger_entry_history``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from connectors.ledger.mapping import load_mapping
from connectors.ledger.model import LedgerEntry
from connectors.ledger.reader import read_ledger
from worker.services.context import Context
from worker.store.engine import session_scope
from worker.store.tables import LedgerEntryHistoryRow, LedgerEntryRow, LedgerImportRow

CHUNK = 500


@dataclass(frozen=True)
class ImportSummary:
    """What an import found and did."""

    file: str
    rows: int
    inserted: int
    updated: int
    unchanged: int


def content_hash(entry: LedgerEntry) -> str:
    """A fingerprint of what an entry says (not where in the file it stood)."""
    text = "\x1f".join(
        (
            entry.entry_id,
            entry.posted_date.isoformat(),
            format(entry.amount, "f"),
            entry.currency,
            entry.description,
            entry.reference,
            entry.card_last4,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _snapshot(row: LedgerEntryRow) -> dict[str, Any]:
    return {
        "posted_date": row.posted_date.isoformat(),
        "amount": format(row.amount, "f"),
        "currency": row.currency,
        "description": row.description,
        "reference": row.reference,
        "card_last4": row.card_last4,
    }


def import_ledger(ctx: Context, path: Path, mapping_path: Path | None = None) -> ImportSummary:
    """Import ``path`` (through ``mapping_path`` for other layouts); see the module docstring."""
    mapping = load_mapping(mapping_path) if mapping_path else None
    entries = read_ledger(path, mapping)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    now = ctx.clock()
    inserted = updated = unchanged = 0
    with session_scope(ctx.engine) as session:
        record = LedgerImportRow(
            party=ctx.party, file_name=str(path), sha256=digest, rows=len(entries), imported_at=now
        )
        session.add(record)
        session.flush()
        existing = _existing(session, ctx.party, [e.entry_id for e in entries])
        for entry in entries:
            fingerprint = content_hash(entry)
            row = existing.get(entry.entry_id)
            if row is not None and row.content_hash == fingerprint:
                unchanged += 1
                continue
            if row is None:
                row = LedgerEntryRow(
                    party=ctx.party,
                    entry_id=entry.entry_id,
                    posted_date=entry.posted_date,
                    amount=entry.amount,
                    currency=entry.currency,
                    content_hash=fingerprint,
                )
                inserted += 1
            else:
                session.add(
                    LedgerEntryHistoryRow(
                        party=ctx.party,
                        entry_id=entry.entry_id,
                        import_id=record.id,
                        previous=_snapshot(row),
                        changed_at=now,
                    )
                )
                updated += 1
            row.posted_date = entry.posted_date
            row.amount = entry.amount
            row.currency = entry.currency
            row.description = entry.description
            row.reference = entry.reference
            row.card_last4 = entry.card_last4
            row.content_hash = fingerprint
            row.import_id = record.id
            row.source_line = entry.line
            row.updated_at = now
            session.add(row)
        record.inserted, record.updated, record.unchanged = inserted, updated, unchanged
        session.add(record)
    return ImportSummary(str(path), len(entries), inserted, updated, unchanged)


def _existing(session: Session, party: str, ids: list[str]) -> dict[str, LedgerEntryRow]:
    found: dict[str, LedgerEntryRow] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for row in session.exec(
            select(LedgerEntryRow).where(
                LedgerEntryRow.party == party, col(LedgerEntryRow.entry_id).in_(chunk)
            )
        ).all():
            found[row.entry_id] = row
    return found
