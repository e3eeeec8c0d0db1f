"""Invoice details: every new order line item asked about, 25 per call."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from connectors.amazon_business.errors import ApiError, RetryableError
from connectors.amazon_business.models import OrderLineItem
from connectors.amazon_business.reconciliation import MAX_LINE_ITEMS_PER_CALL
from worker.services.context import Context
from worker.services.jobs import StepOutcome, record_error, update_progress
from worker.services.records import invoice_detail_rows
from worker.store.engine import session_scope
from worker.store.tables import InvoiceDetailRow, OrderLineItemRow
from worker.store.upsert import upsert


def pending_count(ctx: Context) -> int:
    with Session(ctx.engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(OrderLineItemRow)
                .where(
                    OrderLineItemRow.party == ctx.party, OrderLineItemRow.details_state == "pending"
                )
            ).one()
        )


def invoice_details_step(ctx: Context, job_id: int) -> StepOutcome:
    """Ask Amazon for the invoices of the next batch of line items and store the answer."""
    with Session(ctx.engine) as session:
        batch = session.exec(
            select(OrderLineItemRow)
            .where(OrderLineItemRow.party == ctx.party, OrderLineItemRow.details_state == "pending")
            .order_by(col(OrderLineItemRow.id))
            .limit(MAX_LINE_ITEMS_PER_CALL)
        ).all()
        if batch:
            row = session.exec(
                select(sa.func.count())
                .select_from(OrderLineItemRow)
                .where(OrderLineItemRow.party == ctx.party)
            ).one()
            total = int(row)
    if not batch:
        return StepOutcome(finished=True)
    ids = [item.id for item in batch]
    keys = [
        OrderLineItem(
            order_id=i.order_id, order_line_item_id=i.order_line_item_id, shipment_id=i.shipment_id
        )
        for i in batch
    ]
    now = ctx.clock()
    try:
        answers = list(ctx.client.reconciliation.get_invoice_details(keys))
    except RetryableError:
        raise
    except ApiError as exc:
        with session_scope(ctx.engine) as session:
            session.execute(
                sa.update(OrderLineItemRow)
                .where(OrderLineItemRow.id.in_(ids))  # type: ignore[union-attr]
                .values(details_state="failed", error=str(exc)[:2000], details_fetched_at=now)
            )
        record_error(
            ctx.engine,
            job_id,
            "invoice_details",
            f"invoice details of {len(ids)} line items: {exc}",
            now,
        )
        return StepOutcome(finished=False)
    rows = [r for answer in answers for r in invoice_detail_rows(ctx.party, answer)]
    with session_scope(ctx.engine) as session:
        upsert(
            session,
            InvoiceDetailRow,
            rows,
            key=("party", "order_id", "order_line_item_id", "shipment_id", "invoice_number"),
        )
        session.execute(
            sa.update(OrderLineItemRow)
            .where(OrderLineItemRow.id.in_(ids))  # type: ignore[union-attr]
            .values(details_state="done", details_fetched_at=now, error="")
        )
        done = session.exec(
            select(func.count())
            .select_from(OrderLineItemRow)
            .where(OrderLineItemRow.party == ctx.party, OrderLineItemRow.details_state != "pending")
        ).one()
        update_progress(
            session,
            job_id,
            "invoice_details",
            done=int(done),
            total=total,
            counts={"line_items": len(ids), "invoices": len(rows)},
        )
    return StepOutcome(finished=False)
