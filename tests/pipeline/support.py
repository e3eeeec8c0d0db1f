"""What the pipeline tests share: settings pointing at a sandbox, running and watching a job,
dumps of what a party has stored, and the comparison of those rows with the scenario served.

Everything here talks to real services: the Celery broker is Redis (a db of its own that the
``broker`` fixture picks and flushes), the API is a :class:`SandboxServer` over HTTP on
127.0.0.1 and the database is the SQLite file or PostgreSQL database of ``database_url``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from celery import Celery
from celery.contrib.testing.worker import start_worker
from pypdf import PdfReader
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from connectors.amazon_business.operations import OPERATIONS, UsagePlan
from connectors.amazon_business.roles import Role
from connectors.sandbox.faults import Fault, FaultKind
from connectors.sandbox.pdf import InvoiceDocument, render_invoice_pdf
from connectors.sandbox.scenario import Scenario, parse_datetime
from connectors.sandbox.server import (
    DOWNLOAD_OPERATION,
    SandboxConfig,
    SandboxServer,
    _Request,
    _Response,
)
from worker.services.context import Context
from worker.services.jobs import create_job
from worker.settings import Settings, load_settings
from worker.store.tables import (
    DocumentRow,
    HighWaterMarkRow,
    InvoiceDetailRow,
    JobRow,
    JobStageRow,
    OrderLineItemRow,
    OrderRow,
    ReportRow,
    TransactionLineItemRow,
    TransactionRow,
)
from worker.tasks import enqueue

#: Where the Redis server is; the ``broker`` fixture picks a db of it nobody uses.
REDIS_SERVER = "redis://127.0.0.1:6379"
#: Dbs the pipeline tests may take, in order (other test packages and benchmarks use 7, 11-14).
CANDIDATE_DBS = (10, 9, 8, 15, 6, 5, 4, 3, 2, 1)
CLIENT_ID = "amzn1.application-oa2-client.pipeline"
#: Generous usage plans on both sides (sandbox buckets and the worker's Redis buckets).
FAST_PLANS: dict[str, UsagePlan] = {name: UsagePlan(200.0, 200) for name in OPERATIONS}
#: Feed dates every generated scenario falls in (it starts 2025-01-06 and spans 90 days).
WINDOW_START = datetime(2025, 1, 1, tzinfo=UTC)
WINDOW_END = datetime(2025, 5, 1, tzinfo=UTC)
ALL_ROLES = frozenset({Role.BUSINESS_PURCHASE_RECONCILIATION, Role.AMAZON_BUSINESS_ANALYTICS})
RECONCILIATION_ONLY = frozenset({Role.BUSINESS_PURCHASE_RECONCILIATION})
#: Columns that legitimately change when a row is written again with the same content.
VOLATILE = frozenset({"updated_at", "fetched_at"})
#: Tables a party's data lives in, with their natural keys.
DATA_TABLES: dict[type[SQLModel], tuple[str, ...]] = {
    TransactionRow: ("transaction_id",),
    TransactionLineItemRow: ("transaction_id", "order_id", "order_line_item_id", "shipment_id"),
    OrderLineItemRow: ("order_id", "order_line_item_id", "shipment_id"),
    InvoiceDetailRow: ("order_id", "order_line_item_id", "shipment_id", "invoice_number"),
    OrderRow: ("order_id",),
    DocumentRow: ("options_key",),
    ReportRow: ("id",),
    HighWaterMarkRow: ("name",),
}

#: The repository root: subprocess workers run there, with it on their path.
ROOT = Path(__file__).resolve().parents[2]


# --- settings ---------------------------------------------------------------------------------


def pipeline_settings(
    sandbox_url: str,
    database_url: str,
    data_dir: Path,
    refresh_token: str,
    broker_url: str,
    *,
    roles: frozenset[Role] = ALL_ROLES,
    **overrides: Any,
) -> Settings:
    """Settings of a worker for ``sandbox_url``, the Redis ``broker_url`` and ``database_url``.

    ``refresh_token`` makes the party (tests sharing a PostgreSQL database use different ones).
    """
    values: dict[str, Any] = {
        "api_endpoint": sandbox_url,
        "lwa_endpoint": f"{sandbox_url}/auth/o2/token",
        "lwa_client_id": CLIENT_ID,
        "lwa_client_secret": "pipeline-secret",
        "lwa_refresh_token": refresh_token,
        "roles": roles,
        "redis_url": broker_url,
        "broker_url": broker_url,
        "database_url": database_url,
        "data_dir": data_dir,
        "usage_plans": dict(FAST_PLANS),
        "document_scope": "all",
        "read_timeout": 10.0,
        "max_inline_wait": 0.5,
        # The sandbox lists a report the moment it creates it, so a createReport that no listed
        # report matches is known to be lost sooner than on Amazon.
        "report_resolve_seconds": 3.0,
    }
    values.update(overrides)
    return load_settings(**values)


def settings_environment(settings: Settings) -> dict[str, str]:
    """``ABRECON_*`` variables that make a worker process load the same ``settings``."""
    env: dict[str, str] = {}
    for name in sorted(settings.model_fields_set):
        value = getattr(settings, name)
        text: str
        if name == "roles":
            text = ",".join(sorted(role.value for role in value))
        elif name == "usage_plans":
            text = ",".join(f"{op}={plan.rate}/{plan.burst}" for op, plan in value.items())
        elif name == "download_hosts":
            text = ",".join(value)
        elif hasattr(value, "get_secret_value"):
            text = value.get_secret_value()
        else:
            text = str(value)
        env[f"ABRECON_{name.upper()}"] = text
    return env


# --- workers and jobs -------------------------------------------------------------------------


@contextmanager
def running_worker(app: Celery, *, concurrency: int = 2) -> Iterator[None]:
    """A real Celery worker consuming ``app``'s broker in threads of this process."""
    with start_worker(
        app,
        pool="threads",
        concurrency=concurrency,
        perform_ping_check=False,
        loglevel=logging.WARNING,
        shutdown_timeout=30.0,
    ):
        yield


@dataclass
class WorkerProcess:
    """``celery -A worker.app worker --pool=prefork``, in a session of its own."""

    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the pool children die with their group
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise AssertionError(f"worker process group {self.process.pid} survived SIGKILL")

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), then SIGKILL for whatever is left."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker_process(settings: Settings, log_path: Path, name: str) -> WorkerProcess:
    """A real worker process (prefork, two children) configured by ``ABRECON_*`` variables
    only, as in production; its output goes to ``log_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABRECON_")}
    env.update(settings_environment(settings))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.app",
        "worker",
        "--pool=prefork",
        "--concurrency=2",
        "--loglevel=warning",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return WorkerProcess(process, log_path)


def start_job(app: Celery, ctx: Context) -> int:
    """Create a job over the test window and send its first step to the broker."""
    job_id, first = create_job(ctx, WINDOW_START, WINDOW_END)
    enqueue(app, first)
    return job_id


def wait_for_job(
    engine: Engine,
    job_id: int,
    *,
    timeout: float,
    tick: Callable[[], None] | None = None,
    every: float = 0.25,
) -> JobRow:
    """Wait until the job is no longer running; ``tick`` runs on each poll (e.g. a sweep).

    Fails with the stages' state when the job is still running after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as session:
            job = session.get(JobRow, job_id)
            assert job is not None
            if job.status != "running":
                return job
        if time.monotonic() > deadline:
            raise AssertionError(
                f"job {job_id} still running after {timeout} s: {describe(engine, job_id)}"
            )
        if tick is not None:
            tick()
        time.sleep(every)


def stages(engine: Engine, job_id: int) -> dict[str, JobStageRow]:
    with Session(engine) as session:
        rows = session.exec(
            select(JobStageRow)
            .where(JobStageRow.job_id == job_id)
            .order_by(col(JobStageRow.position))
        ).all()
        return {row.name: row for row in rows}


def describe(engine: Engine, job_id: int) -> str:
    """The stages of a job in one line each, for assertion messages."""
    return "; ".join(
        f"{s.name}={s.status} seq={s.seq} done={s.done}/{s.total} counts={s.counts} "
        f"errors={[e['reason'] for e in (s.errors or [])][-5:]}"
        for s in stages(engine, job_id).values()
    )


def error_reasons(engine: Engine, job_id: int, stage: str) -> list[str]:
    return [entry["reason"] for entry in stages(engine, job_id)[stage].errors or []]


def document_states(engine: Engine, party: str) -> Counter[str]:
    with Session(engine) as session:
        return Counter(
            session.exec(select(DocumentRow.state).where(DocumentRow.party == party)).all()
        )


def run_clean_job(
    scenario: Scenario, broker_url: str, folder: Path, timeout: float = 60.0
) -> dict[str, dict[tuple[Any, ...], Any]]:
    """Run a job over ``scenario`` with nothing going wrong (in-process worker, SQLite) and
    return its :func:`canonical_rows`: what any run over the scenario must end with."""
    from worker.app import create_app
    from worker.services.context import get_context, reset_contexts, use_settings
    from worker.store.migrate import ensure_schema

    database_url = f"sqlite:///{folder / 'clean.db'}"
    ensure_schema(database_url)
    config = SandboxConfig(usage_plans=dict(FAST_PLANS), report_processing_seconds=0.3)
    with SandboxServer(scenario, config) as sandbox:
        settings = pipeline_settings(
            sandbox.url, database_url, folder / "data", "Atzr|clean-run", broker_url
        )
        use_settings(settings)
        try:
            app, ctx = create_app(settings), get_context()
            with running_worker(app):
                job_id = start_job(app, ctx)
                job = wait_for_job(ctx.engine, job_id, timeout=timeout)
            assert job.status == "done", describe(ctx.engine, job_id)
            rows = canonical_rows(ctx.engine, ctx.party)
            ctx.engine.dispose()
            return rows
        finally:
            use_settings(None)
            reset_contexts()


# --- what a party has stored ------------------------------------------------------------------


def _name(model: type[SQLModel]) -> str:
    return str(model.__table__.name)  # type: ignore[attr-defined]


def _rows(engine: Engine, model: type[SQLModel], party: str) -> list[dict[str, Any]]:
    table = model.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        result = conn.execute(sa.select(table).where(table.c.party == party))
        return [dict(row._mapping) for row in result]


def dump_tables(engine: Engine, party: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of the party's data tables, surrogate ids included, ordered by id, minus the
    :data:`VOLATILE` timestamps: what "the run changed no row" compares."""
    dump: dict[str, list[dict[str, Any]]] = {}
    for model in DATA_TABLES:
        rows = [
            {k: v for k, v in row.items() if k not in VOLATILE}
            for row in _rows(engine, model, party)
        ]
        dump[_name(model)] = sorted(rows, key=lambda r: r["id"])
    return dump


#: Columns that depend on the run (surrogate ids, clocks, local paths, the sandbox's report ids).
_RUN_COLUMNS = frozenset(
    {
        "id",
        "party",
        "updated_at",
        "fetched_at",
        "details_fetched_at",
        "downloaded_at",
        "created_at",
        "pdf_path",
    }
)


def canonical_rows(engine: Engine, party: str) -> dict[str, dict[tuple[Any, ...], Any]]:
    """The party's rows by natural key, without what depends on the run: equal for two runs
    that stored the same data, whatever the database, the clock or the crash in between.

    Reports are summarised per document as the states of the createReport calls Amazon
    received (an ``unsent`` row records a call that certainly never reached Amazon).
    """
    canonical: dict[str, dict[tuple[Any, ...], Any]] = {}
    for model, key in DATA_TABLES.items():
        if model is ReportRow:
            continue
        rows = _rows(engine, model, party)
        canonical[_name(model)] = {
            tuple(row[k] for k in key): {
                k: v for k, v in row.items() if k not in _RUN_COLUMNS and k not in key
            }
            for row in rows
        }
    documents = {row["id"]: row["options_key"] for row in _rows(engine, DocumentRow, party)}
    reports: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
    for row in _rows(engine, ReportRow, party):
        if row["state"] == "unsent":
            continue
        reports.setdefault((documents[row["document_id"]],), []).append(
            (row["state"], row["processing_status"])
        )
    canonical["reports"] = {k: sorted(v) for k, v in reports.items()}
    return canonical


def assert_same_rows(
    got: dict[str, dict[tuple[Any, ...], Any]], expected: dict[str, dict[tuple[Any, ...], Any]]
) -> None:
    """Compare two :func:`canonical_rows`, naming the first difference of each table."""
    assert got.keys() == expected.keys()
    for table, rows in expected.items():
        mine = got[table]
        missing = sorted(set(rows) - set(mine), key=repr)[:3]
        extra = sorted(set(mine) - set(rows), key=repr)[:3]
        assert not missing and not extra, f"{table}: missing {missing}, unexpected {extra}"
        for key, row in rows.items():
            assert mine[key] == row, f"{table} {key}: {mine[key]} != {row}"


# --- comparison with the scenario -------------------------------------------------------------


def _money(value: dict[str, str]) -> Decimal:
    return Decimal(value["amount"])


def _line_keys(txn: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (item.get("orderId", ""), item.get("orderLineItemId", ""), item.get("shipmentId", ""))
        for item in txn.get("transactionLineItems") or []
    }


def assert_transactions_match(engine: Engine, party: str, expected: list[dict[str, Any]]) -> None:
    """Exactly ``expected`` transactions are stored, every field and amount exact."""
    by_id = {row["transaction_id"]: row for row in _rows(engine, TransactionRow, party)}
    assert set(by_id) == {t["transactionId"] for t in expected}
    lines: dict[str, dict[tuple[str, str, str], dict[str, Any]]] = {}
    for row in _rows(engine, TransactionLineItemRow, party):
        key = (row["order_id"], row["order_line_item_id"], row["shipment_id"])
        lines.setdefault(row["transaction_id"], {})[key] = row
    for txn in expected:
        row = by_id[txn["transactionId"]]
        where = txn["transactionId"]
        assert row["transaction_type"] == txn["transactionType"], where
        assert isinstance(row["amount"], Decimal), where
        assert row["amount"] == _money(txn["amount"]), where
        assert row["currency"] == txn["amount"]["currencyCode"], where
        assert row["invoice_number"] == txn.get("invoiceNumber", ""), where
        assert row["payment_instrument_type"] == txn.get("paymentInstrumentType", ""), where
        assert row["payment_instrument_last4"] == txn.get("paymentInstrumentLast4Digits", "")
        assert row["buyer_id"] == txn["buyer"]["id"], where
        assert row["feed_date"] == parse_datetime(txn["feedDate"]), where
        assert row["transaction_date"] == parse_datetime(txn["transactionDate"]), where
        assert row["raw"]["transactionId"] == txn["transactionId"], where
        assert row["raw"]["amount"] == txn["amount"], where
        stored = lines.get(txn["transactionId"], {})
        assert set(stored) == _line_keys(txn), where
        for item in txn.get("transactionLineItems") or []:
            key = (item["orderId"], item["orderLineItemId"], item["shipmentId"])
            line = stored[key]
            assert isinstance(line["total_amount"], Decimal), (where, key)
            assert line["total_amount"] == _money(item["totalAmount"]), (where, key)
            assert line["quantity"] == item["itemQuantity"], (where, key)
            assert line["asin"] == item["asin"], (where, key)
            assert line["raw"]["totalAmount"] == item["totalAmount"], (where, key)


def assert_invoice_details_match(
    engine: Engine, party: str, scenario: Scenario, keys: set[tuple[str, str, str]]
) -> None:
    """Every line item in ``keys`` was asked about and has exactly the scenario's invoices."""
    items = _rows(engine, OrderLineItemRow, party)
    assert {(r["order_id"], r["order_line_item_id"], r["shipment_id"]) for r in items} == keys
    assert {r["details_state"] for r in items} <= {"done"}
    stored: dict[tuple[str, str, str], set[tuple[str, str, datetime | None]]] = {}
    for row in _rows(engine, InvoiceDetailRow, party):
        key = (row["order_id"], row["order_line_item_id"], row["shipment_id"])
        stored.setdefault(key, set()).add(
            (row["invoice_number"], row["invoice_type"], row["invoice_date"])
        )
    expected = {
        key: {
            (d["invoiceNumber"], d.get("invoiceType", "STANDARD"), parse_datetime(d["invoiceDate"]))
            for d in scenario.invoice_details[key]["invoiceDetails"]
        }
        for key in keys
        if scenario.invoice_details.get(key, {}).get("invoiceDetails")
    }
    assert stored == expected


def assert_documents_match(
    engine: Engine,
    party: str,
    scenario: Scenario,
    invoice_numbers: set[str],
    unavailable: Collection[str] = (),
) -> None:
    """A valid PDF is stored for every invoice in ``invoice_numbers`` the sandbox can render
    (except those ``unavailable``): the very bytes the sandbox renders, readable by pypdf and
    showing the invoice number. No other file is in the documents folder."""
    docs = {row["invoice_number"]: row for row in _rows(engine, DocumentRow, party)}
    assert set(docs) == invoice_numbers
    stored: set[Path] = set()
    for number, row in docs.items():
        document = scenario.documents.get(number)
        if document is None or number in unavailable:
            assert row["state"] == "unavailable", row
            assert row["last_error"], row
            assert (row["pdf_sha256"], row["pdf_path"], row["pdf_bytes"]) == ("", "", None)
            continue
        assert row["state"] == "done", row
        assert row["document_type"] == document.document_type, row
        path = Path(row["pdf_path"])
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["pdf_sha256"] == path.stem
        assert len(data) == row["pdf_bytes"]
        assert data == render_invoice_pdf(document)
        reader = PdfReader(io.BytesIO(data))
        assert len(reader.pages) == row["pdf_pages"] >= 1
        assert number in "".join(page.extract_text() or "" for page in reader.pages)
        stored.add(path)
    if stored:
        folder = next(iter(stored)).parents[1]
        assert {p for p in folder.rglob("*") if p.is_file()} == stored


def assert_orders_match(
    engine: Engine, party: str, scenario: Scenario, order_ids: set[str]
) -> None:
    """Every order in ``order_ids`` was fetched and holds the Reporting API's values."""
    rows = {row["order_id"]: row for row in _rows(engine, OrderRow, party)}
    assert set(rows) == order_ids
    for order_id, row in rows.items():
        order = scenario.orders[order_id]
        assert row["fetch_state"] == "done", row
        assert isinstance(row["net_total"], Decimal)
        assert row["net_total"] == _money(order["orderNetTotal"]), order_id
        assert row["currency"] == order["orderNetTotal"]["currencyCode"]
        assert row["order_status"] == order["orderStatus"]
        assert row["purchase_order_number"] == order["purchaseOrderNumber"]
        assert row["order_date"] == parse_datetime(order["orderDate"])
        assert row["raw"]["orderId"] == order_id


def expected_invoice_numbers(scenario: Scenario, txns: list[dict[str, Any]]) -> set[str]:
    """The documents the worker plans for ``txns``: their invoices and their line items'."""
    numbers = {t["invoiceNumber"] for t in txns if t.get("invoiceNumber")}
    for txn in txns:
        for key in _line_keys(txn):
            details = scenario.invoice_details.get(key, {}).get("invoiceDetails") or []
            numbers |= {d["invoiceNumber"] for d in details}
    return numbers


def assert_matches_scenario(
    engine: Engine,
    party: str,
    scenario: Scenario,
    *,
    analytics: bool = True,
    transactions: list[dict[str, Any]] | None = None,
    unavailable: Collection[str] = (),
) -> None:
    """What the party stored is what the scenario holds (``transactions``: the subset that
    should have been synced, by default all of them; ``unavailable``: documents that must have
    been refused)."""
    txns = scenario.transactions if transactions is None else transactions
    assert_transactions_match(engine, party, txns)
    keys = {k for t in txns for k in _line_keys(t) if all(k)}
    assert_invoice_details_match(engine, party, scenario, keys)
    numbers = expected_invoice_numbers(scenario, txns)
    assert_documents_match(engine, party, scenario, numbers, unavailable)
    orders = {k[0] for k in keys} if analytics else set()
    assert_orders_match(engine, party, scenario, orders)


# --- the sandbox's side -----------------------------------------------------------------------

#: ``plan[operation][n]``: the fault the ``n``-th call (from 1) of ``operation`` suffers.
FaultPlan = Mapping[str, Mapping[int, FaultKind]]
#: ``rule(operation, request)``: a fault for any call, decided from the request itself.
FaultRule = Callable[[str, _Request], FaultKind | None]


class PlannedFaultSandbox(SandboxServer):
    """The sandbox, with faults injected into chosen calls rather than at random.

    A random :class:`FaultSpec` makes a test either slow (every retry of a step waits for the
    error's suggested countdown) or unlucky (the case that matters never happens). Here a test
    names the calls that fail: ``plan`` by operation and call number, ``rule`` by request.
    Faults behave exactly as the sandbox's own (429/500/503 answer before anything happens;
    ``drop`` and ``truncate`` hit the answer after the request was processed); calls neither
    names get the configured random faults, if any.

    ``content[invoice_number]`` replaces the bytes of that invoice's document (before the
    sandbox gzips them when ``gzip_documents`` is on): a file that is not a PDF, a gzip bomb.
    """

    def __init__(
        self,
        scenario: Scenario,
        config: SandboxConfig,
        plan: FaultPlan | None = None,
        rule: FaultRule | None = None,
    ) -> None:
        super().__init__(scenario, config)
        self.plan = plan or {}
        self.rule = rule
        self.calls: Counter[str] = Counter()
        self.injected: list[tuple[str, int, FaultKind]] = []
        self.content: dict[str, bytes] = {}
        self._current = threading.local()

    def _pdf_bytes(self, document_id: str, document: InvoiceDocument) -> bytes:
        replaced = self.content.get(document.invoice_number)
        return replaced if replaced is not None else super()._pdf_bytes(document_id, document)

    def _api(self, request: _Request, request_id: str) -> _Response:
        routed = self._route(request.method, request.path)
        self._current.call = (routed[0].name if routed else "unknown", request)
        return super()._api(request, request_id)

    def _download(self, request: _Request, request_id: str) -> _Response:
        self._current.call = (DOWNLOAD_OPERATION, request)
        return super()._download(request, request_id)

    def _pick_fault(self) -> Fault | None:
        operation, request = self._current.call
        with self._lock:
            self.calls[operation] += 1
            number = self.calls[operation]
        kind = self.plan.get(operation, {}).get(number)
        if kind is None and self.rule is not None:
            kind = self.rule(operation, request)
        if kind is None:
            return super()._pick_fault()
        with self._lock:
            self.injected.append((operation, number, kind))
        return Fault(kind)


def created_reports(sandbox: SandboxServer) -> Counter[str]:
    """createReport calls that made the sandbox create a report, by invoice number.

    Injected 429/500/503 faults answer before anything happens; a dropped or truncated answer
    comes after the report was created, so those count.
    """
    made: Counter[str] = Counter()
    for entry in sandbox.request_log("createReport"):
        if entry.status == 202 or entry.fault == "drop":
            made[entry.body["reportOptions"]["invoiceId"]] += 1
    return made


def assert_one_report_per_document(sandbox: SandboxServer, engine: Engine, party: str) -> None:
    """Exactly one report was created per document the party stores, and each is claimed."""
    docs = _rows(engine, DocumentRow, party)
    made = created_reports(sandbox)
    twice = {number: n for number, n in made.items() if n != 1}
    assert not twice, f"documents requested more than once: {twice}"
    assert set(made) == {d["invoice_number"] for d in docs}
    reports = [r for r in _rows(engine, ReportRow, party) if r["state"] != "unsent"]
    assert len(reports) == len(docs)
    assert len({r["report_id"] for r in reports}) == len(reports)
    assert {r["document_id"] for r in reports} == {d["id"] for d in docs}
