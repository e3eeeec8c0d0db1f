"""Transaction sync: one page of one window per step, resumable from the stored page token."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from connectors.amazon_business.errors import ApiError, BadRequestError, RetryableError
from connectors.amazon_business.models import Transaction
from connectors.amazon_business.roles import Role
from worker.services.context import Context
from worker.services.jobs import StepOutcome, record_error, update_progress
from worker.services.records import line_item_rows, order_line_item_keys, transaction_row
from worker.store.engine import session_scope
from worker.store.tables import (
    HighWaterMarkRow,
    OrderLineItemRow,
    OrderRow,
    SyncCursorRow,
    TransactionLineItemRow,
    TransactionRow,
)
from worker.store.upsert import upsert

#: Consecutive failures of one page before its window is given up and reported.
MAX_PAGE_FAILURES = 5


def store_transactions(
    session: Session,
    ctx: Context,
    transactions: list[Transaction],
    now: datetime,
    wire: list[dict[str, Any]] | None = None,
) -> int:
    """Upsert transactions, their line items, and the work they imply; returns how many.

    ``wire`` holds the transactions as Amazon sent them, in the same order, when known.
    """
    party = ctx.party
    sent = wire if wire is not None else [None] * len(transactions)
    pairs = [(t, w) for t, w in zip(transactions, sent, strict=True) if t.transaction_id]
    txns = [t for t, _ in pairs]
    rows = [transaction_row(party, t, now, w) for t, w in pairs]
    upsert(session, TransactionRow, rows, key=("party", "transaction_id"))
    items = [
        item
        for t, row in zip(txns, rows, strict=True)
        for item in line_item_rows(party, t, row["raw"])
    ]
    upsert(
        session,
        TransactionLineItemRow,
        items,
        key=("party", "transaction_id", "order_id", "order_line_item_id", "shipment_id"),
    )
    keys = sorted({k for t in txns for k in order_line_item_keys(t)})
    upsert(
        session,
        OrderLineItemRow,
        [
            {"party": party, "order_id": o, "order_line_item_id": li, "shipment_id": s}
            for o, li, s in keys
        ],
        key=("party", "order_id", "order_line_item_id", "shipment_id"),
        update=(),
    )
    if Role.AMAZON_BUSINESS_ANALYTICS in ctx.settings.roles:
        order_ids = sorted({k[0] for k in keys})
        upsert(
            session,
            OrderRow,
            [{"party": party, "order_id": o} for o in order_ids],
            key=("party", "order_id"),
            update=(),
        )
    return len(txns)


def sync_step(ctx: Context, job_id: int) -> StepOutcome:
    """Fetch and store the next page of the job's first unfinished window."""
    with Session(ctx.engine) as session:
        cursor = session.exec(
            select(SyncCursorRow)
            .where(SyncCursorRow.job_id == job_id, SyncCursorRow.done == sa.false())
            .order_by(col(SyncCursorRow.window_start))
        ).first()
    if cursor is None:
        return StepOutcome(finished=True)
    assert cursor.id is not None
    try:
        page = ctx.client.reconciliation.get_transactions_page(
            cursor.window_start, cursor.window_end, cursor.next_page_token
        )
    except RetryableError:
        raise
    except BadRequestError as exc:
        if cursor.next_page_token:
            # Page tokens expire (Amazon's sibling APIs: after minutes); re-read the window.
            _restart_window(ctx, cursor.id, job_id, f"page token refused ({exc}); window restarted")
            return StepOutcome(finished=False)
        return _page_failed(ctx, cursor.id, job_id, exc)
    except ApiError as exc:
        return _page_failed(ctx, cursor.id, job_id, exc)
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        stored = store_transactions(session, ctx, page.transactions, now, page.wire_transactions())
        row = session.get(SyncCursorRow, cursor.id)
        assert row is not None
        if row.next_page_token != cursor.next_page_token or row.done:
            # Another run stored this page first; our upserts above were no-ops in effect.
            return StepOutcome(finished=False)
        row.next_page_token = page.next_page_token or None
        row.pages += 1
        row.transactions += stored
        row.failures = 0
        row.done = not page.next_page_token
        session.add(row)
        update_progress(session, job_id, "sync", counts={"pages": 1, "transactions": stored})
    if row.done and not _given_up_before(ctx, job_id, cursor.window_start):
        _raise_high_water_mark(ctx, cursor.window_end)
    return StepOutcome(finished=False)


def _given_up_before(ctx: Context, job_id: int, window_start: datetime) -> bool:
    """Whether an earlier window of the job was given up: the mark must not pass it, or the
    incremental sync (which starts at the mark less the overlap) would never read it again."""
    with Session(ctx.engine) as session:
        return (
            session.exec(
                select(SyncCursorRow.id).where(
                    SyncCursorRow.job_id == job_id,
                    col(SyncCursorRow.window_start) < window_start,
                    SyncCursorRow.error != "",
                )
            ).first()
            is not None
        )


def _page_failed(ctx: Context, cursor_id: int, job_id: int, exc: Exception) -> StepOutcome:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        row = session.get(SyncCursorRow, cursor_id)
        assert row is not None
        row.failures += 1
        given_up = row.failures >= MAX_PAGE_FAILURES
        window = f"{row.window_start:%Y-%m-%d %H:%M} .. {row.window_end:%Y-%m-%d %H:%M}"
        if given_up:
            row.done = True
            row.error = f"gave up after {row.failures} failures: {exc}"[:2000]
        session.add(row)
    verdict = "window given up" if given_up else f"attempt {row.failures}, will retry"
    record_error(ctx.engine, job_id, "sync", f"transactions {window}: {exc} ({verdict})", now)
    return StepOutcome(finished=False, countdown=0.0 if given_up else 2.0 * row.failures)


def _restart_window(ctx: Context, cursor_id: int, job_id: int, reason: str) -> None:
    with session_scope(ctx.engine) as session:
        row = session.get(SyncCursorRow, cursor_id)
        assert row is not None
        row.next_page_token = None
        row.failures += 1
        session.add(row)
    record_error(ctx.engine, job_id, "sync", reason, ctx.clock())


def _raise_high_water_mark(ctx: Context, covered_until: datetime) -> None:
    with session_scope(ctx.engine) as session:
        mark = session.exec(
            select(HighWaterMarkRow).where(
                HighWaterMarkRow.party == ctx.party, HighWaterMarkRow.name == "transactions"
            )
        ).first()
        if mark is None:
            session.add(HighWaterMarkRow(party=ctx.party, covered_until=covered_until))
        elif covered_until > mark.covered_until:
            mark.covered_until = covered_until
            session.add(mark)


def incremental_window(ctx: Context, now: datetime) -> tuple[datetime, datetime]:
    """The window the daily sync covers: from the high-water mark less the overlap, to now.

    Transactions become queryable only after their ``feedDate``, and a feed date can lag the
    transaction, so each run re-reads ``ABRECON_SYNC_OVERLAP_HOURS`` before the mark; upserts
    make the re-read harmless. Without a mark, the last 30 days are read.
    """
    overlap = timedelta(hours=ctx.settings.sync_overlap_hours)
    with Session(ctx.engine) as session:
        mark = session.exec(
            select(HighWaterMarkRow).where(
                HighWaterMarkRow.party == ctx.party, HighWaterMarkRow.name == "transactions"
            )
        ).first()
    start = (mark.covered_until - overlap) if mark else now - timedelta(days=30)
    return min(start, now - overlap), now
