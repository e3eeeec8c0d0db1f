"""The ``abrecon`` command.

Expected failures (a bad date, an unknown job, a missing role, an unreachable database or broker)
end the command with one clear line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import sqlalchemy.exc

from connectors.amazon_business.errors import AmazonBusinessError
from connectors.amazon_business.operations import operations_of_role
from connectors.amazon_business.redaction import install_log_redaction
from connectors.amazon_business.roles import ROLE_TABLE
from worker.accounting.journal import JournalError
from worker.accounting.rules import RulesError
from worker.formats import JOURNAL_FORMATS
from worker.services.jobs import STAGES
from worker.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from celery import Celery
    from sqlalchemy.engine import Engine

    from worker.services.context import Context
    from worker.services.jobs import Dispatch
    from worker.services.journal import Problems
    from worker.services.progress import JobView

DATE_HELP = "YYYY-MM-DD or an ISO 8601 date-time, UTC"
#: Stages each command runs.
RUN_STAGES = STAGES
SYNC_STAGES = ("sync",)
DOCUMENT_STAGES = ("invoice_details", "documents")
#: An operation of each stage, for the role check before a job is created.
STAGE_OPERATIONS = {
    "sync": "getTransactions",
    "invoice_details": "getInvoiceDetailsByOrderLineItems",
    "documents": "createReport",
}
#: Seconds a broker-mode wait goes without any worker taking the job before saying so.
NO_WORKER_HINT_SECONDS = 20.0
#: Loggers whose INFO lines stay hidden unless -v is given.
QUIET_LOGGERS = ("alembic", "connectors.sandbox.server")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def _expected_error(exc: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug (which keeps its trace)."""
    from kombu.exceptions import OperationalError as BrokerError

    from worker.store.migrate import SchemaError

    if isinstance(exc, AmazonBusinessError | SettingsError | SchemaError):
        return f"{type(exc).__name__}: {_one_line(str(exc))}"
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        reason = _one_line(str(exc.orig)) if exc.orig is not None else type(exc).__name__
        return f"the database does not answer: {reason}"
    if isinstance(exc, BrokerError):
        return f"the broker does not answer: {_one_line(str(exc))}"
    return None


class _Group(click.Group):
    """Turns abrecon's expected errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            message = _expected_error(exc)
            if message is None:
                raise
            raise click.ClickException(message) from None


@click.group(cls=_Group)
@click.option("-v", "--verbose", count=True, help="More log output (-v INFO, -vv DEBUG).")
def main(verbose: int) -> None:
    """abrecon: reconcile Amazon Business purchases with your books."""
    install_log_redaction()
    level = {0: None, 1: logging.INFO}.get(verbose, logging.DEBUG)
    if level is None:
        level = getattr(logging, _settings().log_level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        for chatty in QUIET_LOGGERS:  # their INFO lines say nothing a user acts on
            logging.getLogger(chatty).setLevel(max(level, logging.WARNING))


@main.command()
def roles() -> None:
    """Amazon's roles: which are granted and what each enables in abrecon."""
    settings = _settings()
    for info in ROLE_TABLE.values():
        granted = info.role in settings.roles
        mark = click.style("granted", fg="green") if granted else click.style("missing", fg="red")
        click.echo(f"{info.role.value}  [{mark}]")
        click.echo(f"  APIs:        {', '.join(info.apis)}")
        ops = ", ".join(op.name for op in operations_of_role(info.role))
        click.echo(f"  operations:  {ops}")
        click.echo(f"  regions:     {', '.join(r.value for r in info.regions)}")
        click.echo(f"  enables:     {info.enables}")
        if not granted:
            click.echo(f"  without it:  {info.without}")
        click.echo("")
    click.echo("Granted roles come from ABRECON_ROLES (comma-separated names as above).")


# -- dates and checks ---------------------------------------------------------------------------


def parse_date(text: str, option: str, *, end: bool = False) -> datetime:
    """A command-line DATE in UTC: ``YYYY-MM-DD`` or an ISO 8601 date-time.

    A date-time without an offset is UTC; one with an offset is converted to UTC. A bare date
    means its midnight, except as ``--end``, where it includes the whole day (the window ends at
    the next midnight), so ``--start 2025-01-01 --end 2025-01-31`` covers January.
    """
    value = text.strip()
    try:
        if _DAY.fullmatch(value):
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.ClickException(
            f"{option} {text!r} is not a date: use {DATE_HELP} "
            "(e.g. 2025-01-31 or 2025-01-31T12:00:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_day(text: str, option: str) -> date:
    """A command-line day, ``YYYY-MM-DD`` (a window of whole days, both ends included)."""
    value = text.strip()
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise click.ClickException(
            f"{option} {text!r} is not a date: use YYYY-MM-DD (e.g. 2025-01-31)"
        ) from None


def parse_window(start_text: str, end_text: str) -> tuple[datetime, datetime]:
    """``[start, end)`` from ``--start``/``--end``; an end in the future becomes now."""
    start = parse_date(start_text, "--start")
    end = parse_date(end_text, "--end", end=True)
    now = datetime.now(UTC).replace(microsecond=0)
    if start >= now:
        raise click.ClickException(f"--start {start_text} is in the future: nothing to fetch yet")
    if end <= start:
        raise click.ClickException(f"--end {end_text} must be after --start {start_text}")
    if end > now:
        click.echo(
            f"--end {end_text} is in the future: the window ends now ({now:%Y-%m-%dT%H:%M:%SZ})"
        )
        end = now
    return start, end


def check_ready(settings: Settings, stages: Sequence[str]) -> None:
    """Refuse a job that cannot run: a role its stages need, or credentials, are missing."""
    from connectors.amazon_business.errors import RoleNotGrantedError
    from connectors.amazon_business.operations import OPERATIONS
    from connectors.amazon_business.roles import HOW_TO_REQUEST

    for stage in stages:
        name = STAGE_OPERATIONS.get(stage)
        if name is None:
            continue  # orders: without its role the stage is skipped, with the reason
        operation = OPERATIONS[name]
        if operation.role not in settings.roles:
            raise RoleNotGrantedError(operation.name, operation.role.value, HOW_TO_REQUEST)
    missing = [
        variable
        for variable, value in (
            ("ABRECON_LWA_CLIENT_ID", settings.lwa_client_id),
            ("ABRECON_LWA_CLIENT_SECRET", settings.lwa_client_secret.get_secret_value()),
            ("ABRECON_LWA_REFRESH_TOKEN", settings.lwa_refresh_token.get_secret_value()),
        )
        if not value
    ]
    if missing:
        raise click.ClickException(
            f"Login with Amazon needs {', '.join(missing)} (see README, Settings)"
        )


def database_url(settings: Settings) -> str:
    """The store's URL, refused with a clear line when it is not SQLite or PostgreSQL."""
    from sqlalchemy.engine import make_url

    from worker.store.engine import normalise_url

    url = settings.effective_database_url
    try:
        backend = make_url(normalise_url(url)).get_backend_name()
    except sqlalchemy.exc.ArgumentError:
        raise click.ClickException(
            "ABRECON_DATABASE_URL is not a database URL (e.g. "
            "postgresql+psycopg://user:password@host:5432/abrecon)"
        ) from None
    if backend not in ("sqlite", "postgresql"):
        raise click.ClickException(
            f"ABRECON_DATABASE_URL: abrecon keeps its store in SQLite or PostgreSQL, not {backend}"
        )
    return url


def _engine(settings: Settings) -> Engine:
    """The store's engine, its schema brought to head first."""
    from worker.store.engine import get_engine
    from worker.store.migrate import ensure_schema

    url = database_url(settings)
    ensure_schema(url)
    return get_engine(url)


def _shown_url(url: str) -> str:
    """A database or broker URL without its password."""
    from sqlalchemy.engine import make_url

    from worker.store.engine import normalise_url

    try:
        return make_url(normalise_url(url)).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url.split("@")[-1]


# -- running jobs -------------------------------------------------------------------------------


def _wait(engine: Engine, job_id: int, *, embedded: bool) -> JobView:
    """Draw the job's progress until it ends; log lines go above the bars."""
    from worker.services.progress import ProgressDisplay, format_seconds, watch_job

    def stalled(job: JobView, idle: float) -> None:
        from tqdm import tqdm

        stage = job.running_stage()
        if not embedded and stage is not None and stage.seq == 0:
            message = (
                f"no worker has taken job {job.id} in {format_seconds(idle)}: are workers "
                "running on this broker (`abrecon worker`)?"
            )
        else:
            where = f" in {stage.title}" if stage else ""
            message = (
                f"job {job.id}: no progress{where} for {format_seconds(idle)} "
                "(waiting out rate limits or reports; `abrecon jobs show "
                f"{job.id}` shows the errors)"
            )
        tqdm.write(message, file=sys.stderr)

    display = ProgressDisplay()
    try:
        return watch_job(
            engine,
            job_id,
            poll_seconds=0.25 if embedded else 1.0,
            display=display,
            on_stall=stalled,
            stall_seconds=60.0 if embedded else NO_WORKER_HINT_SECONDS,
        )
    finally:
        display.close()


def _interrupted(job_id: int, embedded: bool) -> NoReturn:
    if embedded:
        click.echo(
            f"\ninterrupted: job {job_id} stays in the store, unfinished; "
            f"`abrecon jobs resume {job_id}` carries on where it stopped",
            err=True,
        )
    else:
        click.echo(
            f"\nstopped waiting: job {job_id} goes on in the workers "
            f"(`abrecon jobs show {job_id}`)",
            err=True,
        )
    raise click.exceptions.Exit(130)


def send_to_broker(app: Celery, broker: str, first: Dispatch) -> None:
    """Enqueue a job's first step; a broker that does not take it is one clear error."""
    from worker.tasks import enqueue

    try:
        enqueue(app, first)
    except Exception as exc:
        message = _expected_error(exc) or f"{type(exc).__name__}: {exc}"
        job_id = first.job_id
        raise click.ClickException(
            f"job {job_id} is recorded, but the broker {_shown_url(broker)} did not take "
            f"it ({message}); once the broker answers, beat's sweep sends it again (or "
            f"`abrecon jobs resume {job_id}`)"
        ) from None


def dispatch_job(
    settings: Settings, engine: Engine, job_id: int, first: Dispatch, *, wait: bool
) -> JobView | None:
    """Send the job's first step to the workers, or run it on an embedded worker.

    With a broker, the step is enqueued and, with ``wait``, the store is polled until the job
    ends. Without one, a worker runs in this process until the job ends (always waiting). Returns
    the ended job, or None when not waiting.
    """
    from worker.app import app  # configured from the same settings (one app per process)
    from worker.services.progress import bar_friendly_logging
    from worker.tasks import enqueue

    broker = settings.effective_broker_url
    if broker:
        send_to_broker(app, broker, first)
        click.echo(f"job {job_id} enqueued for the workers on {_shown_url(broker)}")
        if not wait:
            click.echo(f"follow it with `abrecon jobs show {job_id}` (or add --wait)")
            return None
        try:
            with bar_friendly_logging():
                return _wait(engine, job_id, embedded=False)
        except KeyboardInterrupt:
            _interrupted(job_id, embedded=False)
    from worker.embedded import embedded_worker

    click.echo(
        "no broker configured (ABRECON_BROKER_URL / ABRECON_REDIS_URL): the job runs on a "
        "worker embedded in this command, which waits until it ends"
    )
    try:
        with bar_friendly_logging(), embedded_worker(app):
            enqueue(app, first)
            return _wait(engine, job_id, embedded=True)
    except KeyboardInterrupt:
        _interrupted(job_id, embedded=True)


def _report(job: JobView | None) -> None:
    """The summary of an ended job; a failed job makes the command fail."""
    from worker.services.progress import summary_lines

    if job is None:
        return
    click.echo("")
    for line in summary_lines(job):
        click.echo(line)
    if job.status == "failed":
        raise click.ClickException(
            f"job {job.id} failed ({job.error}); `abrecon jobs show {job.id}` gives the reasons"
        )


def start_job(
    kind: str, stages: tuple[str, ...], start_text: str, end_text: str, *, wait: bool
) -> None:
    """Create a job over ``[start, end)`` with ``stages``, dispatch it, report how it ended."""
    from worker.services.context import get_context
    from worker.services.jobs import STAGE_TITLES, create_job
    from worker.services.progress import format_window

    settings = _settings()
    start, end = parse_window(start_text, end_text)
    check_ready(settings, stages)
    database_url(settings)
    ctx: Context = get_context(settings)
    job_id, first = create_job(ctx, start, end, kind=kind, stages=stages)
    titles = " -> ".join(STAGE_TITLES.get(s, s) for s in stages)
    click.echo(f"job {job_id}: {titles} over feed dates {format_window(start, end)} (UTC)")
    _report(dispatch_job(settings, ctx.engine, job_id, first, wait=wait))


_WINDOW_OPTIONS = (
    click.option("--start", "start_text", required=True, metavar="DATE", help=DATE_HELP + "."),
    click.option(
        "--end",
        "end_text",
        required=True,
        metavar="DATE",
        help=DATE_HELP + "; a bare date includes that whole day.",
    ),
    click.option(
        "--wait",
        is_flag=True,
        help="Show progress until the job ends (always so without a broker).",
    ),
)


def _window_options(function: Any) -> Any:
    for option in reversed(_WINDOW_OPTIONS):
        function = option(function)
    return function


@main.command("run")
@_window_options
def run_command(start_text: str, end_text: str, wait: bool) -> None:
    """Reconcile a window: sync -> invoice details -> orders -> invoice PDFs -> matching.

    The job's stages, counts, errors and timings are stored (`abrecon jobs show ID`). With a
    broker configured the job is enqueued for the workers; without one it runs here.
    """
    start_job("run", RUN_STAGES, start_text, end_text, wait=wait)


@main.command("sync")
@_window_options
def sync_command(start_text: str, end_text: str, wait: bool) -> None:
    """Sync the transactions of a window (a job with the sync stage only)."""
    start_job("sync", SYNC_STAGES, start_text, end_text, wait=wait)


@main.group()
def documents() -> None:
    """Invoice and credit-memo PDFs."""


@documents.command("fetch")
@_window_options
def documents_fetch(start_text: str, end_text: str, wait: bool) -> None:
    """Fetch the PDFs of the invoices known from synced transactions.

    A job with two stages: invoice details (which give the invoice numbers) and documents. They
    work through every line item and invoice stored for this account; the window is recorded on
    the job. Run `abrecon sync` first for the transactions.
    """
    start_job("documents", DOCUMENT_STAGES, start_text, end_text, wait=wait)


@documents.command("list")
@click.option(
    "--state",
    type=click.Choice(["pending", "requested", "done", "unavailable"]),
    help="Only documents in this state.",
)
def documents_list(state: str | None) -> None:
    """The stored PDFs (invoice, type, state, pages, bytes, path) and the unavailable ones."""
    from worker.services.exports import list_documents

    settings = _settings()
    rows = list_documents(_engine(settings), settings.party, state)
    if not rows:
        click.echo(
            "no documents stored for this account"
            + (f" in state {state}" if state else "")
            + " (`abrecon documents fetch --start DATE --end DATE` fetches them)"
        )
        return
    listed = [r for r in rows if r.state != "unavailable"]
    if listed:
        table = [("INVOICE", "TYPE", "STATE", "PAGES", "BYTES", "PATH")]
        for r in listed:
            table.append(
                (
                    r.invoice_number,
                    r.document_type,
                    r.state,
                    "" if r.pages is None else str(r.pages),
                    "" if r.size is None else str(r.size),
                    r.path,
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    unavailable = [r for r in rows if r.state == "unavailable"]
    if unavailable:
        if listed:
            click.echo("")
        click.echo(f"unavailable ({len(unavailable)}):")
        width = max(len(r.invoice_number) for r in unavailable)
        for r in unavailable:
            click.echo(
                f"  {r.invoice_number.ljust(width)}  {r.document_type.ljust(8)}  "
                f"{r.reason or 'no reason recorded'}"
            )
    stored = [r for r in rows if r.state == "done"]
    click.echo("")
    click.echo(
        f"{len(rows)} documents: {len(stored)} stored ({sum(r.size or 0 for r in stored)} bytes), "
        f"{len(unavailable)} unavailable, {len(rows) - len(stored) - len(unavailable)} waiting"
    )


#: PDFs an archive must hold before ``documents archive`` draws a progress bar.
ARCHIVE_BAR_FILES = 20


def _fetch_now(settings: Settings, ctx: Context, ids: Sequence[int]) -> None:
    """Fetch the documents ``ids`` through a job's documents stage, and wait until they settle.

    The job is dispatched as ``documents fetch`` dispatches its own: enqueued for the workers
    with a broker, else run on a worker embedded here. The stage works through every waiting
    document of the account; the wait ends when those asked for settle, and the job goes on
    with the rest (in the workers, or with ``abrecon jobs resume ID``).
    """
    from worker.app import app
    from worker.embedded import embedded_worker
    from worker.services.pdf_files import fetch_job, unsettled, wait_for_documents
    from worker.services.progress import ProgressDisplay, bar_friendly_logging, format_seconds
    from worker.tasks import enqueue

    check_ready(settings, ("documents",))
    broker = settings.effective_broker_url
    job_id, first = fetch_job(ctx)
    click.echo(
        f"job {job_id}: fetching {len(ids)} PDF(s) through the Document API "
        "(create -> poll -> download)"
        + ("" if broker else " on a worker embedded in this command (no broker configured)")
    )

    def stalled(job: JobView, idle: float) -> None:
        from tqdm import tqdm

        hint = (
            "are workers running on this broker (`abrecon worker`)?"
            if broker
            else "waiting out rate limits or reports"
        )
        tqdm.write(
            f"job {job.id}: no progress for {format_seconds(idle)} ({hint}; "
            f"`abrecon jobs show {job.id}` shows the errors)",
            file=sys.stderr,
        )

    display = ProgressDisplay()
    try:
        with bar_friendly_logging():
            if broker:
                send_to_broker(app, broker, first)
                job = wait_for_documents(
                    ctx.engine,
                    job_id,
                    ids,
                    poll_seconds=1.0,
                    display=display,
                    on_stall=stalled,
                    stall_seconds=NO_WORKER_HINT_SECONDS,
                )
            else:
                with embedded_worker(app):
                    enqueue(app, first)
                    job = wait_for_documents(
                        ctx.engine,
                        job_id,
                        ids,
                        poll_seconds=0.25,
                        display=display,
                        on_stall=stalled,
                        stall_seconds=60.0,
                    )
    except KeyboardInterrupt:
        display.close()
        _interrupted(job_id, embedded=not broker)
    finally:
        display.close()
    left = unsettled(ctx.engine, ids)
    if job.finished and job.status == "failed":
        click.echo(f"job {job_id} failed ({job.error}); `abrecon jobs show {job_id}` says why")
    elif not job.finished:
        rest = (
            "goes on in the workers"
            if broker
            else f"stays in the store, unfinished; `abrecon jobs resume {job_id}` fetches the "
            "account's other waiting PDFs"
        )
        click.echo(f"job {job_id} {rest}")
    if left:
        click.echo(f"{left} of the PDF(s) asked for are still waiting")


@documents.command("download")
@click.option(
    "--invoice",
    "numbers",
    required=True,
    multiple=True,
    metavar="NUMBER",
    help="An invoice or credit-memo number; repeat for several.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to copy the PDFs into (made when missing).",
)
@click.option(
    "--no-fetch", is_flag=True, help="Copy only what is stored; fetch nothing, say what is not."
)
def documents_download(numbers: tuple[str, ...], out_dir: Path, no_fetch: bool) -> None:
    """Copy the PDFs of invoice numbers into DIR, fetching those not stored yet.

    Each document of a number becomes DIR/<number>.pdf, a credit memo DIR/<number>-credit-memo.pdf
    (characters other than letters, digits, '.', '_' and '-' become '_', and a short hash is
    added). A stored file is checked against its recorded SHA-256 as it is copied; a document not
    fetched yet, or whose stored file is missing or damaged, is fetched now through a job's
    documents stage (as `abrecon documents fetch` does). Fails, naming them, when some documents
    could not be copied.
    """
    from worker.services.context import get_context
    from worker.services.pdf_files import UnknownInvoiceError, download_documents

    if not any(number.strip() for number in numbers):
        raise click.UsageError("--invoice needs an invoice number")
    settings = _settings()
    database_url(settings)
    ctx = get_context(settings)
    try:
        result = download_documents(
            ctx,
            numbers,
            out_dir,
            fetch=None if no_fetch else (lambda ids: _fetch_now(settings, ctx, ids)),
            notify=click.echo,
        )
    except UnknownInvoiceError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        where = exc.filename or out_dir
        raise click.ClickException(f"cannot copy into {where}: {exc.strerror or exc}") from None
    for copied in result.copied:
        click.echo(f"{copied.document.label} -> {copied.path} ({copied.size} bytes)")
    if not result.not_copied:
        return
    for problem in result.not_copied:
        click.echo(f"not copied: {problem.label}: {problem.detail}", err=True)
    kinds = {problem.kind for problem in result.not_copied}
    hints = []
    if no_fetch and kinds & {"waiting", "missing", "corrupt"}:
        hints.append("without --no-fetch they are fetched now")
    elif "waiting" in kinds:
        hints.append("`abrecon jobs list` shows the job fetching them")
    if "unavailable" in kinds:
        hints.append("`abrecon documents list` shows why Amazon could not produce them")
    total = len(result.copied) + len(result.not_copied)
    raise click.ClickException(
        f"{len(result.not_copied)} of {total} documents not copied"
        + (f" ({'; '.join(hints)})" if hints else "")
    )


@documents.command("archive")
@click.option(
    "--start", "start_text", required=True, metavar="DATE", help="First invoice date, YYYY-MM-DD."
)
@click.option(
    "--end",
    "end_text",
    required=True,
    metavar="DATE",
    help="Last invoice date, YYYY-MM-DD (included).",
)
@click.option(
    "--out",
    "out",
    required=True,
    metavar="FILE.zip",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The zip to write (replaced atomically).",
)
def documents_archive(start_text: str, end_text: str, out: Path) -> None:
    """A zip of the stored PDFs with an invoice date from START to END, and a manifest.csv.

    The invoice date is the one of the invoice details, else the date of the transaction
    carrying the invoice number (UTC). manifest.csv lists invoice_number, document_type,
    invoice_date, transaction_ids, order_ids, sha256 and file_name of every PDF in the zip. The
    same store gives the same zip, byte for byte. Documents of the window not downloaded yet are
    listed as missing; an empty window gives a zip holding only manifest.csv. Fails, writing
    nothing, when a stored PDF of the window is missing or damaged.
    """
    from tqdm import tqdm

    from worker.services.context import get_context
    from worker.services.pdf_files import (
        MANIFEST_NAME,
        DamagedArchiveError,
        plan_archive,
        write_archive,
    )

    start = parse_day(start_text, "--start")
    end = parse_day(end_text, "--end")
    if end < start:
        raise click.ClickException(f"--end {end_text} is before --start {start_text}")
    settings = _settings()
    database_url(settings)
    ctx = get_context(settings)
    plan = plan_archive(ctx, start, end)
    bar = tqdm(
        total=len(plan.stored),
        desc="archive",
        unit="pdf",
        file=sys.stderr,
        disable=len(plan.stored) < ARCHIVE_BAR_FILES,
        dynamic_ncols=True,
    )
    try:
        result = write_archive(ctx, plan, out, on_file=lambda _item: bar.update())
    except DamagedArchiveError as exc:
        bar.close()
        for problem in exc.problems:
            click.echo(f"damaged: {problem.label}: {problem.detail}", err=True)
        raise click.ClickException(
            f"{out} not written: {len(exc.problems)} stored PDF(s) of the window are missing or "
            "damaged; `abrecon documents download --invoice NUMBER --out DIR` fetches one again"
        ) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        bar.close()
    if not plan.stored and not plan.missing:
        click.echo(
            f"no documents with an invoice date in {start} .. {end}: {out} holds only "
            f"{MANIFEST_NAME}"
        )
    else:
        click.echo(
            f"wrote {result.files} PDFs and {MANIFEST_NAME} to {out} ({result.size} bytes; "
            f"invoice dates {start} .. {end})"
        )
    if plan.missing:
        click.echo(f"missing: {len(plan.missing)} documents of the window are not in the zip:")
        width = max(len(item.document.invoice_number) for item in plan.missing)
        for item in plan.missing:
            document = item.document
            why = (
                f"unavailable: {document.reason or 'no reason recorded'}"
                if document.state == "unavailable"
                else f"not downloaded yet ({document.state})"
            )
            click.echo(
                f"  {document.invoice_number.ljust(width)}  {document.document_type.ljust(8)}  "
                f"{item.invoice_date}  {why}"
            )
        click.echo(
            "`abrecon documents fetch --start DATE --end DATE` fetches the ones not downloaded "
            "yet; then archive again"
        )
    if plan.undated:
        click.echo(f"note: {plan.undated} documents have no invoice date and are in no window")


# -- jobs ---------------------------------------------------------------------------------------


@main.group()
def jobs() -> None:
    """Jobs and their stages, as stored."""


@jobs.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--status", type=click.Choice(["running", "done", "failed"]), help="Only these.")
def jobs_list(limit: int, status: str | None) -> None:
    """The newest jobs: id, kind, window, status, created, duration, each stage's status."""
    from worker.services.progress import jobs_table, recent_jobs

    found = recent_jobs(_engine(_settings()), limit=limit, status=status)
    if not found:
        click.echo("no jobs yet (`abrecon run --start DATE --end DATE` starts one)")
        return
    for line in jobs_table(found):
        click.echo(line)


def _job_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise click.ClickException(f"{text!r} is not a job id: job ids are numbers") from None
    if value < 1:
        raise click.ClickException(f"{text!r} is not a job id: job ids are positive numbers")
    return value


def _load(engine: Engine, text: str) -> JobView:
    from worker.services.progress import load_job

    job_id = _job_id(text)
    job = load_job(engine, job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id} (`abrecon jobs list` shows the jobs)")
    return job


@jobs.command("show")
@click.argument("job_id", metavar="ID")
def jobs_show(job_id: str) -> None:
    """A job's stages: status, done/total, counts, timings, and every error with its reason."""
    from worker.services.progress import job_details

    job = _load(_engine(_settings()), job_id)
    for line in job_details(job):
        click.echo(line)


@jobs.command("resume")
@click.argument("job_id", metavar="ID")
@click.option("--wait", is_flag=True, help="Show progress until the job ends.")
def jobs_resume(job_id: str, wait: bool) -> None:
    """Carry on with an unfinished job (one whose command was interrupted, say).

    Its next step is sent again; a step already under way elsewhere is not run twice.
    """
    from worker.services.context import get_context
    from worker.services.jobs import activate_next_stage, schedule_step

    settings = _settings()
    database_url(settings)
    ctx = get_context(settings)
    job = _load(ctx.engine, job_id)
    if job.finished:
        raise click.ClickException(f"job {job.id} has ended ({job.status}): nothing to resume")
    check_ready(settings, [s.name for s in job.stages if not s.settled])
    following = activate_next_stage(ctx, job.id)
    if following is None:
        from worker.services.progress import load_job

        _report(load_job(ctx.engine, job.id))
        return
    first = schedule_step(ctx, job.id, following.stage, 0.0)
    click.echo(f"job {job.id}: resuming at {following.stage}")
    _report(dispatch_job(settings, ctx.engine, job.id, first, wait=wait))


# -- exports ------------------------------------------------------------------------------------


@main.group()
def export() -> None:
    """Files made from the store."""


@export.command("transactions")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV file to write (replaced atomically).",
)
def export_transactions_command(out: Path) -> None:
    """The stored transactions as CSV, one row per transaction (first column transaction_id).

    Amounts are exact decimal strings; text cells a spreadsheet would run as a formula get a
    leading single quote.
    """
    from worker.services.exports import export_transactions

    settings = _settings()
    try:
        count = export_transactions(_engine(settings), settings.party, out)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {count} transactions to {out}")


@export.command("matches")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV file to write.",
)
def export_matches_command(out: Path) -> None:
    """One row per link: match_id, transaction_id, ledger_entry_id, rule, score, status,
    amount_difference (several rows share a match_id when a match joins several items)."""
    from worker.services.context import get_context
    from worker.services.exports import write_csv_atomically
    from worker.services.matching import MATCH_COLUMNS, match_link_rows

    ctx = get_context(_settings())
    count = write_csv_atomically(out, MATCH_COLUMNS, match_link_rows(ctx))
    click.echo(f"wrote {count} match links to {out}")


@export.command("exceptions")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV file to write.",
)
def export_exceptions_command(out: Path) -> None:
    """The unmatched items of both sides, with why they failed and their nearest candidates."""
    from worker.services.context import get_context
    from worker.services.exports import write_csv_atomically
    from worker.services.matching import EXCEPTION_COLUMNS, exception_rows

    ctx = get_context(_settings())
    count = write_csv_atomically(out, EXCEPTION_COLUMNS, exception_rows(ctx))
    click.echo(f"wrote {count} exceptions to {out}")


def _report_problems(problems: Problems, shown: int = 10) -> None:
    if not problems.count:
        return
    click.echo(
        f"{problems.count} transaction(s) could not be posted and were left out"
        f" (fix the data or the posting rules):",
        err=True,
    )
    for problem in problems.items[:shown]:
        click.echo(f"  {_one_line(problem.reason)}", err=True)
    if problems.count > shown:
        click.echo(f"  ... and {problems.count - shown} more", err=True)


@export.command("journal")
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(JOURNAL_FORMATS),
    help="csv (generic), qbo (QuickBooks Online), iif (QuickBooks Desktop), xero, netsuite,"
    " datev (EXTF Buchungsstapel), beancount or hledger.",
)
@click.option(
    "--out",
    "out",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (replaced atomically; Xero: more files when over 300 lines).",
)
@click.option("--start", "start_text", metavar="YYYY-MM-DD", help="First transaction date.")
@click.option("--end", "end_text", metavar="YYYY-MM-DD", help="Last transaction date.")
@click.option(
    "--since-last",
    is_flag=True,
    help="Only entries no earlier export in this format has written.",
)
def export_journal_command(
    fmt: str, out: Path, start_text: str | None, end_text: str | None, since_last: bool
) -> None:
    """Balanced journal entries of the stored transactions, in an accounting format.

    One entry per transaction (or per match, with group_by = "match" in the posting rules),
    accounts chosen by the posting rules (ABRECON_POSTING_RULES). Every export is recorded;
    the same data exported again gives the same bytes.
    """
    from tqdm import tqdm

    from worker.services.journal import count_transactions, export_journal

    settings = _settings()
    start = parse_day(start_text, "--start") if start_text is not None else None
    end = parse_day(end_text, "--end") if end_text is not None else None
    if start and end and end < start:
        raise click.ClickException(f"--end {end} is before --start {start}")
    _warn_company_cards(settings)
    engine = _engine(settings)
    total = count_transactions(engine, settings.party, start, end)
    bar = tqdm(total=total, unit="txn", desc="journal", disable=total < 20_000, file=sys.stderr)

    def advance(count: int) -> None:
        bar.update(count)

    try:
        done = export_journal(
            engine,
            settings,
            fmt,
            out,
            start=start,
            end=end,
            since_last=since_last,
            progress=advance,
        )
    except (JournalError, RulesError) as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        bar.close()
    files = ", ".join(str(f) for f in done.result.files)
    click.echo(
        f"wrote {done.result.entries} journal entries ({done.result.lines} lines) to {files}"
        + (f"; {done.skipped} exported before were left out" if done.skipped else "")
    )
    _report_problems(done.problems)


def _warn_company_cards(settings: Settings) -> None:
    if not settings.company_cards:
        click.echo(
            "note: ABRECON_COMPANY_CARDS is not set, so every card payment counts as an"
            " employee's personal card (reimbursable)",
            err=True,
        )


@export.command("reimbursements")
@click.option(
    "--format", "fmt", default="csv", show_default=True, type=click.Choice(["csv", "json"])
)
@click.option(
    "--out",
    "out",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (replaced atomically).",
)
def export_reimbursements_command(fmt: str, out: Path) -> None:
    """What employees paid on personal cards, per employee and period (open ones become exported).

    A card payment is an employee's when its last four digits are not in ABRECON_COMPANY_CARDS.
    """
    from worker.services.reimbursements import export_reimbursements

    settings = _settings()
    _warn_company_cards(settings)
    try:
        done = export_reimbursements(_engine(settings), settings, fmt, out)
    except RulesError as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(
        f"wrote {len(done.records)} reimbursements ({done.result.lines} transactions) to {out}"
    )
    _report_problems(done.problems)


@main.group()
def reimbursements() -> None:
    """Employees' personal-card purchases owed back to them."""


@reimbursements.command("list")
def reimbursements_list() -> None:
    """The stored reimbursements (as of the last reimbursement export) and their status."""
    from worker.services.exports import decimal_text
    from worker.services.reimbursements import list_reimbursements

    settings = _settings()
    rows = list_reimbursements(_engine(settings), settings.party)
    if not rows:
        click.echo("no reimbursements yet (abrecon export reimbursements --out FILE computes them)")
        return
    for row in rows:
        click.echo(
            f"{row.reimbursement_id}  {row.period_start}..{row.period_end}"
            f"  {row.employee_name or row.employee_email or row.employee_id}"
            f"  {decimal_text(row.total, row.currency)} {row.currency}"
            f"  {row.transactions} transaction(s)  {row.status}"
        )


@reimbursements.command("paid")
@click.argument("reimbursement_id", metavar="ID")
def reimbursements_paid(reimbursement_id: str) -> None:
    """Mark a reimbursement paid (the employee got the money)."""
    from worker.services.reimbursements import mark_paid

    settings = _settings()
    try:
        row = mark_paid(_engine(settings), settings.party, reimbursement_id, datetime.now(UTC))
    except LookupError as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    click.echo(f"{row.reimbursement_id} marked paid")


# -- ledger and matching ---------------------------------------------------------------------


@main.group()
def ledger() -> None:
    """The company's books: import ledger files, list entries."""


@ledger.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    "mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML mapping file for another layout.",
)
def ledger_import(file: Path, mapping: Path | None) -> None:
    """Import a ledger file, all or nothing (the canonical CSV, or another layout by --mapping)."""
    from connectors.ledger.mapping import MappingError
    from connectors.ledger.model import LedgerError
    from worker.services.context import get_context
    from worker.services.ledger import import_ledger

    ctx = get_context(_settings())
    try:
        summary = import_ledger(ctx, file, mapping)
    except (LedgerError, MappingError) as exc:
        raise click.ClickException(f"{_one_line(str(exc))}; nothing was imported") from None
    click.echo(
        f"{file}: {summary.rows} rows; {summary.inserted} new, {summary.updated} changed, "
        f"{summary.unchanged} unchanged"
    )


@ledger.command("list")
@click.option(
    "--state", type=click.Choice(["all", "matched", "unmatched"]), default="all", show_default=True
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1_000_000))
def ledger_list(state: str, limit: int) -> None:
    """Ledger entries with their match state."""
    from sqlmodel import Session, col, select

    from worker.services.context import get_context
    from worker.services.exports import decimal_text
    from worker.store.tables import LedgerEntryRow, MatchLinkRow, MatchRow

    ctx = get_context(_settings())
    with Session(ctx.engine) as session:
        status = dict(
            session.exec(
                select(MatchLinkRow.ledger_entry_id, MatchRow.status)
                .join(MatchRow, col(MatchRow.id) == col(MatchLinkRow.match_id))
                .where(MatchLinkRow.party == ctx.party, MatchRow.status != "rejected")
            ).all()
        )
        rows = session.exec(
            select(LedgerEntryRow)
            .where(LedgerEntryRow.party == ctx.party)
            .order_by(col(LedgerEntryRow.entry_id))
        ).all()
    shown = 0
    for row in rows:
        match_state = status.get(row.entry_id, "unmatched")
        if state == "matched" and match_state == "unmatched":
            continue
        if state == "unmatched" and match_state != "unmatched":
            continue
        click.echo(
            f"{row.entry_id:<14} {row.posted_date}  {decimal_text(row.amount):>12} "
            f"{row.currency}  {match_state:<10} {row.description[:50]}"
        )
        shown += 1
        if shown >= limit:
            break
    click.echo(f"{shown} of {len(rows)} entries shown")


@main.command("match")
@click.option("--dry-run", is_flag=True, help="Show what matching would do; store nothing.")
def match_command(dry_run: bool) -> None:
    """Match every stored transaction against the ledger."""
    from worker.services.context import get_context
    from worker.services.matching import run_matching

    ctx = get_context(_settings())
    run = run_matching(ctx, dry_run=dry_run)
    result = run.result
    zones: dict[str, int] = {}
    for m in result.matches:
        zones[m.zone.value] = zones.get(m.zone.value, 0) + 1
    click.echo(
        f"matches: {len(result.matches)} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(zones.items()))
        + ")"
    )
    click.echo("by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(run.by_rule.items())))
    click.echo(
        f"unmatched: {len(result.unmatched_transactions)} transactions, "
        f"{len(result.unmatched_entries)} ledger lines"
    )
    for problem in result.problems[:20]:
        click.echo(f"problem: {problem.code}: {problem.message}")
    if dry_run:
        click.echo("dry run: nothing stored")
    else:
        click.echo(f"stored {run.written} matches; {run.removed} outdated proposals removed")


@main.group()
def matches() -> None:
    """Decisions on proposed matches."""


@matches.command("review")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1_000_000))
def matches_review(limit: int) -> None:
    """The matches that need a person (zone review)."""
    from sqlmodel import Session, col, select

    from worker.services.context import get_context
    from worker.store.tables import MatchLinkRow, MatchRow

    ctx = get_context(_settings())
    with Session(ctx.engine) as session:
        rows = session.exec(
            select(MatchRow)
            .where(MatchRow.party == ctx.party, MatchRow.status == "review")
            .order_by(col(MatchRow.score).desc(), col(MatchRow.match_key))
            .limit(limit)
        ).all()
        for row in rows:
            links = session.exec(select(MatchLinkRow).where(MatchLinkRow.match_id == row.id)).all()
            txns = sorted({link.transaction_id for link in links})
            entries = sorted({link.ledger_entry_id for link in links})
            click.echo(
                f"{row.id:>6} {row.match_key}  {row.rule:<14} score {row.score:.2f}  "
                f"transactions {', '.join(txns)}  ledger {', '.join(entries)}"
            )
            click.echo(f"       {row.explanation}")
    click.echo(
        f"{len(rows)} matches to review; decide with "
        "`abrecon matches confirm ID` or `abrecon matches reject ID`"
    )


def _decide(match: str, status: str) -> None:
    from worker.services.context import get_context
    from worker.services.matching import decide

    try:
        row = decide(get_context(_settings()), match, status)
    except LookupError as exc:
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from None
    click.echo(f"match {row.id} ({row.match_key}) {status}")


@matches.command("confirm")
@click.argument("match", metavar="ID")
def matches_confirm(match: str) -> None:
    """Confirm a proposed match (by number or match id)."""
    _decide(match, "confirmed")


@matches.command("reject")
@click.argument("match", metavar="ID")
def matches_reject(match: str) -> None:
    """Reject a proposed match: its pairs are never proposed again."""
    _decide(match, "rejected")


@matches.command("link")
@click.option("--transaction", "transaction_id", required=True)
@click.option(
    "--ledger",
    "entry_ids",
    required=True,
    multiple=True,
    help="A ledger entry id; repeat for several.",
)
@click.argument("more_entries", nargs=-1)
def matches_link(
    transaction_id: str, entry_ids: tuple[str, ...], more_entries: tuple[str, ...]
) -> None:
    """Match a transaction with ledger lines by hand (--ledger L [L ...])."""
    from worker.services.context import get_context
    from worker.services.matching import link

    try:
        row = link(get_context(_settings()), transaction_id, [*entry_ids, *more_entries])
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from None
    click.echo(
        f"match {row.id} ({row.match_key}) linked by hand; "
        f"difference {row.difference} {row.currency}"
    )


# -- database -----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The store's database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations (commands and workers also do it on first use)."""
    from worker.store.migrate import current_revision, upgrade

    url = database_url(_settings())
    before = current_revision(url)
    upgrade(url)
    after = current_revision(url)
    if before == after:
        click.echo(f"{_shown_url(url)}: already at revision {after}")
    else:
        click.echo(f"{_shown_url(url)}: upgraded from {before or 'an empty database'} to {after}")


# -- celery processes ---------------------------------------------------------------------------


def _has_option(args: Sequence[str], short: str, long: str) -> bool:
    """Whether ``args`` set an option, as ``-c 4``, ``-c4``, ``--concurrency 4`` or ``=4``."""
    return any(
        arg == long
        or arg.startswith(long + "=")
        or (arg.startswith(short) and not arg.startswith("--"))
        for arg in args
    )


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def celery_worker_argv(settings: Settings, args: Sequence[str]) -> list[str]:
    """``celery -A worker.app worker`` with abrecon's defaults, unless ``args`` set them."""
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "worker"]
    if not _has_option(args, "-P", "--pool"):
        argv.append("--pool=prefork")
    if not _has_option(args, "-c", "--concurrency"):
        argv.append(f"--concurrency={usable_cores()}")
    if not _has_option(args, "-l", "--loglevel"):
        argv.append(f"--loglevel={settings.log_level}")
    return [*argv, *args]


def celery_beat_argv(settings: Settings, args: Sequence[str]) -> list[str]:
    """``celery -A worker.app beat`` with its schedule file in the data dir."""
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "beat"]
    if not _has_option(args, "-s", "--schedule"):
        argv.append(f"--schedule={settings.data_dir / 'celerybeat-schedule'}")
    if not _has_option(args, "-l", "--loglevel"):
        argv.append(f"--loglevel={settings.log_level}")
    return [*argv, *args]


def _need_broker(settings: Settings, what: str) -> str:
    broker = settings.effective_broker_url
    if not broker:
        raise click.ClickException(
            f"no broker configured: {what} needs ABRECON_BROKER_URL (or ABRECON_REDIS_URL), "
            "e.g. redis://127.0.0.1:6379/0; without a broker, `abrecon run` runs its own "
            "embedded worker"
        )
    return broker


def _exec(argv: list[str]) -> NoReturn:
    shown = argv[2:] if argv[1:2] == ["-m"] else argv
    click.echo("starting: " + " ".join(shown), err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


@main.command("worker", context_settings=_PASS_THROUGH)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker_command(celery_args: tuple[str, ...]) -> None:
    """Start a Celery worker: `celery -A worker.app worker` (prefork, one process per core).

    Arguments after the command go to celery (e.g. `abrecon worker --concurrency 8`). Needs a
    broker; the schema is brought to head before the worker starts.
    """
    settings = _settings()
    broker = _need_broker(settings, "abrecon worker")
    url = database_url(settings)
    from worker.store.migrate import ensure_schema

    ensure_schema(url)
    click.echo(f"broker {_shown_url(broker)}, store {_shown_url(url)}", err=True)
    if url.startswith("sqlite"):
        click.echo(
            "the store is a SQLite file: fine for workers on this machine; workers on several "
            "machines need PostgreSQL (ABRECON_DATABASE_URL)",
            err=True,
        )
    _exec(celery_worker_argv(settings, celery_args))


@main.command("beat", context_settings=_PASS_THROUGH)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat_command(celery_args: tuple[str, ...]) -> None:
    """Start Celery beat: the sweep of overdue stages and the daily incremental sync.

    Run exactly one beat per broker. Arguments after the command go to celery.
    """
    settings = _settings()
    _need_broker(settings, "abrecon beat")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _exec(celery_beat_argv(settings, celery_args))


# -- sandbox and demo ---------------------------------------------------------------------------


@main.group()
def sandbox() -> None:
    """The local Amazon Business API simulator."""


@sandbox.command("serve")
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scenario JSON (default: a generated one).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--faults", default=None, help='e.g. "429=0.05,500=0.02,drop=0.01,slow=0.02"')
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--roles",
    "granted",
    default=None,
    help="Roles the sandbox app is granted (comma-separated; default all).",
)
@click.option("--no-auth", is_flag=True, help="Do not check access tokens.")
@click.option("--no-usage-plans", is_flag=True, help="Do not enforce usage plans (no 429s).")
@click.option(
    "--processing-seconds",
    default=2.0,
    show_default=True,
    type=float,
    help="How long a report takes from IN_QUEUE to its end.",
)
@click.option("--fatal-rate", default=0.0, show_default=True, type=float)
@click.option("--cancelled-rate", default=0.0, show_default=True, type=float)
@click.option(
    "--url-ttl",
    default=300.0,
    show_default=True,
    type=float,
    help="Seconds a document URL stays valid.",
)
@click.option("--gzip", "gzip_documents", is_flag=True, help="Serve documents gzipped.")
def sandbox_serve(
    scenario_path: Path | None,
    host: str,
    port: int,
    faults: str | None,
    seed: int,
    granted: str | None,
    no_auth: bool,
    no_usage_plans: bool,
    processing_seconds: float,
    fatal_rate: float,
    cancelled_rate: float,
    url_ttl: float,
    gzip_documents: bool,
) -> None:
    """Serve every Amazon Business operation locally, in Amazon's wire format."""
    from connectors.amazon_business.roles import parse_roles
    from connectors.sandbox.serve import serve

    try:
        roles_granted = parse_roles(granted) if granted is not None else None
        serve(
            scenario_path,
            host,
            port,
            faults,
            seed,
            granted_roles=roles_granted,
            enforce_auth=not no_auth,
            enforce_usage_plans=not no_usage_plans,
            report_processing_seconds=processing_seconds,
            fatal_rate=fatal_rate,
            cancelled_rate=cancelled_rate,
            document_url_ttl_seconds=url_ttl,
            gzip_documents=gzip_documents,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@sandbox.command("generate")
@click.option("--orders", default=200, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
def sandbox_generate(orders: int, seed: int, out_dir: Path) -> None:
    """Write a realistic scenario.json, ledger.csv and truth.csv into OUT."""
    from connectors.sandbox.generator import write_scenario

    paths = write_scenario(out_dir, orders, seed)
    for name, path in paths.items():
        click.echo(f"{name}: {path}")


@main.command()
@click.option("--orders", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=7, show_default=True, type=int)
def demo(orders: int, seed: int) -> None:
    """Run a job (sync, invoice details, PDFs) against an in-process sandbox, embedded.

    Everything runs on the embedded defaults, in a folder of its own under the data dir: a
    generated scenario, a local sandbox with generous usage plans, a SQLite store, the in-memory
    broker and a worker in this process.
    """
    from worker.demo import run_demo

    run_demo(_settings(), orders=orders, seed=seed)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
