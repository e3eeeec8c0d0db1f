"""Celery tasks: thin wrappers that claim a stage, run one step of a service, and schedule the next.

Tasks pass ids, never objects; they never sleep for long and never wait on another task: a wait
is a new message with a countdown. Errors Amazon may cure (throttling, 5xx, broken connections,
an empty rate-limit bucket) become a countdown; anything else is recorded on the job's stage.
A transient failure (5xx, a dropped or truncated answer; not throttling, which is pacing) is
recorded on the stage too, and a stage that keeps failing so is marked failed after
:data:`MAX_TRANSIENT` attempts in a row rather than retried forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from connectors.amazon_business.errors import RateLimitWaitError, RetryableError, ThrottledError
from worker.services.context import Context, get_context
from worker.services.documents import documents_step
from worker.services.export_stage import export_step
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
from worker.services.matching import match_step
from worker.services.orders import orders_step
from worker.services.sync import incremental_window, sync_step

log = logging.getLogger(__name__)

STEPS: dict[str, Callable[[Context, int], StepOutcome]] = {
    "sync": sync_step,
    "invoice_details": invoice_details_step,
    "orders": orders_step,
    "documents": documents_step,
    "match": match_step,
    "export": export_step,
}
#: Consecutive unexpected failures of a stage before it is marked failed.
MAX_UNEXPECTED = 5
#: Consecutive transient failures of a stage before it is marked failed; the wait between
#: attempts grows from the error's suggestion by half each time, up to MAX_TRANSIENT_WAIT.
MAX_TRANSIENT = 20
MAX_TRANSIENT_WAIT = 60.0
_FAILURE_COUNTS = ("unexpected_errors", "transient_errors")


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
    except (RateLimitWaitError, ThrottledError) as exc:  # pacing, not a failure
        log.info("job %s %s: %s; next step in %.1f s", job_id, stage, exc, exc.retry_after)
        enqueue(app, schedule_step(ctx, job_id, stage, exc.retry_after))
        return "retry"
    except RetryableError as exc:
        failures = _count_failure(ctx, job_id, stage, "transient_errors")
        wait = min(MAX_TRANSIENT_WAIT, exc.retry_after * 1.5 ** (failures - 1))
        log.info("job %s %s: %s; next step in %.1f s", job_id, stage, exc, wait)
        if failures >= MAX_TRANSIENT:
            reason = f"{exc} (gave up after {failures} transient failures in a row)"
            record_error(ctx.engine, job_id, stage, reason, ctx.clock())
            following = finish_stage(ctx, job_id, stage, failed=True)
            if following:
                enqueue(app, following)
            return "failed"
        reason = f"{exc} (transient failure {failures} in a row; next attempt in {wait:.1f} s)"
        record_error(ctx.engine, job_id, stage, reason, ctx.clock())
        enqueue(app, schedule_step(ctx, job_id, stage, wait))
        return "retry"
    except Exception as exc:  # recorded on the job, never lost in a log
        log.exception("job %s stage %s failed unexpectedly", job_id, stage)
        record_error(ctx.engine, job_id, stage, f"{type(exc).__name__}: {exc}", ctx.clock())
        if _count_failure(ctx, job_id, stage, "unexpected_errors") >= MAX_UNEXPECTED:
            following = finish_stage(ctx, job_id, stage, failed=True)
            if following:
                enqueue(app, following)
            return "failed"
        enqueue(app, schedule_step(ctx, job_id, stage, 10.0))
        return "error"
    _clear_failures(ctx, job_id, stage)
    if outcome.finished:
        following = finish_stage(ctx, job_id, stage)
        if following:
            enqueue(app, following)
        return "finished"
    enqueue(app, schedule_step(ctx, job_id, stage, outcome.countdown))
    return "continue"


def _count_failure(ctx: Context, job_id: int, stage: str, kind: str) -> int:
    """Count one more failure of ``kind`` in a row for the stage; returns how many in a row."""
    from worker.services.jobs import _stage
    from worker.store.engine import session_scope

    with session_scope(ctx.engine) as session:
        row = _stage(session, job_id, stage)
        counts = dict(row.counts or {})
        counts[kind] = int(counts.get(kind, 0)) + 1
        row.counts = counts
        session.add(row)
        return int(counts[kind])


def _clear_failures(ctx: Context, job_id: int, stage: str) -> None:
    """A step succeeded: the failures counted so far are no longer "in a row"."""
    from worker.services.jobs import _stage
    from worker.store.engine import session_scope

    with session_scope(ctx.engine) as session:
        row = _stage(session, job_id, stage)
        counts = dict(row.counts or {})
        if any(kind in counts for kind in _FAILURE_COUNTS):
            row.counts = {k: v for k, v in counts.items() if k not in _FAILURE_COUNTS}
            session.add(row)


def register(app: Celery) -> None:
    """Register abrecon's tasks on ``app``.

    ``shared=False``: Celery's default adds a task to every app finalized later in the process,
    and the first registration of a name wins, so a second app (``create_app(settings)`` next to
    the module's ``worker.app.app``) would run the first app's closures and send every next step
    to the first app's broker.
    """

    @app.task(name="abrecon.run_stage", bind=True, acks_late=True, shared=False)
    def run_stage(self: Task[Any, Any], job_id: int, stage: str, seq: int) -> str:
        return run_stage_step(app, job_id, stage, seq)

    @app.task(name="abrecon.sweep", shared=False)
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

    @app.task(name="abrecon.incremental_sync", shared=False)
    def incremental_sync() -> int:
        """The daily job: from the high-water mark (less the overlap) to now."""
        ctx = get_context()
        start, end = incremental_window(ctx, ctx.clock())
        job_id, first = create_job(ctx, start, end, kind="daily")
        enqueue(app, first)
        return job_id
