"""Jobs and their stages: the durable plan a reconciliation run follows.

A job covers a feed-date window and runs its stages in order (sync, invoice details, orders,
documents). Exactly one stage is ``running`` at a time. Its work advances in steps: a task
*claims* the stage by advancing ``seq`` from the value its message carries (a duplicate or stale
message finds ``seq`` moved on and does nothing), runs one bounded step, and schedules the next
step with a countdown. ``due_at`` says when the next step should have started; the sweep
re-enqueues running stages whose ``due_at`` has passed, which is how a job survives lost
messages, a flushed Redis or a killed worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connectors.amazon_business.reconciliation import split_windows
from connectors.amazon_business.roles import Role
from worker.services.context import Context
from worker.store.engine import session_scope
from worker.store.tables import JobRow, JobStageRow, SyncCursorRow

STAGES: tuple[str, ...] = ("sync", "invoice_details", "orders", "documents", "match", "export")
STAGE_TITLES = {
    "sync": "transactions",
    "invoice_details": "invoice details",
    "orders": "orders",
    "documents": "invoice PDFs",
    "match": "matching",
    "export": "exports",
}
MAX_ERRORS_KEPT = 200


@dataclass(frozen=True)
class StepOutcome:
    """What one step of a stage left: finished, or run again after ``countdown`` seconds."""

    finished: bool
    countdown: float = 0.0


@dataclass(frozen=True)
class Dispatch:
    """A stage step to enqueue: ``run_stage(job_id, stage, seq)`` after ``countdown``."""

    job_id: int
    stage: str
    seq: int
    countdown: float = 0.0


def create_job(
    ctx: Context,
    start: datetime,
    end: datetime,
    *,
    kind: str = "run",
    stages: tuple[str, ...] = STAGES,
) -> tuple[int, Dispatch]:
    """Record a job over feed dates ``[start, end)`` and return it with its first dispatch."""
    if end <= start:
        raise ValueError(f"the window must end after it starts: {start} .. {end}")
    now = ctx.clock()
    window = timedelta(days=ctx.settings.sync_window_days)
    with session_scope(ctx.engine) as session:
        job = JobRow(
            party=ctx.party,
            kind=kind,
            window_start=start,
            window_end=end,
            status="running",
            created_at=now,
        )
        session.add(job)
        session.flush()
        assert job.id is not None
        for position, name in enumerate(stages):
            stage = JobStageRow(job_id=job.id, name=name, position=position, counts={}, errors=[])
            if name == "orders" and Role.AMAZON_BUSINESS_ANALYTICS not in ctx.settings.roles:
                stage.status = "skipped"
                stage.errors = [
                    {
                        "at": now.isoformat(),
                        "reason": "the Amazon Business Analytics role is not granted: "
                        "no order enrichment",
                    }
                ]
            session.add(stage)
        if "sync" in stages:
            for lo, hi in split_windows(start, end, window):
                session.add(
                    SyncCursorRow(job_id=job.id, party=ctx.party, window_start=lo, window_end=hi)
                )
        job_id = job.id
    first = activate_next_stage(ctx, job_id)
    assert first is not None
    return job_id, first


def activate_next_stage(ctx: Context, job_id: int) -> Dispatch | None:
    """Start the job's first pending stage, or finish the job when none is left."""
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        stages = session.exec(
            select(JobStageRow)
            .where(JobStageRow.job_id == job_id)
            .order_by(col(JobStageRow.position))
        ).all()
        running = [s for s in stages if s.status == "running"]
        if running:
            return Dispatch(job_id, running[0].name, running[0].seq)
        for stage in stages:
            if stage.status == "pending":
                stage.status = "running"
                stage.started_at = now
                stage.due_at = now + timedelta(seconds=ctx.settings.stage_grace_seconds)
                session.add(stage)
                return Dispatch(job_id, stage.name, stage.seq)
        job = session.get(JobRow, job_id)
        if job is not None and job.status == "running":
            failed = [s.name for s in stages if s.status == "failed"]
            job.status = "failed" if failed else "done"
            job.error = f"stages failed: {', '.join(failed)}" if failed else ""
            job.finished_at = now
            session.add(job)
        return None


def claim_stage(ctx: Context, job_id: int, stage: str, seq: int) -> bool:
    """Take the stage for one step if ``seq`` is current; false for a stale or duplicate task."""
    table = JobStageRow.__table__  # type: ignore[attr-defined]
    due = ctx.clock() + timedelta(seconds=ctx.settings.stage_grace_seconds)
    with ctx.engine.begin() as conn:
        claimed = conn.execute(
            sa.update(table)
            .where(table.c.job_id == job_id, table.c.name == stage, table.c.seq == seq)
            .where(table.c.status == "running")
            .values(seq=seq + 1, due_at=due)
        ).rowcount
    return bool(claimed)


def schedule_step(ctx: Context, job_id: int, stage: str, countdown: float) -> Dispatch:
    """Record when the stage's next step is due and return its dispatch."""
    due = ctx.clock() + timedelta(seconds=countdown + ctx.settings.stage_grace_seconds)
    with session_scope(ctx.engine) as session:
        row = _stage(session, job_id, stage)
        row.due_at = due
        session.add(row)
        return Dispatch(job_id, stage, row.seq, countdown)


def finish_stage(ctx: Context, job_id: int, stage: str, *, failed: bool = False) -> Dispatch | None:
    """Mark the stage done (or failed) and start the next one."""
    with session_scope(ctx.engine) as session:
        row = _stage(session, job_id, stage)
        if row.status == "running":
            row.status = "failed" if failed else "done"
            row.finished_at = ctx.clock()
            row.due_at = None
            session.add(row)
    return activate_next_stage(ctx, job_id)


def record_error(engine: Engine, job_id: int, stage: str, reason: str, now: datetime) -> None:
    """Append a clear reason to the stage's error list (the newest are kept)."""
    with session_scope(engine) as session:
        row = _stage(session, job_id, stage)
        errors = list(row.errors or [])
        errors.append({"at": now.isoformat(), "reason": reason[:2000]})
        row.errors = errors[-MAX_ERRORS_KEPT:]
        session.add(row)


def update_progress(
    session: Session,
    job_id: int,
    stage: str,
    *,
    done: int | None = None,
    total: int | None = None,
    counts: dict[str, Any] | None = None,
) -> None:
    """Set a stage's progress figures (inside the caller's transaction)."""
    row = _stage(session, job_id, stage)
    if done is not None:
        row.done = done
    if total is not None:
        row.total = total
    if counts:
        merged = dict(row.counts or {})
        for key, value in counts.items():
            merged[key] = merged.get(key, 0) + value if isinstance(value, int) else value
        row.counts = merged
    session.add(row)


def overdue_stages(ctx: Context) -> list[Dispatch]:
    """Stage steps that should have run: overdue running stages (their messages were lost),
    and the next stage of running jobs left between two stages by a crash."""
    now = ctx.clock()
    with Session(ctx.engine) as session:
        rows = session.exec(
            select(JobStageRow).where(
                JobStageRow.status == "running", col(JobStageRow.due_at) < now
            )
        ).all()
        overdue = [Dispatch(r.job_id, r.name, r.seq) for r in rows]
        running_stage = select(JobStageRow.job_id).where(JobStageRow.status == "running")
        between = session.exec(
            select(JobRow.id).where(
                JobRow.status == "running", col(JobRow.id).not_in(running_stage)
            )
        ).all()
    for job_id in between:
        assert job_id is not None
        dispatch = activate_next_stage(ctx, job_id)
        if dispatch is not None:
            overdue.append(dispatch)
    return overdue


def _stage(session: Session, job_id: int, stage: str) -> JobStageRow:
    row = session.exec(
        select(JobStageRow).where(JobStageRow.job_id == job_id, JobStageRow.name == stage)
    ).one()
    return row
