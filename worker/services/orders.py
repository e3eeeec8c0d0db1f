"""Order enrichment from the Reporting API (the Amazon Business Analytics role)."""

from __future__ import annotations

from sqlmodel import Session, func, select

from connectors.amazon_business.errors import ApiError, NotFoundError, RetryableError
from worker.services.context import Context
from worker.services.jobs import StepOutcome, record_error, update_progress
from worker.services.records import order_row
from worker.store.engine import session_scope
from worker.store.tables import OrderRow
from worker.store.upsert import upsert

#: Orders fetched per step at most (each is one getOrdersByOrderId call).
ORDERS_PER_STEP = 10


def orders_step(ctx: Context, job_id: int) -> StepOutcome:
    """Fetch the next pending orders, one call each, as far as the usage plan allows now."""
    with Session(ctx.engine) as session:
        pending = session.exec(
            select(OrderRow.order_id)
            .where(OrderRow.party == ctx.party, OrderRow.fetch_state == "pending")
            .order_by(OrderRow.order_id)
            .limit(ORDERS_PER_STEP)
        ).all()
    if not pending:
        return StepOutcome(finished=True)
    for order_id in pending:
        now = ctx.clock()
        try:
            order = ctx.client.reporting.get_order(
                order_id, include_line_items=True, include_shipments=True, include_charges=True
            )
        except NotFoundError:
            _mark(ctx, order_id, "missing", "Amazon has no such order")
            continue
        except RetryableError:
            raise  # the task retries the step with the suggested countdown
        except ApiError as exc:
            _mark(ctx, order_id, "failed", str(exc))
            record_error(ctx.engine, job_id, "orders", f"order {order_id}: {exc}", now)
            continue
        with session_scope(ctx.engine) as session:
            upsert(session, OrderRow, [order_row(ctx.party, order, now)], key=("party", "order_id"))
            _progress(session, ctx, job_id)
    return StepOutcome(finished=False)


def _mark(ctx: Context, order_id: str, state: str, error: str) -> None:
    with session_scope(ctx.engine) as session:
        upsert(
            session,
            OrderRow,
            [
                {
                    "party": ctx.party,
                    "order_id": order_id,
                    "fetch_state": state,
                    "error": error[:2000],
                }
            ],
            key=("party", "order_id"),
        )


def _progress(session: Session, ctx: Context, job_id: int) -> None:
    total = session.exec(
        select(func.count()).select_from(OrderRow).where(OrderRow.party == ctx.party)
    ).one()
    done = session.exec(
        select(func.count())
        .select_from(OrderRow)
        .where(OrderRow.party == ctx.party, OrderRow.fetch_state != "pending")
    ).one()
    update_progress(session, job_id, "orders", done=int(done), total=int(total))
