"""``abrecon demo``: a real job on the embedded defaults, against an in-process sandbox.

It generates a scenario, serves it from a sandbox on a free port, and runs the job abrecon runs
against Amazon (sync the transactions, fetch the invoice details of every line item, download
the invoice and credit-memo PDFs through the Document API's create -> poll -> download
lifecycle) exactly as ``abrecon run`` does without a broker: a SQLite store, Celery's in-memory
broker and a worker embedded in the process. It ends with a summary read from the store.

The demo has a folder of its own (``<data dir>/demo``: scenario, store, PDFs) and settings of its
own, made with :func:`~worker.settings.load_settings` overrides and installed with
:func:`~worker.services.context.use_settings` for the demo only; the environment is never
touched. The sandbox and the client both get generous usage plans, so that the demo takes
seconds where Amazon's plans (about one ``createReport`` a minute) would take hours.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import click
from celery import Celery
from sqlmodel import Session, col, func, select

from connectors.amazon_business.models import Transaction
from connectors.amazon_business.operations import OPERATIONS, UsagePlan
from connectors.amazon_business.regions import Region
from connectors.amazon_business.roles import Role
from connectors.sandbox.generator import write_scenario
from connectors.sandbox.scenario import Scenario, load_scenario
from connectors.sandbox.server import SandboxConfig, SandboxServer
from worker.embedded import embedded_worker
from worker.services.context import Context, get_context, use_settings
from worker.services.jobs import STAGE_TITLES, Dispatch, create_job
from worker.services.ledger import import_ledger
from worker.services.progress import (
    JobView,
    ProgressDisplay,
    bar_friendly_logging,
    format_window,
    summary_lines,
    watch_job,
)
from worker.settings import Settings, load_settings
from worker.store.tables import (
    DocumentRow,
    ExportBatchRow,
    ExportedEntryRow,
    InvoiceDetailRow,
    MatchLinkRow,
    MatchRow,
    OrderLineItemRow,
    TransactionRow,
)
from worker.tasks import enqueue

#: The usage plan the demo's sandbox enforces and its client keeps to, for every operation.
DEMO_PLAN = UsagePlan(100.0, 100)
#: The demo's job: no order enrichment (it needs the Amazon Business Analytics role).
DEMO_STAGES: tuple[str, ...] = ("sync", "invoice_details", "documents", "match", "export")
#: Seconds a sandbox report takes from IN_QUEUE to DONE in the demo.
REPORT_SECONDS = 0.5


def demo_plans() -> dict[str, UsagePlan]:
    """The demo's usage plans: :data:`DEMO_PLAN` for every operation."""
    return {name: DEMO_PLAN for name in OPERATIONS}


def demo_settings(
    base: Settings,
    api_url: str,
    *,
    orders: int,
    seed: int,
    company_cards: frozenset[str] = frozenset(),
) -> Settings:
    """The demo's settings: ``base`` with the sandbox, the embedded defaults and the demo's plans.

    The store is SQLite under ``<data dir>/demo`` and there is no broker and no Redis, whatever
    the environment configures. The account (and so the party) is one per scenario, so running
    the same demo again finds its work done.
    """
    return load_settings(
        region=Region.NA,
        api_endpoint=api_url,
        lwa_endpoint=f"{api_url}/auth/o2/token",
        lwa_client_id="abrecon-demo",
        lwa_client_secret="demo-secret",
        lwa_refresh_token=f"Atzr|demo-{seed}-{orders}",
        roles=frozenset({Role.BUSINESS_PURCHASE_RECONCILIATION}),
        data_dir=base.data_dir / "demo",
        database_url=None,
        broker_url=None,
        redis_url=None,
        usage_plans=demo_plans(),
        rate_limiting=True,
        document_scope="all",
        log_level=base.log_level,
        company_cards=company_cards,
        export_formats=("csv", "beancount", "hledger"),
        export_dir=base.data_dir / "demo" / "exports",
        posting_rules=base.posting_rules,
    )


def embedded_app(settings: Settings) -> Celery:
    """The process's Celery app, pointed at the in-memory broker of ``settings``.

    :mod:`worker.tasks` registers its tasks as Celery *shared* tasks, so a second app in one
    process could run the first app's task functions, which enqueue the next steps through the
    first app (and its broker). The demo therefore reuses the process's one app and points it at
    ``memory://`` before anything has used its broker.
    """
    from worker.app import app, celery_config

    app.conf.update(celery_config(settings))
    return app


def scenario_window(scenario: Scenario) -> tuple[datetime, datetime]:
    """The feed dates of the scenario's transactions, as a half-open window."""
    moments = [
        moment
        for t in scenario.transactions
        if t.get("feedDate")
        and (moment := Transaction.model_validate({"feedDate": t["feedDate"]}).feed_date)
    ]
    if not moments:
        raise click.ClickException("the generated scenario has no transactions")
    return min(moments), max(moments) + timedelta(seconds=1)


def run_demo(base: Settings, *, orders: int, seed: int) -> None:
    """Generate and serve a scenario, run the job on an embedded worker, print the summary."""
    out = base.data_dir / "demo"
    paths = write_scenario(out, orders, seed)
    scenario = load_scenario(paths["scenario"])
    click.echo(
        f"scenario: {len(scenario.transactions)} transactions from {orders} orders "
        f"(seed {seed}) in {out}"
    )
    config = SandboxConfig(
        seed=seed, usage_plans=demo_plans(), report_processing_seconds=REPORT_SECONDS
    )
    cards = frozenset(json.loads(paths["company"].read_text(encoding="utf-8"))["company_cards"])
    with SandboxServer(scenario, config) as sandbox:
        settings = demo_settings(base, sandbox.url, orders=orders, seed=seed, company_cards=cards)
        click.echo(
            f"sandbox: {sandbox.url}, with generous usage plans for the demo "
            f"({DEMO_PLAN.rate:g} requests/s for every operation; Amazon allows about one "
            "createReport a minute, so an account's PDFs take hours there, in the background)"
        )
        click.echo(
            f"store: {settings.effective_database_url}; broker: in memory; worker: embedded "
            "in this process"
        )
        use_settings(settings)
        try:
            ctx = get_context(settings)
            imported = import_ledger(ctx, paths["ledger"])
            click.echo(
                f"ledger: {paths['ledger']}: {imported.rows} lines "
                f"({imported.inserted} new, {imported.updated} changed)"
            )
            start, end = scenario_window(scenario)
            job_id, first = create_job(ctx, start, end, kind="demo", stages=DEMO_STAGES)
            titles = " -> ".join(STAGE_TITLES[s] for s in DEMO_STAGES)
            click.echo(f"job {job_id}: {titles} over feed dates {format_window(start, end)}")
            app = embedded_app(settings)
            job = _run_embedded(app, ctx, job_id, first)
            requests = len(sandbox.request_log())
        finally:
            use_settings(None)
    _summary(ctx, job, requests, out)
    _exports_summary(ctx, job.id)
    if job.status != "done":
        raise click.ClickException(f"the demo's job {job.id} {job.status}: {job.error}")


def _run_embedded(app: Celery, ctx: Context, job_id: int, first: Dispatch) -> JobView:
    """Run the job on an embedded worker, drawing its progress, until it ends."""
    display = ProgressDisplay()
    try:
        with bar_friendly_logging(), embedded_worker(app):
            enqueue(app, first)
            return watch_job(ctx.engine, job_id, poll_seconds=0.2, display=display)
    finally:
        display.close()


def _matching_summary(ctx: Context, out: Path) -> None:
    """The matched share by rule, the exceptions, and the files written for them."""
    from worker.services.exports import write_csv_atomically
    from worker.services.matching import (
        EXCEPTION_COLUMNS,
        MATCH_COLUMNS,
        exception_rows,
        match_link_rows,
    )

    with Session(ctx.engine) as session:
        statuses = Counter(
            dict(
                session.exec(
                    select(MatchRow.status, func.count())
                    .where(MatchRow.party == ctx.party)
                    .group_by(MatchRow.status)
                ).all()
            )
        )
        rules = Counter(
            dict(
                session.exec(
                    select(MatchRow.rule, func.count())
                    .where(MatchRow.party == ctx.party)
                    .group_by(MatchRow.rule)
                ).all()
            )
        )
        matched = set(
            session.exec(
                select(MatchLinkRow.transaction_id).where(MatchLinkRow.party == ctx.party)
            ).all()
        )
        total = session.exec(
            select(func.count())
            .select_from(TransactionRow)
            .where(TransactionRow.party == ctx.party)
        ).one()
    share = f"{100 * len(matched) / total:.1f} %" if total else "-"
    click.echo(
        f"  matched:          {len(matched)} of {total} transactions ({share}); "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    )
    click.echo("  by rule:          " + ", ".join(f"{k} {v}" for k, v in sorted(rules.items())))
    matches_file = out / "matches.csv"
    exceptions_file = out / "exceptions.csv"
    write_csv_atomically(matches_file, MATCH_COLUMNS, match_link_rows(ctx))
    exceptions = write_csv_atomically(exceptions_file, EXCEPTION_COLUMNS, exception_rows(ctx))
    click.echo(f"  exceptions:       {exceptions} unmatched items, in {exceptions_file}")
    click.echo(f"  matches:          {matches_file}")


def _summary(ctx: Context, job: JobView, requests: int, out: Path) -> None:
    party = ctx.party
    with Session(ctx.engine) as session:
        types = Counter(
            dict(
                session.exec(
                    select(TransactionRow.transaction_type, func.count())
                    .where(TransactionRow.party == party)
                    .group_by(TransactionRow.transaction_type)
                ).all()
            )
        )
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for currency, amount in session.exec(
            select(col(TransactionRow.currency), col(TransactionRow.amount)).where(
                TransactionRow.party == party
            )
        ).all():
            if amount is not None:
                totals[currency] += amount
        line_items = session.exec(
            select(func.count())
            .select_from(OrderLineItemRow)
            .where(OrderLineItemRow.party == party)
        ).one()
        kinds = Counter(
            kind
            for _, kind in set(
                session.exec(
                    select(InvoiceDetailRow.invoice_number, InvoiceDetailRow.invoice_type).where(
                        InvoiceDetailRow.party == party
                    )
                ).all()
            )
        )
        documents = Counter(
            dict(
                session.exec(
                    select(DocumentRow.state, func.count())
                    .where(DocumentRow.party == party)
                    .group_by(DocumentRow.state)
                ).all()
            )
        )
    click.echo("")
    click.echo("summary")
    for line in summary_lines(job):
        click.echo(f"  {line}")
    click.echo(
        f"  transactions:     {sum(types.values())} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(types.items()))
        + ")"
    )
    click.echo(
        "  net amount:       "
        + ", ".join(f"{amount} {currency}" for currency, amount in sorted(totals.items()))
    )
    click.echo(f"  line items:       {line_items}")
    click.echo(
        f"  invoices:         {kinds.get('STANDARD', 0)} invoices, "
        f"{kinds.get('CREDIT_MEMO', 0)} credit memos"
    )
    click.echo(
        f"  invoice PDFs:     {documents.get('done', 0)} stored in {ctx.documents_dir}"
        + (f", {documents['unavailable']} unavailable" if documents.get("unavailable") else "")
    )
    click.echo(f"  API requests:     {requests}")
    _matching_summary(ctx, out)
    click.echo(f"  the job, stored:  ABRECON_DATA_DIR={out} abrecon jobs show {job.id}")


def _exports_summary(ctx: Context, job_id: int) -> None:
    """The journal entries and reimbursements the export stage wrote, and where."""
    from worker.services.export_stage import export_paths
    from worker.services.exports import decimal_text
    from worker.services.reimbursements import list_reimbursements

    with Session(ctx.engine) as session:
        batches = {
            b.path: b
            for b in session.exec(
                select(ExportBatchRow).where(ExportBatchRow.party == ctx.party)
            ).all()
        }
    reimbursements = list_reimbursements(ctx.engine, ctx.party)
    owed: dict[str, Decimal] = defaultdict(Decimal)
    for row in reimbursements:
        owed[row.currency] += row.total
    employees = {row.employee_id or row.employee_email for row in reimbursements}
    paths = export_paths(ctx, job_id)
    journals = [
        (p, batches[str(p)])
        for f, p in paths.items()
        if f != "reimbursements" and str(p) in batches
    ]
    if journals:
        path, first = journals[0]
        with Session(ctx.engine) as session:
            exported = session.exec(
                select(func.count())
                .select_from(ExportedEntryRow)
                .where(
                    ExportedEntryRow.party == ctx.party,
                    ExportedEntryRow.kind == "journal",
                    ExportedEntryRow.format == first.format,
                )
            ).one()
        earlier = exported - first.entries
        click.echo(
            f"  journal entries:  {first.entries} balanced entries ({first.lines} lines) in "
            + ", ".join(p.name for p, _ in journals)
            + f" ({path.parent})"
            + (f"; {earlier} written by earlier runs" if earlier else "")
        )
    record = batches.get(str(paths["reimbursements"]))
    if record is not None:
        click.echo(
            f"  reimbursements:   {record.entries} records for {len(employees)} employees "
            f"({', '.join(f'{decimal_text(v, c)} {c}' for c, v in sorted(owed.items()))}),"
            f" in {paths['reimbursements']}"
        )
