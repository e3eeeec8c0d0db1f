"""Celery tasks: thin wrappers that claim a stage, run one step of a service, and schedule the next.

Tasks pass ids, never objects; they never sleep for long and never wait on another task: a wait
is a new message with a countdown. Errors Amazon may cure (throttling, 5xx, broken connections,
an empty rate-limit bucket) become a countdown; anything else is recorded on the job's stage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from connectors.amazon_business.errors import RetryableError
from worker.services.context import Context, get_context
from worker.services.documents import documents_step
from worker.services.invoices import invoice_details_step
from worker.services.jobs import (
    Dispatch,
    StepOutcome,
    claim_stage,
    create_job,
    finish_stage,
    overdue_stages,
    record_error,
    schedule_step,
)
from worker.services.orders import orders_step
from worker.services.sync import incremental_window, sync_step

log = logging.getLogger(__name__)

STEPS: dict[str, Callable[[Context, int], StepOutcome]] = {
    "sync": sync_step,
    "invoice_details": invoice_details_step,
    "orders": orders_step,
    "documents": documents_step,
}
#: Consecutive unexpected failures of a stage before it is marked failed.
MAX_UNEXPECTED = 5


def enqueue(app: Celery, dispatch: Dispatch) -> None:
    """Send ``run_stage`` for ``dispatch``."""
    app.send_task(
        "abrecon.run_stage",
        args=(dispatch.job_id, dispatch.stage, dispatch.seq),
        countdown=max(0.0, dispatch.countdown),
    )


def run_stage_step(app: Celery, job_id: int, stage: str, seq: int) -> str:
    """Claim the stage, run one step, and enqueue what follows. Returns what happened."""
    ctx = get_context()
    if not claim_stage(ctx, job_id, stage, seq):
        return "stale"
    try:
        outcome = STEPS[stage](ctx, job_id)
    except RetryableError as exc:
        log.info("job %s %s: %s; next step in %.1f s", job_id, stage, exc, exc.retry_after)
        enqueue(app, schedule_step(ctx, job_id, stage, exc.retry_after))
        return "retry"
    except Exception as exc:  # recorded on the job, never lost in a log
        log.exception("job %s stage %s failed unexpectedly", job_id, stage)
        record_error(ctx.engine, job_id, stage, f"{type(exc).__name__}: {exc}", ctx.clock())
        if _unexpected(ctx, job_id, stage) >= MAX_UNEXPECTED:
            following = finish_stage(ctx, job_id, stage, failed=True)
            if following:
                enqueue(app, following)
            return "failed"
        enqueue(app, schedule_step(ctx, job_id, stage, 10.0))
        return "error"
    if outcome.finished:
        following = finish_stage(ctx, job_id, stage)
        if following:
            enqueue(app, following)
        return "finished"
    enqueue(app, schedule_step(ctx, job_id, stage, outcome.countdown))
    return "continue"


def _unexpected(ctx: Context, job_id: int, stage: str) -> int:
    from worker.services.jobs import _stage
    from worker.store.engine import session_scope

    with session_scope(ctx.engine) as session:
        row = _stage(session, job_id, stage)
        counts = dict(row.counts or {})
        counts["unexpected_errors"] = int(counts.get("unexpected_errors", 0)) + 1
        row.counts = counts
        session.add(row)
        return int(counts["unexpected_errors"])


def register(app: Celery) -> None:
    """Register abrecon's tasks on ``app``."""

    @app.task(name="abrecon.run_stage", bind=True, acks_late=True)
    def run_stage(self: Task[Any, Any], job_id: int, stage: str, seq: int) -> str:
        return run_stage_step(app, job_id, stage, seq)

    @app.task(name="abrecon.sweep")
    def sweep() -> int:
        """Re-enqueue running stages whose next step is overdue (lost messages)."""
        ctx = get_context()
        overdue = overdue_stages(ctx)
        for dispatch in overdue:
            log.warning(
                "job %s stage %s is overdue; enqueued again", dispatch.job_id, dispatch.stage
            )
            enqueue(app, schedule_step(ctx, dispatch.job_id, dispatch.stage, 0.0))
        return len(overdue)

    @app.task(name="abrecon.incremental_sync")
    def incremental_sync() -> int:
        """The daily job: from the high-water mark (less the overlap) to now."""
        ctx = get_context()
        start, end = incremental_window(ctx, ctx.clock())
        job_id, first = create_job(ctx, start, end, kind="daily")
        enqueue(app, first)
        return job_id
