"""The job's export stage: the journal in every configured format, and the reimbursements.

After matching, the stage writes ``journal-<job>.<ext>`` for each format of
``ABRECON_EXPORT_FORMATS`` with ``--since-last`` semantics (only entries no earlier export in
that format wrote, so consecutive jobs give consecutive files and nothing is booked twice),
and ``reimbursements-<job>.json`` with every reimbursement and its status, into
``ABRECON_EXPORT_DIR``. A step that runs again (a redelivered task) finds its files' batches
recorded and does not write them again, so it never replaces a file with an emptier one. A
format that cannot hold an empty file (DATEV) writes none when nothing is new.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from worker.accounting.journal import EmptyExport, JournalError
from worker.accounting.rules import RulesError
from worker.formats import JOURNAL_EXTENSIONS
from worker.services.context import Context
from worker.services.jobs import StepOutcome, record_error, update_progress
from worker.services.journal import export_journal
from worker.services.reimbursements import export_reimbursements
from worker.store.engine import session_scope
from worker.store.tables import ExportBatchRow

__all__ = ["export_paths", "export_step"]


def export_paths(ctx: Context, job_id: int) -> dict[str, Path]:
    """The files the export stage of ``job_id`` writes, by format (``reimbursements`` last)."""
    folder = ctx.settings.effective_export_dir
    paths = {
        fmt: folder / f"journal-{job_id}{JOURNAL_EXTENSIONS[fmt]}"
        for fmt in ctx.settings.export_formats
    }
    paths["reimbursements"] = folder / f"reimbursements-{job_id}.json"
    return paths


def _written(ctx: Context, path: Path) -> bool:
    with Session(ctx.engine) as session:
        return (
            session.exec(
                select(ExportBatchRow.id).where(
                    ExportBatchRow.party == ctx.party, ExportBatchRow.path == str(path)
                )
            ).first()
            is not None
        )


def export_step(ctx: Context, job_id: int) -> StepOutcome:
    """Write the job's exports (one step: the writers stream, whatever the size)."""
    paths = export_paths(ctx, job_id)
    next(iter(paths.values())).parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for fmt, path in paths.items():
        if _written(ctx, path):
            continue
        try:
            if fmt == "reimbursements":
                done = export_reimbursements(
                    ctx.engine, ctx.settings, "json", path, clock=ctx.clock()
                )
                counts["reimbursements"] = len(done.records)
                problems = done.problems
            else:
                journal = export_journal(
                    ctx.engine, ctx.settings, fmt, path, since_last=True, clock=ctx.clock()
                )
                counts[f"entries_{fmt}"] = journal.result.entries
                counts[f"lines_{fmt}"] = journal.result.lines
                problems = journal.problems
        except EmptyExport:
            counts[f"entries_{fmt}"] = 0  # nothing new since the last export: no file
            continue
        except (JournalError, RulesError) as exc:
            record_error(ctx.engine, job_id, "export", f"{fmt}: {exc}", ctx.clock())
            continue
        counts["not_posted"] = problems.count
        for problem in problems.items[:50]:
            record_error(ctx.engine, job_id, "export", problem.reason, ctx.clock())
    with session_scope(ctx.engine) as session:
        update_progress(session, job_id, "export", done=len(paths), total=len(paths), counts=counts)
    return StepOutcome(finished=True)
