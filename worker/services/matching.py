"""Matching: stored transactions and ledger lines through the pure matcher, and back.

The store is read into the reconcile core's records, the person's decisions (confirmed and manual
matches, rejected pairs and matches) go in with them, and the result is written back: a match is
keyed by a hash of its members, so matching the same data again finds the same rows (idempotent);
proposals that no longer hold are removed; confirmed, manual and rejected matches are never
touched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlmodel import Session, col, delete, select

from worker.reconcile.matching import match
from worker.reconcile.records import (
    Decisions,
    Entry,
    ManualMatch,
    MatchConfig,
    MatchResult,
    Txn,
    TxnKind,
    match_id,
)
from worker.services.context import Context
from worker.services.jobs import StepOutcome, record_error, update_progress
from worker.store.engine import session_scope
from worker.store.tables import (
    LedgerEntryRow,
    MatchLinkRow,
    MatchRow,
    TransactionLineItemRow,
    TransactionRow,
)
from worker.store.upsert import upsert

KEPT = ("confirmed", "manual")
PROPOSED = ("auto", "review")


@dataclass
class MatchRun:
    """The matcher's result and what writing it changed."""

    result: MatchResult
    written: int = 0
    removed: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


def load_transactions(session: Session, party: str) -> list[Txn]:
    """Every stored transaction as the matcher's record, with the references a ledger may quote."""
    references: dict[str, set[str]] = defaultdict(set)
    for txn_id, order_id, po in session.exec(
        select(
            TransactionLineItemRow.transaction_id,
            TransactionLineItemRow.order_id,
            TransactionLineItemRow.purchase_order_number,
        ).where(TransactionLineItemRow.party == party)
    ).all():
        references[txn_id].update(x for x in (order_id, po) if x)
    txns = []
    for row in session.exec(
        select(TransactionRow)
        .where(TransactionRow.party == party)
        .order_by(col(TransactionRow.transaction_id))
    ).all():
        if row.amount is None or row.transaction_date is None:
            continue
        refs = references[row.transaction_id] | {
            x for x in (row.invoice_number, row.charge_identifier) if x
        }
        kind = row.transaction_type if row.transaction_type in TxnKind.__members__ else "CHARGE"
        txns.append(
            Txn(
                transaction_id=row.transaction_id,
                date=row.transaction_date.date(),
                amount=row.amount,
                currency=row.currency,
                card_last4=row.payment_instrument_last4,
                references=frozenset(refs),
                kind=TxnKind(kind),
            )
        )
    return txns


def load_entries(session: Session, party: str) -> list[Entry]:
    """Every stored ledger line as the matcher's record."""
    return [
        Entry(
            entry_id=row.entry_id,
            date=row.posted_date,
            amount=row.amount,
            currency=row.currency,
            card_last4=row.card_last4,
            text=f"{row.reference} {row.description}".upper(),
        )
        for row in session.exec(
            select(LedgerEntryRow)
            .where(LedgerEntryRow.party == party)
            .order_by(col(LedgerEntryRow.entry_id))
        ).all()
    ]


def load_decisions(session: Session, party: str) -> Decisions:
    """What people decided: kept matches, rejected matches and their pairs."""
    links: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for match_row_id, txn_id, entry_id in session.exec(
        select(
            MatchLinkRow.match_id, MatchLinkRow.transaction_id, MatchLinkRow.ledger_entry_id
        ).where(MatchLinkRow.party == party)
    ).all():
        links[match_row_id].append((txn_id, entry_id))
    kept: list[ManualMatch] = []
    rejected_pairs: set[tuple[str, str]] = set()
    rejected_matches: set[str] = set()
    for row in session.exec(
        select(MatchRow)
        .where(MatchRow.party == party, col(MatchRow.status).in_((*KEPT, "rejected")))
        .order_by(col(MatchRow.id))
    ).all():
        assert row.id is not None
        pairs = links[row.id]
        if row.status == "rejected":
            rejected_matches.add(row.match_key)
            rejected_pairs.update(pairs)
            continue
        kept.append(
            ManualMatch(
                transaction_ids=tuple(sorted({t for t, _ in pairs})),
                entry_ids=tuple(sorted({e for _, e in pairs})),
                source="manual" if row.status == "manual" else "confirmed",
            )
        )
    return Decisions(
        rejected_pairs=frozenset(rejected_pairs),
        rejected_matches=frozenset(rejected_matches),
        kept=tuple(kept),
    )


def run_matching(
    ctx: Context, config: MatchConfig | None = None, *, dry_run: bool = False
) -> MatchRun:
    """Match everything stored for the party; write the result unless ``dry_run``."""
    config = config or MatchConfig()
    with session_scope(ctx.engine) as session:
        txns = load_transactions(session, ctx.party)
        entries = load_entries(session, ctx.party)
        decisions = load_decisions(session, ctx.party)
        result = match(txns, entries, config, decisions)
        run = MatchRun(result=result)
        for m in result.matches:
            run.by_rule[m.rule] = run.by_rule.get(m.rule, 0) + 1
        if dry_run:
            session.rollback()
            return run
        run.written, run.removed = _write(session, ctx, result, decisions)
    return run


def _write(
    session: Session, ctx: Context, result: MatchResult, decisions: Decisions
) -> tuple[int, int]:
    now = ctx.clock()
    kept_keys = {match_id(k.transaction_ids, k.entry_ids) for k in decisions.kept}
    currency = {t.transaction_id: t.currency for t in load_transactions(session, ctx.party)}
    proposals = [m for m in result.matches if m.match_id not in kept_keys]
    proposed_keys = {m.match_id for m in proposals}
    existing = {
        row.match_key: row
        for row in session.exec(select(MatchRow).where(MatchRow.party == ctx.party)).all()
    }
    stale = [
        row for key, row in existing.items() if row.status in PROPOSED and key not in proposed_keys
    ]
    for old in stale:
        session.exec(delete(MatchLinkRow).where(col(MatchLinkRow.match_id) == old.id))
        session.delete(old)
    session.flush()
    written = 0
    for m in proposals:
        row = existing.get(m.match_id)
        if row is not None and row.status not in PROPOSED:
            continue  # a person's decision stands
        if row is None:
            row = MatchRow(party=ctx.party, match_key=m.match_id, rule=m.rule, created_at=now)
        row.rule = m.rule
        row.score = m.score
        row.status = m.zone.value
        row.explanation = m.explanation[:2000]
        row.difference = m.difference
        row.currency = currency.get(m.transaction_ids[0], "") if m.transaction_ids else ""
        session.add(row)
        session.flush()
        assert row.id is not None
        upsert(
            session,
            MatchLinkRow,
            [
                {"match_id": row.id, "party": ctx.party, "transaction_id": t, "ledger_entry_id": e}
                for t in m.transaction_ids
                for e in m.entry_ids
            ],
            key=("match_id", "transaction_id", "ledger_entry_id"),
            update=(),
        )
        written += 1
    return written, len(stale)


def decide(ctx: Context, match_key_or_id: str, status: str) -> MatchRow:
    """Confirm or reject a proposed match (by its id or key)."""
    if status not in ("confirmed", "rejected"):
        raise ValueError(f"a decision is confirmed or rejected, not {status!r}")
    with session_scope(ctx.engine) as session:
        row = _find(session, ctx.party, match_key_or_id)
        row.status = status
        row.decided_at = ctx.clock()
        session.add(row)
        return row


def link(ctx: Context, transaction_id: str, entry_ids: list[str]) -> MatchRow:
    """A person's own match of one transaction with one or more ledger lines."""
    with session_scope(ctx.engine) as session:
        txn = session.exec(
            select(TransactionRow).where(
                TransactionRow.party == ctx.party, TransactionRow.transaction_id == transaction_id
            )
        ).first()
        if txn is None:
            raise LookupError(f"no stored transaction {transaction_id!r}")
        total = Decimal(0)
        for entry_id in entry_ids:
            entry = session.exec(
                select(LedgerEntryRow).where(
                    LedgerEntryRow.party == ctx.party, LedgerEntryRow.entry_id == entry_id
                )
            ).first()
            if entry is None:
                raise LookupError(f"no ledger entry {entry_id!r}")
            total += entry.amount
        busy = session.exec(
            select(MatchLinkRow.transaction_id, MatchLinkRow.ledger_entry_id)
            .join(MatchRow, col(MatchRow.id) == col(MatchLinkRow.match_id))
            .where(
                MatchLinkRow.party == ctx.party,
                col(MatchRow.status).in_(KEPT),
                (col(MatchLinkRow.transaction_id) == transaction_id)
                | col(MatchLinkRow.ledger_entry_id).in_(entry_ids),
            )
        ).first()
        if busy is not None:
            raise ValueError(f"{busy[0]} / {busy[1]} already belong to a confirmed or manual match")
        key = match_id([transaction_id], entry_ids)
        row = session.exec(
            select(MatchRow).where(MatchRow.party == ctx.party, MatchRow.match_key == key)
        ).first()
        if row is None:
            row = MatchRow(party=ctx.party, match_key=key, rule="manual", created_at=ctx.clock())
        row.rule = "manual"
        row.score = 1.0
        row.status = "manual"
        row.explanation = "linked by hand"
        row.difference = total - (txn.amount or Decimal(0))
        row.currency = txn.currency
        row.decided_at = ctx.clock()
        session.add(row)
        session.flush()
        assert row.id is not None
        upsert(
            session,
            MatchLinkRow,
            [
                {
                    "match_id": row.id,
                    "party": ctx.party,
                    "transaction_id": transaction_id,
                    "ledger_entry_id": e,
                }
                for e in entry_ids
            ],
            key=("match_id", "transaction_id", "ledger_entry_id"),
            update=(),
        )
        return row


def _find(session: Session, party: str, match_key_or_id: str) -> MatchRow:
    query = select(MatchRow).where(MatchRow.party == party)
    if match_key_or_id.isdigit():
        row = session.exec(query.where(MatchRow.id == int(match_key_or_id))).first()
    else:
        row = session.exec(query.where(MatchRow.match_key == match_key_or_id)).first()
    if row is None:
        raise LookupError(f"no match {match_key_or_id!r}")
    return row


MATCH_COLUMNS = (
    "match_id",
    "transaction_id",
    "ledger_entry_id",
    "rule",
    "score",
    "status",
    "amount_difference",
)
EXCEPTION_COLUMNS = ("side", "id", "date", "amount", "currency", "reason", "nearest")


def match_link_rows(ctx: Context) -> list[list[str]]:
    """One row per link of every stored match (rejected ones left out), in a stable order."""
    from worker.services.exports import decimal_text, neutralise

    with Session(ctx.engine) as session:
        rows = session.exec(
            select(MatchRow, MatchLinkRow)
            .join(MatchLinkRow, col(MatchLinkRow.match_id) == col(MatchRow.id))
            .where(MatchRow.party == ctx.party, MatchRow.status != "rejected")
            .order_by(
                col(MatchRow.match_key),
                col(MatchLinkRow.transaction_id),
                col(MatchLinkRow.ledger_entry_id),
            )
        ).all()
    return [
        [
            m.match_key,
            neutralise(link.transaction_id),
            neutralise(link.ledger_entry_id),
            m.rule,
            f"{m.score:.4f}",
            m.status,
            decimal_text(m.difference),
        ]
        for m, link in rows
    ]


def exception_rows(ctx: Context, config: MatchConfig | None = None) -> list[list[str]]:
    """The unmatched items of both sides with the reasons and nearest candidates."""
    from worker.services.exports import decimal_text, neutralise

    run = run_matching(ctx, config, dry_run=True)
    with Session(ctx.engine) as session:
        txns = {t.transaction_id: t for t in load_transactions(session, ctx.party)}
        entries = {e.entry_id: e for e in load_entries(session, ctx.party)}
    out: list[list[str]] = []
    for item in (*run.result.unmatched_transactions, *run.result.unmatched_entries):
        record = txns.get(item.id) if item.side.value == "transaction" else entries.get(item.id)
        nearest = "; ".join(f"{c.id}: {', '.join(c.reasons)}" for c in item.nearest)
        out.append(
            [
                item.side.value,
                neutralise(item.id),
                record.date.isoformat() if record else "",
                decimal_text(record.amount) if record else "",
                record.currency if record else "",
                neutralise(item.reason),
                neutralise(nearest),
            ]
        )
    return out


def match_step(ctx: Context, job_id: int) -> StepOutcome:
    """The job's match stage: everything stored, in one step (the matcher is fast and pure)."""
    with Session(ctx.engine) as session:
        has_ledger = session.exec(
            select(LedgerEntryRow.id).where(LedgerEntryRow.party == ctx.party)
        ).first()
    if has_ledger is None:
        record_error(
            ctx.engine,
            job_id,
            "match",
            "no ledger imported (abrecon ledger import FILE): nothing to match",
            ctx.clock(),
        )
        return StepOutcome(finished=True)
    run = run_matching(ctx)
    result = run.result
    with session_scope(ctx.engine) as session:
        update_progress(
            session,
            job_id,
            "match",
            done=len(result.matches),
            total=len(result.matches),
            counts={
                "matches": len(result.matches),
                "unmatched_transactions": len(result.unmatched_transactions),
                "unmatched_entries": len(result.unmatched_entries),
                **{f"rule_{k}": v for k, v in run.by_rule.items()},
            },
        )
    for problem in result.problems:
        record_error(ctx.engine, job_id, "match", f"{problem.code}: {problem.message}", ctx.clock())
    return StepOutcome(finished=True)
