"""How jobs stand, read from the store: views of jobs and stages, text for them, progress bars.

The store is the truth about a job, so everything here reads the ``jobs`` and ``job_stages``
rows and nothing else: ``abrecon jobs list`` and ``jobs show`` print them, and ``abrecon run
--wait`` polls them and draws one tqdm bar per stage, whichever process (an embedded worker or
workers on other machines) does the work.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from worker.services.jobs import STAGE_TITLES
from worker.store.tables import JobRow, JobStageRow

#: The unit each stage's bar counts.
STAGE_UNITS = {
    "sync": "txn",
    "invoice_details": "item",
    "orders": "order",
    "documents": "pdf",
}
#: Short stage names for one-line listings.
STAGE_ABBREVIATIONS = {
    "sync": "sync",
    "invoice_details": "details",
    "orders": "orders",
    "documents": "pdfs",
    "match": "match",
}
#: Seconds without any progress before ``watch_job`` says a job seems stuck.
STALL_SECONDS = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StageView:
    """One stage of a job as stored."""

    name: str
    position: int
    status: str
    seq: int
    done: int
    total: int | None
    counts: dict[str, Any]
    errors: list[dict[str, Any]]
    started_at: datetime | None
    finished_at: datetime | None
    due_at: datetime | None

    @property
    def title(self) -> str:
        """The stage's name for people ("invoice details", "invoice PDFs")."""
        return STAGE_TITLES.get(self.name, self.name)

    @property
    def settled(self) -> bool:
        """Whether the stage will not run again (done, failed or skipped)."""
        return self.status in ("done", "failed", "skipped")

    def seconds(self, now: datetime | None = None) -> float | None:
        """How long the stage ran (so far, when it is still running)."""
        if self.started_at is None:
            return None
        end = self.finished_at or (now or _now())
        return max(0.0, (end - self.started_at).total_seconds())

    def progress(self) -> tuple[int, int | None]:
        """What the stage's bar shows: how much is done, of a total when one is known.

        The sync cannot know how many transactions Amazon holds before the last page, so its bar
        is a counter of the transactions stored.
        """
        if self.name == "sync":
            return int(self.counts.get("transactions", 0)), None
        return self.done, self.total

    def describe(self) -> str:
        """The stage's figures in a few words."""
        counts = self.counts
        if self.status == "skipped":
            return self.errors[-1]["reason"] if self.errors else "skipped"
        parts: list[str]
        if self.name == "sync":
            parts = [
                f"{counts.get('transactions', 0)} transactions in {counts.get('pages', 0)} pages"
            ]
        elif self.name == "invoice_details":
            parts = (
                [
                    f"{self.done}/{self.total} line items",
                    f"{counts.get('invoices', 0)} invoices",
                ]
                if self.total is not None
                else ["no line item waiting for invoice details"]
            )
        elif self.name == "orders":
            parts = (
                [f"{self.done}/{self.total} orders"]
                if self.total is not None
                else ["no order to fetch"]
            )
        elif self.name == "documents":
            parts = (
                [
                    f"{self.done}/{self.total} settled",
                    f"{counts.get('done', 0)} stored",
                    f"{counts.get('unavailable', 0)} unavailable",
                ]
                if self.total is not None
                else ["no document to fetch"]
            )
        else:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            parts = [f"{self.done}/{self.total if self.total is not None else '?'}"] + (
                [shown] if shown else []
            )
        for key, label in (("transient_errors", "transient"), ("unexpected_errors", "unexpected")):
            failures = int(counts.get(key, 0) or 0)
            if failures:
                parts.append(f"{failures} {label} errors in a row")
        return ", ".join(parts)


@dataclass(frozen=True)
class JobView:
    """A job and its stages as stored."""

    id: int
    kind: str
    party: str
    window_start: datetime
    window_end: datetime
    status: str
    created_at: datetime | None
    finished_at: datetime | None
    error: str
    stages: tuple[StageView, ...] = field(default_factory=tuple)

    @property
    def finished(self) -> bool:
        """Whether the job has ended (done or failed)."""
        return self.status != "running"

    @property
    def error_count(self) -> int:
        """The errors recorded on the job's stages (skip notices excluded)."""
        return sum(len(s.errors) for s in self.stages if s.status != "skipped")

    def seconds(self, now: datetime | None = None) -> float | None:
        """How long the job ran (so far, when it is still running)."""
        if self.created_at is None:
            return None
        end = self.finished_at or (now or _now())
        return max(0.0, (end - self.created_at).total_seconds())

    def stage(self, name: str) -> StageView | None:
        """The stage called ``name``, if the job has one."""
        return next((s for s in self.stages if s.name == name), None)

    def running_stage(self) -> StageView | None:
        """The stage that is running now, if any."""
        return next((s for s in self.stages if s.status == "running"), None)


def _stage_view(row: JobStageRow) -> StageView:
    return StageView(
        name=row.name,
        position=row.position,
        status=row.status,
        seq=row.seq,
        done=row.done,
        total=row.total,
        counts=dict(row.counts or {}),
        errors=list(row.errors or []),
        started_at=row.started_at,
        finished_at=row.finished_at,
        due_at=row.due_at,
    )


def _job_view(row: JobRow, stages: Iterable[JobStageRow]) -> JobView:
    assert row.id is not None
    return JobView(
        id=row.id,
        kind=row.kind,
        party=row.party,
        window_start=row.window_start,
        window_end=row.window_end,
        status=row.status,
        created_at=row.created_at,
        finished_at=row.finished_at,
        error=row.error,
        stages=tuple(sorted((_stage_view(s) for s in stages), key=lambda s: s.position)),
    )


def load_job(engine: Engine, job_id: int) -> JobView | None:
    """The job ``job_id`` with its stages, or None when there is no such job."""
    with Session(engine) as session:
        row = session.get(JobRow, job_id)
        if row is None:
            return None
        stages = session.exec(select(JobStageRow).where(JobStageRow.job_id == job_id)).all()
        return _job_view(row, stages)


def recent_jobs(engine: Engine, *, limit: int = 20, status: str | None = None) -> list[JobView]:
    """The newest ``limit`` jobs (of one status, when given), newest first."""
    with Session(engine) as session:
        query = select(JobRow).order_by(col(JobRow.id).desc()).limit(limit)
        if status:
            query = query.where(JobRow.status == status)
        jobs = session.exec(query).all()
        ids = [job.id for job in jobs]
        by_job: dict[int, list[JobStageRow]] = {}
        if ids:
            for stage in session.exec(
                select(JobStageRow).where(col(JobStageRow.job_id).in_(ids))
            ).all():
                by_job.setdefault(stage.job_id, []).append(stage)
        return [_job_view(job, by_job.get(job.id or 0, [])) for job in jobs]


# -- text ---------------------------------------------------------------------------------------


def format_time(moment: datetime | None) -> str:
    """``2025-01-31 12:00:03Z``, or ``-``."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def format_moment(moment: datetime) -> str:
    """A window boundary: the date alone at midnight, else the date-time (UTC)."""
    utc = moment.astimezone(UTC)
    if (utc.hour, utc.minute, utc.second, utc.microsecond) == (0, 0, 0, 0):
        return utc.strftime("%Y-%m-%d")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_window(start: datetime, end: datetime) -> str:
    """A half-open feed-date window, ``[start, end)``."""
    return f"{format_moment(start)} .. {format_moment(end)}"


def format_seconds(seconds: float | None) -> str:
    """``0.4 s``, ``12 s``, ``3m05s``, ``2h03m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def stages_line(job: JobView) -> str:
    """Every stage's status in one short line: ``sync=done details=running ...``."""
    return " ".join(f"{STAGE_ABBREVIATIONS.get(s.name, s.name)}={s.status}" for s in job.stages)


def jobs_table(jobs: Sequence[JobView], now: datetime | None = None) -> list[str]:
    """``abrecon jobs list``: one line per job under a header."""
    now = now or _now()
    rows = [("ID", "KIND", "WINDOW", "STATUS", "CREATED", "DURATION", "STAGES")]
    for job in jobs:
        rows.append(
            (
                str(job.id),
                job.kind,
                format_window(job.window_start, job.window_end),
                job.status,
                format_time(job.created_at),
                format_seconds(job.seconds(now)),
                stages_line(job),
            )
        )
    return _columns(rows)


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def job_details(job: JobView, now: datetime | None = None) -> list[str]:
    """``abrecon jobs show``: the job, each stage's figures and timings, and every error."""
    now = now or _now()
    lines = [
        f"job {job.id} ({job.kind}): {job.status}",
        f"  window:    {format_window(job.window_start, job.window_end)} (feed dates, UTC, "
        "end excluded)",
        f"  created:   {format_time(job.created_at)}",
        f"  finished:  {format_time(job.finished_at)}",
        f"  duration:  {format_seconds(job.seconds(now))}",
    ]
    if job.error:
        lines.append(f"  error:     {job.error}")
    lines.append("stages:")
    for stage in job.stages:
        done, total = stage.progress()
        shown_total = "?" if total is None else str(total)
        progress = "" if stage.status == "skipped" else f", {done}/{shown_total}"
        lines.append(f"  {stage.title}: {stage.status}{progress}")
        lines.append(f"    figures:   {stage.describe()}")
        if stage.counts:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(stage.counts.items()))
            lines.append(f"    counts:    {shown}")
        if stage.started_at is not None:
            lines.append(
                f"    ran:       {format_time(stage.started_at)} .. "
                f"{format_time(stage.finished_at) if stage.finished_at else 'now'} "
                f"({format_seconds(stage.seconds(now))})"
            )
        if stage.status == "running" and stage.due_at is not None:
            lines.append(f"    next step: due by {format_time(stage.due_at)}")
        if stage.errors:
            label = "notes" if stage.status == "skipped" else f"errors ({len(stage.errors)})"
            lines.append(f"    {label}:")
            for error in stage.errors:
                lines.append(f"      {error.get('at', '?')}  {error.get('reason', '')}")
    return lines


def summary_lines(job: JobView, now: datetime | None = None) -> list[str]:
    """The end of ``abrecon run --wait``: the outcome, each stage's figures and time."""
    now = now or _now()
    lines = [
        f"job {job.id} {job.status} in {format_seconds(job.seconds(now))} "
        f"(window {format_window(job.window_start, job.window_end)})"
    ]
    width = max((len(s.title) for s in job.stages), default=0)
    for stage in job.stages:
        timing = ""
        if stage.status not in ("skipped", "pending"):
            timing = f"  ({format_seconds(stage.seconds(now))})"
        lines.append(
            f"  {stage.title.ljust(width)}  {stage.status.ljust(7)}  {stage.describe()}{timing}"
        )
    if job.error_count:
        lines.append(
            f"  errors: {job.error_count} (`abrecon jobs show {job.id}` gives their reasons)"
        )
    return lines


# -- progress bars ------------------------------------------------------------------------------


class ProgressDisplay:
    """One tqdm bar per stage, opened when the stage starts and closed when it settles.

    A stage with a known total gets a bar; one without (the sync) gets a counter.
    """

    def __init__(self, *, file: TextIO | None = None, disable: bool = False) -> None:
        self._file = file or sys.stderr
        self._disable = disable
        self._bars: dict[str, tqdm[Any]] = {}
        self._closed: set[str] = set()

    def update(self, job: JobView) -> None:
        """Bring the bars up to date with ``job``, stage by stage in their order."""
        for stage in job.stages:
            if stage.status == "pending":
                break  # the stages after it have not started either
            if stage.name in self._closed:
                continue
            if stage.status == "skipped":
                self._closed.add(stage.name)
                if not self._disable:
                    tqdm.write(f"{stage.title}: skipped ({stage.describe()})", file=self._file)
                continue
            bar = self._bars.get(stage.name)
            if bar is None:
                bar = self._bars[stage.name] = tqdm(
                    desc=stage.title,
                    unit=STAGE_UNITS.get(stage.name, "it"),
                    file=self._file,
                    disable=self._disable,
                    leave=True,
                    dynamic_ncols=True,
                )
            done, total = stage.progress()
            if total is not None and bar.total != total:
                bar.total = total
            if done > bar.n:
                bar.update(done - bar.n)
            elif done < bar.n:
                bar.n = done
            errors = len(stage.errors)
            bar.set_postfix_str(
                stage.status + (f", {errors} errors" if errors else ""), refresh=False
            )
            bar.refresh()
            if not stage.settled:
                break  # the running stage: those after it wait for it
            if bar.total is None:
                bar.total = bar.n
            bar.close()
            self._closed.add(stage.name)

    def close(self) -> None:
        """Close every bar still open (the job ended or the wait was interrupted)."""
        for name, bar in self._bars.items():
            if name not in self._closed:
                bar.close()
                self._closed.add(name)


def watch_job(
    engine: Engine,
    job_id: int,
    *,
    poll_seconds: float = 0.5,
    display: ProgressDisplay | None = None,
    on_stall: Callable[[JobView, float], None] | None = None,
    stall_seconds: float = STALL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    waiting_for: Callable[[], int] | None = None,
) -> JobView:
    """Poll the store until job ``job_id`` ends; draw its progress; return how it ended.

    ``on_stall`` is called (once per stall) when nothing about the job has changed for
    ``stall_seconds``, with the job and the seconds since its last change. With
    ``waiting_for``, the watch also ends when the count it returns is 0 (no document a command
    asked for is still waiting, say), and a change in that count is progress.
    """
    last_state: object = None
    changed = time.monotonic()
    warned = False
    while True:
        job = load_job(engine, job_id)
        if job is None:
            raise LookupError(f"job {job_id} is not in the store")
        if display is not None:
            display.update(job)
        waiting = waiting_for() if waiting_for is not None else None
        if job.finished or waiting == 0:
            if display is not None:
                display.close()
            return job
        state = (
            waiting,
            tuple((s.status, s.seq, s.done, s.total, str(s.counts)) for s in job.stages),
        )
        if state != last_state:
            last_state, changed, warned = state, time.monotonic(), False
        elif not warned and on_stall is not None:
            idle = time.monotonic() - changed
            if idle >= stall_seconds:
                on_stall(job, idle)
                warned = True
        sleep(poll_seconds)


class _NoHostWarning(logging.Filter):
    """Drops kombu's warning that ``memory://`` names no host (it needs none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No hostname was supplied" not in record.getMessage()


@contextmanager
def bar_friendly_logging() -> Iterator[None]:
    """While bars are drawn: log lines go above the bars, and kombu's memory:// warning away."""
    kombu = logging.getLogger("kombu.connection")
    quiet = _NoHostWarning()
    kombu.addFilter(quiet)
    try:
        with logging_redirect_tqdm():
            yield
    finally:
        kombu.removeFilter(quiet)
