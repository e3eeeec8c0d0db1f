"""``abrecon demo``: the main job end to end on embedded defaults, against a local sandbox.

It generates a scenario, serves it from an in-process sandbox on a free port, and runs what
abrecon does against Amazon: sync the transactions, fetch the invoice details of every line
item, ask for the payment status of pay-by-invoice bills, and download a few invoice PDFs through
the Document API's create -> poll -> download lifecycle. It ends with a summary.
"""

from __future__ import annotations

import io
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import click
from pydantic import SecretStr
from pypdf import PdfReader
from tqdm import tqdm

from connectors.amazon_business.client import AmazonBusinessClient
from connectors.amazon_business.models import OrderLineItem, ProcessingStatus, Transaction
from connectors.amazon_business.roles import Role
from connectors.sandbox.generator import write_scenario
from connectors.sandbox.scenario import load_scenario
from connectors.sandbox.server import SandboxConfig, SandboxServer
from worker.settings import Settings

REPORT_POLL_SECONDS = 0.5
REPORT_POLL_LIMIT = 120


def run_demo(settings: Settings, *, orders: int, seed: int, max_documents: int) -> None:
    """Generate, serve and sync a scenario; print what was found and where files are."""
    out = settings.data_dir / "demo"
    paths = write_scenario(out, orders, seed)
    scenario = load_scenario(paths["scenario"])
    click.echo(
        f"scenario: {len(scenario.transactions)} transactions from {orders} orders "
        f"(seed {seed}) in {out}"
    )

    with SandboxServer(scenario, SandboxConfig(seed=seed, report_processing_seconds=1.0)) as sb:
        base = sb.url
        config = replace(
            settings.connection_config(),
            api_base_url=base,
            lwa_token_url=f"{base}/auth/o2/token",
            client_id="abrecon-demo",
            client_secret=SecretStr("demo-secret"),
            refresh_token=SecretStr(f"Atzr|demo-{seed}"),
            roles=frozenset(Role),
            party=f"demo-{seed}-{time.time_ns()}",
        )
        client = AmazonBusinessClient.from_config(config, blocking=True)
        click.echo(f"sandbox: {base}")

        feed_dates = [t["feedDate"] for t in scenario.transactions if t.get("feedDate")]
        start = Transaction.model_validate({"feedDate": min(feed_dates)}).feed_date
        end = Transaction.model_validate({"feedDate": max(feed_dates)}).feed_date
        assert start is not None and end is not None
        transactions: list[Transaction] = []
        with tqdm(desc="transactions", unit="txn", leave=True) as bar:
            for page in client.reconciliation.iter_transaction_pages(
                start, end + timedelta(seconds=1)
            ):
                transactions.extend(page.transactions)
                bar.update(len(page.transactions))

        items = sorted(
            {
                OrderLineItem(
                    order_id=li.order_id,
                    order_line_item_id=li.order_line_item_id,
                    shipment_id=li.shipment_id,
                )
                for t in transactions
                for li in t.transaction_line_items or []
                if li.order_id and li.order_line_item_id and li.shipment_id
            },
            key=lambda i: (i.order_id, i.order_line_item_id, i.shipment_id),
        )
        invoices: dict[str, str] = {}
        with tqdm(total=len(items), desc="invoice details", unit="item") as bar:
            for details in client.reconciliation.get_invoice_details(items):
                for detail in details.invoice_details:
                    invoices[detail.invoice_number] = detail.invoice_type or "STANDARD"
                bar.update(1)

        pbi = sorted(
            {
                t.invoice_number
                for t in transactions
                if t.invoice_number
                and (t.payment_instrument_type or "").lower().startswith("pay by invoice")
            }
        )
        statuses = (
            Counter(
                (r.payment_details.status if r.payment_details else r.result_type)
                for r in client.reconciliation.get_batch_invoice_payment_details(pbi)
            )
            if pbi
            else Counter()
        )

        saved = _fetch_documents(client, invoices, out / "documents", max_documents)
        requests_made = sb.request_log()

    _summary(transactions, items, invoices, statuses, saved, requests_made, out)


def _fetch_documents(
    client: AmazonBusinessClient, invoices: dict[str, str], folder: Path, limit: int
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    wanted = sorted(invoices)[:limit]
    for number in tqdm(wanted, desc="invoice PDFs", unit="pdf"):
        credit = invoices[number] == "CREDIT_MEMO"
        options = client.documents.invoice_report_options(number, credit_memo=credit)
        report_id = client.documents.create_report(options)
        report = client.documents.get_report(report_id)
        polls = 0
        while report.processing_status in (ProcessingStatus.IN_QUEUE, ProcessingStatus.IN_PROGRESS):
            polls += 1
            if polls > REPORT_POLL_LIMIT:
                break
            time.sleep(REPORT_POLL_SECONDS)
            report = client.documents.get_report(report_id)
        if report.processing_status is not ProcessingStatus.DONE or not report.report_document_id:
            tqdm.write(f"  {number}: report ended {report.processing_status.value}")
            continue
        document = client.documents.get_report_document(report.report_document_id)
        pdf = client.documents.download(document)
        reader = PdfReader(io.BytesIO(pdf))
        if not reader.pages or number not in (reader.pages[0].extract_text() or ""):
            tqdm.write(f"  {number}: the PDF does not show its invoice number")
            continue
        path = folder / f"{number}.pdf"
        path.write_bytes(pdf)
        saved.append(path)
    return saved


def _summary(
    transactions: list[Transaction],
    items: list[OrderLineItem],
    invoices: dict[str, str],
    statuses: Counter[str],
    saved: list[Path],
    log: Sequence[object],
    out: Path,
) -> None:
    by_type = Counter(t.transaction_type or "?" for t in transactions)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for t in transactions:
        if t.amount is not None:
            totals[t.amount.currency_code] += t.amount.amount
    kinds = Counter(invoices.values())
    click.echo("")
    click.echo("summary")
    click.echo(
        f"  transactions:     {len(transactions)} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(by_type.items()))
        + ")"
    )
    click.echo(
        "  net amount:       "
        + ", ".join(f"{amount} {currency}" for currency, amount in sorted(totals.items()))
    )
    click.echo(f"  line items:       {len(items)}")
    click.echo(
        f"  invoices:         {kinds.get('STANDARD', 0)} invoices, "
        f"{kinds.get('CREDIT_MEMO', 0)} credit memos"
    )
    if statuses:
        click.echo(
            "  pay-by-invoice:   " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        )
    click.echo(f"  invoice PDFs:     {len(saved)} saved in {out / 'documents'}")
    click.echo(f"  API requests:     {len(log)}")
    click.echo(f"  ledger (for matching, next): {out / 'ledger.csv'}")
