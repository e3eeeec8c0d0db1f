"""Journal entries from the store, and the journal export with its batches.

:func:`posted_entries` reads the party's transactions in date order, a chunk at a time, gathers
what the store knows about each (invoice numbers, downloaded PDFs, the match that tied it to
the ledger and the difference a tolerance let through) and posts it with the posting rules. A
transaction the rules cannot post (line items that do not add up to its amount, a missing
amount or date) is not written: it is reported as a problem, with the reason.

:func:`export_journal` streams those entries into an export format and records the export as
an :class:`~worker.store.tables.ExportBatchRow`, with the id of every entry it wrote. So
``--since-last`` writes only entries no earlier export in that format has written, and a
plain export of the same data gives the same bytes again. The batch and its entry ids are
committed only once the file is in place: a failed export records nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connectors.amazon_business.models import Transaction
from worker.accounting.journal import JournalEntry, JournalError
from worker.accounting.posting import (
    Payment,
    PostingLinks,
    classify_payment,
    merge_entries,
    post_transaction,
)
from worker.accounting.rules import DEFAULT_RULES, PostingRules, RulesError, rules_from_toml
from worker.formats import ExportResult, write_journal
from worker.settings import Settings
from worker.store.tables import (
    DocumentRow,
    ExportBatchRow,
    ExportedEntryRow,
    InvoiceDetailRow,
    MatchLinkRow,
    MatchRow,
    TransactionRow,
)
from worker.store.upsert import upsert

__all__ = [
    "JournalExport",
    "Posted",
    "PostingProblem",
    "export_journal",
    "file_digest",
    "load_rules",
    "posted_entries",
    "posting_rules",
    "start_batch",
]

#: Transactions read from the store per query.
CHUNK = 1000
#: Problems kept in memory for the report (the count goes on).
MAX_PROBLEMS = 1000


def load_rules(path: Path) -> PostingRules:
    """Read a rules file; any problem is a :class:`RulesError` naming the file (and key)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"{path}: no such rules file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read: {exc}") from None
    try:
        return rules_from_toml(text)
    except RulesError as exc:
        raise RulesError(f"{path}: {exc}") from None


def posting_rules(settings: Settings) -> PostingRules:
    """The rules of ``ABRECON_POSTING_RULES``, else the built-in defaults."""
    return load_rules(settings.posting_rules) if settings.posting_rules else DEFAULT_RULES


@dataclass(frozen=True, slots=True)
class Posted:
    """A journal entry with the payment it records (who is owed, for reimbursements)."""

    entry: JournalEntry
    payment: Payment


@dataclass(frozen=True, slots=True)
class PostingProblem:
    """A transaction that could not be posted, and why."""

    transaction_id: str
    reason: str


@dataclass(slots=True)
class Problems:
    """The problems met while posting: the first :data:`MAX_PROBLEMS`, and how many in all."""

    items: list[PostingProblem] = field(default_factory=list)
    count: int = 0

    def add(self, transaction_id: str, reason: str) -> None:
        self.count += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(PostingProblem(transaction_id, reason))


@dataclass(slots=True)
class _MatchInfo:
    key: str
    difference: Decimal
    members: tuple[str, ...]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _in_window(query: Any, party: str, start: date | None, end: date | None) -> Any:
    """``query`` limited to the party's transactions dated in ``[start, end]`` (UTC days)."""
    query = query.where(
        TransactionRow.party == party, col(TransactionRow.transaction_date).is_not(None)
    )
    if start is not None:
        query = query.where(col(TransactionRow.transaction_date) >= _day_start(start))
    if end is not None:
        query = query.where(col(TransactionRow.transaction_date) < _day_start(end + timedelta(1)))
    return query


def _chunks(
    session: Session, party: str, start: date | None, end: date | None, where: Any = None
) -> Iterator[list[TransactionRow]]:
    """The party's dated transactions in (date, id) order, :data:`CHUNK` at a time (keyset)."""
    query = _in_window(select(TransactionRow), party, start, end)
    if where is not None:
        query = query.where(where)
    query = query.order_by(col(TransactionRow.transaction_date), col(TransactionRow.transaction_id))
    after: tuple[datetime, str] | None = None
    while True:
        page = query
        if after is not None:
            moment, tid = after
            page = page.where(
                sa.or_(
                    col(TransactionRow.transaction_date) > moment,
                    sa.and_(
                        col(TransactionRow.transaction_date) == moment,
                        col(TransactionRow.transaction_id) > tid,
                    ),
                )
            )
        rows = list(session.exec(page.limit(CHUNK)))
        if not rows:
            return
        yield rows
        last = rows[-1]
        assert last.transaction_date is not None
        after = (last.transaction_date, last.transaction_id)
        for row in rows:
            session.expunge(row)


def _undated(session: Session, party: str) -> list[str]:
    return list(
        session.exec(
            select(TransactionRow.transaction_id).where(
                TransactionRow.party == party, col(TransactionRow.transaction_date).is_(None)
            )
        )
    )


def _links(
    session: Session, party: str, txns: Sequence[Transaction]
) -> tuple[dict[str, list[str]], dict[str, _MatchInfo]]:
    """Invoice numbers and PDF paths per transaction id; the match of each matched one."""
    orders = {i.order_id for t in txns for i in t.transaction_line_items if i.order_id}
    details: dict[tuple[str, str, str], list[tuple[str, bool]]] = {}
    if orders:
        for d in session.exec(
            select(InvoiceDetailRow).where(
                InvoiceDetailRow.party == party, col(InvoiceDetailRow.order_id).in_(orders)
            )
        ):
            details.setdefault((d.order_id, d.order_line_item_id, d.shipment_id), []).append(
                (d.invoice_number, d.invoice_type == "CREDIT_MEMO")
            )
    invoices: dict[str, list[str]] = {}
    for t in txns:
        refund = t.amount is not None and t.amount.amount < 0
        found: list[str] = [t.invoice_number] if t.invoice_number else []
        if not found:
            for item in t.transaction_line_items:
                key = (item.order_id or "", item.order_line_item_id or "", item.shipment_id or "")
                found += [n for n, credit in details.get(key, []) if credit == refund]
        invoices[t.transaction_id or ""] = list(dict.fromkeys(found))
    ids = [t.transaction_id for t in txns if t.transaction_id]
    matches: dict[str, _MatchInfo] = {}
    rows = session.exec(
        select(MatchRow, MatchLinkRow.transaction_id)
        .join(MatchLinkRow, col(MatchLinkRow.match_id) == col(MatchRow.id))
        .where(
            MatchRow.party == party,
            MatchRow.status != "rejected",
            col(MatchLinkRow.transaction_id).in_(ids),
        )
    ).all()
    by_match = {m.id: m for m, _ in rows}
    members: dict[int, set[str]] = {}
    if by_match:
        for match_id, tid in session.exec(
            select(MatchLinkRow.match_id, MatchLinkRow.transaction_id).where(
                col(MatchLinkRow.match_id).in_(list(by_match))
            )
        ):
            members.setdefault(match_id, set()).add(tid)
    for m, tid in rows:
        assert m.id is not None
        matches[tid] = _MatchInfo(
            m.match_key, m.difference or Decimal(0), tuple(sorted(members.get(m.id, {tid})))
        )
    return invoices, matches


def _pdfs(session: Session, party: str, numbers: Iterable[str]) -> dict[str, list[str]]:
    wanted = set(numbers)
    paths: dict[str, list[str]] = {}
    if wanted:
        for number, path in session.exec(
            select(DocumentRow.invoice_number, DocumentRow.pdf_path)
            .where(
                DocumentRow.party == party,
                DocumentRow.state == "done",
                col(DocumentRow.invoice_number).in_(wanted),
            )
            .order_by(col(DocumentRow.invoice_number), col(DocumentRow.pdf_path))
        ):
            if path:
                paths.setdefault(number, []).append(path)
    return paths


def _parse(row: TransactionRow) -> Transaction:
    return Transaction.model_validate(row.raw or {})


def _post_chunk(
    session: Session,
    party: str,
    rows: Sequence[TransactionRow],
    rules: PostingRules,
    company_cards: frozenset[str],
    problems: Problems,
) -> Iterator[tuple[Posted, _MatchInfo | None]]:
    txns = []
    for row in rows:
        try:
            txns.append(_parse(row))
        except ValueError as exc:
            problems.add(row.transaction_id, f"stored record unreadable: {exc}")
    invoices, matches = _links(session, party, txns)
    pdfs = _pdfs(session, party, (n for ns in invoices.values() for n in ns))
    for txn in txns:
        tid = txn.transaction_id or ""
        info = matches.get(tid)
        numbers = invoices.get(tid, [])
        links = PostingLinks(
            invoice_numbers=numbers,
            pdf_paths=[p for n in numbers for p in pdfs.get(n, [])],
            match_id=info.key if info else "",
            # A match's difference is posted once: on the entry of its first transaction.
            difference=info.difference if info and info.members[0] == tid else Decimal(0),
        )
        try:
            entry = post_transaction(txn, rules, company_cards, links)
        except JournalError as exc:
            problems.add(tid, str(exc))
            continue
        yield Posted(entry, classify_payment(txn, rules, company_cards)), info


def posted_entries(
    session: Session,
    party: str,
    rules: PostingRules,
    company_cards: frozenset[str],
    problems: Problems,
    *,
    start: date | None = None,
    end: date | None = None,
    where: Any = None,
) -> Iterator[Posted]:
    """The party's entries in date order (one per transaction, or per match by the rules)."""
    if start is None and end is None and where is None:
        for tid in _undated(session, party):
            problems.add(tid, f"transaction {tid}: has no transactionDate")
    done: set[str] = set()  # match keys already written (group_by = "match")
    for rows in _chunks(session, party, start, end, where):
        for posted, info in _post_chunk(session, party, rows, rules, company_cards, problems):
            if rules.group_by != "match" or info is None or len(info.members) == 1:
                yield posted
                continue
            if info.key in done:
                continue
            done.add(info.key)
            yield _merged(session, party, posted, info, rules, company_cards, problems)


def _merged(
    session: Session,
    party: str,
    posted: Posted,
    info: _MatchInfo,
    rules: PostingRules,
    company_cards: frozenset[str],
    problems: Problems,
) -> Posted:
    """The entry of a whole match: its members posted and merged into one."""
    others = [m for m in info.members if m not in posted.entry.transaction_ids]
    rows = list(
        session.exec(
            select(TransactionRow).where(
                TransactionRow.party == party, col(TransactionRow.transaction_id).in_(others)
            )
        )
    )
    entries = [posted.entry]
    for other, _ in _post_chunk(session, party, rows, rules, company_cards, problems):
        entries.append(other.entry)
    try:
        entry = merge_entries(entries, f"AB-M-{info.key[:24]}")
    except JournalError as exc:
        problems.add(posted.entry.transaction_id, str(exc))
        return posted
    return Posted(entry, posted.payment)


@dataclass(frozen=True, slots=True)
class JournalExport:
    """What an export wrote, what it skipped (already exported) and what it could not post."""

    result: ExportResult
    batch_id: int | None
    skipped: int
    problems: Problems


def count_transactions(
    engine: Engine, party: str, start: date | None = None, end: date | None = None
) -> int:
    """How many dated transactions an export of the window reads (the total of a progress bar)."""
    query = _in_window(select(sa.func.count()).select_from(TransactionRow), party, start, end)
    with Session(engine) as session:
        return int(session.exec(query).one())


def file_digest(paths: Iterable[Path]) -> str:
    """SHA-256 over the files' bytes in order (one digest for a batch of several files)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def start_batch(
    session: Session,
    party: str,
    kind: str,
    fmt: str,
    out: Path,
    *,
    since_last: bool,
    window: tuple[date | None, date | None],
    clock: datetime,
) -> ExportBatchRow:
    """Add the :class:`ExportBatchRow` of an export about to be written (not committed)."""
    batch = ExportBatchRow(
        party=party,
        kind=kind,
        format=fmt,
        path=str(out),
        since_last=since_last,
        window_start=window[0],
        window_end=window[1],
        created_at=clock,
    )
    session.add(batch)
    session.flush()
    return batch


def finish_batch(session: Session, batch: ExportBatchRow, result: ExportResult) -> None:
    """Record what the export wrote: counts and the digest of its files."""
    batch.files = len(result.files)
    batch.entries = result.entries
    batch.lines = result.lines
    batch.sha256 = file_digest(result.files)
    session.add(batch)


def record_exported(
    session: Session, batch: ExportBatchRow, kind: str, entry_ids: Sequence[str]
) -> None:
    """Remember that ``batch`` wrote ``entry_ids`` (an id exported before keeps its first batch)."""
    upsert(
        session,
        ExportedEntryRow,
        (
            {
                "party": batch.party,
                "kind": kind,
                "format": batch.format,
                "entry_id": entry_id,
                "batch_id": batch.id,
            }
            for entry_id in entry_ids
        ),
        key=("party", "kind", "format", "entry_id"),
        update=(),
    )


def already_exported(
    session: Session, party: str, kind: str, fmt: str, entry_ids: Sequence[str]
) -> set[str]:
    """Which of ``entry_ids`` an earlier export in ``fmt`` wrote."""
    if not entry_ids:
        return set()
    return set(
        session.exec(
            select(ExportedEntryRow.entry_id).where(
                ExportedEntryRow.party == party,
                ExportedEntryRow.kind == kind,
                ExportedEntryRow.format == fmt,
                col(ExportedEntryRow.entry_id).in_(list(entry_ids)),
            )
        )
    )


def export_journal(
    engine: Engine,
    settings: Settings,
    fmt: str,
    out: Path,
    *,
    start: date | None = None,
    end: date | None = None,
    since_last: bool = False,
    clock: datetime | None = None,
    rules: PostingRules | None = None,
    progress: Callable[[int], None] | None = None,
) -> JournalExport:
    """Write the journal in ``fmt`` to ``out`` and record the batch (see the module docstring).

    ``progress`` is called with the number of entries posted since its last call (for a bar).
    """
    rules = rules or posting_rules(settings)
    party = settings.party
    problems = Problems()
    skipped = 0

    with Session(engine) as session:
        batch = start_batch(
            session,
            party,
            "journal",
            fmt,
            out,
            since_last=since_last,
            window=(start, end),
            clock=clock or datetime.now(UTC),
        )

        def fresh(pending: list[JournalEntry]) -> Iterator[JournalEntry]:
            nonlocal skipped
            ids = [e.entry_id for e in pending]
            seen = already_exported(session, party, "journal", fmt, ids) if since_last else set()
            skipped += len(seen)
            record_exported(session, batch, "journal", [i for i in ids if i not in seen])
            yield from (e for e in pending if e.entry_id not in seen)
            if progress is not None:
                progress(len(pending))
            pending.clear()

        def entries() -> Iterator[JournalEntry]:
            pending: list[JournalEntry] = []
            for posted in posted_entries(
                session, party, rules, settings.company_cards, problems, start=start, end=end
            ):
                pending.append(posted.entry)
                if len(pending) >= CHUNK:
                    yield from fresh(pending)
            yield from fresh(pending)

        try:
            result = write_journal(fmt, entries(), out, rules.formats)
        except BaseException:
            session.rollback()
            raise
        finish_batch(session, batch, result)
        session.commit()
        return JournalExport(result, batch.id, skipped, problems)
